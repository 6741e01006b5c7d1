from __future__ import annotations

import contextlib
from pathlib import Path
from typing import Any

import orjson
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from fimiwatch.ingest.base import ReadError
from fimiwatch.ingest.profile import ProfileReader

PROFILE = {
    "id": "li-4411",
    "platform": "linkedin",
    "name": "Anna Weber",
    "headline": "Senior Consultant | Geopolitical Risk",
    "location": "Brussels",
    "created_at": "2023-11-02",
    "connections": "500+",
    "followers": 812,
    "photo": {"present": True, "notes": "stock-like portrait"},
    "experience": [
        {"title": "Senior Consultant", "company": "Blue Harbor Advisory",
         "company_domain": "blueharbor.example", "company_followers": 12,
         "company_employees_on_platform": 2, "start": "2022-01", "end": None},
    ],
    "education": [{"school": "LSE", "degree": "MSc International Relations", "end": "2015"}],
    "contacts_sample": [
        {"name": "B. Ng", "title": "Policy Advisor", "employer": "European Parliament"}
    ],
    "messages": [
        {"sent_at": "2024-02-01", "direction": "in",
         "text": "Paid research opportunity on EU policy"},
        {"sent_at": "2024-02-02", "direction": "out", "text": "Tell me more"},
    ],
    "unknown_key": {"kept": True},
}  # fmt: skip


def write(tmp_path: Path, content: bytes, name: str = "profiles.json") -> Path:
    path = tmp_path / name
    path.write_bytes(content)
    return path


def test_full_profile(tmp_path: Path, read: Any) -> None:
    result = read(ProfileReader, write(tmp_path, orjson.dumps(PROFILE)))
    assert not result.rejects
    item = result.items[0]
    assert item["id"] == item["account_id"] == "li-4411"
    assert item["platform"] == "linkedin"
    assert item["account_name"] == "Anna Weber"
    assert item["title"] == "Senior Consultant | Geopolitical Risk"
    assert item["published_at"] == "2023-11-02T00:00:00Z"
    assert item["text"].splitlines() == [
        "Senior Consultant | Geopolitical Risk",
        "Brussels",
        "Experience: Senior Consultant at Blue Harbor Advisory (2022-01 - present)",
        "Education: MSc International Relations, LSE (2015)",
        "Paid research opportunity on EU policy",
        "Tell me more",
    ]
    assert result.extra() == {"profile": PROFILE}


def test_profile_with_only_an_id_is_valid(tmp_path: Path, read: Any) -> None:
    result = read(ProfileReader, write(tmp_path, b'{"id": 17}'))
    item = result.items[0]
    assert (item["id"], item["title"], item["published_at"], item["text"]) == (
        "17",
        "17",
        None,
        None,
    )
    assert item["platform"] is None  # the pipeline applies the reader's platform, linkedin


def test_list_with_bad_records(tmp_path: Path, read: Any) -> None:
    records = [PROFILE, "a string", {"name": "no id"}, {"id": ""}, {"id": 2, "name": "ok"}]
    result = read(ProfileReader, write(tmp_path, orjson.dumps(records)))
    assert [i["id"] for i in result.items] == ["li-4411", "2"]
    assert [(r["line"], r["reason"]) for r in result.rejects] == [
        (2, "a profile is a JSON object, not str"),
        (3, "profile without an 'id'"),
        (4, "profile without an 'id'"),
    ]


def test_json_lines(tmp_path: Path, read: Any) -> None:
    content = b'{"id": "a"}\n\n{"id": "b", "headline": "x"}\n{broken\n[1]\n'
    result = read(ProfileReader, write(tmp_path, content, "p.jsonl"))
    assert [(i["line"], i["id"]) for i in result.items] == [(1, "a"), (3, "b")]
    assert [r["line"] for r in result.rejects] == [4, 5]
    assert "not valid JSON" in result.rejects[0]["reason"]
    assert result.rejects[0]["record"] == "{broken"


@pytest.mark.parametrize(
    ("change", "reason"),
    [
        ({"name": 5}, "'name' must be text"),
        ({"connections": [1]}, "'connections' must be a number or text"),
        ({"created_at": "last year"}, "'created_at' must be a date, YYYY-MM-DD"),
        ({"created_at": "2023-13-45"}, "'created_at' must be a date, YYYY-MM-DD"),
        ({"photo": "yes"}, "'photo' must be an object"),
        ({"experience": {"title": "x"}}, "'experience' must be a list of objects"),
        ({"education": ["LSE"]}, "'education' must be a list of objects"),
        ({"messages": [{"text": {"nested": 1}}]}, "'messages[0].text' must be a number or text"),
        (
            {"messages": [{"direction": "sideways"}]},
            "'messages[0].direction' must be 'in' or 'out'",
        ),
        ({"id": True}, "profile without an 'id'"),
    ],
)
def test_invalid_fields_are_rejects(
    tmp_path: Path, read: Any, change: dict[str, Any], reason: str
) -> None:
    result = read(ProfileReader, write(tmp_path, orjson.dumps({**PROFILE, **change})))
    assert not result.items
    assert result.rejects[0]["reason"] == reason


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (b"not json at all", "line 1: not valid JSON"),
        (b"42", "holds a JSON object or a list of objects"),
        (b'{"id": 1, "x": ' + b"[" * 80 + b"]" * 80 + b"}", "nested deeper than 64"),
        (b"[" * 100_000, "nested deeper than 64"),
    ],
)
def test_unreadable_documents(tmp_path: Path, read: Any, content: bytes, message: str) -> None:
    with pytest.raises(ReadError, match=message) as error:
        read(ProfileReader, write(tmp_path, content, "odd.json"))
    assert "odd.json" in str(error.value)


def test_deep_line_in_json_lines_is_a_reject(tmp_path: Path, read: Any) -> None:
    content = b'{"id": "a"}\n' + b"[" * 100 + b"]" * 100 + b"\n"
    result = read(ProfileReader, write(tmp_path, content, "p.jsonl"))
    assert [i["id"] for i in result.items] == ["a"]
    assert "nested deeper" in result.rejects[0]["reason"]


def test_huge_text_is_bounded(tmp_path: Path, read: Any) -> None:
    from fimiwatch.config import IngestSettings

    profile = {"id": "x", "messages": [{"text": "y" * 5000}]}
    result = read(
        ProfileReader, write(tmp_path, orjson.dumps(profile)), IngestSettings(max_text_chars=100)
    )
    assert len(result.items[0]["text"]) == 100


def test_sniff() -> None:
    head = orjson.dumps(PROFILE)[:300]
    assert ProfileReader.sniff("anna.json", head) >= 70
    assert ProfileReader.sniff("people.jsonl", head) < 90  # the items reader claims .jsonl
    assert ProfileReader.sniff("items.jsonl", b'{"id": "1", "published_at": "x"}') == 0
    assert ProfileReader.sniff("x.eml", b"From: a@b\n") == 0


JSON = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**63), max_value=2**63 - 1)
    | st.floats()
    | st.text(max_size=20),
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=8), children, max_size=4)
    ),
    max_leaves=12,
)
PROFILE_LIKE = st.fixed_dictionaries(
    {"id": JSON}, optional={key: JSON for key in PROFILE if key != "id"}
)


@settings(max_examples=80, deadline=None)
@given(st.lists(PROFILE_LIKE | JSON, max_size=4) | PROFILE_LIKE, st.booleans())
def test_any_json_yields_valid_batches_or_read_error(read: Any, value: Any, lines: bool) -> None:
    values = value if isinstance(value, list) else [value]
    data = b"\n".join(map(orjson.dumps, values)) if lines else orjson.dumps(value)
    try:
        result = read(ProfileReader, data)
    except ReadError:
        return
    for item in result.items:
        assert item["id"] and item["title"]


@settings(max_examples=100, deadline=None)
@given(st.binary(max_size=300))
def test_any_bytes_yield_valid_batches_or_read_error(read: Any, data: bytes) -> None:
    with contextlib.suppress(ReadError):
        read(ProfileReader, data)
