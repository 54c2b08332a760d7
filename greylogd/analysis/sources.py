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

import os
import socket
import sys
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from functools import partial
from itertools import chain
from typing import BinaryIO, TypeVar

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
from tqdm import tqdm

from greylogd.analysis import frames
from greylogd.analysis.headers import SourceOptions, envelopes, sniff
from greylogd.analysis.journal import dmesg_json_envelopes, journal_envelopes
from greylogd.analysis.logfiles import CHUNK_BYTES, open_input, read_lines, rotation_order


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
    sniffed from the source's first line and the source's mtime (UTC; now for stdin). ``numbers``: the
    line number of each element when they are not consecutive (a ``subset``); ``input``: the source's
    place among the inputs (0-based, rotation order), which orders chunks of equally named sources."""

    source: str
    fmt: str | None
    lines: pa.Array
    first_line: int
    mtime: datetime
    numbers: np.ndarray | None = None
    input: int = 0

    def line_numbers(self) -> np.ndarray:
        """The 1-based line number of each element (int64)."""
        if self.numbers is not None:
            return self.numbers
        return np.arange(self.first_line, self.first_line + len(self.lines), dtype=np.int64)


def subset(raw: RawChunk, mask: np.ndarray) -> RawChunk:
    """The lines of ``raw`` where the boolean ``mask`` is true, with their line numbers."""
    numbers = raw.line_numbers()[mask]
    first = int(numbers[0]) if len(numbers) else raw.first_line
    return replace(raw, lines=raw.lines.filter(pa.array(mask)), first_line=first, numbers=numbers)


def joined(raws: list[RawChunk]) -> RawChunk:
    """Chunks of one source (in order) as one chunk."""
    lines = pa.concat_arrays([raw.lines for raw in raws])
    return replace(raws[0], lines=lines, numbers=np.concatenate([raw.line_numbers() for raw in raws]))


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
        raws = (raw for number, (name, stream, mtime) in enumerate(opened)
                for raw in _raw_chunks(name, stream, mtime, chunk_bytes, number))
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


def _raw_chunks(name: str, stream: BinaryIO, mtime: datetime, chunk_bytes: int,
                number: int) -> Iterator[RawChunk]:
    """Line arrays of one opened input with its sniffed format; a dmesg --json document is one chunk."""
    chunks = read_lines(stream, name, chunk_bytes)
    first = next(chunks, None)
    fmt = sniff(first) if first is not None else None
    if fmt == "dmesg_json":
        whole = "".join("".join(c.to_pylist()) for c in chain([first], chunks))
        yield RawChunk(name, fmt, pa.array([whole], pa.large_string()), 1, mtime, input=number)
        return
    line = 1
    for lines in (chain([first], chunks) if first is not None else ()):
        yield RawChunk(name, fmt, lines, line, mtime, input=number)
        line += len(lines)


def _parse_raw(raw: RawChunk, func: Callable[[Envelopes], T], options: SourceOptions,
               keep: str | None) -> T:
    return func(chunk_envelopes(raw, options, keep))


def chunk_envelopes(raw: RawChunk, options: SourceOptions, keep: str | None = None) -> Envelopes:
    """Envelopes of one raw chunk, header-parsing only the lines matching the RE2 pattern ``keep``;
    ``Envelopes.lines`` counts every line of the chunk."""
    if raw.fmt == "dmesg_json":
        frame = dmesg_json_envelopes(raw.lines[0].as_py(), options, options.host or socket.gethostname())
        records = len(frame)
        if keep is not None:
            frame = frame[frame["raw"].str.contains(keep, regex=True)]
        return Envelopes(raw.source, raw.fmt, frame, records)
    numbers, lines = raw.line_numbers(), raw.lines
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


def bad_lines(source: str, frame: pd.DataFrame, reasons: pd.Series) -> pd.DataFrame:
    """bad_lines frame (frames.BAD_LINES) of the rows of ``frame`` whose reason is not null."""
    rows = frame[reasons.notna()]
    raw = rows["raw"].str.rstrip("\r\n").str.slice(0, frames.RAW_MAX)
    return frames.typed(pd.DataFrame({"source": source, "line": rows["line"],
                                      "reason": reasons[rows.index], "raw": raw}), frames.BAD_LINES)


def in_line_order(rows: list[pd.DataFrame], lines: list[np.ndarray],
                  bad: list[pd.DataFrame]) -> tuple[pd.DataFrame, np.ndarray, pd.DataFrame]:
    """Parts of one chunk parsed by different paths (the C scanner's rows, then the Python path's) as
    one: their rows with the line number of each, and their bad_lines frames, both in line order."""
    line = np.concatenate(lines)
    order = np.argsort(line, kind="stable")
    joined = frames.concat(rows).take(order).reset_index(drop=True)
    every_bad = pd.concat(bad, ignore_index=True)
    every_bad = every_bad.take(np.argsort(every_bad["line"].to_numpy(), kind="stable"))
    return joined, line[order], frames.typed(every_bad, frames.BAD_LINES)
