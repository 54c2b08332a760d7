"""Open log inputs and split them into syslog envelopes, chunk by chunk, without a per-line Python loop.

Inputs: plain files, ``.gz`` files, ``-`` (stdin), rotated sets (``kern.log.2.gz``, ``kern.log.1``,
``kern.log`` are read oldest first, see ``rotation_order``). The format of each input is sniffed from
its first non-empty line (spec/logformats.md 3.2 and 3.5):

- ``rfc3164``: ``Nov 23 08:05:58 host prog[pid]: msg`` (also ulogd LOGEMU, which has no ``prog:``);
  no year and no zone: the zone is ``SourceOptions.tz`` (default the machine's), the year the one of
  the reference time (file mtime unless given); a stamp more than a day after the reference belongs
  to the previous year (New Year roll-over). In a DST fall-back hour the earlier (DST) reading is taken.
- ``rfc3339``: rsyslog FileFormat and ``journalctl -o short-iso-precise`` (offset with or without colon).
- ``rfc5424``: ``<4>1 2026-11-23T08:05:58.652063+00:00 host prog pid msgid sd msg``.
- ``kmsg`` (``/dev/kmsg`` records ``4,333,5765603140,-;msg``), ``dmesg`` (``dmesg -r`` / plain dmesg,
  ``[ 5765.603140] msg``) and ``dmesg_json`` (``dmesg --json``): kernel uptime only; event time is
  ``SourceOptions.boot_time`` (default this machine's boot, /proc/stat btime) plus the uptime.
- ``journal``: ``journalctl -o json`` lines (event time rules in ``greylogd.analysis.journal``).

Every envelope frame has headers.ENVELOPE columns: line (1-based number in its source), raw (the line as read,
including its newline), ts (UTC; NaT when the header did not parse), host, program, pid, message
(text after the header; NaN when the header did not parse). Deciding what is *bad* is the reader's
job: a line whose header fails may just be noise in a shared syslog.
"""

from __future__ import annotations

import gzip
import os
import re
import socket
import sys
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import partial
from itertools import chain
from pathlib import Path
from typing import BinaryIO, TypeVar

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
from tqdm import tqdm

from greylogd.analysis import frames
from greylogd.analysis.headers import SourceOptions, envelopes, sniff
from greylogd.analysis.journal import dmesg_json_envelopes, journal_envelopes
from greylogd.analysis.logscan import line_offsets
from greylogd.errors import InputError

CHUNK_BYTES = 16 << 20  # peak memory is about 20 times this (3 chunks in flight, their copies)
_ROTATED = re.compile(r"^(?P<base>.*?)(?:\.(?P<n>[0-9]+))?(?:\.gz)?$")


@dataclass
class Envelopes:
    """One chunk of one source: an ENVELOPE frame of the lines kept, the format it was read as,
    and how many lines (dmesg --json: records) the chunk had before the ``keep`` filter."""

    source: str
    fmt: str | None
    frame: pd.DataFrame
    lines: int


@dataclass
class RawChunk:
    """One chunk of one source as read, before any header parsing: ``lines`` (large_string, newline
    kept; a dmesg --json document is one element), the 1-based number of its first line, the format
    sniffed from the source's first line and the source's mtime (UTC; now for stdin)."""

    source: str
    fmt: str | None
    lines: pa.Array
    first_line: int
    mtime: datetime


T = TypeVar("T")


def map_envelopes(func: Callable[[Envelopes], T],
                  paths: str | os.PathLike[str] | Iterable[str | os.PathLike[str]],
                  options: SourceOptions | None = None, chunk_bytes: int = CHUNK_BYTES,
                  progress: bool | None = None, keep: str | None = None, workers: int = 2) -> Iterator[T]:
    """``func`` of the envelope chunks of every input, in input order, rotated sets oldest first.

    Lines that do not match the RE2 pattern ``keep`` get no envelope (they only count in
    ``Envelopes.lines``), which spares header parsing of lines a reader would skip anyway.
    Otherwise as ``map_chunks``.
    """
    work = partial(_parse_raw, func=func, options=options or SourceOptions(), keep=keep)
    return map_chunks(work, paths, chunk_bytes, progress, workers)


def map_chunks(func: Callable[[RawChunk], T],
               paths: str | os.PathLike[str] | Iterable[str | os.PathLike[str]],
               chunk_bytes: int = CHUNK_BYTES, progress: bool | None = None, workers: int = 2) -> Iterator[T]:
    """``func`` of the raw chunks of every input, in input order, rotated sets oldest first.

    Chunks are parsed by ``workers`` threads (pyarrow and the C scanner release the GIL); at most
    ``workers + 1`` chunks are in memory, each about ``chunk_bytes``. ``progress`` None shows a tqdm
    bar (bytes) only when stderr is a terminal. Raises InputError (one line naming the input) for a
    missing or unreadable input, before or while reading it; bad content never raises.
    """
    names = rotation_order([paths] if isinstance(paths, (str, os.PathLike)) else paths)
    opened = [(name, *open_input(name)) for name in names]
    show = sys.stderr.isatty() if progress is None else progress
    with tqdm(total=_total_size(names), unit="B", unit_scale=True, disable=not show) as bar, \
            ThreadPoolExecutor(workers) as pool:
        pending: deque[Future[T]] = deque()
        raws = (raw for name, stream, mtime in opened
                for raw in _raw_chunks(name, stream, mtime, chunk_bytes))
        for raw in raws:
            pending.append(pool.submit(func, raw))
            bar.update(raw.lines.buffers()[2].size if raw.fmt != "dmesg_json" else 0)
            if len(pending) > workers:
                yield pending.popleft().result()
        while pending:
            yield pending.popleft().result()


def iter_envelopes(paths: str | os.PathLike[str] | Iterable[str | os.PathLike[str]],
                   options: SourceOptions | None = None, chunk_bytes: int = CHUNK_BYTES,
                   progress: bool | None = None, keep: str | None = None) -> Iterator[Envelopes]:
    """The envelope chunks themselves (``map_envelopes`` with the identity)."""
    return map_envelopes(lambda chunk: chunk, paths, options, chunk_bytes, progress, keep)


def lines_envelopes(lines: Iterable[str], source: str, options: SourceOptions | None = None,
                    keep: str | None = None) -> Envelopes:
    """The one envelope chunk of lines already in memory (format sniffed; RFC 3164 year from now)."""
    return chunk_envelopes(lines_chunk(lines, source), options or SourceOptions(), keep)


def lines_chunk(lines: Iterable[str], source: str) -> RawChunk:
    """Lines already in memory as one raw chunk (newlines dropped, format sniffed, mtime now)."""
    array = pa.array([line.rstrip("\n") for line in lines], pa.large_string())
    fmt = sniff(array)
    if fmt == "dmesg_json":
        array = pa.array(["\n".join(array.to_pylist())], pa.large_string())
    return RawChunk(source, fmt, array, 1, datetime.now(UTC))


def _raw_chunks(name: str, stream: BinaryIO, mtime: datetime, chunk_bytes: int) -> Iterator[RawChunk]:
    """Line arrays of one opened input with its sniffed format; a dmesg --json document is one chunk."""
    chunks = read_lines(stream, name, chunk_bytes)
    first = next(chunks, None)
    fmt = sniff(first) if first is not None else None
    if fmt == "dmesg_json":
        whole = "".join("".join(c.to_pylist()) for c in chain([first], chunks))
        yield RawChunk(name, fmt, pa.array([whole], pa.large_string()), 1, mtime)
        return
    line = 1
    for lines in (chain([first], chunks) if first is not None else ()):
        yield RawChunk(name, fmt, lines, line, mtime)
        line += len(lines)


def _parse_raw(raw: RawChunk, func: Callable[[Envelopes], T], options: SourceOptions,
               keep: str | None) -> T:
    return func(chunk_envelopes(raw, options, keep))


def chunk_envelopes(raw: RawChunk, options: SourceOptions, keep: str | None = None,
                    select: np.ndarray | None = None) -> Envelopes:
    """Envelopes of one raw chunk, header-parsing only the lines matching the RE2 pattern ``keep``
    and, when given, where the boolean mask ``select`` (one per line) is true; ``Envelopes.lines``
    counts every line of the chunk."""
    if raw.fmt == "dmesg_json":
        frame = dmesg_json_envelopes(raw.lines[0].as_py(), options, options.host or socket.gethostname())
        records = len(frame)
        if keep is not None:
            frame = frame[frame["raw"].str.contains(keep, regex=True)]
        return Envelopes(raw.source, raw.fmt, frame, records)
    numbers = np.arange(raw.first_line, raw.first_line + len(raw.lines), dtype=np.int64)
    lines = raw.lines
    if select is not None:
        lines, numbers = lines.filter(pa.array(select)), numbers[select]
    if keep is not None:
        if raw.fmt == "journal":  # a MESSAGE that is not UTF-8 is a JSON array of byte values
            keep = rf'(?:{keep})|"MESSAGE" *: *\['
        mask = pc.match_substring_regex(lines, keep)
        lines, numbers = lines.filter(mask), numbers[mask.to_numpy(zero_copy_only=False)]
    frame = (journal_envelopes(lines, numbers) if raw.fmt == "journal"
             else envelopes(lines, raw.fmt, numbers, raw.mtime, options))
    return Envelopes(raw.source, raw.fmt, frame, len(raw.lines))


def _total_size(names: list[str]) -> int | None:
    """Sum of the inputs' sizes on disk (compressed for .gz), for the progress bar; None for stdin."""
    return None if "-" in names else sum(os.path.getsize(name) for name in names)


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

    Each chunk is read straight into its own buffer, which the array then wraps (one copy, by the
    kernel or zlib). Invalid UTF-8 is replaced by U+FFFD, never raised. A single line longer than
    ``chunk_bytes`` is kept whole (memory then grows to that line's size).
    """
    rest = b""
    try:
        with stream:
            while True:
                buffer = np.empty(len(rest) + chunk_bytes, np.uint8)
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
    """Newline-terminated ``data`` (uint8) as a large_string array, one element per line, zero-copy."""
    offsets = line_offsets(data)
    array = pa.LargeStringArray.from_buffers(len(offsets) - 1, pa.py_buffer(offsets), pa.py_buffer(data))
    try:
        array.validate(full=True)
    except pa.ArrowInvalid:
        fixed = data.tobytes().decode("utf-8", "replace").encode("utf-8")
        return _line_array(np.frombuffer(fixed, np.uint8))
    return array


def bad_lines(source: str, frame: pd.DataFrame, reasons: pd.Series) -> pd.DataFrame:
    """bad_lines frame (frames.BAD_LINES) of the rows of ``frame`` whose reason is not null."""
    rows = frame[reasons.notna()]
    raw = rows["raw"].str.rstrip("\r\n").str.slice(0, frames.RAW_MAX)
    return frames.typed(pd.DataFrame({"source": source, "line": rows["line"],
                                      "reason": reasons[rows.index], "raw": raw}), frames.BAD_LINES)

