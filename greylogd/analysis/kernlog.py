"""Kernel iptables/nftables LOG lines into the ``connections`` frame (spec/report.md, spec/logformats.md 3).

``read_kernlog(paths)`` reads every input ``sources.map_chunks`` knows (kern.log/syslog in RFC 3164,
RFC 3339 or RFC 5424, rotated and gzipped sets, ``-``, journald JSON, dmesg, /dev/kmsg, ulogd LOGEMU)
and returns a ``KernlogResult``; ``iter_kernlog(paths)`` yields it a part at a time in bounded memory;
``parse_kernlog(lines)`` does the same for lines already in memory.

Policy: a line without `` OUT=`` (which the kernel prints in every LOG line) is not a LOG line; it is
*skipped* and only counted. A LOG line that cannot be used (no syslog header or time, no SRC, no PROTO,
malformed fields, an invalid address or port) goes to ``bad_lines`` with its source, line number and
reason; nothing raises for bad content. Rows equal in ``_SAME_LINE`` (ts, host, prefix, addresses,
ports) are kept once: the same line logged to both kern.log and syslog, or a retransmitted SYN seen
twice within one second of an RFC 3164 stamp. Rows from a journald export and from kern.log have
different times (journald's is recomputed from the kernel's clock), so they are *not* merged.
Category: frames.CATEGORIES by trimmed, case-insensitive prefix, else "other"; an empty IN= (OUTPUT
chain) is "outbound" whatever the prefix.

Speed: chunks are parsed by two threads, well-formed lines of kern.log's usual formats by a C scanner
(``kernlog_lines``, ``logscan``); the few lines it leaves are batched for the vectorized Python path.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, replace
from functools import partial

import numpy as np
import pandas as pd

from greylogd.analysis import frames
from greylogd.analysis.headers import SourceOptions
from greylogd.analysis.kernlog_lines import (
    DEFER_LINES,
    LOG_MARK,
    Parsed,
    normalise_addresses,
    parse_chunk,
    parse_raw,
)
from greylogd.analysis.kernlog_order import in_time_order, line_keys, time_sorted
from greylogd.analysis.sources import CHUNK_BYTES, RawChunk, chunk_envelopes, joined, lines_chunk, map_chunks

__all__ = ["KernlogResult", "iter_kernlog", "normalise_addresses", "parse_kernlog", "read_kernlog"]


@dataclass
class KernlogResult:
    """What ``read_kernlog`` found.

    connections: frames.CONNECTIONS rows, sorted by ts (stable, so input order breaks ties).
    bad_lines: frames.BAD_LINES rows, malformed LOG lines only, in input order.
    lines: lines read in total; skipped: lines that were not LOG lines; duplicates: rows dropped.
    """

    connections: pd.DataFrame
    bad_lines: pd.DataFrame
    lines: int
    skipped: int
    duplicates: int


def read_kernlog(paths: str | os.PathLike[str] | Iterable[str | os.PathLike[str]], *,
                 tz: str | None = None, categories: Mapping[str, str] | None = None,
                 options: SourceOptions | None = None, chunk_bytes: int = CHUNK_BYTES,
                 progress: bool | None = None) -> KernlogResult:
    """Connections of every LOG line in ``paths`` (one path, ``-``, or several; rotations oldest first).

    tz: IANA zone of RFC 3164 stamps (overrides ``options.tz``; default the machine's zone);
    categories: prefix -> category, case-insensitive, replacing frames.CATEGORIES; options: year
    reference, boot time and host for stamps that lack them (headers.SourceOptions); chunk_bytes:
    read size, peak memory is about 10 times it plus about twice the result (43 bytes a connection);
    progress: tqdm bar on stderr, None = only when stderr is a terminal.
    Raises InputError (one line naming the input) for a missing or unreadable input.
    """
    options = replace(options or SourceOptions(), **({"tz": tz} if tz is not None else {}))
    parts = map_chunks(partial(_parse, options=options, categories=categories), paths, chunk_bytes, progress)
    return _combine(list(_with_left(parts, options, categories)))


def iter_kernlog(paths: str | os.PathLike[str] | Iterable[str | os.PathLike[str]], *,
                 tz: str | None = None, categories: Mapping[str, str] | None = None,
                 options: SourceOptions | None = None, chunk_bytes: int = CHUNK_BYTES,
                 progress: bool | None = None) -> Iterator[KernlogResult]:
    """``read_kernlog`` a part at a time, for inputs larger than memory: peak memory stays at a few
    chunks (about 10 times ``chunk_bytes``) whatever the input size. Each part is the KernlogResult of
    one chunk, or of a batch of lines the scanner left for the Python path (their bad lines and rows
    come in that later part). Rows are sorted and deduplicated *within a part only*: a line logged to
    both kern.log and syslog is in two parts; lines/skipped/duplicates add up over the parts."""
    options = replace(options or SourceOptions(), **({"tz": tz} if tz is not None else {}))
    parse = partial(_parse, options=options, categories=categories)
    for part in _with_left(map_chunks(parse, paths, chunk_bytes, progress), options, categories):
        yield _combine([part])


def parse_kernlog(lines: Iterable[str], *, source: str = "<lines>", options: SourceOptions | None = None,
                  categories: Mapping[str, str] | None = None) -> KernlogResult:
    """``read_kernlog`` for lines in memory (format sniffed from the first; times as SourceOptions)."""
    return _combine([parse_raw(lines_chunk(lines, source), options or SourceOptions(), categories)])


def _parse(raw: RawChunk, options: SourceOptions, categories: Mapping[str, str] | None) -> Parsed:
    """One chunk in a worker thread: parsed (its leftovers deferred) and sorted by time, which spares
    the final ordering most of its work."""
    return time_sorted(parse_raw(raw, options, categories, defer=True))


def _with_left(parts: Iterable[Parsed], options: SourceOptions,
               categories: Mapping[str, str] | None) -> Iterator[Parsed]:
    """The parts, and the Python path's parts of the lines they left, batched (up to DEFER_LINES lines
    of one source a call); _combine puts rows and bad lines back in input order."""
    waiting: list = []
    for part in parts:
        if waiting and waiting[0].input != part.input:
            yield _parse_left(waiting, options, categories)
        if part.left is not None and len(part.left.lines):
            waiting.append(part.left)
        yield replace(part, left=None)
        if sum(len(raw.lines) for raw in waiting) >= DEFER_LINES:
            yield _parse_left(waiting, options, categories)
    if waiting:
        yield _parse_left(waiting, options, categories)


def _parse_left(waiting: list, options: SourceOptions, categories: Mapping[str, str] | None) -> Parsed:
    """The Python path over the waiting lines (emptied), as one part."""
    raw = joined(waiting)
    waiting.clear()
    return replace(parse_chunk(chunk_envelopes(raw, options, LOG_MARK), categories), input=raw.input)


def _bad_order(parts: list[Parsed]) -> np.ndarray | None:
    """Where each bad line goes to be in input order (input, then line number), or None when they
    already are (usually: the batched Python path rarely finds any)."""
    key = line_keys([(p.input, p.bad["line"].to_numpy(np.int64)) for p in parts])
    return None if np.all(key[1:] >= key[:-1]) else np.argsort(key, kind="stable")


def _combine(parts: list[Parsed]) -> KernlogResult:
    """One result from per-chunk parts: bad lines in input order, connections deduplicated and sorted
    by time (kernlog_order). Peak memory is about the result plus one column."""
    lines, skipped = sum(p.lines for p in parts), sum(p.skipped for p in parts)
    bad = frames.concat([p.bad for p in parts]) if parts else frames.empty(frames.BAD_LINES)
    bad_order = _bad_order(parts)
    bad = bad if bad_order is None else bad.take(bad_order).reset_index(drop=True)
    connections, duplicates = in_time_order(parts)
    return KernlogResult(connections, bad, lines, skipped, duplicates)
