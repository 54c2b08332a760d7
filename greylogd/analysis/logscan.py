"""Python side of the C scanner greylogd._logscan (source: logscan.c): one pass per chunk of lines.

``scan(lines, fmt)`` returns a ``Scan``: per line a status (GOOD, SKIP, FALLBACK) and, per GOOD line, one
row of columns: a connection, or (``reason`` BAD_ADDRESS, BAD_PORT) a bad line whose reason the C code
can tell for certain. The C code accepts only what it parses *exactly* as the RE2 patterns of
headers.HEADERS and kernlog_lines.LOG_FIELDS do (printable ASCII, the usual stamp shapes, plain dotted
quads and hex-and-colons IPv6 addresses that are not IPv4-mapped); every other line is FALLBACK, for
the Python path, which decides what is bad and why. Strings are copied into one arena per field and
wrapped zero-copy as pyarrow large_string arrays. ``connections`` makes frames.CONNECTIONS rows of
them (``categorise``, ``compact``: categoricals without hashing every value). ``line_offsets`` splits a
buffer into lines (memchr) for logfiles.read_lines.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
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
    ends = [np.empty(n + 1, np.int64) for _ in FIELDS]  # the C code writes [1:] as it goes
    out = ffi.new("ls_out *")
    for name, array in columns.items():
        setattr(out, name, ffi.from_buffer(ffi.typeof(getattr(out, name)), array))
    for k, end in enumerate(ends):
        end[0] = 0
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


def connections(found: Scan, ts: pd.Series, host: str | None, categories: Mapping[str, str] | None = None,
                rows: np.ndarray | None = None) -> pd.DataFrame:
    """frames.CONNECTIONS rows of the scanned rows (those at positions ``rows``; default all) at times
    ``ts`` (one per row taken); host None: the scanned one, else this host for every row. Repeated
    text is dictionary-encoded straight into categoricals with only the values used, sorted."""
    pick = (lambda values: values) if rows is None else (lambda values: values[rows])
    n = len(pick(found.line))
    hosts = _categorical(found.host, pick) if host is None else compact(np.zeros(n, np.int64),
                                                                         np.array([host], object))
    prefix = _categorical(found.prefix, pick)
    outbound = pick(np.diff(np.frombuffer(found.in_if.buffers()[1], np.int64)[:len(found.line) + 1]) == 0)
    ports = {name: pd.arrays.IntegerArray(pick(values).astype(np.uint16), pick(values) < 0)
             for name, values in (("spt", found.spt), ("dpt", found.dpt))}
    text = lambda array: pd.Series(array if rows is None else array.take(rows), dtype="str")  # noqa: E731
    return pd.DataFrame({
        "ts": ts.reset_index(drop=True), "host": hosts, "prefix": prefix,
        "category": categorise(prefix, outbound, categories), "src": text(found.src), "dst": text(found.dst),
        **ports, "proto": _categorical(found.proto, pick),
        "ip_version": pd.arrays.IntegerArray(pick(found.ip_version).astype(np.uint8), np.zeros(n, bool)),
        "in_if": _categorical(found.in_if, pick),
    })


def categorise(prefix: pd.Categorical, outbound: np.ndarray,
               categories: Mapping[str, str] | None = None) -> pd.Categorical:
    """The CONNECTIONS category of trimmed LOG prefixes: ``categories`` (default frames.CATEGORIES)
    looked up case-insensitively once per distinct prefix, else frames.OTHER_CATEGORY;
    frames.OUTBOUND_CATEGORY where ``outbound`` (empty IN=, the OUTPUT chain) whatever the prefix."""
    mapping = {key.strip().upper(): value for key, value in (categories or frames.CATEGORIES).items()}
    named = pd.Series(prefix.categories, dtype="str").str.upper().map(mapping).fillna(frames.OTHER_CATEGORY)
    names = np.array([*named, frames.OUTBOUND_CATEGORY], dtype=object)
    labels, inverse = np.unique(names, return_inverse=True)
    codes = inverse[:-1][np.asarray(prefix.codes)]  # a trimmed prefix is never missing
    codes[outbound] = inverse[-1]
    return compact(codes, labels)


def compact(codes: np.ndarray, labels: np.ndarray) -> pd.Categorical:
    """The categorical of ``labels[codes]`` (an object array of str; code -1: missing) with only the
    labels used, sorted: what astype("category") of those values gives, without hashing them."""
    used = np.flatnonzero(np.bincount(codes[codes >= 0], minlength=len(labels)))
    kept = used[np.argsort(labels[used], kind="stable")]
    rank = np.full(len(labels) + 1, -1, np.int64)  # the extra -1 is where code -1 lands
    rank[kept] = np.arange(len(kept))
    dtype = pd.CategoricalDtype(pd.Index(labels[kept], dtype="str"))
    return pd.Categorical.from_codes(rank[codes], dtype=dtype)


def _categorical(text: pa.Array, pick: Callable[[np.ndarray], np.ndarray]) -> pd.Categorical:
    encoded = pc.dictionary_encode(text)
    return compact(pick(encoded.indices.to_numpy().astype(np.int64)),
                   np.asarray(encoded.dictionary.to_pylist(), dtype=object))
