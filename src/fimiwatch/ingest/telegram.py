"""Telegram Desktop JSON exports: one chat (``result.json`` of a chat) or a full account export.

Message ids are only unique within a chat, so item ids are ``"<chat_id>:<message_id>"`` and
replies point at ``"<chat_id>:<reply_to_message_id>"``. Service messages (joins, pins, title
changes) are not posts and are quarantined with their action named.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping
from datetime import UTC, datetime
from typing import Any, ClassVar

import orjson

from fimiwatch.config import IngestSettings
from fimiwatch.ingest.base import ITEM_KEYS, Batch, InputDocument, ReadError, make_batch
from fimiwatch.ingest.jsondoc import loads_bounded

ROWS_PER_BATCH = 5000
_CONSUMED_KEYS = frozenset(
    {"id", "type", "date", "date_unixtime", "from", "from_id", "reply_to_message_id", "text",
     "text_entities"}
)  # fmt: skip
_LINK_TYPES = frozenset({"link", "text_link"})
_HASHTAG_TYPES = frozenset({"hashtag"})
_MENTION_TYPES = frozenset({"mention", "mention_name"})
_EPOCH = re.compile(r"-?\d{1,12}")
_NAIVE_ISO = re.compile(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(?:\.\d+)?")


class TelegramReader:
    name: ClassVar[str] = "telegram"
    platform: ClassVar[str] = "telegram"
    requires_published_at: ClassVar[bool] = True

    @classmethod
    def sniff(cls, name: str, head: bytes) -> int:
        start = head.lstrip()[:1]
        if start != b"{":
            return 0
        if b'"chats"' in head and b'"list"' in head:
            return 85
        if b'"messages"' in head and (b'"name"' in head or b'"type"' in head):
            return 85
        return 10 if name.lower().endswith(".json") and b'"messages"' in head else 0

    def read(self, document: InputDocument, settings: IngestSettings) -> Iterator[Batch]:
        data = document.read_bounded(settings.max_document_bytes)
        try:
            export = loads_bounded(data, settings.max_json_depth)
        except ValueError as error:
            raise ReadError(f"{document.name}: {error}") from None
        rows: list[tuple[int, dict[str, Any]]] = []
        rejects: list[tuple[int | None, str, str]] = []
        for line, outcome in _outcomes(_chats(export, document.name)):
            if isinstance(outcome, dict):
                rows.append((line or 0, outcome))
            else:
                rejects.append((line, *outcome))
            if len(rows) + len(rejects) >= ROWS_PER_BATCH:
                yield make_batch(rows, rejects)
                rows, rejects = [], []
        if rows or rejects:
            yield make_batch(rows, rejects)


def _chats(export: Any, name: str) -> list[Any]:
    """The chats in an export: the object itself, or every chat of a full account export."""
    if not isinstance(export, dict):
        raise ReadError(f"{name}: a Telegram export is a JSON object, not {type(export).__name__}")
    if "messages" in export:
        return [export]
    chats: list[Any] = []
    for key in ("chats", "left_chats"):
        group = export.get(key)
        if isinstance(group, dict) and isinstance(group.get("list"), list):
            chats.extend(group["list"])
    if not chats:
        raise ReadError(f"{name}: no 'messages' and no 'chats.list': not a Telegram export")
    return chats


Outcome = dict[str, Any] | tuple[str, str]
"""A record for an item, or ``(reason, raw)`` for a reject."""


def _outcomes(chats: list[Any]) -> Iterator[tuple[int | None, Outcome]]:
    """Each message's record or reject, numbered across the whole export (chat faults: None)."""
    line = 0
    for chat in chats:
        problem = _chat_problem(chat)
        if problem:
            header = (
                {k: v for k, v in chat.items() if k != "messages"}
                if isinstance(chat, dict)
                else chat
            )
            yield None, (problem, _dump(header))
            continue
        chat_id = str(_as_id(chat["id"]))
        context = {"chat_id": chat_id, "chat_name": chat.get("name"), "chat_type": chat.get("type")}
        for message in chat["messages"]:
            line += 1
            reason = _reject_reason(message)
            yield line, (reason, _dump(message)) if reason else _record(message, chat_id, context)


def _chat_problem(chat: Any) -> str | None:
    if not isinstance(chat, dict) or not isinstance(chat.get("messages"), list):
        return "chat without a 'messages' list"
    if _as_id(chat.get("id")) is None:
        return "chat without an 'id'"
    return None


def _reject_reason(message: Any) -> str | None:
    if not isinstance(message, dict):
        return "message is not a JSON object"
    if message.get("type") == "service":
        action = message.get("action")
        return f"service message ({action if isinstance(action, str) else 'no action'}), not a post"
    if _as_id(message.get("id")) is None:
        return "message without an 'id'"
    return None


def _record(message: Mapping[str, Any], chat_id: str, context: dict[str, Any]) -> dict[str, Any]:
    text, entities = _text_and_entities(message)
    reply = _as_id(message.get("reply_to_message_id"))
    record: dict[str, Any] = {
        "id": f"{chat_id}:{_as_id(message.get('id'))}",
        "published_at": _published_at(message),
        "text": text or None,
        "title": None if text else _media_label(message),
        "account_id": _as_id(message.get("from_id")),
        "account_name": message.get("from") if isinstance(message.get("from"), str) else None,
        "reply_to": f"{chat_id}:{reply}" if reply is not None else None,
        "links": _entity_values(entities, _LINK_TYPES),
        "hashtags": [h.lstrip("#") for h in _entity_values(entities, _HASHTAG_TYPES)],
        "mentions": _mentions(entities),
        **context,
    }
    for key, value in message.items():
        if key not in _CONSUMED_KEYS:
            record[f"telegram_{key}" if key in ITEM_KEYS or key in context else key] = value
    return record


def _text_and_entities(message: Mapping[str, Any]) -> tuple[str, list[dict[str, Any]]]:
    """Text and its entities, from ``text_entities`` when present, else from ``text`` parts."""
    parts = message.get("text_entities")
    if not isinstance(parts, list):
        raw = message.get("text")
        parts = raw if isinstance(raw, list) else [raw] if isinstance(raw, str) else []
    texts: list[str] = []
    entities: list[dict[str, Any]] = []
    for part in parts:
        if isinstance(part, str):
            texts.append(part)
        elif isinstance(part, dict) and isinstance(part.get("text"), str):
            texts.append(part["text"])
            entities.append(part)
    return "".join(texts), entities


def _entity_values(entities: list[dict[str, Any]], types: frozenset[str]) -> list[str]:
    values = []
    for entity in entities:
        if entity.get("type") in types:
            href = entity.get("href")
            value = href if isinstance(href, str) and href else entity["text"]
            if value.strip():
                values.append(value.strip())
    return values


def _mentions(entities: list[dict[str, Any]]) -> list[str]:
    """``@handle`` mentions as handles; ``mention_name`` as ``user<id>``, like ``from_id``."""
    found = []
    for entity in entities:
        if entity.get("type") not in _MENTION_TYPES:
            continue
        user_id = _as_id(entity.get("user_id"))
        if entity.get("type") == "mention_name" and user_id is not None:
            found.append(f"user{user_id}")
        elif entity["text"].strip():
            found.append(entity["text"].strip().lstrip("@"))
    return found


def _media_label(message: Mapping[str, Any]) -> str | None:
    """A title for posts that are only media, so they are kept (e.g. ``[photo]``)."""
    for key in (
        "media_type",
        "photo",
        "file",
        "poll",
        "location_information",
        "contact_information",
    ):
        value = message.get(key)
        if value:
            kind = value if key == "media_type" and isinstance(value, str) else key
            return f"[{kind.replace('_', ' ')}]"
    return None


def _published_at(message: Mapping[str, Any]) -> str | None:
    """ISO 8601 UTC from ``date_unixtime``; else ``date`` (the exporting machine's local time,
    with no zone: older exports have nothing better) taken as UTC."""
    epoch = message.get("date_unixtime")
    if isinstance(epoch, int | str) and _EPOCH.fullmatch(str(epoch)):
        try:
            return datetime.fromtimestamp(int(epoch), UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
        except (OverflowError, OSError, ValueError):
            pass
    date = message.get("date")
    if isinstance(date, str) and _NAIVE_ISO.fullmatch(date):
        return date + "Z"
    return date if isinstance(date, str) else None


def _as_id(value: Any) -> str | None:
    if isinstance(value, bool) or value is None:
        return None
    if isinstance(value, int | str) and str(value).strip():
        return str(value).strip()
    return None


def _dump(value: Any) -> str:
    return orjson.dumps(value, default=str).decode()
