"""The shared normalisation query over hand-built staged tables: times, ids, platforms,
languages, lists, the content hash and the reject reasons."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import duckdb
import orjson
import pyarrow as pa
import pyarrow.compute as pc
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from fimiwatch.config import PLATFORMS
from fimiwatch.ingest.base import LIST_COLUMNS, STAGED_SCHEMA, TEXT_COLUMNS
from fimiwatch.ingest.normalise import (
    MAX_ID_CHARS,
    NORMALISED_COLUMNS,
    normalise_sql,
    plain_text_key_sql,
    text_key_sql,
)
from fimiwatch.store import registered

ASCII_BLANK = " \t\n\r\x0b\x0c"
PARAMS = {"default_platform": "web", "source_override": None, "require_time": True, "max_text": 50}


@pytest.fixture(scope="module")
def con() -> Iterator[duckdb.DuckDBPyConnection]:
    connection = duckdb.connect()
    connection.execute("SET TimeZone = 'UTC'")
    yield connection
    connection.close()


def staged(rows: list[dict[str, Any]], defaults: bool = True) -> pa.Table:
    base = {"id": "i", "published_at": "2024-05-01T10:00:00Z", "text": "body"} if defaults else {}
    full = [
        {**dict.fromkeys(STAGED_SCHEMA.names), "line": index, **base, **row}
        for index, row in enumerate(rows, start=1)
    ]
    return pa.Table.from_pylist(full, schema=STAGED_SCHEMA)


def normalise(
    con: duckdb.DuckDBPyConnection, table: pa.Table, **params: Any
) -> list[dict[str, Any]]:
    con.register("staged_batch", table)
    try:
        table = con.sql(normalise_sql("staged_batch"), params={**PARAMS, **params}).to_arrow_table()
        # A rejected time may lie past Python's year 9999 (milliseconds read as seconds).
        accepted = pc.is_null(table.column("reject"))
        time = pc.if_else(accepted, table.column("published_at"), None)
        out = table.set_column(table.schema.get_field_index("published_at"), "published_at", time)
        out = out.to_pylist()
    finally:
        con.unregister("staged_batch")
    assert len(out) == table.num_rows
    return out


def one(con: duckdb.DuckDBPyConnection, **fields: Any) -> dict[str, Any]:
    params = {k: fields.pop(k) for k in list(fields) if k in PARAMS}
    [row] = normalise(con, staged([fields]), **params)
    return row


def extra(row: dict[str, Any]) -> Any:
    return None if row["extra"] is None else orjson.loads(row["extra"])


def test_output_columns(con: duckdb.DuckDBPyConnection) -> None:
    row = one(con)
    assert list(row) == [*NORMALISED_COLUMNS, "reject"]
    assert row["reject"] is None


# --- times --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("given_time", "expected"),
    [
        ("2024-05-01T10:00:00Z", datetime(2024, 5, 1, 10, tzinfo=UTC)),
        ("2024-05-01t10:00:00z", datetime(2024, 5, 1, 10, tzinfo=UTC)),  # RFC 3339 allows
        ("2024-05-01T10:00:00+02:00", datetime(2024, 5, 1, 8, tzinfo=UTC)),
        ("2024-05-01T10:00:00+0200", datetime(2024, 5, 1, 8, tzinfo=UTC)),
        ("2024-05-01T10:00:00+02", datetime(2024, 5, 1, 8, tzinfo=UTC)),
        ("2024-05-01T10:00:00-05:30", datetime(2024, 5, 1, 15, 30, tzinfo=UTC)),
        ("2024-05-01 10:00:00.250Z", datetime(2024, 5, 1, 10, 0, 0, 250000, tzinfo=UTC)),
        ("2024-05-01T10:00Z", datetime(2024, 5, 1, 10, tzinfo=UTC)),
        ("  2024-05-01T10:00:00Z  ", datetime(2024, 5, 1, 10, tzinfo=UTC)),
        ("1714557600", datetime(2024, 5, 1, 10, tzinfo=UTC)),
        ("1714557600.5", datetime(2024, 5, 1, 10, 0, 0, 500000, tzinfo=UTC)),
        (" 1714557600 ", datetime(2024, 5, 1, 10, tzinfo=UTC)),
        ("+1714557600", datetime(2024, 5, 1, 10, tzinfo=UTC)),
    ],
)
def test_accepted_times_are_utc(
    con: duckdb.DuckDBPyConnection, given_time: str, expected: datetime
) -> None:
    row = one(con, published_at=given_time)
    assert row["reject"] is None
    assert row["published_at"] == expected
    assert row["published_at"].utcoffset().total_seconds() == 0


@pytest.mark.parametrize(
    "given_time",
    [
        "2024-05-01T10:00:00",  # naive
        "2024-05-01 10:00",  # naive
        "2024-05-01",  # a bare date: its "-01" is no offset
        "2024-12-31",
        "2024-05-01T10:00:00 +02:00",  # not ISO 8601
        "2024-13-01T10:00:00Z",
        "yesterday",
        "Z",
        "1e9",
        "0x10",
        "2024-05-01T10:00:00+02:00 Europe/Prague",
        "17145576000000000",  # microseconds: too many digits to be seconds
    ],
)
def test_unusable_times_are_rejected_naming_the_value(
    con: duckdb.DuckDBPyConnection, given_time: str
) -> None:
    row = one(con, published_at=given_time)
    assert row["published_at"] is None
    assert row["reject"] == (
        "published_at is neither ISO 8601 with a timezone nor Unix epoch seconds: "
        + given_time.strip()
    )


@pytest.mark.parametrize("given_time", ["1714557600000", "1714557600000.0", "999999999999", "-5"])
def test_epoch_out_of_range_is_rejected_as_milliseconds(
    con: duckdb.DuckDBPyConnection, given_time: str
) -> None:
    row = one(con, published_at=given_time)
    assert row["reject"] == (
        "published_at is outside 1990–2100 (milliseconds given for seconds?): " + given_time
    )


def test_long_time_values_are_clipped_in_the_reason(con: duckdb.DuckDBPyConnection) -> None:
    row = one(con, published_at="x" * 500)
    assert row["reject"].endswith(": " + "x" * 60)


@pytest.mark.parametrize("missing", [None, "", "   "])
def test_missing_time(con: duckdb.DuckDBPyConnection, missing: str | None) -> None:
    assert one(con, published_at=missing)["reject"] == "missing published_at"
    row = one(con, published_at=missing, require_time=False)
    assert row["reject"] is None and row["published_at"] is None


# --- ids and content ----------------------------------------------------------------------


@pytest.mark.parametrize("missing", [None, "", " \t ", "\r\n", "\x0b\x0c"])
def test_missing_id(con: duckdb.DuckDBPyConnection, missing: str | None) -> None:
    assert one(con, id=missing)["reject"] == "missing id"


def test_id_length_bound_and_trimming(con: duckdb.DuckDBPyConnection) -> None:
    assert one(con, id="x" * (MAX_ID_CHARS + 1))["reject"] == "id longer than 512 characters"
    assert one(con, id="é" * MAX_ID_CHARS)["reject"] is None  # characters, not bytes
    assert one(con, id="  abc \n")["id"] == "abc"


@pytest.mark.parametrize(("text", "title"), [(None, None), ("", ""), ("  ", "\n"), (None, " ")])
def test_neither_text_nor_title(
    con: duckdb.DuckDBPyConnection, text: str | None, title: str | None
) -> None:
    assert one(con, text=text, title=title)["reject"] == "neither text nor title"


def test_title_alone_is_enough(con: duckdb.DuckDBPyConnection) -> None:
    row = one(con, text=None, title="Headline")
    assert row["reject"] is None and row["title"] == "Headline" and row["text"] is None


def test_first_reason_wins(con: duckdb.DuckDBPyConnection) -> None:
    row = one(con, id=None, published_at="nope", text=None)
    assert row["reject"] == "missing id"


def test_text_and_title_are_clipped_to_max_text(con: duckdb.DuckDBPyConnection) -> None:
    row = one(con, text="a" * 100, title="b" * 100, max_text=10)
    assert (row["text"], row["title"]) == ("a" * 10, "b" * 10)


def test_invalid_extra_is_rejected_not_raised(con: duckdb.DuckDBPyConnection) -> None:
    # Regression: casting the text to JSON raised and failed the whole batch.
    assert one(con, extra="{not json")["reject"] == "extra is not valid JSON"
    assert one(con, extra="{not json", platform="myspace")["reject"] == "extra is not valid JSON"
    row = one(con, extra='{"views": 3}')
    assert row["reject"] is None and extra(row) == {"views": 3}


def test_text_columns_are_trimmed_and_blank_is_null(con: duckdb.DuckDBPyConnection) -> None:
    row = one(
        con,
        account_id=" a1 ",
        account_name="  ",
        url=" https://x.example/ ",
        repost_of="",
        reply_to=" r ",
    )
    assert row["account_id"] == "a1" and row["account_name"] is None
    assert row["url"] == "https://x.example/"
    assert row["repost_of"] is None and row["reply_to"] == "r"
    assert row["text"] == "body" and row["line"] == 1 and row["lang_detected"] is False


# --- platform, source, language -----------------------------------------------------------


def test_known_platform_is_lowercased(con: duckdb.DuckDBPyConnection) -> None:
    row = one(con, platform=" Twitter ")
    assert row["platform"] == "twitter" and row["extra"] is None


def test_unknown_platform_becomes_other_and_keeps_the_original(
    con: duckdb.DuckDBPyConnection,
) -> None:
    row = one(con, platform="MySpace")
    assert row["platform"] == "other" and row["reject"] is None
    assert extra(row) == {"platform": "MySpace"}
    merged = one(con, platform="Gab", extra='{"views": 3}')
    assert extra(merged) == {"views": 3, "platform": "Gab"}


def test_missing_platform_takes_the_readers_default(con: duckdb.DuckDBPyConnection) -> None:
    assert one(con, platform=None)["platform"] == "web"
    assert one(con, platform="  ", default_platform="twitter")["platform"] == "twitter"


def test_source_override_applies_only_to_records_without_a_source(
    con: duckdb.DuckDBPyConnection,
) -> None:
    table = staged([{"source": "cgtn"}, {"source": None}, {"source": "  "}])
    rows = normalise(con, table, source_override="rt")
    assert [row["source"] for row in rows] == ["cgtn", "rt", "rt"]
    assert [row["source"] for row in normalise(con, table)] == ["cgtn", None, None]


@pytest.mark.parametrize(
    ("lang", "expected"),
    [
        ("zh-CN", "zh"),
        ("pt_BR", "pt"),
        ("EN", "en"),
        (" de ", "de"),
        ("garbage", None),
        ("e", None),
        ("", None),
        (None, None),
        ("12", None),
    ],
)
def test_language(con: duckdb.DuckDBPyConnection, lang: str | None, expected: str | None) -> None:
    assert one(con, lang=lang)["lang"] == expected


# --- lists --------------------------------------------------------------------------------


def test_lists_are_cleaned(con: duckdb.DuckDBPyConnection) -> None:
    row = one(
        con,
        hashtags=["#a", " #b ", "", None, "c", "#"],
        mentions=["@x", "@", "y", "  "],
        links=[" https://a.example/ ", ""],
    )
    assert row["hashtags"] == ["a", "b", "c"]
    assert row["mentions"] == ["x", "y"]
    assert row["links"] == ["https://a.example/"]


@pytest.mark.parametrize("empty", [None, [], [""], [None, " ", "\t\n", ""]])
def test_empty_lists_become_null(con: duckdb.DuckDBPyConnection, empty: list[Any] | None) -> None:
    row = one(con, hashtags=empty, mentions=empty, links=empty)
    assert (row["hashtags"], row["mentions"], row["links"]) == (None, None, None)
    assert one(con, hashtags=["#", "##"], mentions=["@"])["hashtags"] is None


# --- content hash -------------------------------------------------------------------------


def test_content_hash(con: duckdb.DuckDBPyConnection) -> None:
    record = {"source": "s", "account_id": "a", "title": "T", "url": "u"}
    rows = normalise(
        con,
        staged(
            [
                {**record, "id": "1"},
                {**record, "id": "2", "lang": "en", "hashtags": ["x"]},  # same content
                {**record, "published_at": "2024-05-01T12:00:00+02:00"},  # same instant
                {**record, "text": "other body"},
                {**record, "published_at": "2024-05-01T10:00:01Z"},
                {**record, "account_id": "b"},
            ]
        ),
    )
    hashes = [row["content_hash"] for row in rows]
    assert hashes[0] == hashes[1] == hashes[2]
    assert len(set(hashes[2:])) == 4
    assert all(len(h) == 32 for h in hashes)


def test_content_hash_separates_fields(con: duckdb.DuckDBPyConnection) -> None:
    rows = normalise(con, staged([{"title": "ab", "text": "c"}, {"title": "a", "text": "bc"}]))
    assert rows[0]["content_hash"] != rows[1]["content_hash"]


# --- property -----------------------------------------------------------------------------

any_text = st.none() | st.text(max_size=30) | st.sampled_from(
    ["", " ", "1714557600", "-1", "2024-05-01T10:00:00Z", "{}", '{"a":1}', "[1]", "null",
     "zh-CN", "#", "@", "Twitter", "x" * 600, "\x00", "９９"]
)  # fmt: skip
row_strategy = st.fixed_dictionaries(
    {name: any_text for name in TEXT_COLUMNS}
    | {name: st.none() | st.lists(any_text, max_size=4) for name in LIST_COLUMNS}
    | {"extra": any_text}
)


@settings(max_examples=100, deadline=None)
@given(
    rows=st.lists(row_strategy, min_size=1, max_size=6),
    require_time=st.booleans(),
    source_override=st.none() | st.text(max_size=5),
)
def test_property_arbitrary_strings_never_raise(
    con: duckdb.DuckDBPyConnection,
    rows: list[dict[str, Any]],
    require_time: bool,
    source_override: str | None,
) -> None:
    out = normalise(
        con,
        staged(rows, defaults=False),
        require_time=require_time,
        source_override=source_override,
    )
    for row in out:
        if row["reject"] is not None:
            assert isinstance(row["reject"], str) and row["reject"]
            continue
        assert row["id"] and row["id"] == row["id"].strip(ASCII_BLANK)
        assert len(row["id"]) <= MAX_ID_CHARS
        assert row["platform"] in PLATFORMS
        assert (row["text"] or "").strip(ASCII_BLANK) or (row["title"] or "").strip(ASCII_BLANK)
        if row["published_at"] is not None:
            assert 1990 <= row["published_at"].year <= 2100
        elif require_time:
            pytest.fail("an accepted record without a time")
        if row["extra"] is not None:
            orjson.loads(row["extra"])
        assert row["lang"] is None or (len(row["lang"]) == 2 and row["lang"].islower())
        for name in LIST_COLUMNS:
            assert row[name] is None or (row[name] and all(row[name]))


KEY_TEXT = st.text(
    st.sampled_from(
        [*"aB@_ é1.", "\t", "\n", "\r", "\x0c", "\x0b", "\xa0", "\u3000", "\u2009", "\x85"]
    ),
    max_size=14,
)


@settings(max_examples=150, deadline=None)
@given(texts=st.lists(KEY_TEXT, min_size=1, max_size=20))
def test_text_key_equals_its_plain_definition(
    con: duckdb.DuckDBPyConnection, texts: list[str]
) -> None:
    with registered(con, "key_texts", pa.table({"text": texts})):
        differing = con.sql(
            f"SELECT text, fast, plain FROM (SELECT text, {text_key_sql()} AS fast, "
            f"{plain_text_key_sql()} AS plain FROM key_texts) WHERE fast IS DISTINCT FROM plain"
        ).fetchall()
    assert differing == []
