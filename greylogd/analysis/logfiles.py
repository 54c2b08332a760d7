"""Log files as byte streams and line arrays: plain, gzipped, stdin, rotated sets (oldest first).

``read_lines`` reads each chunk straight into its own buffer and wraps it as a pyarrow large_string
array without copying; line boundaries are found by the C scanner (logscan.line_offsets).
"""

from __future__ import annotations

import gzip
import os
import re
import sys
from collections.abc import Iterable, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import BinaryIO

import numpy as np
import pyarrow as pa

from greylogd.analysis.logscan import line_offsets
from greylogd.errors import InputError

CHUNK_BYTES = 16 << 20  # peak memory is about 10 times this (3 chunks in flight, their columns)
_POOL, _SLACK = 4, 1 << 16  # buffers kept: the chunks in flight (workers + 1) and the one being read
_ROTATED = re.compile(r"^(?P<base>.*?)(?:\.(?P<n>[0-9]+))?(?:\.gz)?$")


def rotation_order(paths: Iterable[str | os.PathLike[str]]) -> list[str]:
    """Paths sorted oldest first: ``x.3.gz, x.2.gz, x.1, x`` per base name; bases keep their order."""
    names = [os.fspath(p) for p in paths]
    first_seen: dict[str, int] = {}
    keys = []
    for name in names:
        match = _ROTATED.match(name)
        base, number = match["base"], int(match["n"] or 0)
        first_seen.setdefault(base, len(first_seen))
        keys.append((first_seen[base], -number))
    return [name for _, name in sorted(zip(keys, names, strict=True))]


def rotated_set(path: str | os.PathLike[str]) -> list[str]:
    """``path`` and its existing rotations (``path.1``, ``path.2.gz``, ...), oldest first."""
    base = Path(path)
    siblings = [str(p) for p in base.parent.glob(base.name + ".*")
                if re.fullmatch(re.escape(base.name) + r"\.[0-9]+(?:\.gz)?", p.name)]
    return rotation_order([*siblings, str(base)])


def open_input(name: str) -> tuple[BinaryIO, datetime]:
    """The byte stream of ``name`` (``-`` is stdin; ``.gz`` or gzip magic is decompressed) and its mtime.

    Raises InputError naming the input when it is missing or unreadable.
    """
    if name == "-":
        return sys.stdin.buffer, datetime.now(UTC)
    try:
        stream: BinaryIO = open(name, "rb")  # noqa: SIM115 - closed by read_lines
        mtime = datetime.fromtimestamp(os.fstat(stream.fileno()).st_mtime, UTC)
        if stream.peek(2)[:2] == b"\x1f\x8b":
            stream = gzip.GzipFile(fileobj=stream)  # type: ignore[assignment]
    except OSError as exc:
        raise InputError(f"{name}: cannot read: {exc.strerror or exc}") from None
    return stream, mtime


def read_lines(stream: BinaryIO, name: str, chunk_bytes: int = CHUNK_BYTES) -> Iterator[pa.Array]:
    """Line arrays (large_string, newline kept) of at most about ``chunk_bytes`` each.

    Each chunk is read straight into a buffer, which the array then wraps (one copy, by the kernel or
    zlib); buffers that nothing references any more are reused. Invalid UTF-8 is replaced by U+FFFD,
    never raised. A single line longer than ``chunk_bytes`` is kept whole (memory then grows to that
    line's size).
    """
    rest, pool = b"", []
    try:
        with stream:
            while True:
                buffer = _free_buffer(pool, len(rest) + chunk_bytes, chunk_bytes + _SLACK)
                buffer[:len(rest)] = np.frombuffer(rest, np.uint8)
                size = len(rest) + _read_into(stream, memoryview(buffer)[len(rest):])
                if size == len(rest):
                    break
                cut = _after_last_newline(buffer, len(rest), size)
                if cut:
                    yield _line_array(buffer[:cut])
                rest = buffer[cut:size].tobytes()
            if rest:
                yield _line_array(np.frombuffer(rest + b"\n", np.uint8))
    except (OSError, EOFError, gzip.BadGzipFile) as exc:
        raise InputError(f"{name}: read failed: {exc}") from None


def _free_buffer(pool: list[np.ndarray], size: int, usual: int) -> np.ndarray:
    """A buffer of at least ``size`` bytes that no array uses any more, else a new one (pooled, up to
    _POOL, when ``size`` fits the ``usual`` size). Reuse spares the kernel zeroing fresh pages, which
    cost as much as reading them; "no longer used" is sys.getrefcount: only the pool, the loop and the
    call refer to it (a line array holds a view whose base is the buffer)."""
    for buffer in pool:
        if len(buffer) >= size and sys.getrefcount(buffer) == 3:
            return buffer
    if size > usual or len(pool) >= _POOL:
        return np.empty(size, np.uint8)
    pool.append(np.empty(usual, np.uint8))
    return pool[-1]


def _read_into(stream: BinaryIO, view: memoryview) -> int:
    """Fill ``view`` from ``stream`` (pipes and gzip return short reads); bytes read, short only at EOF."""
    filled = 0
    while filled < len(view) and (count := stream.readinto(view[filled:])):
        filled += count
    return filled


def _after_last_newline(buffer: np.ndarray, start: int, size: int) -> int:
    """One past the last newline of buffer[start:size] (searched backwards 64 KiB at a time), or 0."""
    end = size
    while end > start:
        low = max(start, end - (1 << 16))
        hits = np.flatnonzero(buffer[low:end] == 10)
        if len(hits):
            return low + int(hits[-1]) + 1
        end = low
    return 0


def _line_array(data: np.ndarray) -> pa.Array:
    """Newline-terminated ``data`` (uint8) as a large_string array, one element per line, zero-copy;
    invalid UTF-8 replaced (checked only when a byte is not ASCII)."""
    offsets, ascii = line_offsets(data)
    array = pa.LargeStringArray.from_buffers(len(offsets) - 1, pa.py_buffer(offsets), pa.py_buffer(data))
    try:
        array.validate(full=not ascii)
    except pa.ArrowInvalid:
        fixed = data.tobytes().decode("utf-8", "replace").encode("utf-8")
        return _line_array(np.frombuffer(fixed, np.uint8))
    return array
