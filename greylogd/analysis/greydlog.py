"""greyd, greylogd and OpenBSD spamd/spamlogd syslog lines into the ``greyd_events`` frame.

Message formats: spec/greyd-compat.md section 5 (5.3 SMTP process, 5.4 reader/scanner, 5.5 greylogd,
5.6 sync, 5.8 spamd/spamlogd, 5.9 field lines); each is one entry of ``greydlog_rules.RULES``.
Inputs are whatever ``sources.map_chunks`` reads.

Policy: lines of other programs are skipped and counted. A line of a greyd program is *bad* when it has
no usable header/time, when it starts like a known format but does not match it
(``greydlog_rules.MALFORMED``), or when its address is invalid. Unknown greyd messages are kept as kind
``other``. Addresses are normalised to ``ipaddress`` compressed form.

Speed: RFC 3164/3339 lines are read in C (``greydscan``: header, program and the usual messages in one
pass, about 0.15 us a line); the lines it cannot vouch for have their header split in C
(``headers.split_headers``) or by ``headers.envelopes`` (RE2), as in kernlog, and their message
classified by the RE2 rules. Same result on every path (tests/unit/test_greydscan.py,
test_greydlog_split.py).

Cost: a demo week logs about 3.7 greyd lines per kernel-logged connection, so this reader sees the most
text of the report. ``columns`` prunes what is captured and kept (the message text is most of a full
frame's memory); rows, kinds and bad lines do not depend on it.
"""
from __future__ import annotations

import os
from collections.abc import Iterable
from dataclasses import dataclass, replace
from functools import partial

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from greylogd.analysis import frames, greydscan
from greylogd.analysis.greydlog_rules import KIND, MALFORMED_CODE, classify
from greylogd.analysis.headers import SourceOptions, arrow_strings, to_int
from greylogd.analysis.kernlog import normalise_addresses
from greylogd.analysis.kernlog_lines import INVALID_ADDRESS
from greylogd.analysis.sources import (
    CHUNK_BYTES,
    Envelopes,
    RawChunk,
    bad_lines,
    chunk_envelopes,
    in_line_order,
    lines_chunk,
    map_chunks,
    subset,
)
from greylogd.memory import release_memory

KEEP = "(?i)grey|spam"  # every line of PROGRAMS (and every journald record of them) matches
PROGRAMS = ("greyd", "greylogd", "spamd", "spamlogd", "greydb", "greyd-setup")
_BAD_ADDRESS = MALFORMED_CODE + 1
_INTS = {"duration_s": 2**62, "clients": 2**31, "black_clients": 2**31}


@dataclass
class GreydlogResult:
    """events: frames.GREYD_EVENTS rows sorted by ts (stable), only the columns asked for; bad_lines:
    frames.BAD_LINES rows; lines: lines read; skipped: lines of other programs."""

    events: pd.DataFrame
    bad_lines: pd.DataFrame
    lines: int
    skipped: int


def read_greydlog(paths: str | os.PathLike[str] | Iterable[str | os.PathLike[str]], *,
                  tz: str | None = None, options: SourceOptions | None = None,
                  chunk_bytes: int = CHUNK_BYTES, progress: bool | None = None,
                  columns: Iterable[str] | None = None) -> GreydlogResult:
    """greyd events of every input (syslog files, rotated sets, ``-``, journald JSON exports).

    tz: zone of RFC 3164 stamps (overrides ``options.tz``); options, chunk_bytes, progress as for
    ``kernlog.read_kernlog``; columns: the frames.GREYD_EVENTS columns to return, kept in that frame's
    order (None: all; ts and kind always). Raises InputError (one line naming the input) for a
    missing input.
    """
    options = replace(options or SourceOptions(), **({"tz": tz} if tz is not None else {}))
    parse = partial(_parse_kept, options=options, columns=_columns(columns))
    return _combine(list(map_chunks(parse, paths, chunk_bytes, progress)), _columns(columns))


def _parse_kept(raw: RawChunk, options: SourceOptions, columns: tuple[str, ...]) -> _Parsed:
    """``parse_raw`` without its events' line numbers (8 bytes an event, only needed within a chunk):
    what ``_combine`` keeps of each chunk until the end."""
    return replace(parse_raw(raw, options, columns), line=np.empty(0, np.int64))


def parse_greydlog(lines: Iterable[str], *, source: str = "<lines>", options: SourceOptions | None = None,
                   columns: Iterable[str] | None = None) -> GreydlogResult:
    """``read_greydlog`` for lines in memory (format sniffed from the first line)."""
    chunk = lines_chunk(lines, source)
    return _combine([parse_raw(chunk, options or SourceOptions(), _columns(columns))], _columns(columns))


def _columns(columns: Iterable[str] | None) -> tuple[str, ...]:
    wanted = set(frames.GREYD_EVENTS_COLUMNS if columns is None else {"ts", "kind", *columns})
    return tuple(c for c in frames.GREYD_EVENTS_COLUMNS if c in wanted)


@dataclass
class _Parsed:
    """One chunk's part of a GreydlogResult (events: ``columns`` only; bad: frames.BAD_LINES)."""

    events: pd.DataFrame
    bad: pd.DataFrame
    lines: int
    skipped: int
    line: np.ndarray  # the line number of each event (1-based, in its source)


def parse_raw(raw: RawChunk, options: SourceOptions,
              columns: tuple[str, ...] = tuple(frames.GREYD_EVENTS_COLUMNS)) -> _Parsed:
    """``parse_chunk`` of a raw chunk, same result (rows, order, dtypes, bad lines, counts): lines of
    RFC 3164/3339 chunks are scanned in C (``greydscan``); the lines it leaves, or whose stamp the time
    rules reject, go through ``parse_split``, which also says why a line is bad."""
    if raw.fmt not in greydscan.FORMATS or raw.lines.null_count:
        return parse_chunk(chunk_envelopes(raw, options, KEEP), columns)
    found = greydscan.scan(raw.lines, raw.fmt, columns)
    ts = greydscan.row_times(found, raw.fmt, raw.mtime, options)
    row = found.status[found.line] == greydscan.GOOD
    good = np.flatnonzero(row & (found.kind != greydscan.BAD_ADDRESS))
    bad = found.line[row & (found.kind == greydscan.BAD_ADDRESS)]
    events = greydscan.events(found, good, ts.iloc[good], columns)
    left, skipped = found.status == greydscan.FALLBACK, int(np.count_nonzero(found.status == greydscan.SKIP))
    part = _Parsed(events, _invalid_addresses(raw, bad), len(raw.lines) - int(np.count_nonzero(left)),
                   skipped, raw.line_numbers()[found.line[good]])
    return _merge(part, parse_split(subset(raw, left), options, columns)) if left.any() else part


def _invalid_addresses(raw: RawChunk, index: np.ndarray) -> pd.DataFrame:
    """bad_lines rows of the lines at positions ``index`` of ``raw``, all with reason INVALID_ADDRESS."""
    if not len(index):  # the usual case: building none the long way costs a millisecond a chunk
        return frames.empty(frames.BAD_LINES)
    frame = pd.DataFrame({"line": raw.line_numbers()[index],
                          "raw": pd.Series(raw.lines.take(index), dtype="str")})
    return bad_lines(raw.source, frame, pd.Series(INVALID_ADDRESS, index=frame.index, dtype="str"))


def _merge(first: _Parsed, then: _Parsed) -> _Parsed:
    """Two parts of one chunk as one, events and bad lines in line order."""
    events, line, bad = in_line_order([first.events, then.events], [first.line, then.line],
                                      [first.bad, then.bad])
    return _Parsed(events, bad, first.lines + then.lines, first.skipped + then.skipped, line)


def parse_split(raw: RawChunk, options: SourceOptions,
                columns: tuple[str, ...] = tuple(frames.GREYD_EVENTS_COLUMNS)) -> _Parsed:
    """``parse_chunk`` of a raw RFC 3164/3339 chunk, same result: the headers are split in C
    (``headers.split_headers``, stamps by ``stamps.split_stamps``) and only the lines of PROGRAMS kept; the
    lines it cannot vouch for, or whose stamp the time rules reject, are split by ``envelopes`` (as
    kernlog does), which also says why a line is bad. Messages are classified by the RE2 rules."""
    frame, split = greydscan.split_frame(raw, options, "host" in columns, PROGRAMS)
    if not split.all():
        rest = chunk_envelopes(subset(raw, ~split), options, KEEP).frame
        rest["pid"] = to_int(rest["pid"], 2**31)
        frame = pd.concat([frame, rest[list(frame.columns)]], ignore_index=True)
        frame = frame.take(np.argsort(frame["line"].to_numpy(), kind="stable")).reset_index(drop=True)
    return parse_chunk(Envelopes(raw.source, raw.fmt, frame, len(raw.lines)), columns)


def parse_chunk(chunk: Envelopes, columns: tuple[str, ...] = tuple(frames.GREYD_EVENTS_COLUMNS)) -> _Parsed:
    """Events (``columns`` only) and bad lines of one envelope chunk."""
    frame = chunk.frame
    dated = frame["ts"].notna().to_numpy()
    ours = pc.is_in(pc.utf8_lower(arrow_strings(frame["program"])), pa.array(PROGRAMS))
    ours = ours.fill_null(False).to_numpy(zero_copy_only=False)
    headless = np.zeros(len(frame), bool)
    if not dated.all():
        undated = frame["raw"].loc[~dated]
        headless[~dated] = undated.str.contains(r"grey|spamd|spamlogd", case=False).to_numpy(bool)
    rows = np.flatnonzero(ours & dated)
    codes, captured = classify(pc.fill_null(arrow_strings(frame["message"]).take(rows), ""),
                                {"ip", *columns})
    ip = _addresses(captured.pop("ip"), codes)
    reasons = _reasons(frame.index, headless | (ours & ~dated), rows, codes)
    good = codes < MALFORMED_CODE
    events = _events(frame, rows[good], codes[good], ip[good].reset_index(drop=True),
                     {name: values.filter(good) for name, values in captured.items()}, columns)
    return _Parsed(events, bad_lines(chunk.source, frame, reasons), chunk.lines,
                   chunk.lines - int(np.count_nonzero(ours | headless)), frame["line"].to_numpy()[rows[good]])


def _addresses(captured: pa.Array, codes: np.ndarray) -> pd.Series:
    """Captured addresses in compressed form; a message whose address is invalid gets _BAD_ADDRESS."""
    ip = normalise_addresses(pd.Series(captured, dtype="str"))
    codes[captured.is_valid().to_numpy(zero_copy_only=False) & ip.isna().to_numpy()] = _BAD_ADDRESS
    return ip


def _reasons(index: pd.Index, headless: np.ndarray, rows: np.ndarray, codes: np.ndarray) -> pd.Series:
    """The bad-line reason of each envelope row (NaN for good rows and skipped ones)."""
    reasons = np.full(len(index), None, object)
    reasons[headless] = "no syslog header or time"
    reasons[rows[codes == MALFORMED_CODE]] = "malformed greyd message"
    reasons[rows[codes == _BAD_ADDRESS]] = INVALID_ADDRESS
    return pd.Series(reasons, index=index, dtype="str")


def _events(frame: pd.DataFrame, rows: np.ndarray, codes: np.ndarray, ip: pd.Series,
            captured: dict[str, pa.Array], columns: tuple[str, ...]) -> pd.DataFrame:
    """The ``columns`` of the events at envelope positions ``rows`` (kind codes, addresses, captures)."""
    def envelope(name: str) -> pd.Series:
        return frame[name].take(rows).reset_index(drop=True)

    made = {"kind": pd.Categorical.from_codes(codes, dtype=frames.GREYD_EVENTS["kind"]), "ip": ip}
    for name in columns:
        if name in ("ts", "host", "program", "message"):
            made[name] = envelope(name)
        elif name == "pid":
            made[name] = envelope(name) if frame[name].dtype == "Int64" else to_int(envelope(name), 2**31)
        elif name in _INTS:
            made[name] = to_int(pd.Series(captured[name], dtype="str"), _INTS[name])
        elif name == "lists":  # "" for a connection without lists, NaN for other kinds
            lists = pc.utf8_trim_whitespace(pc.fill_null(captured[name], ""))
            in_conn = np.isin(codes, [KIND["connected"], KIND["disconnected"]])
            made[name] = pd.Series(lists, dtype="str").where(in_conn)
        elif name in captured:
            made[name] = pd.Series(captured[name], dtype="str")
    return frames.typed(pd.DataFrame(made), {name: frames.GREYD_EVENTS[name] for name in columns})


def _combine(parts: list[_Parsed], columns: tuple[str, ...]) -> GreydlogResult:
    """One result from per-chunk parts: concatenated, sorted by time (stable; a log in time order is
    not sorted again). Columns are joined one at a time and dropped from the parts as they go, their
    memory handed back to the system at once (``release_memory``: the allocators would keep it), so a
    week of events is held about once, not twice (parts and result)."""
    chunks = [frames.empty({name: frames.GREYD_EVENTS[name] for name in columns}), *(p.events for p in parts)]
    for part in parts:
        part.events = part.events.iloc[:0].copy()  # a copy: a slice would keep every column alive
    joined = {}
    for name in columns:
        joined[name] = frames.concat([chunk.pop(name).to_frame() for chunk in chunks])[name]
        release_memory()
    events = pd.DataFrame(joined, copy=False)
    if not events["ts"].is_monotonic_increasing:
        events = events.sort_values("ts", kind="stable", ignore_index=True)
    bad = pd.concat([frames.empty(frames.BAD_LINES), *(p.bad for p in parts)], ignore_index=True)
    return GreydlogResult(events, frames.typed(bad, frames.BAD_LINES), sum(p.lines for p in parts),
                          sum(p.skipped for p in parts))
