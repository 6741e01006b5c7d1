"""Bounded JSON loading for the document-at-a-time readers (Telegram exports, profiles).

orjson refuses nesting past 1024 levels by itself (and never recurses in Python), so a hostile
``[[[[…`` cannot raise ``RecursionError``; the configured, much lower, depth bound is then
checked with an explicit stack so that later code walking the value can recurse safely.
"""

from __future__ import annotations

from typing import Any

import orjson


class JsonTooDeep(ValueError):
    """The JSON value nests deeper than the configured bound."""


def loads_bounded(data: bytes | str, max_depth: int) -> Any:
    """Parse JSON, raising ``ValueError`` (``JsonTooDeep`` for nesting) on anything unusable."""
    try:
        value = orjson.loads(data)
    except orjson.JSONDecodeError as error:
        if "depth" in str(error):
            raise JsonTooDeep(f"JSON nested deeper than {max_depth} levels") from None
        raise ValueError(f"not valid JSON: {error}") from None
    if _deeper_than(value, max_depth):
        raise JsonTooDeep(f"JSON nested deeper than {max_depth} levels")
    return value


def _deeper_than(value: Any, max_depth: int) -> bool:
    """Whether objects/arrays nest more than ``max_depth`` levels (a scalar is depth 0)."""
    stack: list[tuple[Any, int]] = [(value, 0)]
    while stack:
        node, depth = stack.pop()
        if isinstance(node, dict):
            children: Any = node.values()
        elif isinstance(node, list):
            children = node
        else:
            continue
        depth += 1
        if depth > max_depth:
            return True
        stack.extend((child, depth) for child in children if isinstance(child, dict | list))
    return False
