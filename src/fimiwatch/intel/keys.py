"""Normalised keys for actor names: the one definition the KB build and resolution share."""

from __future__ import annotations

import re
import unicodedata

_SLUG_SEPARATORS = re.compile(r"[^a-z0-9]+")
_NOT_ALNUM = re.compile(r"[\W_]+")  # \w is str.isalnum() plus "_"


def alias_key(text: str) -> str:
    """Case-, space- and punctuation-insensitive key: "Violet-Typhoon", "violet typhoon" →
    "violettyphoon".

    NFKC folds full-width and compatibility forms, casefold handles ß and the like; only letters
    and digits survive (in any script, so 狼毒草 keeps its key).
    """
    return _NOT_ALNUM.sub("", unicodedata.normalize("NFKC", text).casefold())


def slugify(text: str) -> str:
    """A readable, stable ASCII id: "Threat Group-3390" → "threat-group-3390"."""
    ascii_text = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode()
    return _SLUG_SEPARATORS.sub("-", ascii_text.lower()).strip("-")
