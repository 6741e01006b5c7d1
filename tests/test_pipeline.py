"""Ingest into the store: dedupe, quarantine, atomicity, source resolution."""

from __future__ import annotations

import csv
import io
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import orjson
import pytest
from hypothesis import HealthCheck, given
from hypothesis import settings as hypothesis_settings
from hypothesis import strategies as st

from fimiwatch.config import Settings
from fimiwatch.ingest.base import ReadError, StagesInDuckDB
from fimiwatch.ingest.pipeline import choose_reader, expand_inputs, ingest_document, open_document
from fimiwatch.intel.registry import load_sources
from fimiwatch.store import Store
from tests.conftest import post, write_jsonl


def ingest(store: Store, path: Path, source: str | None = None, fmt: str = "auto"):
    document = open_document(str(path), store.settings)
    return ingest_document(store, document, choose_reader(document, fmt), source)


def test_ingest_adds_items_and_accounts(store: Store, tmp_path: Path) -> None:
    path = write_jsonl(tmp_path / "posts.jsonl", [post(i) for i in range(20)])
    summary = ingest(store, path)
    assert (summary.records, summary.added, summary.duplicates, summary.rejected) == (20, 20, 0, 0)
    assert store.scalar("SELECT count(*) FROM items") == 20
    assert store.scalar("SELECT count(*) FROM accounts") == 7
    assert store.scalar("SELECT sum(items) FROM accounts") == 20
    row = store.rows("SELECT * FROM items WHERE id = 'p3'")[0]
    assert row["platform"] == "twitter" and row["line"] == 4
    assert row["published_at"].isoformat() == "2024-05-04T10:03:00+00:00"


def test_reingesting_the_same_file_adds_nothing(store: Store, tmp_path: Path) -> None:
    path = write_jsonl(tmp_path / "posts.jsonl", [post(i) for i in range(10)])
    ingest(store, path)
    again = ingest(store, path)
    assert (again.added, again.duplicates, again.rejected) == (0, 10, 0)
    assert store.scalar("SELECT count(*) FROM items") == 10
    assert store.scalar("SELECT sum(items) FROM accounts") == 10


def test_accounts_stay_one_row_each_across_inputs(store: Store, tmp_path: Path) -> None:
    ingest(store, write_jsonl(tmp_path / "a.jsonl", [post(i) for i in range(10)]))
    ingest(store, write_jsonl(tmp_path / "b.jsonl", [post(i) for i in range(10, 30)]))
    rows = store.rows(
        "SELECT account_id, items, first_seen, last_seen FROM accounts ORDER BY account_id"
    )
    assert len(rows) == 7 and sum(r["items"] for r in rows) == 30
    expected = store.rows(
        "SELECT account_id, count(*) AS items, min(published_at) AS first_seen, "
        "max(published_at) AS last_seen FROM items GROUP BY account_id ORDER BY account_id"
    )
    assert rows == expected


def test_same_content_under_a_new_id_is_a_duplicate(store: Store, tmp_path: Path) -> None:
    ingest(store, write_jsonl(tmp_path / "a.jsonl", [post(1)]))
    copy = post(1, id="other-id")
    summary = ingest(store, write_jsonl(tmp_path / "b.jsonl", [copy]))
    assert (summary.added, summary.duplicates) == (0, 1)


def test_reused_id_with_other_content_is_quarantined(store: Store, tmp_path: Path) -> None:
    ingest(store, write_jsonl(tmp_path / "a.jsonl", [post(1)]))
    summary = ingest(store, write_jsonl(tmp_path / "b.jsonl", [post(1, text="changed")]))
    assert (summary.added, summary.rejected) == (0, 1)
    reason = store.scalar("SELECT reason FROM quarantine")
    assert "already stored for different content" in reason


def test_duplicate_id_within_one_input(store: Store, tmp_path: Path) -> None:
    records = [post(1), post(1), post(1, text="different")]
    summary = ingest(store, write_jsonl(tmp_path / "a.jsonl", records))
    assert (summary.added, summary.duplicates, summary.rejected) == (1, 1, 1)
    assert "already used at line 1" in store.scalar("SELECT reason FROM quarantine")


def test_same_id_from_two_sources_is_two_items(store: Store, tmp_path: Path) -> None:
    records = [post(1, source="cgtn"), post(1, source="xinhua", text="other")]
    summary = ingest(store, write_jsonl(tmp_path / "a.jsonl", records))
    assert summary.added == 2


def expected_dedupe(
    inputs: list[list[tuple[str, str, str]]],
) -> list[tuple[int, int, int]]:
    """(added, duplicates, rejected) per input by the documented rules, record by record;
    a record is (source, id, text) and its content is (source, text)."""
    stored: dict[tuple[str, str], tuple[str, str]] = {}
    stored_content: set[tuple[str, str]] = set()
    outcomes = []
    for records in inputs:
        first_of_key: dict[tuple[str, str], tuple[str, str]] = {}
        seen_content: set[tuple[str, str]] = set()
        added: list[tuple[tuple[str, str], tuple[str, str]]] = []
        duplicates = rejected = 0
        for source, id_, text in records:
            key, content = (source, id_), (source, text)
            if key in first_of_key:
                if first_of_key[key] == content:
                    duplicates += 1
                else:
                    rejected += 1
            elif key in stored:
                if stored[key] == content:
                    duplicates += 1
                else:
                    rejected += 1
            elif content in seen_content or content in stored_content:
                duplicates += 1
            else:
                added.append((key, content))
            first_of_key.setdefault(key, content)
            seen_content.add(content)
        for key, content in added:
            stored[key] = content
            stored_content.add(content)
        outcomes.append((len(added), duplicates, rejected))
    return outcomes


RECORD = st.tuples(
    st.sampled_from(["cgtn", "xinhua"]), st.sampled_from("abcd"), st.sampled_from("xyz")
)


@hypothesis_settings(
    max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(inputs=st.lists(st.lists(RECORD, max_size=12), min_size=1, max_size=3))
def test_dedupe_follows_the_rules_record_by_record(
    tmp_path_factory: pytest.TempPathFactory, inputs: list[list[tuple[str, str, str]]]
) -> None:
    folder = tmp_path_factory.mktemp("dedupe")
    outcomes = []
    with Store(folder / "store.duckdb", Settings(db=folder / "store.duckdb")) as store:
        for number, records in enumerate(inputs):
            rows = [post(0, source=s, id=i, text=t) for s, i, t in records]
            path = write_jsonl(folder / f"{number}.jsonl", rows)
            summary = ingest(store, path)
            outcomes.append((summary.added, summary.duplicates, summary.rejected))
    assert outcomes == expected_dedupe(inputs)


def test_bad_records_are_quarantined_with_line_and_reason(
    store: Store, settings: Settings, tmp_path: Path
) -> None:
    path = tmp_path / "mixed.jsonl"
    path.write_bytes(
        orjson.dumps(post(1))
        + b"\n{broken json\n"
        + orjson.dumps(post(2, published_at="yesterday"))
        + b"\n"
        + orjson.dumps({"published_at": "2024-01-01T00:00:00Z", "text": "no id"})
        + b"\n"
        + orjson.dumps(post(3))
        + b"\n"
    )
    summary = ingest(store, path)
    assert (summary.records, summary.added, summary.rejected) == (5, 2, 3)
    lines = [orjson.loads(line) for line in settings.quarantine_path.read_bytes().splitlines()]
    assert [(q["line"], q["file"]) for q in lines] == [
        (2, str(path)),
        (3, str(path)),
        (4, str(path)),
    ]
    reasons = [q["reason"] for q in lines]
    assert reasons[0] == "invalid JSON"
    assert reasons[1].startswith("published_at is neither ISO 8601") and "yesterday" in reasons[1]
    assert reasons[2] == "missing id"


def test_unknown_keys_are_kept_in_extra(store: Store, tmp_path: Path) -> None:
    ingest(store, write_jsonl(tmp_path / "a.jsonl", [post(1, likes=12, collected_by="x")]))
    extra = orjson.loads(store.scalar("SELECT extra FROM items"))
    assert extra == {"likes": 12, "collected_by": "x"}


def test_source_option_applies_to_records_without_source(store: Store, tmp_path: Path) -> None:
    records = [post(1), post(2, source="xinhua")]
    ingest(store, write_jsonl(tmp_path / "a.jsonl", records), source="cgtn")
    assert store.rows("SELECT id, source FROM items ORDER BY id") == [
        {"id": "p1", "source": "cgtn"},
        {"id": "p2", "source": "xinhua"},
    ]


def test_sources_are_resolved_from_url_domains(store: Store, tmp_path: Path) -> None:
    registry = tmp_path / "sources.csv"
    registry.write_text(
        "source,name,domain,platform,country,language,affiliation,owner_state,notes\n"
        "cri,CRI,cri.cn,web,CN,en,state_media,CN,\n"
        "cri-cz,CRI Czech,czech.cri.cn,web,CN,cs,state_media,CN,\n"
    )
    load_sources(store, registry)
    records = [
        post(1, url="https://czech.cri.cn/a/1"),
        post(2, url="http://www.cri.cn/b"),
        post(3, url="https://notcri.cn/c"),
    ]
    ingest(store, write_jsonl(tmp_path / "a.jsonl", records))
    assert store.rows("SELECT id, source FROM items ORDER BY id") == [
        {"id": "p1", "source": "cri-cz"},
        {"id": "p2", "source": "cri"},
        {"id": "p3", "source": None},
    ]


def test_unreadable_inputs_raise_read_error(settings: Settings, tmp_path: Path) -> None:
    with pytest.raises(ReadError, match="no such file"):
        open_document(str(tmp_path / "missing.jsonl"), settings)
    with pytest.raises(ReadError, match=r"not a regular file|no such file"):
        open_document(str(tmp_path), settings)
    mystery = tmp_path / "mystery.bin"
    mystery.write_bytes(b"\x00\x01\x02 nothing known")
    with pytest.raises(ReadError, match="cannot tell the format"):
        choose_reader(open_document(str(mystery), settings))
    with pytest.raises(ReadError, match="unknown format 'nope'"):
        choose_reader(open_document(str(mystery), settings), "nope")


def test_folders_are_expanded_in_order_without_hidden_files(tmp_path: Path) -> None:
    (tmp_path / "b").mkdir()
    for name in ("b/2.jsonl", "a.jsonl", ".hidden.jsonl", "b/1.jsonl"):
        (tmp_path / name).write_text("")
    names = [Path(n).relative_to(tmp_path).as_posix() for n in expand_inputs([str(tmp_path)])]
    assert names == ["a.jsonl", "b/1.jsonl", "b/2.jsonl"]


KILL_SCRIPT = """
import sys
from fimiwatch.config import Settings
from fimiwatch.store import Store
from fimiwatch.ingest.pipeline import choose_reader, ingest_document, open_document
settings = Settings(db=sys.argv[1])
store = Store(settings.db, settings)
document = open_document(sys.argv[2], settings)
print("started", flush=True)
ingest_document(store, document, choose_reader(document))
print("finished", flush=True)
"""


def test_killed_ingest_leaves_the_store_consistent(tmp_path: Path) -> None:
    db = tmp_path / "kill.duckdb"
    small = write_jsonl(tmp_path / "small.jsonl", [post(i) for i in range(5)])
    with Store(db) as store:
        ingest(store, small)
    big = write_jsonl(
        tmp_path / "big.jsonl", [post(i, id=f"big{i}", text=f"big {i}") for i in range(400_000)]
    )
    proc = subprocess.Popen(
        [sys.executable, "-c", KILL_SCRIPT, str(db), str(big)],
        stdout=subprocess.PIPE,
        text=True,
        env={**os.environ, "PYTHONPATH": str(Path(__file__).parents[1])},
    )
    assert proc.stdout is not None
    assert proc.stdout.readline().strip() == "started"
    time.sleep(1.0)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    with Store(db) as store:
        count = store.scalar("SELECT count(*) FROM items")
        logged = store.scalar("SELECT count(*) FROM ingest_log")
        accounts = store.scalar("SELECT count(*) FROM accounts")
        assert (count, logged, accounts) in {(5, 1, 5), (400_005, 2, 7)}
        again = ingest(store, big)
        assert store.scalar("SELECT count(*) FROM items") == 400_005
        assert again.added + again.duplicates == 400_000


class BatchesOnly:
    """A CSV reader seen through the plain ``read`` interface only (no ``stage``)."""

    def __init__(self, inner: Any) -> None:
        self.inner = inner
        self.name, self.platform = inner.name, inner.platform
        self.requires_published_at = inner.requires_published_at

    def read(self, document: Any, settings: Any) -> Any:
        return self.inner.read(document, settings)


def stored(store: Store) -> tuple[list[tuple[Any, ...]], list[tuple[Any, ...]]]:
    items = store.con.execute(
        "SELECT * EXCLUDE (ingest_id) FROM items ORDER BY line, id"
    ).fetchall()
    quarantined = store.con.execute(
        "SELECT line, reason, record FROM quarantine ORDER BY line, reason"
    ).fetchall()
    return items, quarantined


CSV_CELL = st.sampled_from(["", "x", " a ", "p1", "p1", "2024-05-01T10:00:00Z", "1700000000",
                            "oops", '"', "a\nb", "@u hi  there", "#t", "[a, b]"])  # fmt: skip


@hypothesis_settings(
    max_examples=15, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(rows=st.lists(st.lists(CSV_CELL, min_size=5, max_size=6), max_size=9))
def test_staged_csv_ingest_equals_the_batch_path(
    tmp_path_factory: pytest.TempPathFactory,
    monkeypatch: pytest.MonkeyPatch,
    rows: list[list[str]],
) -> None:
    """CSV staged in the store (normalised and inserted by SQL, in blocks) stores the same
    items and quarantines the same records, with the same lines, as the Arrow batch path."""
    from fimiwatch.ingest import pipeline

    monkeypatch.setattr(pipeline, "STAGED_BLOCK_ROWS", 2)
    folder = tmp_path_factory.mktemp("staged")
    out = io.StringIO(newline="")
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(["id", "published_at", "text", "account_id", "links"])
    writer.writerows(rows)
    path = folder / "in.csv"
    path.write_text(out.getvalue())
    results = []
    for name, wrap in (("staged", False), ("batches", True)):
        db = folder / f"{name}.duckdb"
        with Store(db, Settings(db=db)) as store:
            document = open_document(str(path), store.settings)
            reader = choose_reader(document, "items-csv")
            used: Any = BatchesOnly(reader) if wrap else reader
            summary = ingest_document(store, document, used)
            results.append((summary.records, summary.added, summary.rejected, stored(store)))
            tables = store.con.execute(
                "SELECT count(*) FROM duckdb_tables() WHERE temporary"
            ).fetchone()
            assert tables == (0,)
    assert results[0] == results[1]


def test_csv_staging_refuses_to_run_inside_a_transaction(store: Store, tmp_path: Path) -> None:
    """Inside a transaction the staged rows' rowids do not start at zero, and blocks selected
    by rowid would silently be empty."""
    path = tmp_path / "in.csv"
    path.write_text("id,published_at,text\n1,1700000000,a\n2,1700000001,b\n")
    document = open_document(str(path), store.settings)
    reader = choose_reader(document)
    assert isinstance(reader, StagesInDuckDB)
    with pytest.raises(RuntimeError, match="inside a transaction"), store.transaction():
        reader.stage(store.con, document, store.settings.ingest)
    assert ingest(store, path).added == 2
