"""The vectorised splitters in ``records.py`` against plain Python models of the same job.

``iter_line_chunks`` must give back every ``\\n``-terminated line of the input exactly once
(kept, or reported as oversize), numbered from 1, in bounded memory; ``csv_layout`` must find
the same record starts as Python's ``csv`` module.
"""

from __future__ import annotations

import csv
import io
import re

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from fimiwatch.ingest.records import BOM, PREFIX_BYTES, csv_layout, iter_line_chunks


class CountingReader(io.BytesIO):
    """A byte stream that remembers the largest read it was asked for."""

    def __init__(self, data: bytes) -> None:
        super().__init__(data)
        self.largest_read = 0

    def read(self, size: int | None = -1) -> bytes:
        assert size is not None and size >= 0, "reads must be bounded"
        self.largest_read = max(self.largest_read, size)
        return super().read(size)


def physical_lines(data: bytes) -> list[bytes]:
    """``data.splitlines(keepends=True)``, but splitting on ``\\n`` only."""
    return re.findall(rb"[^\n]*\n|[^\n]+\Z", data)


def model(data: bytes, max_line: int) -> tuple[list[tuple[int, bytes]], list[tuple[int, bytes]]]:
    """(kept lines, oversize lines) with 1-based numbers, as ``iter_line_chunks`` should give."""
    lines = list(enumerate(physical_lines(data.removeprefix(BOM)), start=1))
    kept = [(n, line) for n, line in lines if len(line) <= max_line]
    oversize = [(n, line) for n, line in lines if len(line) > max_line]
    return kept, oversize


def split(data: bytes, chunk_bytes: int, max_line: int):
    handle = CountingReader(data)
    kept: list[tuple[int, bytes]] = []
    oversize: list[tuple[int, bytes]] = []
    for chunk in iter_line_chunks(handle, chunk_bytes, max_line):
        assert len(chunk.lines) == len(chunk.numbers)
        assert chunk.numbers.dtype == np.int64
        assert len(chunk.lines) or chunk.oversize, "no empty chunks"
        # Memory bound: a chunk holds at most one block plus one carried partial line.
        held = sum(len(line) for line in chunk.lines.to_pylist())
        assert held <= chunk_bytes + max_line + len(BOM)
        kept.extend(zip(chunk.numbers.tolist(), chunk.lines.to_pylist(), strict=True))
        oversize.extend(chunk.oversize)
    assert handle.largest_read <= max(chunk_bytes, len(BOM))
    return kept, oversize


# Bytes rich in newlines, carriage returns, BOM pieces and invalid UTF-8.
line_bytes = st.binary(max_size=300) | st.lists(
    st.sampled_from([b"\n", b"\r\n", b"\r", b"a", b"bc", b"\xef\xbb\xbf", b"\xff", b"xxxxxxx"]),
    max_size=80,
).map(b"".join)


@settings(max_examples=400, deadline=None)
@given(
    data=line_bytes,
    bom=st.booleans(),
    chunk_bytes=st.integers(1, 24),
    max_line=st.integers(1, 24),
)
def test_line_chunks_match_a_plain_split(
    data: bytes, bom: bool, chunk_bytes: int, max_line: int
) -> None:
    if bom:
        data = BOM + data
    kept, oversize = split(data, chunk_bytes, max_line)
    want_kept, want_oversize = model(data, max_line)
    assert kept == want_kept
    assert [n for n, _ in oversize] == [n for n, _ in want_oversize]
    for (_, prefix), (_, line) in zip(oversize, want_oversize, strict=True):
        assert line.startswith(prefix)
        assert min(max_line + 1, PREFIX_BYTES) <= len(prefix) <= PREFIX_BYTES
    # Every line is accounted for exactly once, in order.
    numbers = sorted([n for n, _ in kept] + [n for n, _ in oversize])
    assert numbers == list(range(1, len(physical_lines(data.removeprefix(BOM))) + 1))


@pytest.mark.parametrize("chunk_bytes", [1, 2, 3, 4, 5, 64])
def test_oversize_line_ending_on_a_block_boundary_does_not_end_the_stream(
    chunk_bytes: int,
) -> None:
    # Regression: when the newline closing a skipped line was the last byte of a block, the
    # splitter stopped there and silently lost every later line.
    data = b"abcdefg\nxy\nz\n"
    kept, oversize = split(data, chunk_bytes, 2)
    assert [n for n, _ in oversize] == [1, 2]
    assert kept == [(3, b"z\n")]


@pytest.mark.parametrize("chunk_bytes", [1, 2, 3, 8])
def test_bom_is_stripped_even_with_tiny_blocks(chunk_bytes: int) -> None:
    kept, _ = split(BOM + b"ab\ncd", chunk_bytes, 100)
    assert kept == [(1, b"ab\n"), (2, b"cd")]


def test_only_a_bom_or_nothing_yields_nothing() -> None:
    assert split(b"", 4, 4) == ([], [])
    assert split(BOM, 4, 4) == ([], [])
    assert split(BOM, 1, 4) == ([], [])


def test_long_line_without_newline_is_reported_with_bounded_memory() -> None:
    data = b"x" * 5_000_000
    kept, oversize = split(data, 64 * 1024, 1024)
    assert kept == []
    assert [n for n, _ in oversize] == [1]
    assert oversize[0][1] == b"x" * PREFIX_BYTES


def test_lines_keep_their_end_of_line_bytes() -> None:
    kept, _ = split(b"a\r\n\nb\rc\n", 3, 100)
    assert kept == [(1, b"a\r\n"), (2, b"\n"), (3, b"b\rc\n")]


# --- csv_layout ---------------------------------------------------------------------------


def csv_model(text: str) -> list[int]:
    """Start line of every non-blank record, from ``csv.reader``'s ``line_num``."""
    reader = csv.reader(line.decode() for line in physical_lines(text.encode()))
    starts = []
    previous_end = 0
    for row in reader:
        if row:
            starts.append(previous_end + 1)
        previous_end = reader.line_num
    return starts


cell = st.text(
    alphabet=st.sampled_from(list('ab ,"\n;é\t')) | st.characters(codec="utf-8"),
    max_size=12,
).filter(lambda text: "\r" not in text)
rows = st.lists(st.lists(cell, min_size=1, max_size=4), max_size=12)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    rows=rows,
    blank_after=st.lists(st.sampled_from(["", "\n", "\r\n", "\n\n"]), max_size=12),
    terminator=st.sampled_from(["\r\n", "\n"]),
    final_newline=st.booleans(),
    chunk_bytes=st.integers(1, 40),
)
def test_csv_layout_matches_python_csv(
    rows: list[list[str]],
    blank_after: list[str],
    terminator: str,
    final_newline: bool,
    chunk_bytes: int,
) -> None:
    out = io.StringIO(newline="")
    writer = csv.writer(out, lineterminator=terminator)
    for index, row in enumerate(rows):
        writer.writerow(row)
        if index < len(blank_after):
            out.write(blank_after[index])
    text = out.getvalue()
    if not final_newline:
        text = text.removesuffix(terminator)
    data = text.encode()
    layout = csv_layout(io.BytesIO(data), chunk_bytes)
    assert layout.lines.tolist() == csv_model(text)
    # Every start is the first byte of its line, and the decoded record begins there.
    for start, line in zip(layout.starts.tolist(), layout.lines.tolist(), strict=True):
        assert data[:start].count(b"\n") + 1 == line
        assert start == 0 or data[start - 1 : start] == b"\n"
    assert layout.starts.dtype == np.int64 and layout.lines.dtype == np.int64


def test_csv_layout_quoted_newlines_doubled_quotes_and_blank_lines() -> None:
    data = b'a,b\r\n"x\ny",2\r\n\r\n\n3,4\n"q""\n",5'
    layout = csv_layout(io.BytesIO(data), 7)
    assert layout.lines.tolist() == [1, 2, 6, 7]
    assert layout.starts.tolist() == [0, 5, 17, 21]


def test_csv_layout_empty_and_trailing_carriage_return() -> None:
    assert csv_layout(io.BytesIO(b""), 8).lines.tolist() == []
    assert csv_layout(io.BytesIO(b"\n\n\r\n"), 8).lines.tolist() == []
    assert csv_layout(io.BytesIO(b"a\n\r"), 8).lines.tolist() == [1]
