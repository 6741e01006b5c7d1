"""The tabular readers (items JSONL/CSV, QUT CSV, Twitter/X IO CSV): mapping, physical line
numbers, malformed and hostile input, and format sniffing."""

from __future__ import annotations

import csv
import io
import re
import tracemalloc
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import orjson
import pytest
from hypothesis import HealthCheck, assume, example, given, settings
from hypothesis import strategies as st

from fimiwatch.config import IngestSettings
from fimiwatch.ingest.base import (
    LIST_COLUMNS,
    MAX_REJECT_RECORD_CHARS,
    TEXT_COLUMNS,
    InputDocument,
    ReadError,
)
from fimiwatch.ingest.items import ItemsCsvReader, ItemsJsonlReader, QutCsvReader, TwitterIoReader
from fimiwatch.ingest.pipeline import choose_reader
from fimiwatch.ingest.records import BOM
from tests.ingest.conftest import run_reader

CSV_READERS = (ItemsCsvReader, QutCsvReader, TwitterIoReader)
QUT_HEADER = "message_id,user_id,username,repost_id,reply_id,message,timestamp,urls"
TWITTER_HEADER = (
    "tweetid,userid,user_display_name,user_screen_name,user_reported_location,"
    "user_profile_description,user_profile_url,follower_count,following_count,"
    "account_creation_date,account_language,tweet_language,tweet_text,tweet_time,"
    "tweet_client_name,in_reply_to_userid,in_reply_to_tweetid,quoted_tweet_tweetid,"
    "is_retweet,retweet_userid,retweet_tweetid,latitude,longitude,quote_count,reply_count,"
    "like_count,retweet_count,hashtags,urls,user_mentions,poll_choices"
)


@dataclass
class Read:
    items: list[dict[str, Any]]
    rejects: list[dict[str, Any]]
    batches: int

    @property
    def lines(self) -> list[int]:
        return [item["line"] for item in self.items]

    @property
    def reject_lines(self) -> list[int]:
        return [reject["line"] for reject in self.rejects]

    def extra(self, index: int = 0) -> dict[str, Any] | None:
        text = self.items[index]["extra"]
        return None if text is None else orjson.loads(text)


def read_path(reader: type, path: Path, **limits: Any) -> Read:
    """Read a file to the end as the pipeline would; every batch must match the schemas."""
    result = run_reader(reader, path, IngestSettings(**limits), name=path.name)
    for reject in result.rejects:
        assert reject["line"] is not None and reject["reason"]
        assert len(reject["record"]) <= MAX_REJECT_RECORD_CHARS + 1
    return Read(result.items, result.rejects, result.batches)


def read_bytes(reader: type, tmp_path: Path, data: bytes, name: str = "", **limits: Any) -> Read:
    path = tmp_path / (name or ("in.jsonl" if reader is ItemsJsonlReader else "in.csv"))
    path.write_bytes(data)
    return read_path(reader, path, **limits)


def physical_lines(data: bytes) -> list[bytes]:
    return re.findall(rb"[^\n]*\n|[^\n]+\Z", data)


def jsonl(*records: Any) -> bytes:
    return b"".join(orjson.dumps(r) + b"\n" for r in records)


# --- items JSONL --------------------------------------------------------------------------


def test_jsonl_maps_every_key(tmp_path: Path) -> None:
    record = {
        "id": 1234567890123,
        "published_at": "2024-05-01T10:00:00+02:00",
        "text": "Ahoj světe",
        "title": "Titulek",
        "platform": "Telegram",
        "source": "ac24",
        "account_id": 42,
        "account_name": "Kanál",
        "url": "https://example.org/a?b=c",
        "lang": "cs",
        "repost_of": "r1",
        "reply_to": "q1",
        "links": ["https://a.example/", None, 3, {"u": 1}],
        "hashtags": "#one  #two",
        "mentions": "@solo",
        "views": 1200,
        "nested": {"deep": [1, 2.5, "x"], "flag": True},
        "empty": None,
    }
    result = read_bytes(ItemsJsonlReader, tmp_path, jsonl(record))
    assert result.rejects == []
    [item] = result.items
    assert item["line"] == 1
    assert item["id"] == "1234567890123"
    assert item["published_at"] == "2024-05-01T10:00:00+02:00"  # as given: normalise parses
    assert item["text"] == "Ahoj světe"
    assert item["title"] == "Titulek"
    assert item["platform"] == "Telegram"
    assert item["source"] == "ac24"
    assert item["account_id"] == "42"
    assert item["account_name"] == "Kanál"
    assert item["url"] == "https://example.org/a?b=c"
    assert item["lang"] == "cs"
    assert item["repost_of"] == "r1"
    assert item["reply_to"] == "q1"
    assert item["links"] == ["https://a.example/", None, "3", '{"u":1}']
    assert item["hashtags"] == ["#one", "", "#two"]  # empty elements go in normalise
    assert item["mentions"] == ["@solo"]
    assert result.extra() == {
        "views": 1200,
        "nested": {"deep": [1, 2.5, "x"], "flag": True},
        "empty": None,
    }


def test_jsonl_without_unknown_keys_has_no_extra_and_scalars_become_one_element_lists(
    tmp_path: Path,
) -> None:
    data = jsonl(
        {"id": "a", "text": "x", "links": 5, "hashtags": True, "mentions": None},
        {"id": "b", "text": "y", "links": [], "hashtags": "", "mentions": ["m"]},
    )
    result = read_bytes(ItemsJsonlReader, tmp_path, data)
    first, second = result.items
    assert first["extra"] is None and second["extra"] is None
    assert first["links"] == ["5"] and first["hashtags"] == ["true"]
    assert first["mentions"] is None
    assert second["links"] == [] and second["hashtags"] == [""] and second["mentions"] == ["m"]
    assert first["published_at"] is None  # missing keys stay missing: normalise rejects


def test_jsonl_physical_line_numbers(tmp_path: Path) -> None:
    data = (
        BOM
        + b'{"id": "a"}\r\n'  # 1
        + b"\n"  # 2 blank
        + b"   \t \r\n"  # 3 blank
        + b"not json\n"  # 4
        + b'{"id": "b"}\n'  # 5
        + b"\xff\xfe\n"  # 6
        + b"[1, 2]\n"  # 7
        + b'{"id": "c"}'  # 8, no final newline
    )
    result = read_bytes(ItemsJsonlReader, tmp_path, data)
    assert result.lines == [1, 5, 8]
    assert [item["id"] for item in result.items] == ["a", "b", "c"]
    assert [(r["line"], r["reason"]) for r in result.rejects] == [
        (4, "invalid JSON"),
        (6, "not valid UTF-8"),
        (7, "not a JSON object"),
    ]


def test_jsonl_line_numbers_run_on_across_small_chunks(tmp_path: Path) -> None:
    records = [{"id": str(i), "text": "t" * (i % 7)} for i in range(300)]
    data = jsonl(*records).replace(b'{"id":"150"', b'\n{"id":"150"')  # a blank line
    result = read_bytes(ItemsJsonlReader, tmp_path, data, chunk_bytes=100)
    assert result.batches > 10
    expected = list(range(1, 151)) + list(range(152, 302))
    assert result.lines == expected
    assert [item["id"] for item in result.items] == [str(i) for i in range(300)]


@pytest.mark.parametrize(
    ("line", "reason"),
    [
        (b"{not json}", "invalid JSON"),
        (b'{"id": "a"', "invalid JSON"),
        (b'{"id": "a"} trailing', "invalid JSON"),
        (b"[1, 2]", "not a JSON object"),
        (b'"just a string"', "not a JSON object"),
        (b"null", "not a JSON object"),
        (b"12", "not a JSON object"),
        (b"true", "not a JSON object"),
        (b'{"id": "\xff"}', "not valid UTF-8"),
        (b'{"id": "a", "text": "raw\x00nul"}', "invalid JSON"),
        (b"\x00\x00\x00", "invalid JSON"),
    ],
)
def test_jsonl_malformed_records_are_rejected_with_a_reason(
    tmp_path: Path, line: bytes, reason: str
) -> None:
    data = b'{"id": "ok1"}\n' + line + b'\n{"id": "ok2"}\n'
    result = read_bytes(ItemsJsonlReader, tmp_path, data)
    assert [item["id"] for item in result.items] == ["ok1", "ok2"]
    assert result.lines == [1, 3]
    [reject] = result.rejects
    assert reject["line"] == 2
    assert reject["reason"] == reason
    assert reject["record"]  # a copy of what was refused


def test_jsonl_escaped_nul_is_kept(tmp_path: Path) -> None:
    result = read_bytes(ItemsJsonlReader, tmp_path, b'{"id": "a\\u0000b", "text": "t"}\n')
    assert result.items[0]["id"] == "a\x00b"


def test_jsonl_oversize_records_are_rejected_with_their_line(tmp_path: Path) -> None:
    big = orjson.dumps({"id": "big", "text": "x" * 5000})
    data = jsonl({"id": "a"}) + big + b"\n" + jsonl({"id": "b"})
    result = read_bytes(ItemsJsonlReader, tmp_path, data, max_record_bytes=1000, chunk_bytes=256)
    assert [item["id"] for item in result.items] == ["a", "b"]
    assert result.lines == [1, 3]
    [reject] = result.rejects
    assert reject["line"] == 2
    assert reject["reason"] == "record over 1000 bytes"
    assert reject["record"].startswith('{"id":"big"')


def test_jsonl_long_invalid_record_copy_is_clipped(tmp_path: Path) -> None:
    result = read_bytes(ItemsJsonlReader, tmp_path, b"x" * 20_000 + b"\n")
    [reject] = result.rejects
    assert reject["reason"] == "invalid JSON"
    assert len(reject["record"]) <= MAX_REJECT_RECORD_CHARS + 1


def test_jsonl_huge_field_within_the_limit_is_kept_whole(tmp_path: Path) -> None:
    text = "ž" * 1_000_000
    result = read_bytes(ItemsJsonlReader, tmp_path, jsonl({"id": "a", "text": text}))
    assert result.items[0]["text"] == text


def test_jsonl_single_5mb_line_without_newline_is_bounded(tmp_path: Path) -> None:
    path = tmp_path / "one-line.jsonl"
    path.write_bytes(b'{"id": "' + b"x" * 5_000_000 + b'"}')
    tracemalloc.start()
    try:
        result = read_path(
            ItemsJsonlReader, path, max_record_bytes=1024 * 1024, chunk_bytes=64 * 1024
        )
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert result.items == []
    assert [(r["line"], r["reason"]) for r in result.rejects] == [(1, "record over 1048576 bytes")]
    assert peak < 4 * 1024 * 1024  # never the whole 5 MB line at once


def test_jsonl_single_5mb_line_with_default_limits(tmp_path: Path) -> None:
    result = read_bytes(ItemsJsonlReader, tmp_path, b"[" * 5_000_000)
    assert result.items == []
    assert [r["line"] for r in result.rejects] == [1]
    assert result.rejects[0]["reason"].startswith("record over")


@pytest.mark.parametrize(
    "line",
    [
        b"[" * 100_000,  # unterminated
        b"[" * 100_000 + b"]" * 100_000,
        b'{"id": "a", "x": ' + b"[" * 100_000 + b"]" * 100_000 + b"}",
        b'{"id": "a", "x": ' + b'{"a": ' * 100_000 + b"1" + b"}" * 100_000 + b"}",
        b'{"id": ' + b'{"a": ' * 100_000 + b"1" + b"}" * 100_000 + b"}",
        b'{"id": "a", "links": [' + b"[" * 70 + b"]" * 70 + b"]}",
    ],
)
def test_jsonl_deeply_nested_records_are_rejected(tmp_path: Path, line: bytes) -> None:
    result = read_bytes(ItemsJsonlReader, tmp_path, b'{"id": "ok"}\n' + line + b"\n")
    assert [item["id"] for item in result.items] == ["ok"]
    [reject] = result.rejects
    assert reject["line"] == 2
    assert (
        reject["reason"] in {"invalid JSON", "not a JSON object"}
        or "nested deeper" in (reject["reason"])
    )


def test_jsonl_many_brackets_but_shallow_is_kept(tmp_path: Path) -> None:
    record = {"id": "a", "text": "[[[[{{{{" * 50, "pairs": [[i, [i]] for i in range(200)]}
    # object (1) > list (2) > pair (3) > list (4): within a bound of 4
    result = read_bytes(ItemsJsonlReader, tmp_path, jsonl(record), max_json_depth=4)
    assert result.rejects == []
    assert result.extra() == {"pairs": [[i, [i]] for i in range(200)]}
    too_deep = read_bytes(
        ItemsJsonlReader, tmp_path, jsonl({"id": "b", "x": [[[[1]]]]}), max_json_depth=4
    )
    assert [r["reason"] for r in too_deep.rejects] == ["JSON nested deeper than 4 levels"]


def test_jsonl_empty_and_blank_files_yield_nothing(tmp_path: Path) -> None:
    for data in (b"", BOM, b"\n\n  \r\n"):
        result = read_bytes(ItemsJsonlReader, tmp_path, data)
        assert result.items == [] and result.rejects == []


def test_jsonl_reads_in_memory_documents() -> None:
    document = InputDocument(name="fetched", content=jsonl({"id": "m", "text": "t"}))
    [batch] = list(ItemsJsonlReader().read(document, IngestSettings()))
    assert batch.items.column("id").to_pylist() == ["m"]


json_scalars = (
    st.none()
    | st.booleans()
    | st.integers(-(2**63), 2**63 - 1)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=20)
)
json_values = st.recursive(
    json_scalars,
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=6), children, max_size=4)
    ),
    max_leaves=12,
)
json_records = st.dictionaries(
    st.sampled_from([*TEXT_COLUMNS, *LIST_COLUMNS]) | st.text(max_size=6), json_values, max_size=8
)


@settings(
    max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(values=st.lists(json_records | json_values, min_size=1, max_size=8))
def test_jsonl_property_arbitrary_json_values(tmp_path: Path, values: list[Any]) -> None:
    data = b"".join(orjson.dumps(value) + b"\n" for value in values)
    result = read_bytes(ItemsJsonlReader, tmp_path, data)
    objects = [(n, v) for n, v in enumerate(values, start=1) if isinstance(v, dict)]
    assert result.lines == [n for n, _ in objects]
    assert result.reject_lines == [n for n, v in enumerate(values, 1) if not isinstance(v, dict)]
    assert {r["reason"] for r in result.rejects} <= {"not a JSON object"}
    for index, (item, (_, record)) in enumerate(zip(result.items, objects, strict=True)):
        for key in TEXT_COLUMNS:
            value = record.get(key)
            if value is None:
                assert item[key] is None
            elif isinstance(value, str):
                assert item[key] == value
            else:
                assert item[key] is not None
        for key in LIST_COLUMNS:
            value = record.get(key)
            if value is None:
                assert item[key] is None
            elif isinstance(value, str):
                assert item[key] == value.strip(" ").split(" ")
            elif isinstance(value, list):
                assert len(item[key]) == len(value)
                for got, want in zip(item[key], value, strict=True):
                    assert got == want if isinstance(want, str) else (got is None) == (want is None)
            else:
                assert item[key] is not None and len(item[key]) == 1
        unknown = {k: v for k, v in record.items() if k not in {*TEXT_COLUMNS, *LIST_COLUMNS}}
        assert result.extra(index) == (unknown or None)


JSONL_TOKENS = [b"\n", b"\r\n", b" ", b"{", b"}", b"[", b'"', b":", b",", b'{"id":"x"}', b"\xff",
                b"\x00", BOM, b"null", b"1"]  # fmt: skip


@settings(
    max_examples=80, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    data=st.binary(max_size=400)
    | st.lists(st.sampled_from(JSONL_TOKENS), max_size=60).map(b"".join),
    chunk_bytes=st.sampled_from([5, 64, 1 << 20]),  # (small blocks: see test_records.py)
    max_record=st.integers(1, 64) | st.just(1 << 20),
)
@example(data=b"\x0c", chunk_bytes=5, max_record=1 << 20)  # a form feed is not JSON whitespace
def test_jsonl_property_arbitrary_bytes_account_for_every_line(
    tmp_path: Path, data: bytes, chunk_bytes: int, max_record: int
) -> None:
    result = read_bytes(
        ItemsJsonlReader, tmp_path, data, chunk_bytes=chunk_bytes, max_record_bytes=max_record
    )
    numbered = list(enumerate(physical_lines(data.removeprefix(BOM)), start=1))
    # Blank lines are skipped, unless over the size bound (then they are not looked into).
    non_blank = [n for n, line in numbered if line.strip(b" \t\r\n") or len(line) > max_record]
    assert sorted(result.lines + result.reject_lines) == non_blank
    assert len(result.lines) + len(result.rejects) + (len(numbered) - len(non_blank)) == len(
        numbered
    )
    assert result.lines == sorted(result.lines)


# --- items CSV ----------------------------------------------------------------------------


def test_items_csv_maps_every_column(tmp_path: Path) -> None:
    header = ",".join([*TEXT_COLUMNS, *LIST_COLUMNS, "views", "note"])
    row = (
        'i1,2024-05-01T10:00:00Z,"Text, with comma and ""quotes""",Title,twitter,cgtn,'
        "a1,Name,https://x.example/p,en,r1,q1,"
        '"[""https://a.example/"", ""https://b.example/""]",#one #two,"[@m1, \'@m2\']",17,'
    )
    result = read_bytes(ItemsCsvReader, tmp_path, f"{header}\n{row}\n".encode())
    assert result.rejects == []
    [item] = result.items
    assert item["line"] == 2
    assert item["id"] == "i1"
    assert item["published_at"] == "2024-05-01T10:00:00Z"
    assert item["text"] == 'Text, with comma and "quotes"'
    assert item["title"] == "Title"
    assert item["platform"] == "twitter"
    assert item["source"] == "cgtn"
    assert (item["account_id"], item["account_name"]) == ("a1", "Name")
    assert item["url"] == "https://x.example/p"
    assert item["lang"] == "en"
    assert (item["repost_of"], item["reply_to"]) == ("r1", "q1")
    assert item["links"] == ["https://a.example/", "https://b.example/"]
    assert item["hashtags"] == ["#one", "#two"]
    assert item["mentions"] == ["@m1", "@m2"]
    assert result.extra() == {"views": "17"}  # the empty "note" is left out


@pytest.mark.parametrize(
    ("cell", "expected"),
    [
        ('"[""a"", ""b c""]"', ["a", "b c"]),  # JSON array
        ('"[""x, y"", ""z""]"', ["x, y", "z"]),  # JSON array with a comma inside an element
        ("a b", ["a", "b"]),  # space-separated
        ('"[a, b]"', ["a", "b"]),  # bracketed
        ("\"['a', 'b']\"", ["a", "b"]),  # bracketed, quoted elements
        ("[a]", ["a"]),
        ("[]", []),
        ("", None),
    ],
)
def test_items_csv_list_forms(tmp_path: Path, cell: str, expected: list[str] | None) -> None:
    data = f"id,published_at,text,links\n1,2,t,{cell}\n".encode()
    [item] = read_bytes(ItemsCsvReader, tmp_path, data).items
    assert item["links"] == expected


def test_items_csv_physical_line_numbers(tmp_path: Path) -> None:
    data = (
        BOM
        + b"id,published_at,text\r\n"  # 1
        + b'a,1,"two\r\nlines"\r\n'  # 2-3
        + b"\r\n"  # 4 blank
        + b'b,1,"three\r\n\r\nlines"\r\n'  # 5-7
        + b"c,1,x\r\n"  # 8
        + b"d,1\r\n"  # 9: a column short
        + b'e,1,"x\r\ny"\r\n'  # 10-11
        + b"f,1,x,extra\r\n"  # 12: a column too many
        + b"g,1,x"  # 13, no final newline
    )
    result = read_bytes(ItemsCsvReader, tmp_path, data)
    assert [(item["id"], item["line"]) for item in result.items] == [
        ("a", 2),
        ("b", 5),
        ("c", 8),
        ("e", 10),
        ("g", 13),
    ]
    assert result.items[1]["text"] == "three\r\n\r\nlines"
    assert [(r["line"], r["reason"].split(":")[0]) for r in result.rejects] == [
        (9, "MISSING COLUMNS"),
        (12, "TOO MANY COLUMNS"),
    ]
    assert result.rejects[0]["record"].endswith("d,1")


def test_items_csv_reject_after_a_multiline_record_names_its_physical_line(
    tmp_path: Path,
) -> None:
    # Regression: DuckDB numbers rejected rows by record; a quoted newline above shifted them.
    data = b'id,published_at,text\n"m\nn\no",1,1\n4,5\n8,9,\xff\n10,11,12\n'
    result = read_bytes(ItemsCsvReader, tmp_path, data)
    assert [(item["id"], item["line"]) for item in result.items] == [("m\nn\no", 2), ("10", 7)]
    assert [(r["line"], r["reason"].split(":")[0]) for r in result.rejects] == [
        (5, "MISSING COLUMNS"),
        (6, "INVALID ENCODING"),
    ]


def test_items_csv_row_after_a_short_row_keeps_its_line(tmp_path: Path) -> None:
    # Regression: the short row's error position lies past its end, which marked the *next*
    # row as the rejected one and numbered the accepted rows wrongly.
    data = b"id,published_at,text\n1,2,3\n4,5,6,7\n8,9\n10,11,12\n"
    result = read_bytes(ItemsCsvReader, tmp_path, data)
    assert [(item["id"], item["line"]) for item in result.items] == [("1", 2), ("10", 5)]
    assert result.reject_lines == [3, 4]


@pytest.mark.parametrize(
    ("body", "reason", "line", "kept"),
    [
        (b"1,2,3\n4,5,6,7\n8,9,1\n", "TOO MANY COLUMNS", 3, ["1", "8"]),
        (b"1,2,3\n4,5\n8,9,1\n", "MISSING COLUMNS", 3, ["1", "8"]),
        (b"1,2,3\n4\n8,9,1\n", "MISSING COLUMNS", 3, ["1", "8"]),
        (b'1,2,3\n4,5,"6\n8,9,1\n', "UNQUOTED VALUE", 3, ["1"]),  # unterminated quote
        (b'1,2,3\n4,5,"6"x\n8,9,1\n', "UNQUOTED VALUE", 3, ["1", "8"]),
        (b"1,2,3\n4,5,\xff\xfe\n8,9,1\n", "INVALID ENCODING", 3, ["1", "8"]),
        (b"1,2,3\n4,5," + b"x" * 600 + b"\n8,9,1\n", "LINE SIZE OVER MAXIMUM", 3, ["1", "8"]),
    ],
)
def test_items_csv_malformed_rows_are_rejected(
    tmp_path: Path, body: bytes, reason: str, line: int, kept: list[str]
) -> None:
    data = b"id,published_at,text\n" + body
    result = read_bytes(ItemsCsvReader, tmp_path, data, max_record_bytes=500)
    assert [item["id"] for item in result.items] == kept
    assert result.reject_lines == [line]
    assert result.rejects[0]["reason"].startswith(reason)


def test_items_csv_unterminated_quote_keeps_the_rest_in_the_reject(tmp_path: Path) -> None:
    data = b'id,published_at,text\n1,2,"open\n3,4,5\n6,7,8\n'
    result = read_bytes(ItemsCsvReader, tmp_path, data)
    assert result.items == []
    [reject] = result.rejects
    assert reject["line"] == 2
    assert "6,7,8" in reject["record"]  # nothing silently dropped


@pytest.mark.parametrize(
    ("data", "missing"),
    [
        (b"", "id, published_at"),
        (b"\n\n", "id, published_at"),
        (b"id,text\n1,2\n", "published_at"),
        (b"ID,Published_At\n1,2\n", "id, published_at"),
        (b"x" * 5_000_000, "id, published_at"),
        (b"\xff\xfe\x00\x00garbage", "id, published_at"),
    ],
)
def test_items_csv_missing_required_columns_is_a_read_error(
    tmp_path: Path, data: bytes, missing: str
) -> None:
    with pytest.raises(ReadError, match=rf"^in\.csv: line 1: missing required columns: {missing}$"):
        read_bytes(ItemsCsvReader, tmp_path, data)


@pytest.mark.parametrize(
    "data",
    [
        b"id,published_at,id\n1,2,3\n",  # a repeated column
        b"id,published_at,\n1,2,3\n",  # an unnamed column
        b"id,published_at,text\n1,2,3\r\n4,5,6\n",  # mixed line endings
        b'id,published_at,"text\n1,2,3\n',  # the header's quote runs to the end
        b'id,published_at,x"\n1,2\n',
    ],
)
def test_items_csv_unreadable_files_raise_read_error_naming_the_file(
    tmp_path: Path, data: bytes
) -> None:
    with pytest.raises(ReadError, match=r"^in\.csv: "):
        read_bytes(ItemsCsvReader, tmp_path, data)


def test_items_csv_hostile_content(tmp_path: Path) -> None:
    huge = "ž" * 1_500_000
    data = (
        b"id,published_at,text\n"
        + b"n,1,a\x00b\n"  # NUL inside a field
        + b"h,1,"
        + huge.encode()
        + b"\n"  # a huge field within the bound
        + b"o,1,"
        + b"y" * 5_000_000
        + b"\n"  # a 5 MB row over it
        + b"z,1,last"
    )
    result = read_bytes(ItemsCsvReader, tmp_path, data)
    assert [(item["id"], item["line"]) for item in result.items] == [("n", 2), ("h", 3), ("z", 5)]
    assert result.items[0]["text"] == "a\x00b"
    assert result.items[1]["text"] == huge
    assert result.reject_lines == [4]
    assert result.rejects[0]["reason"].startswith("LINE SIZE OVER MAXIMUM")


def test_items_csv_stray_quote_in_a_row_falls_back_to_record_numbers(tmp_path: Path) -> None:
    # DuckDB reads a quote inside an unquoted field literally; the quote-parity layout cannot,
    # so rows are numbered by record (right here, as no record spans lines).
    data = b'id,published_at,text\n1,2,a"b\n4,5\n8,9,1\n'
    result = read_bytes(ItemsCsvReader, tmp_path, data)
    assert [(item["id"], item["line"]) for item in result.items] == [("1", 2), ("8", 4)]
    assert result.items[0]["text"] == 'a"b'
    assert result.reject_lines == [3]


def test_items_csv_header_only_and_blank_rows(tmp_path: Path) -> None:
    assert read_bytes(ItemsCsvReader, tmp_path, b"id,published_at\n").items == []
    result = read_bytes(ItemsCsvReader, tmp_path, b"id,published_at\n\n\n1,2\n\n")
    assert result.lines == [4] and result.rejects == []


def test_items_csv_quoted_header_names(tmp_path: Path) -> None:
    result = read_bytes(ItemsCsvReader, tmp_path, b'"id","published_at","x y"\n1,2,3\n')
    assert result.items[0]["id"] == "1"
    assert result.extra() == {"x y": "3"}


def test_csv_reader_spools_in_memory_documents_and_removes_the_copy(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("TMPDIR", str(tmp_path))
    import tempfile

    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    document = InputDocument(name="fetched.csv", content=b"id,published_at,text\n1,2,3\n")
    [batch] = list(ItemsCsvReader().read(document, IngestSettings()))
    assert batch.items.column("line").to_pylist() == [2]
    assert list(tmp_path.iterdir()) == []


def test_csv_batches_over_many_rows(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from fimiwatch.ingest import items

    monkeypatch.setattr(items, "BATCH_ROWS", 100)
    rows = "".join(f'{i},1,"t\n{i}"\n' for i in range(1000))
    result = read_bytes(ItemsCsvReader, tmp_path, f"id,published_at,text\n{rows}".encode())
    assert result.batches >= 2
    assert result.lines == list(range(2, 2002, 2))
    assert [item["id"] for item in result.items] == [str(i) for i in range(1000)]


# --- QUT and Twitter/X IO -----------------------------------------------------------------


def test_qut_csv_maps_its_columns(tmp_path: Path) -> None:
    data = (
        f"{QUT_HEADER},lang_guess\n"
        '100,u1,alice,,,"Hello, world",1700000000,https://a.example/ https://b.example/,en\n'
        '101,u2,bob,100,99,"multi\nline",1700000001.5,,\n'
    ).encode()
    result = read_bytes(QutCsvReader, tmp_path, data)
    assert result.rejects == []
    first, second = result.items
    assert (first["line"], second["line"]) == (2, 3)
    assert first["id"] == "100"
    assert (first["account_id"], first["account_name"]) == ("u1", "alice")
    assert first["text"] == "Hello, world"
    assert first["published_at"] == "1700000000"
    assert first["links"] == ["https://a.example/", "https://b.example/"]
    assert first["repost_of"] is None and first["reply_to"] is None
    assert first["platform"] is None  # the reader's default platform applies in normalise
    assert result.extra(0) == {"lang_guess": "en"}
    assert (second["repost_of"], second["reply_to"]) == ("100", "99")
    assert second["text"] == "multi\nline"
    assert second["published_at"] == "1700000001.5"
    assert second["links"] is None
    assert result.extra(1) is None


def test_qut_csv_without_optional_columns(tmp_path: Path) -> None:
    data = b"message_id,user_id,message,timestamp\n1,u,m,1700000000\n"
    [item] = read_bytes(QutCsvReader, tmp_path, data).items
    assert (item["id"], item["account_name"], item["links"]) == ("1", None, None)


def test_qut_csv_missing_required_columns(tmp_path: Path) -> None:
    with pytest.raises(ReadError, match=r"missing required columns: message, timestamp"):
        read_bytes(QutCsvReader, tmp_path, b"message_id,user_id\n1,2\n")


def twitter_row(**values: str) -> str:
    columns = TWITTER_HEADER.split(",")
    out = io.StringIO()
    csv.writer(out, lineterminator="\n").writerow([values.get(c, "") for c in columns])
    return out.getvalue()


def test_twitter_io_maps_its_columns(tmp_path: Path) -> None:
    data = (
        TWITTER_HEADER
        + "\n"
        + twitter_row(
            tweetid="1001",
            userid="hashed-user",
            user_display_name="Display",
            user_screen_name="screen",
            follower_count="12",
            tweet_language="ru",
            tweet_text="Привет, мир\nвторая строка",
            tweet_time="2019-01-01 10:00",
            in_reply_to_tweetid="999",
            retweet_tweetid="998",
            hashtags="[tag1, tag2]",
            urls="['https://a.example/']",
            user_mentions="[123, 456]",
        )
        + twitter_row(tweetid="1002", userid="u", tweet_text="t", tweet_time="2019-01-02T10:00Z")
        + twitter_row(
            tweetid="1003", userid="u", tweet_text="t", tweet_time="2019-01-02 10:00+0300"
        )
        + twitter_row(tweetid="1004", userid="u", tweet_text="t", tweet_time="   ")
    ).encode()
    result = read_bytes(TwitterIoReader, tmp_path, data)
    assert result.rejects == []
    assert result.lines == [2, 4, 5, 6]
    first = result.items[0]
    assert first["id"] == "1001"
    assert (first["account_id"], first["account_name"]) == ("hashed-user", "screen")
    assert first["text"] == "Привет, мир\nвторая строка"
    assert first["lang"] == "ru"
    assert first["published_at"] == "2019-01-01 10:00Z"  # UTC without a zone in the archive
    assert (first["reply_to"], first["repost_of"]) == ("999", "998")
    assert first["hashtags"] == ["tag1", "tag2"]
    assert first["links"] == ["https://a.example/"]
    assert first["mentions"] == ["123", "456"]
    assert result.extra(0) == {"user_display_name": "Display", "follower_count": "12"}
    assert [item["published_at"] for item in result.items[1:]] == [
        "2019-01-02T10:00Z",
        "2019-01-02 10:00+0300",
        None,  # blank: "missing published_at" in normalise, not a bogus "Z"
    ]
    assert TwitterIoReader.platform == "twitter"


def test_twitter_io_missing_required_columns(tmp_path: Path) -> None:
    with pytest.raises(ReadError, match=r"^in\.csv: line 1: missing required columns: tweet_time"):
        read_bytes(TwitterIoReader, tmp_path, b"tweetid,userid,tweet_text\n1,2,3\n")


# --- sniffing -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "head", "expected"),
    [
        ("posts.jsonl", b'{"id": "1"}\n', "items-jsonl"),
        ("posts.ndjson", b"", "items-jsonl"),
        ("posts.txt", b'{"id": "1", "published_at": "2024-01-01T00:00:00Z"}\n', "items-jsonl"),
        ("posts", BOM + b'{"id": "1", "published_at": "1700000000"}\n', "items-jsonl"),
        ("posts.csv", b"id,published_at,text\n1,2,3\n", "items-csv"),
        ("posts.csv", BOM + b'"id","published_at"\r\n1,2\r\n', "items-csv"),
        ("qut.csv", (QUT_HEADER + "\n1,2,3,,,m,1700000000,\n").encode(), "qut-csv"),
        ("io.csv", (TWITTER_HEADER + "\n").encode(), "twitter-io"),
        ("io_tweets_csv_hashed.csv", BOM + TWITTER_HEADER.encode() + b"\r\n", "twitter-io"),
    ],
)
def test_sniff_picks_the_reader(tmp_path: Path, name: str, head: bytes, expected: str) -> None:
    path = tmp_path / name
    path.write_bytes(head)
    assert choose_reader(InputDocument(name=name, path=path)).name == expected


def test_sniff_scores() -> None:
    items_head = b"id,published_at,text\n"
    assert ItemsCsvReader.sniff("x.csv", items_head) > 0
    assert QutCsvReader.sniff("x.csv", items_head) == 0
    assert TwitterIoReader.sniff("x.csv", items_head) == 0
    assert ItemsJsonlReader.sniff("x.csv", items_head) == 0
    qut = QUT_HEADER.encode()
    assert QutCsvReader.sniff("x.csv", qut) > ItemsCsvReader.sniff("x.csv", qut)
    twitter = TWITTER_HEADER.encode()
    assert TwitterIoReader.sniff("x.csv", twitter) > 0
    assert QutCsvReader.sniff("x.csv", twitter) == 0
    assert ItemsJsonlReader.sniff("x", b"[1, 2]\n") == 0


def test_sniff_refuses_what_no_reader_knows(tmp_path: Path) -> None:
    path = tmp_path / "mystery.bin"
    path.write_bytes(b"\x00\x01 nothing here")
    with pytest.raises(ReadError, match=r"mystery\.bin: cannot tell the format"):
        choose_reader(InputDocument(name=str(path), path=path))


# --- properties: CSV readers --------------------------------------------------------------

HEADERS: dict[type, str] = {
    ItemsCsvReader: "id,published_at,text,links,other",
    QutCsvReader: QUT_HEADER,
    TwitterIoReader: "tweetid,userid,tweet_text,tweet_time,hashtags,urls",
}
ID_AND_TEXT: dict[type, tuple[str, str]] = {
    ItemsCsvReader: ("id", "text"),
    QutCsvReader: ("message_id", "message"),
    TwitterIoReader: ("tweetid", "tweet_text"),
}
CSV_TOKENS = [b"\n", b"\r\n", b"\r", b",", b'"', b'""', b"a", b"[", b"]", b"\xff", b"\x00", BOM,
              b" ", b"1"]  # fmt: skip
hostile_bytes = st.binary(max_size=300) | st.lists(st.sampled_from(CSV_TOKENS), max_size=60).map(
    b"".join
)


@pytest.mark.parametrize("reader", CSV_READERS)
@settings(
    max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(body=hostile_bytes, with_header=st.booleans())
def test_csv_property_arbitrary_bytes(
    tmp_path: Path, reader: type, body: bytes, with_header: bool
) -> None:
    data = (HEADERS[reader].encode() + b"\n" + body) if with_header else body
    try:
        result = read_bytes(reader, tmp_path, data, max_record_bytes=100)
    except ReadError as error:
        assert str(error).startswith("in.csv: ")
        return
    line_count = len(physical_lines(data))
    assert result.lines == sorted(set(result.lines))
    assert all(2 <= line <= line_count for line in result.lines)
    assert all(1 <= line <= line_count for line in result.reject_lines)


csv_cells = st.text(
    alphabet=st.sampled_from(list(' ,"\n\r[]ab#@é\x00')) | st.characters(codec="utf-8"),
    max_size=10,
)


@pytest.mark.parametrize("reader", CSV_READERS)
@settings(
    max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    rows=st.lists(st.lists(csv_cells, min_size=8, max_size=8), max_size=8),
    blank_after=st.lists(st.booleans(), max_size=8),
    terminator=st.sampled_from(["\n", "\r\n"]),
    quoting=st.sampled_from([csv.QUOTE_MINIMAL, csv.QUOTE_ALL]),
)
def test_csv_property_arbitrary_cells_round_trip_with_their_lines(
    tmp_path: Path,
    reader: type,
    rows: list[list[str]],
    blank_after: list[bool],
    terminator: str,
    quoting: Any,
) -> None:
    header = HEADERS[reader].split(",")
    # With "\n" lines, csv.writer leaves a "\r" unquoted; a field ending in one then makes a
    # CRLF line in an LF file, which DuckDB refuses as a whole (see the mixed-endings test).
    assume(
        quoting == csv.QUOTE_ALL
        or terminator == "\r\n"
        or not any("\r" in c for r in rows for c in r)
    )
    out = io.StringIO(newline="")
    writer = csv.writer(out, lineterminator=terminator, quoting=quoting)
    writer.writerow(header)
    expected_lines = []
    for index, row in enumerate(rows):
        expected_lines.append(out.getvalue().count("\n") + 1)
        writer.writerow(row[: len(header)])
        if index < len(blank_after) and blank_after[index]:
            out.write(terminator)
    data = out.getvalue().encode()
    result = read_bytes(reader, tmp_path, data)
    assert result.rejects == []
    assert result.lines == expected_lines
    id_column, text_column = ID_AND_TEXT[reader]
    for item, row in zip(result.items, rows, strict=True):
        assert item["id"] == (row[header.index(id_column)] or None)
        assert item["text"] == (row[header.index(text_column)] or None)
