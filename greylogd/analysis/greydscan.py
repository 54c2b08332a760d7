"""Python side of the C scanner greylogd._greydscan (source: greydscan.c): one pass per chunk of greyd's log.

``scan(lines, fmt, columns)`` returns a ``Scan``: per line a status (GOOD, SKIP, FALLBACK) and the
header's stamp, and per GOOD line one row: its kind and the captures of its rule. The C code takes
only the kinds that make up nearly all of a real log, and only where it reads them *exactly* as the
ordered greydlog_rules.RULES would (printable ASCII, the stamp shapes of syslog_fields.h, addresses
it can normalise or surely reject); every other line is FALLBACK, for greydlog's Python path. Only
the ``columns`` asked for are filled: the C code copies each text column's strings into one arena
(addresses normalised; the categorical columns dictionary-encoded as they are written), wrapped
zero-copy as pyarrow arrays. ``events`` makes frames.GREYD_EVENTS columns of the rows; ``row_times``
places their times (stamps.split_stamps). ``split_frame`` is the C header split
(headers.split_headers) that greydlog uses for the lines the scanner leaves.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from greylogd._greydscan import ffi, lib
from greylogd.analysis import frames
from greylogd.analysis.greydlog_rules import KIND
from greylogd.analysis.headers import SourceOptions, split_headers
from greylogd.analysis.scan_text import TextColumn
from greylogd.analysis.sources import RawChunk
from greylogd.analysis.stamps import split_stamps

GOOD, SKIP, FALLBACK = lib.GS_GOOD, lib.GS_SKIP, lib.GS_FALLBACK
FORMATS = {"rfc3164": lib.LS_RFC3164, "rfc3339": lib.LS_RFC3339}
TEXTS = {"host": lib.GS_HOST, "program": lib.GS_PROGRAM, "ip": lib.GS_IP, "from": lib.GS_FROM,
         "to": lib.GS_TO, "helo": lib.GS_HELO, "lists": lib.GS_LISTS, "message": lib.GS_MESSAGE}
NUMBERS = {"duration_s": lib.GS_DURATION, "clients": lib.GS_CLIENTS, "black_clients": lib.GS_BLACK_CLIENTS}
_C_KINDS = {lib.GS_CONNECTED: "connected", lib.GS_DISCONNECTED: "disconnected", lib.GS_GREY: "grey",
            lib.GS_BLACK: "black", lib.GS_NEW_ENTRY: "new_entry", lib.GS_UPDATED_ENTRY: "updated_entry",
            lib.GS_NEW_TRAP_ENTRY: "new_trap_entry", lib.GS_UPDATED_TRAP_ENTRY: "updated_trap_entry",
            lib.GS_WHITELISTING: "whitelisting", lib.GS_PACKET: "packet"}
BAD_ADDRESS = -1  # Scan.kind of a row whose address ipaddress rejects (the bad-line reason "invalid address")
_KINDS = np.full(lib.GS_BAD_ADDRESS + 1, BAD_ADDRESS, np.int8)  # C kind -> frames.GREYD_KINDS code
_KINDS[list(_C_KINDS)] = [KIND[name] for name in _C_KINDS.values()]


@dataclass
class Scan:
    """What the scanner made of one chunk of n lines (rows: the GOOD lines, in line order).

    status: int8 per line. stamp: int64 per line (-1 for FALLBACK lines), by format: rfc3339 Unix
    microseconds (UTC), rfc3164 the printed digits as MMDDhhmmss (``row_times`` places both).
    line: int64 per row, index of its line in the chunk. kind: int8 per row, a frames.GREYD_KINDS code
    or BAD_ADDRESS. pid: int64 per row (-1: none), None unless asked. numbers: per NUMBERS column
    asked, int64 per row, -1 where the rule has none or ``to_int`` would give <NA>. texts: per TEXTS
    column asked, one value a row (null where the rule has no such group): a large_string array, or
    for the categorical columns a dictionary array (its dictionary may hold values of rows not taken:
    ``categorical`` keeps only those used); ip in ipaddress compressed form ("" for BAD_ADDRESS
    rows), lists trimmed ("" for a connection without).
    """

    status: np.ndarray
    stamp: np.ndarray
    line: np.ndarray
    kind: np.ndarray
    pid: np.ndarray | None
    numbers: dict[str, np.ndarray]
    texts: dict[str, pa.Array]


def scan(lines: pa.Array, fmt: str, columns: tuple[str, ...]) -> Scan:
    """Scan a large_string array without nulls (lines with or without their newline) read as ``fmt``,
    a FORMATS key, filling the frames.GREYD_EVENTS ``columns`` named. Never raises for content: the C
    code bounds every read and write; a text column's arena has the chunk's size, which always
    suffices (only the pages written are ever touched)."""
    n = len(lines)
    offsets = np.frombuffer(lines.buffers()[1], np.int64)[lines.offset:lines.offset + n + 1]
    data = lines.buffers()[2]
    status, stamp = np.empty(n, np.int8), np.empty(n, np.int64)
    line, kind = np.empty(n, np.int64), np.empty(n, np.int8)
    pid = np.empty(n, np.int64) if "pid" in columns else None
    numbers = {name: np.empty(n, np.int64) for name in NUMBERS if name in columns}
    size = int(offsets[-1] - offsets[0]) + 64
    texts = {name: TextColumn(n, size, dictionary=frames.GREYD_EVENTS[name] == "category")
             for name in TEXTS if name in columns}
    out = ffi.new("gs_out *")
    out.line, out.kind = ffi.from_buffer("int64_t[]", line), ffi.from_buffer("int8_t[]", kind)
    out.pid = ffi.from_buffer("int64_t[]", pid) if pid is not None else ffi.NULL
    for name, values in numbers.items():
        out.number[NUMBERS[name]] = ffi.from_buffer("int64_t[]", values)
    for name, text in texts.items():
        text.attach(out.text[TEXTS[name]], ffi)
    lib.gs_scan(ffi.from_buffer("char[]", data) if data is not None else ffi.NULL,
                ffi.from_buffer("int64_t[]", offsets), n, FORMATS[fmt], ffi.from_buffer("int8_t[]", status),
                ffi.from_buffer("int64_t[]", stamp), out)
    rows = out.rows
    return Scan(status, stamp, line[:rows], _KINDS[kind[:rows]], None if pid is None else pid[:rows],
                {name: values[:rows] for name, values in numbers.items()},
                {name: text.array(rows, out.text[TEXTS[name]].strings) for name, text in texts.items()})


def row_times(found: Scan, fmt: str, mtime: datetime, options: SourceOptions) -> pd.Series:
    """The time of each scanned row (TS_DTYPE, UTC, by stamps.split_stamps). A line whose stamp the time rules
    reject (e.g. Feb 30) is made FALLBACK in ``found.status``, for the Python path to say why; its row,
    if any, gets NaT and must be dropped by the caller (its status is no longer GOOD)."""
    checked = np.flatnonzero(found.status != FALLBACK)
    ts = split_stamps(found.stamp[checked], fmt, mtime, options)
    found.status[checked[ts.isna().to_numpy()]] = FALLBACK
    position = np.zeros(len(found.status), np.int64)  # line -> its place in ts
    position[checked] = np.arange(len(checked))
    return ts.iloc[position[found.line]].reset_index(drop=True)


def events(found: Scan, rows: np.ndarray, ts: pd.Series, columns: tuple[str, ...]) -> pd.DataFrame:
    """The frames.GREYD_EVENTS ``columns`` of the scanned rows at positions ``rows`` (none of them a
    BAD_ADDRESS row), at times ``ts`` (one per row taken). Repeated text (host, program, ip, lists)
    is dictionary-encoded straight into sorted categoricals."""
    every = len(rows) == len(found.line)
    made: dict[str, object] = {
        "ts": ts.reset_index(drop=True),
        "kind": pd.Categorical.from_codes(found.kind[rows], dtype=frames.GREYD_EVENTS["kind"])}
    for name in columns:
        if name in TEXTS:
            text = found.texts[name] if every else found.texts[name].take(rows)
            made[name] = (frames.categorical(text) if frames.GREYD_EVENTS[name] == "category"
                          else pd.Series(text, dtype="str"))
        elif name in NUMBERS:
            values = found.numbers[name][rows]
            made[name] = pd.arrays.IntegerArray(values, values < 0)
        elif name == "pid":
            made[name] = pids(found.pid[rows])
    return frames.typed(pd.DataFrame(made), {name: frames.GREYD_EVENTS[name] for name in columns})


def pids(pid: np.ndarray) -> pd.Series:
    """Header pids (-1: none) as Int64, <NA> where absent or above 2**31 (as ``to_int`` reads them)."""
    return pd.Series(pd.array(pid, dtype="Int64")).mask((pid < 0) | (pid > 2**31))


def split_frame(raw: RawChunk, options: SourceOptions, host: bool,
                programs: tuple[str, ...]) -> tuple[pd.DataFrame, np.ndarray]:
    """ENVELOPE frame (pid Int64; host only if asked) of the lines of PROGRAMS that split_headers
    splits and whose stamp is valid, and which lines of ``raw`` it split (other programs' included)."""
    spans = split_headers(raw.lines, raw.fmt)
    rows = np.flatnonzero(spans.parsed)
    ts = split_stamps(spans.stamp[rows], raw.fmt, raw.mtime, options)
    program = _slices(raw.lines, rows, spans.program[rows])
    dated = ts.notna().to_numpy()
    ours = pc.is_in(pc.utf8_lower(program), pa.array(programs)).fill_null(False)
    split = np.zeros(len(raw.lines), bool)
    split[rows[dated]] = True
    keep = dated & ours.to_numpy(zero_copy_only=False)
    rows = rows[keep]
    text = pd.Series(raw.lines.take(rows), dtype="str")
    frame = pd.DataFrame({"line": raw.line_numbers()[rows], "raw": text,
                          "ts": ts[keep].reset_index(drop=True), "pid": pids(spans.pid[rows]),
                          "program": pd.Series(program.filter(keep), dtype="str"),
                          "message": _messages(raw.lines, rows, spans.message[rows])})
    if host:
        frame["host"] = pd.Series(_slices(raw.lines, rows, spans.host[rows]), dtype="str")
    return frame, split


def _slices(lines: pa.Array, rows: np.ndarray, spans: np.ndarray) -> pa.Array:
    """The text of each (start, end) byte span of ``lines``' data buffer (spans of lines ``rows``, in
    line order), null where start is -1. One copy in C++: the spans and the gaps between them are the
    strings of one array over the same buffer, of which every other one is taken."""
    absent = spans[:, 0] < 0
    starts = np.frombuffer(lines.buffers()[1], np.int64)[lines.offset:][rows]
    bounds = np.where(absent[:, None], starts[:, None], spans).ravel()
    bounds = np.append(bounds, bounds[-1] if len(bounds) else 0)
    data = lines.buffers()[2] or pa.py_buffer(b"")
    pieces = pa.LargeStringArray.from_buffers(len(bounds) - 1, pa.py_buffer(bounds), data)
    return pieces.take(pa.array(np.arange(0, len(bounds) - 1, 2), mask=absent))


def _messages(lines: pa.Array, rows: np.ndarray, starts: np.ndarray) -> pd.Series:
    """The message of each of ``rows`` (str): from its start to the end of the line, before its newline."""
    ends = np.frombuffer(lines.buffers()[1], np.int64)[lines.offset + 1:][rows]
    data = np.frombuffer(lines.buffers()[2] or b"", np.uint8)
    ends = ends - (data[np.maximum(ends - 1, 0)] == ord("\n")) if len(data) else ends
    return pd.Series(_slices(lines, rows, np.column_stack([starts, np.maximum(ends, starts)])), dtype="str")
