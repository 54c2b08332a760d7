"""Kernel iptables/nftables LOG lines into the ``connections`` frame (spec/report.md, spec/logformats.md 3).

``read_kernlog(paths)`` reads every input ``sources.map_chunks`` knows (kern.log/syslog in RFC 3164,
RFC 3339 or RFC 5424, rotated and gzipped sets, ``-``, journald JSON, dmesg, /dev/kmsg, ulogd LOGEMU)
and returns a ``KernlogResult``. ``parse_kernlog(lines)`` does the same for lines already in memory.

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
from greylogd.analysis.sources import CHUNK_BYTES, chunk_envelopes, joined, lines_chunk, map_chunks

__all__ = ["KernlogResult", "normalise_addresses", "parse_kernlog", "read_kernlog"]
_SAME_LINE = ["ts", "host", "prefix", "src", "spt", "dpt", "dst"]  # what makes two rows the same line


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
    read size, peak memory is about 10 times it plus the result (about 60 bytes a connection);
    progress: tqdm bar on stderr, None = only when stderr is a terminal.
    Raises InputError (one line naming the input) for a missing or unreadable input.
    """
    options = replace(options or SourceOptions(), **({"tz": tz} if tz is not None else {}))
    parse = partial(parse_raw, options=options, categories=categories, defer=True)
    parts = map_chunks(parse, paths, chunk_bytes, progress)
    return _combine(list(_with_left(parts, options, categories)))


def parse_kernlog(lines: Iterable[str], *, source: str = "<lines>", options: SourceOptions | None = None,
                  categories: Mapping[str, str] | None = None) -> KernlogResult:
    """``read_kernlog`` for lines in memory (format sniffed from the first; times as SourceOptions)."""
    return _combine([parse_raw(lines_chunk(lines, source), options or SourceOptions(), categories)])


def _with_left(parts: Iterable[Parsed], options: SourceOptions,
               categories: Mapping[str, str] | None) -> Iterator[Parsed]:
    """The parts, and the Python path's parts of the lines they left, batched (up to DEFER_LINES lines
    a call) and placed before the next part of another source or with bad lines of its own, so that
    bad lines stay in input order (connections are put back in order by _combine)."""
    waiting: list = []
    for part in parts:
        if waiting and (waiting[0].source != part.source or len(part.bad)):
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
    return parse_chunk(chunk_envelopes(raw, options, LOG_MARK), categories)


def _input_order(parts: list[Parsed]) -> np.ndarray | None:
    """Where each row goes to be in input order (sources in order of appearance, then line), or None
    when the rows already are (the Python path's batched parts found no connections)."""
    ordinal: dict[str, int] = {}
    keys = [(ordinal.setdefault(p.source, len(ordinal)) << 40) + p.line for p in parts if len(p.line)]
    key = np.concatenate(keys) if keys else np.zeros(0, np.int64)
    return None if np.all(key[1:] >= key[:-1]) else np.argsort(key, kind="stable")


def _duplicated(connections: pd.DataFrame, ts: np.ndarray) -> np.ndarray:
    """Rows equal in _SAME_LINE to an earlier row; only rows whose (ts, spt, dpt) hash collides with
    another's are compared in full."""
    ports = [connections[name].to_numpy(np.int64, na_value=-1).astype(np.uint64) for name in ("spt", "dpt")]
    key = ts.astype(np.uint64) * np.uint64(0x9E3779B97F4A7C15) ^ ports[0] << np.uint64(20) ^ ports[1]
    maybe = np.flatnonzero(pd.Series(key).duplicated(keep=False).to_numpy())
    duplicated = np.zeros(len(connections), bool)
    duplicated[maybe] = connections.iloc[maybe].duplicated(_SAME_LINE).to_numpy()
    return duplicated


def _combine(parts: list[Parsed]) -> KernlogResult:
    """One result from per-chunk parts: concatenated, deduplicated, sorted by time (stable). Peak memory
    is the result plus one column: the parts are dropped after the concatenation, and the reordering
    (skipped when there is nothing to drop or move) is done a column at a time."""
    lines, skipped = sum(p.lines for p in parts), sum(p.skipped for p in parts)
    bad = pd.concat([frames.empty(frames.BAD_LINES), *(p.bad for p in parts)], ignore_index=True)
    found = [p.connections for p in parts if len(p.connections)]
    connections = frames.concat(found) if found else frames.empty(frames.CONNECTIONS)
    rows, arrival = len(connections), _input_order(parts)
    del found
    parts.clear()
    if arrival is not None:
        connections = connections.take(arrival)
    ts = pd.DatetimeIndex(connections["ts"]).asi8
    keep = np.flatnonzero(~_duplicated(connections, ts))
    order = keep[np.argsort(ts[keep], kind="stable")]
    if len(order) < rows or np.any(order[1:] < order[:-1]):
        connections = pd.DataFrame({name: connections.pop(name).take(order).reset_index(drop=True)
                                    for name in list(connections)})
    for name in connections.select_dtypes("category"):  # as astype("category") of the final column
        used = connections[name].cat.remove_unused_categories()
        connections[name] = used.cat.reorder_categories(sorted(used.cat.categories))
    return KernlogResult(connections.reset_index(drop=True), frames.typed(bad, frames.BAD_LINES), lines,
                         skipped, rows - len(order))
