"""Articles cut into passages: the unit that is matched, so that reuse of part of an article
inside a longer local piece is found, and coverage says how much of each side was reused.

A passage is a paragraph; paragraphs shorter than ``min_chars`` join the next one, and longer
than ``max_chars`` are cut at sentence ends (any script's full stop, question or exclamation
mark followed by space, or the CJK ones). Pure string work per article: cheap next to
embedding each passage.
"""

from __future__ import annotations

import re
from collections.abc import Iterator

PARAGRAPH_BREAK = re.compile(r"\n\s*\n|\r\n\s*\r\n")
SENTENCE_END = re.compile(r"(?<=[.!?…])\s+|(?<=[。！？])")
SINGLE_NEWLINE = re.compile(r"\s*\n\s*")


def passages(text: str, min_chars: int = 80, max_chars: int = 600) -> list[str]:
    """The passages of ``text``, in order, whitespace-normalised; [] for blank text."""
    pieces = [SINGLE_NEWLINE.sub(" ", p).strip() for p in PARAGRAPH_BREAK.split(text or "")]
    if sum(1 for p in pieces if p) == 1 and "\n" in (text or "").strip():
        pieces = [p.strip() for p in (text or "").splitlines()]  # one line per paragraph
    out: list[str] = []
    pending = ""
    for piece in (p for p in pieces if p):
        pending = f"{pending} {piece}".strip() if pending else piece
        if len(pending) >= min_chars:
            out.extend(_cut(pending, max_chars))
            pending = ""
    if pending:
        if out and len(pending) < min_chars and len(out[-1]) + len(pending) < max_chars:
            out[-1] = f"{out[-1]} {pending}"
        else:
            out.append(pending)
    return out


def _cut(paragraph: str, max_chars: int) -> Iterator[str]:
    if len(paragraph) <= max_chars:
        yield paragraph
        return
    current = ""
    for sentence in (s for s in SENTENCE_END.split(paragraph) if s.strip()):
        if current and len(current) + len(sentence) + 1 > max_chars:
            yield current
            current = ""
        current = f"{current} {sentence}".strip() if current else sentence.strip()
        while len(current) > max_chars:  # a "sentence" longer than a passage: cut hard
            yield current[:max_chars].rstrip()  # the cut may fall just after a space
            current = current[max_chars:].strip()
    if current:
        yield current
