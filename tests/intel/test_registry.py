"""The default source registry that ships with fimiwatch, and how user registries override it."""

from __future__ import annotations

import csv
import io
import re
from collections import Counter
from importlib import resources
from pathlib import Path

import pytest
from typer.testing import CliRunner

from fimiwatch.config import AFFILIATIONS
from fimiwatch.ingest.pipeline import choose_reader, ingest_document, open_document
from fimiwatch.intel.registry import (
    BUILTIN,
    BUILTIN_RESOURCE,
    load_builtin_sources,
    load_sources,
    read_builtin_sources,
)
from fimiwatch.store import Store
from tests.conftest import post, write_jsonl

HEADER = "source,name,domain,platform,country,language,affiliation,owner_state,notes\n"
KEY_PREFIX = {"x:": "twitter", "tg:": "telegram", "yt:": "youtube", "fb:": "facebook"}
DOMAIN = re.compile(r"^(?!www\.)[a-z0-9]([a-z0-9-]*[a-z0-9])?(\.[a-z0-9]([a-z0-9-]*[a-z0-9])?)+$")


def raw_rows() -> list[dict[str, str]]:
    text = resources.files("fimiwatch.intel").joinpath(BUILTIN_RESOURCE).read_text("utf-8")
    return list(csv.DictReader(io.StringIO(text)))


def test_packaged_registry_loads_without_rejected_rows() -> None:
    rows, summary = read_builtin_sources()
    assert summary.rejected == []
    assert summary.loaded == len(rows) == len(raw_rows())
    assert 120 <= len(rows) <= 300


def test_every_row_has_a_valid_affiliation_state_and_language() -> None:
    rows, _ = read_builtin_sources()
    for row in rows:
        assert row["affiliation"] in AFFILIATIONS, row
        assert row["affiliation"] not in ("independent", "unknown"), row
        assert row["owner_state"] in {"CN", "RU", "IR"}, row
        assert row["country"] is None or re.fullmatch(r"[A-Z]{2}", row["country"]), row
        assert row["language"] is None or re.fullmatch(r"[a-z]{2}", row["language"]), row
        assert row["name"], row


def test_keys_are_unique_and_match_the_platform() -> None:
    rows = raw_rows()
    keys = Counter(row["source"] for row in rows)
    assert [key for key, n in keys.items() if n > 1] == []
    for row in rows:
        prefix = next((p for p in KEY_PREFIX if row["source"].startswith(p)), None)
        if prefix is None:
            assert row["platform"] == "web" and row["source"] == row["source"].lower(), row
        else:
            assert row["platform"] == KEY_PREFIX[prefix], row
            assert len(row["source"]) > len(prefix), row


def test_domains_are_bare_lowercase_hosts_and_unique() -> None:
    rows = raw_rows()
    for row in rows:
        if row["platform"] == "web":
            assert DOMAIN.match(row["domain"]), row
            assert "://" not in row["domain"] and "/" not in row["domain"], row
        else:
            # An account must never claim a domain: it would capture every URL on it.
            assert row["domain"] == "", row
    domains = Counter(row["domain"] for row in rows if row["domain"])
    # Two rows on one domain would make domain matching pick between them arbitrarily.
    assert [domain for domain, n in domains.items() if n > 1] == []


def test_required_outlets_are_present() -> None:
    rows = {row["source"]: row for row in read_builtin_sources()[0]}
    for key in (
        "cgtn", "cri-cz", "xinhua", "chinadaily", "globaltimes", "peoples-daily",
        "china-news-service", "cctv", "rt", "sputnik", "tass", "presstv", "irna",
    ):  # fmt: skip
        assert key in rows, key
    assert rows["cri-cz"]["domain"] == "czech.cri.cn" and rows["cri-cz"]["language"] == "cs"
    assert rows["x:SpokespersonCHN"]["affiliation"] == "diplomat"
    assert rows["x:SpokespersonCHN"]["platform"] == "twitter"
    embassies = [
        row
        for row in rows.values()
        if row["affiliation"] == "diplomat"
        and row["owner_state"] == "CN"
        and (row["domain"] or "").endswith(".china-embassy.gov.cn")
    ]
    assert {row["country"] for row in embassies} >= {"CZ", "DE", "FR", "GB"}
    states = Counter(row["owner_state"] for row in rows.values())
    assert min(states.values()) >= 20


def test_load_builtin_sources_is_idempotent(store: Store) -> None:
    expected = len(read_builtin_sources()[0])
    assert load_builtin_sources(store) == expected
    before = store.rows("SELECT * FROM sources ORDER BY source")
    assert load_builtin_sources(store) == 0
    assert store.rows("SELECT * FROM sources ORDER BY source") == before
    assert store.scalar("SELECT count(*) FROM sources") == expected
    assert store.scalar("SELECT count(*) FROM sources WHERE loaded_from <> ?", [BUILTIN]) == 0


def test_a_user_row_overrides_the_builtin_row_with_the_same_key(
    store: Store, tmp_path: Path
) -> None:
    mine = tmp_path / "mine.csv"
    mine.write_text(
        HEADER
        + "cgtn,CGTN as I see it,cgtn.com,web,CN,en,state_affiliated,CN,my note\n"
        + "local-site,Local site,local.example,web,CZ,cs,unknown,,\n"
    )
    # User first, builtin second: the builtin load leaves the user's key alone.
    assert load_sources(store, mine).loaded == 2
    added = load_builtin_sources(store)
    assert added == len(read_builtin_sources()[0]) - 1
    row = store.rows("SELECT * FROM sources WHERE source = 'cgtn'")[0]
    assert (row["name"], row["affiliation"], row["loaded_from"]) == (
        "CGTN as I see it",
        "state_affiliated",
        str(mine),
    )
    # ... and again, however often the builtin registry is loaded.
    assert load_builtin_sources(store) == 0
    assert store.scalar("SELECT notes FROM sources WHERE source = 'cgtn'") == "my note"
    assert store.scalar("SELECT loaded_from FROM sources WHERE source = 'local-site'") == str(mine)

    # Builtin first, user second: loading the user's file replaces the builtin row.
    other = tmp_path / "other.csv"
    other.write_text(HEADER + "tass,TASS (mine),tass.ru,web,RU,ru,state_media,RU,\n")
    load_sources(store, other)
    assert load_builtin_sources(store) == 0
    assert store.rows("SELECT name, loaded_from FROM sources WHERE source = 'tass'") == [
        {"name": "TASS (mine)", "loaded_from": str(other)}
    ]


def test_builtin_rows_are_refreshed_to_the_packaged_version(store: Store) -> None:
    load_builtin_sources(store)
    with store.transaction() as con:
        con.execute("UPDATE sources SET name = 'stale' WHERE source = 'xinhua'")
    assert load_builtin_sources(store) == 0
    assert store.scalar("SELECT name FROM sources WHERE source = 'xinhua'") != "stale"


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("https://czech.cri.cn/20240501/abc.html", "cri-cz"),
        ("http://CZECH.cri.cn:80/x", "cri-cz"),
        ("https://www.cri.cn/news/1.html", "cri"),
        ("https://german.news.cn/20240501/x/c.html", "xinhua-de"),
        ("https://www.globaltimes.cn/page/202405/1.shtml", "globaltimes"),
        ("https://cz.china-embassy.gov.cn/zgyw/1.htm", "cn-embassy-cz"),
        ("https://se.china-embassy.gov.cn/1.htm", "cn-embassies"),
        ("https://www.gov.cn/yaowen/1.htm", "cn-government"),
        ("https://czech.mid.ru/ru/press/1", "ru-embassy-cz"),
        ("https://example.org/not-a-registry-domain", None),
    ],
)
def test_ingested_items_get_the_source_of_their_url_domain(
    store: Store, tmp_path: Path, url: str, expected: str | None
) -> None:
    load_builtin_sources(store)
    path = write_jsonl(tmp_path / "items.jsonl", [post(1, platform="web", url=url)])
    document = open_document(str(path), store.settings)
    summary = ingest_document(store, document, choose_reader(document))
    assert summary.added == 1
    assert store.scalar("SELECT source FROM items") == expected


def test_sources_list_shows_where_rows_came_from(store: Store, tmp_path: Path) -> None:
    from fimiwatch.cli import app

    mine = tmp_path / "mine.csv"
    mine.write_text(HEADER + "local-site,Local site,local.example,web,CZ,cs,unknown,,\n")
    load_builtin_sources(store)
    load_sources(store, mine)
    store.close()
    result = CliRunner().invoke(
        app, ["--db", str(store.path), "sources", "list"], env={"COLUMNS": "250"}
    )
    assert result.exit_code == 0, result.output
    lines = result.stdout.splitlines()
    assert any("cri-cz" in line and "builtin" in line for line in lines)
    assert any("local-site" in line and "mine.csv" in line for line in lines)
