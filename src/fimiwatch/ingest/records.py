"""Vectorised record splitting: where each line or CSV record starts, without a loop per row.

Readers of line-oriented formats need the physical line of every record for the quarantine,
and must bound record sizes before parsing. numpy finds newlines (and, for CSV, which of them
fall inside quoted fields) over large chunks at C speed.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import IO

import numpy as np
import pyarrow as pa

NEWLINE = 0x0A
CARRIAGE_RETURN = 0x0D
QUOTE = 0x22
BOM = b"\xef\xbb\xbf"


@dataclass(frozen=True)
class LineChunk:
    """Lines of one chunk: ``lines`` holds each line with its end-of-line bytes."""

    lines: pa.BinaryArray
    numbers: np.ndarray
    """1-based line number of each element of ``lines``."""
    oversize: list[tuple[int, bytes]]
    """Lines longer than the bound, left out of ``lines``: (line number, first bytes)."""


def iter_line_chunks(handle: IO[bytes], chunk_bytes: int, max_line: int) -> Iterator[LineChunk]:
    """Split a byte stream into whole lines, a large chunk at a time (zero-copy Arrow arrays).

    Memory stays bounded by ``chunk_bytes + max_line``: a line longer than ``max_line`` is
    skipped to its end and reported in ``oversize`` with its first bytes.
    """
    carry = b""
    line_number = 1
    skipping: tuple[int, bytes] | None = None
    first = True
    while True:
        # The first read is at least as long as the BOM, so that it is seen whole.
        block = handle.read(max(chunk_bytes, len(BOM)) if first else chunk_bytes)
        at_end = not block  # tested apart from ``block``, which may be emptied below
        if first:
            block = block.removeprefix(BOM)
            first = False
        oversize: list[tuple[int, bytes]] = []
        if skipping is not None:
            end = block.find(b"\n")
            if end < 0 and not at_end:
                continue
            oversize.append(skipping)
            skipping = None
            line_number += 1
            block = block[end + 1 :] if end >= 0 else b""
        data = carry + block
        carry = b""
        if not at_end:
            cut = data.rfind(b"\n") + 1
            data, carry = data[:cut], data[cut:]
            if len(carry) > max_line:
                skipping = (line_number + data.count(b"\n"), carry[:PREFIX_BYTES])
                carry = b""
        if data:
            lines, numbers, big = _split_lines(data, line_number, max_line)
            oversize.extend(big)
            line_number += len(numbers) + len(big)
        else:
            lines, numbers = pa.array([], pa.binary()), np.zeros(0, dtype=np.int64)
        if len(lines) or oversize:
            yield LineChunk(lines, numbers, oversize)
        if at_end and skipping is None:
            return


PREFIX_BYTES = 4096


def _split_lines(
    data: bytes, first_line: int, max_line: int
) -> tuple[pa.BinaryArray, np.ndarray, list[tuple[int, bytes]]]:
    view = np.frombuffer(data, dtype=np.uint8)
    ends = np.flatnonzero(view == NEWLINE) + 1
    if ends.size == 0 or ends[-1] != len(data):
        ends = np.append(ends, len(data))
    offsets = np.concatenate(([0], ends)).astype(np.int32)
    lines = pa.BinaryArray.from_buffers(
        pa.binary(), len(ends), [None, pa.py_buffer(offsets), pa.py_buffer(data)]
    )
    numbers = np.arange(first_line, first_line + len(ends), dtype=np.int64)
    too_long = np.diff(offsets) > max_line
    if not too_long.any():
        return lines, numbers, []
    big = [
        (int(numbers[i]), data[offsets[i] : min(offsets[i + 1], offsets[i] + PREFIX_BYTES)])
        for i in np.flatnonzero(too_long)
    ]
    keep = pa.array(~too_long)
    return lines.filter(keep), numbers[~too_long], big


@dataclass(frozen=True)
class CsvLayout:
    """Where each non-blank CSV record starts: its byte offset and its physical line."""

    starts: np.ndarray
    lines: np.ndarray


def csv_layout(handle: IO[bytes], chunk_bytes: int) -> CsvLayout:
    """Find record boundaries of an RFC 4180 CSV stream (``""`` escapes, quoted newlines).

    A newline ends a record when the number of quotes before it is even; doubled quotes
    inside a field add two and so keep the parity.
    """
    starts: list[np.ndarray] = []
    lines: list[np.ndarray] = []
    offset = 0
    quotes_before = 0
    newlines_before = 0
    record_start = 0
    record_line = 1
    last_byte = -1
    while True:
        block = handle.read(chunk_bytes)
        if not block:
            break
        view = np.frombuffer(block, dtype=np.uint8)
        newline_at = np.flatnonzero(view == NEWLINE)
        quote_at = np.flatnonzero(view == QUOTE)
        parity = (quotes_before + np.searchsorted(quote_at, newline_at)) % 2
        ends_here = newline_at[parity == 0]
        newline_index = np.searchsorted(newline_at, ends_here)
        record_starts = np.concatenate(([record_start], offset + ends_here + 1))
        record_lines = np.concatenate(([record_line], newlines_before + newline_index + 2))
        starts.append(record_starts[:-1])
        lines.append(record_lines[:-1])
        record_start, record_line = int(record_starts[-1]), int(record_lines[-1])
        quotes_before += quote_at.size
        newlines_before += newline_at.size
        offset += len(block)
        last_byte = int(view[-1])
    if offset > record_start and not (offset - record_start == 1 and last_byte == CARRIAGE_RETURN):
        starts.append(np.array([record_start]))
        lines.append(np.array([record_line]))
    all_starts = np.concatenate(starts) if starts else np.zeros(0, dtype=np.int64)
    all_lines = np.concatenate(lines) if lines else np.zeros(0, dtype=np.int64)
    lengths = np.diff(np.append(all_starts, offset))
    handle.seek(0)
    blank = _blank_records(handle, all_starts, lengths)
    keep = ~blank
    return CsvLayout(all_starts[keep].astype(np.int64), all_lines[keep].astype(np.int64))


def _blank_records(handle: IO[bytes], starts: np.ndarray, lengths: np.ndarray) -> np.ndarray:
    """Records that are only an end of line (DuckDB skips them, so must we)."""
    blank = lengths <= 0
    short = np.flatnonzero((lengths > 0) & (lengths <= 2))
    for index in short:
        handle.seek(int(starts[index]))
        blank[index] = handle.read(int(lengths[index])).strip(b"\r\n") == b""
    return blank
