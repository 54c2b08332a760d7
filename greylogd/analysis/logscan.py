"""Python side of the C scanner greylogd._logscan (source: logscan.c): one pass per chunk of lines.

``scan(lines, fmt)`` returns a ``Scan``: per line a status (GOOD, SKIP, FALLBACK) and, per GOOD line, one
row of columns: a connection, or (``reason`` BAD_ADDRESS, BAD_PORT) a bad line whose reason the C code
can tell for certain. The C code accepts only what it parses *exactly* as the RE2 patterns of
headers.HEADERS and kernlog.LOG_FIELDS do (printable ASCII, the usual stamp shapes, plain dotted quads
and hex-and-colons IPv6 addresses that are not IPv4-mapped); every other line is FALLBACK, for the
Python path, which decides what is bad and why. Strings are copied into one arena per field and
wrapped zero-copy as pyarrow large_string arrays.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from greylogd._logscan import ffi, lib
from greylogd.analysis import frames

GOOD, SKIP, FALLBACK = lib.LS_GOOD, lib.LS_SKIP, lib.LS_FALLBACK
BAD_ADDRESS, BAD_PORT = lib.LS_BAD_ADDRESS, lib.LS_BAD_PORT
FORMATS = {"rfc3164": lib.LS_RFC3164, "rfc3339": lib.LS_RFC3339, "dmesg": lib.LS_DMESG, "kmsg": lib.LS_KMSG}
FIELDS = ("host", "prefix", "in_if", "proto", "src", "dst")
_GUESS = 24  # bytes a row an arena starts with (typical fields are shorter; a full one is doubled)


@dataclass
class Scan:
    """What the scanner made of one chunk of n lines (rows: the GOOD lines, in line order).

    status: int8 per line. line: int64 per row, index of its line in the chunk. stamp: int64 per row,
    by format: rfc3339 Unix microseconds (UTC); rfc3164 the printed digits as MMDDhhmmss (month 1-12,
    not validated beyond the pattern); dmesg/kmsg microseconds of uptime. spt/dpt: int32, -1 when the
    line has none. ip_version: int8 (of src). reason: int8, 0 for a connection, else BAD_ADDRESS or
    BAD_PORT (the row's strings are then empty). host (empty for dmesg/kmsg), prefix (trimmed), in_if,
    proto, src, dst (ipaddress compressed form): large_string arrays.
    """

    status: np.ndarray
    line: np.ndarray
    stamp: np.ndarray
    spt: np.ndarray
    dpt: np.ndarray
    ip_version: np.ndarray
    reason: np.ndarray
    host: pa.Array
    prefix: pa.Array
    in_if: pa.Array
    proto: pa.Array
    src: pa.Array
    dst: pa.Array


def line_offsets(data: np.ndarray) -> np.ndarray:
    """int64 offsets (n + 1, from 0) of the n newline-terminated lines of the uint8 array ``data``."""
    pointer = ffi.from_buffer("char[]", data)
    offsets = np.empty(lib.ls_line_ends(pointer, len(data), ffi.NULL) + 1, np.int64)
    lib.ls_line_ends(pointer, len(data), ffi.from_buffer("int64_t[]", offsets))
    return offsets


def scan(lines: pa.Array, fmt: str) -> Scan:
    """Scan a large_string array without nulls (lines with or without their newline) read as ``fmt``,
    a FORMATS key. Never raises for content: the C code bounds every read and write."""
    n = len(lines)
    offsets = np.frombuffer(lines.buffers()[1], np.int64)[lines.offset:lines.offset + n + 1]
    data = lines.buffers()[2]
    size = int(offsets[-1] - offsets[0]) + 64  # no field of a row is longer than its line
    status = np.empty(n, np.int8)
    columns = {"line": np.empty(n, np.int64), "stamp": np.empty(n, np.int64), "spt": np.empty(n, np.int32),
               "dpt": np.empty(n, np.int32), "ip_version": np.empty(n, np.int8),
               "reason": np.empty(n, np.int8)}
    arenas = [np.empty(min(size, _GUESS * n + 64), np.uint8) for _ in FIELDS]
    ends = [np.zeros(n + 1, np.int64) for _ in FIELDS]
    out = ffi.new("ls_out *")
    for name, array in columns.items():
        setattr(out, name, ffi.from_buffer(ffi.typeof(getattr(out, name)), array))
    for k, end in enumerate(ends):
        out.offsets[k] = ffi.from_buffer("int64_t[]", end)
        _place(out, k, arenas[k])
    pointers = (ffi.from_buffer("char[]", data) if data is not None else ffi.NULL,
                ffi.from_buffer("int64_t[]", offsets), n, FORMATS[fmt], ffi.from_buffer("int8_t[]", status))
    while not lib.ls_scan(*pointers, out):  # an arena was full: double it (``size`` always fits)
        k, used = out.full, int(ends[out.full][out.rows])
        grown = np.empty(min(size, 2 * len(arenas[k])), np.uint8)
        grown[:used] = arenas[k][:used]
        arenas[k] = grown
        _place(out, k, grown)
    rows = out.rows
    strings = [pa.LargeStringArray.from_buffers(rows, pa.py_buffer(end[:rows + 1]),
                                                pa.py_buffer(arena[:end[rows]]))
               for arena, end in zip(arenas, ends, strict=True)]
    return Scan(status, *(array[:rows] for array in columns.values()), *strings)


def _place(out: object, k: int, arena: np.ndarray) -> None:
    out.arena[k], out.capacity[k] = ffi.from_buffer("char[]", arena), len(arena)


def connections(found: Scan, ts: pd.Series, host: str | None,
                categories: Mapping[str, str] | None = None) -> pd.DataFrame:
    """frames.CONNECTIONS rows of the scanned rows at times ``ts`` (host None: the scanned one, else
    this host for every row); repeated text is dictionary-encoded straight into categoricals."""
    n = len(found.line)
    hosts = _categorical(found.host) if host is None else pd.Categorical.from_codes(
        np.zeros(n, np.int8), dtype=pd.CategoricalDtype(pd.Index([host], dtype="str")))
    prefix, in_if = _categorical(found.prefix), _categorical(found.in_if)
    outbound = np.diff(np.frombuffer(found.in_if.buffers()[1], np.int64)[:n + 1]) == 0
    ports = {name: pd.arrays.IntegerArray(values.astype(np.uint16), values < 0)
             for name, values in (("spt", found.spt), ("dpt", found.dpt))}
    return pd.DataFrame({
        "ts": ts, "host": hosts, "prefix": prefix,
        "category": frames.categorise(prefix, outbound, categories),
        "src": pd.Series(found.src, dtype="str"), "dst": pd.Series(found.dst, dtype="str"), **ports,
        "proto": _categorical(found.proto),
        "ip_version": pd.arrays.IntegerArray(found.ip_version.astype(np.uint8), np.zeros(n, bool)),
        "in_if": in_if,
    })


def _categorical(text: pa.Array) -> pd.Categorical:
    encoded = pc.dictionary_encode(text)
    labels = pd.Index(pd.Series(encoded.dictionary, dtype="str"))
    return pd.Categorical.from_codes(encoded.indices.to_numpy(), dtype=pd.CategoricalDtype(labels))
