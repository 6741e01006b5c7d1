from __future__ import annotations

import contextlib
from pathlib import Path
from typing import Any

import orjson
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from fimiwatch.config import IngestSettings
from fimiwatch.ingest.base import ReadError
from fimiwatch.ingest.telegram import TelegramReader

CHAT = {
    "name": "Voice of the Motherland",
    "type": "public_channel",
    "id": 1234567890,
    "messages": [
        {
            "id": 1,
            "type": "service",
            "date": "2024-03-05T10:00:00",
            "date_unixtime": "1709632800",
            "actor": "Voice",
            "actor_id": "channel1234567890",
            "action": "create_channel",
            "title": "Voice",
            "text": "",
            "text_entities": [],
        },
        {
            "id": 2,
            "type": "message",
            "date": "2024-03-05T10:00:01",
            "date_unixtime": "1709632801",
            "from": "Voice",
            "from_id": "channel1234567890",
            "text": "Plain text only",
        },
        {
            "id": 3,
            "type": "message",
            "date": "2024-03-05T10:05:00",
            "from": "Voice",
            "from_id": "channel1234567890",
            "forwarded_from": "State TV",
            "reply_to_message_id": 2,
            "photo": "photos/photo_1.jpg",
            "text": [
                "Read ",
                {"type": "text_link", "text": "this", "href": "https://state.example/a"},
                " and ",
                {"type": "link", "text": "https://other.example/b"},
                " ",
                {"type": "hashtag", "text": "#Europe"},
                " ",
                {"type": "mention", "text": "@friend"},
                " ",
                {"type": "mention_name", "text": "Ivan", "user_id": 42},
            ],
        },
        {
            "id": 4,
            "type": "message",
            "date": "2024-03-05T10:06:00",
            "date_unixtime": "1709633160",
            "from": "Voice",
            "from_id": "channel1234567890",
            "text": ["stale text parts"],
            "text_entities": [
                {"type": "plain", "text": "From entities "},
                {"type": "hashtag", "text": "#news"},
            ],
        },
    ],
}


def write(tmp_path: Path, value: Any, name: str = "result.json") -> Path:
    path = tmp_path / name
    path.write_bytes(orjson.dumps(value))
    return path


def test_single_chat(tmp_path: Path, read: Any) -> None:
    result = read(TelegramReader, write(tmp_path, CHAT))
    assert [i["id"] for i in result.items] == ["1234567890:2", "1234567890:3", "1234567890:4"]
    plain, forward, entities = result.items
    assert plain["published_at"] == "2024-03-05T10:00:01Z"
    assert plain["text"] == "Plain text only"
    assert plain["account_id"] == "channel1234567890"
    assert plain["account_name"] == "Voice"
    assert plain["line"] == 2

    assert forward["published_at"] == "2024-03-05T10:05:00Z"  # from "date", taken as UTC
    assert forward["text"] == "Read this and https://other.example/b #Europe @friend Ivan"
    assert forward["links"] == ["https://state.example/a", "https://other.example/b"]
    assert forward["hashtags"] == ["Europe"]
    assert forward["mentions"] == ["friend", "user42"]
    assert forward["reply_to"] == "1234567890:2"
    extra = result.extra(1)
    assert extra["forwarded_from"] == "State TV"
    assert extra["photo"] == "photos/photo_1.jpg"
    assert extra["chat_id"] == "1234567890"
    assert extra["chat_name"] == "Voice of the Motherland"

    assert entities["text"] == "From entities #news"
    assert entities["hashtags"] == ["news"]


def test_service_messages_are_rejected_with_a_reason(tmp_path: Path, read: Any) -> None:
    result = read(TelegramReader, write(tmp_path, CHAT))
    assert len(result.rejects) == 1
    reject = result.rejects[0]
    assert reject["line"] == 1
    assert "service message (create_channel)" in reject["reason"]
    assert '"action":"create_channel"' in reject["record"]


def test_full_export_keeps_message_ids_apart_per_chat(tmp_path: Path, read: Any) -> None:
    other = {"name": "Other", "type": "private_group", "id": 99, "messages": CHAT["messages"]}
    export = {"about": "export", "chats": {"about": "...", "list": [CHAT, other]}}
    result = read(TelegramReader, write(tmp_path, export))
    ids = [item["id"] for item in result.items]
    assert "1234567890:2" in ids and "99:2" in ids
    assert len(ids) == len(set(ids)) == 6
    assert [r["line"] for r in result.rejects] == [1, 5]


def test_unknown_keys_colliding_with_item_columns_are_kept_apart(tmp_path: Path, read: Any) -> None:
    message = {"id": 7, "type": "message", "date_unixtime": "1709632801", "text": "x",
               "title": "a poll title", "url": "not a url"}  # fmt: skip
    result = read(TelegramReader, write(tmp_path, {"id": 5, "messages": [message]}))
    assert result.items[0]["title"] is None and result.items[0]["url"] is None
    assert result.extra()["telegram_title"] == "a poll title"


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (b"{not json", "not valid JSON"),
        (b"[1, 2]", "a Telegram export is a JSON object"),
        (b'{"name": "x"}', "not a Telegram export"),
        (b"", "not valid JSON"),
    ],
)
def test_malformed_documents_raise_read_error(
    tmp_path: Path, read: Any, content: bytes, message: str
) -> None:
    path = tmp_path / "bad.json"
    path.write_bytes(content)
    with pytest.raises(ReadError, match=message) as error:
        read(TelegramReader, path)
    assert "bad.json" in str(error.value)


def test_bad_chats_and_messages_are_rejects(tmp_path: Path, read: Any) -> None:
    export = {
        "chats": {
            "list": [
                {"name": "no id", "messages": [{"id": 1, "text": "x"}]},
                {"id": 1, "messages": "not a list"},
                "not a chat",
                {"id": 2, "messages": [5, {"text": "no id"}, {"id": 3, "text": "ok"}]},
            ]
        }
    }
    result = read(TelegramReader, write(tmp_path, export))
    assert [i["id"] for i in result.items] == ["2:3"]
    reasons = [r["reason"] for r in result.rejects]
    assert reasons == [
        "chat without an 'id'",
        "chat without a 'messages' list",
        "chat without a 'messages' list",
        "message is not a JSON object",
        "message without an 'id'",
    ]


def test_deep_json_is_a_read_error_not_a_crash(tmp_path: Path, read: Any) -> None:
    deep = b'{"id": 1, "messages": [{"id": 1, "x": ' + b"[" * 100 + b"]" * 100 + b"}]}"
    path = tmp_path / "deep.json"
    path.write_bytes(deep)
    with pytest.raises(ReadError, match=r"deep\.json: JSON nested deeper than 64"):
        read(TelegramReader, path)
    path.write_bytes(b"[" * 200_000 + b"]" * 200_000)
    with pytest.raises(ReadError, match="nested deeper"):
        read(TelegramReader, path)


def test_oversize_document_is_refused(tmp_path: Path, read: Any) -> None:
    with pytest.raises(ReadError, match="over the limit"):
        read(TelegramReader, write(tmp_path, CHAT), IngestSettings(max_document_bytes=100))


def test_huge_and_odd_fields(tmp_path: Path, read: Any) -> None:
    message = {
        "id": 1,
        "date_unixtime": "99999999999999",  # out of range: falls back to "date"
        "date": "yesterday",
        "from_id": {"not": "an id"},
        "from": ["not", "a", "name"],
        "text": "x" * 2_000_000,
        "text_entities": [{"type": "link"}, {"type": "hashtag", "text": 5}, "tail"],
    }
    result = read(TelegramReader, write(tmp_path, {"id": "c", "messages": [message]}))
    item = result.items[0]
    assert item["published_at"] == "yesterday"  # the pipeline quarantines it with a reason
    assert item["account_id"] is None and item["account_name"] is None
    assert item["text"] == "tail"


def test_sniff() -> None:
    assert TelegramReader.sniff("result.json", orjson.dumps(CHAT)[:200]) >= 80
    assert TelegramReader.sniff("x.json", b'{"about": "", "chats": {"list": []}}') >= 80
    assert TelegramReader.sniff("items.jsonl", b'{"id": "1", "published_at": "x"}') == 0
    assert TelegramReader.sniff("a.csv", b"id,text\n") == 0


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
MESSAGE = st.fixed_dictionaries(
    {},
    optional={
        key: JSON
        for key in ("id", "type", "date", "date_unixtime", "from", "from_id",
                    "reply_to_message_id", "text", "text_entities", "forwarded_from")
    },
)  # fmt: skip


@settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    chat_id=JSON,
    messages=st.lists(MESSAGE | JSON, max_size=5),
    full=st.booleans(),
)
def test_any_json_yields_valid_batches_or_read_error(
    read: Any, chat_id: Any, messages: Any, full: bool
) -> None:
    chat = {"id": chat_id, "name": "c", "messages": messages}
    document = {"chats": {"list": [chat, messages]}} if full else chat
    with contextlib.suppress(ReadError):
        read(TelegramReader, orjson.dumps(document))


@settings(max_examples=100, deadline=None)
@given(st.binary(max_size=300) | JSON.map(orjson.dumps))
def test_any_bytes_yield_valid_batches_or_read_error(read: Any, data: bytes) -> None:
    with contextlib.suppress(ReadError):
        read(TelegramReader, data)


def test_media_only_posts_get_a_title(tmp_path: Path, read: Any) -> None:
    export = {
        "name": "c",
        "type": "public_channel",
        "id": 7,
        "messages": [
            {"id": 1, "type": "message", "date_unixtime": "1714000000", "text": "",
             "photo": "photos/1.jpg"},
            {"id": 2, "type": "message", "date_unixtime": "1714000001", "text": [],
             "media_type": "video_file", "file": "v.mp4"},
        ],
    }  # fmt: skip
    path = tmp_path / "result.json"
    path.write_bytes(orjson.dumps(export))
    items = read(TelegramReader, path).items
    assert [i["title"] for i in items] == ["[photo]", "[video file]"]
