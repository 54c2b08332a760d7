"""Python side of the C scanner greylogd._logscan (source: logscan.c): one pass per chunk of lines.

``scan(lines, fmt)`` returns a ``Scan``: per line a status (GOOD, SKIP, FALLBACK) and, per GOOD line, one
row of columns (a connection) or a bad line whose reason (BAD_ADDRESS, BAD_PORT) the C code can tell
for certain. The C code accepts only what it parses *exactly* as the RE2 patterns of
headers.HEADERS and kernlog_lines.LOG_FIELDS do (printable ASCII, the usual stamp shapes, plain dotted
quads and hex-and-colons IPv6 addresses that are not IPv4-mapped); every other line is FALLBACK, for
the Python path, which decides what is bad and why. Strings are copied into one arena per field (the
few-valued ones dictionary-encoded as they are written) and wrapped zero-copy (scan_text.TextColumn).
``connections`` makes frames.CONNECTIONS rows of them (``categorise``: categories without hashing every
value). ``line_offsets`` splits a buffer into lines for logfiles.read_lines.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np
import pandas as pd
import pyarrow as pa

from greylogd._logscan import ffi, lib
from greylogd.analysis import frames
from greylogd.analysis.scan_text import TextColumn, anonymous, labelled_dtype

GOOD, SKIP, FALLBACK = lib.LS_GOOD, lib.LS_SKIP, lib.LS_FALLBACK
BAD_ADDRESS, BAD_PORT = lib.LS_BAD_ADDRESS, lib.LS_BAD_PORT
FORMATS = {"rfc3164": lib.LS_RFC3164, "rfc3339": lib.LS_RFC3339, "dmesg": lib.LS_DMESG, "kmsg": lib.LS_KMSG}
FIELDS = ("host", "prefix", "in_if", "proto", "dst", "src")  # as logscan.c numbers them


@dataclass
class Scan:
    """What the scanner made of one chunk of n lines (rows: the connections, in line order).

    status: int8 per line (GOOD for a row and for a bad line the scanner names). line: int64 per row,
    index of its line in the chunk. stamp: int64 per row, by format: rfc3339 Unix microseconds (UTC);
    rfc3164 the printed digits as MMDDhhmmss (month 1-12, not validated beyond the pattern); dmesg/kmsg
    microseconds of uptime. spt/dpt: int32, -1 when the line has none. ip_version: int8 (of src).
    host (empty for dmesg/kmsg), prefix (trimmed), in_if, proto, dst (ipaddress compressed form; a
    gateway's own few addresses): categoricals (only the values used, sorted); src (compressed form):
    a large_string array. bad_line, bad_stamp,
    bad_reason: the lines the scanner names as bad (BAD_ADDRESS or BAD_PORT), with their stamps.
    """

    status: np.ndarray
    line: np.ndarray
    stamp: np.ndarray
    spt: np.ndarray
    dpt: np.ndarray
    ip_version: np.ndarray
    host: pd.Categorical
    prefix: pd.Categorical
    in_if: pd.Categorical
    proto: pd.Categorical
    dst: pd.Categorical
    src: pa.Array
    bad_line: np.ndarray
    bad_stamp: np.ndarray
    bad_reason: np.ndarray


def line_offsets(data: np.ndarray) -> tuple[np.ndarray, bool]:
    """int64 offsets (n + 1, from 0) of the n newline-terminated lines of the uint8 array ``data``, and
    whether ``data`` is all ASCII (so valid UTF-8 without a check). One pass: the offsets go into room
    for the most there can be (a line a byte), an anonymous memory map of which the kernel provides only
    the pages written (scan_text.anonymous)."""
    ends, ascii = np.frombuffer(anonymous(8 * (len(data) + 1)), np.int64), ffi.new("int *")
    lines = lib.ls_line_ends(ffi.from_buffer("char[]", data), len(data), ffi.from_buffer("int64_t[]", ends),
                             ascii)
    return ends[:lines + 1], bool(ascii[0])


def scan(lines: pa.Array, fmt: str) -> Scan:
    """Scan a large_string array without nulls (lines with or without their newline) read as ``fmt``,
    a FORMATS key. Never raises for content: the C code bounds every read and write; each text column
    has the chunk's size, which always suffices (no field is longer than its line)."""
    n = len(lines)
    offsets = np.frombuffer(lines.buffers()[1], np.int64)[lines.offset:lines.offset + n + 1]
    data = lines.buffers()[2]
    status = np.empty(n, np.int8)
    out, rows, bad, texts = _outputs(n, int(offsets[-1] - offsets[0]) + 64)
    lib.ls_scan(ffi.from_buffer("char[]", data) if data is not None else ffi.NULL,
                ffi.from_buffer("int64_t[]", offsets), n, FORMATS[fmt], ffi.from_buffer("int8_t[]", status),
                out)
    coded = [texts[f].categorical(out.rows, out.text[f], lib.ls_ranks, ffi) for f in range(lib.LS_CODED)]
    plain = [texts[f].array(out.rows, out.text[f].strings) for f in range(lib.LS_CODED, len(FIELDS))]
    return Scan(status, *(values[:out.rows] for values in rows.values()), *coded, *plain,
                *(values[:out.bad] for values in bad.values()))


_Arrays = dict[str, np.ndarray]


def _outputs(n: int, size: int) -> tuple[object, _Arrays, _Arrays, list[TextColumn]]:
    """An ls_out for n lines of ``size`` bytes, and the arrays it points into (per row, per bad line,
    per text column): cffi pointers do not keep them alive."""
    rows = {"line": np.empty(n, np.int64), "stamp": np.empty(n, np.int64), "spt": np.empty(n, np.int32),
            "dpt": np.empty(n, np.int32), "ip_version": np.empty(n, np.int8)}
    bad = {"bad_line": np.empty(n, np.int64), "bad_stamp": np.empty(n, np.int64),
           "bad_reason": np.empty(n, np.int8)}
    texts = [TextColumn(n, size, dictionary=f < lib.LS_CODED) for f in range(len(FIELDS))]
    out = ffi.new("ls_out *")
    for name, array in {**rows, **bad}.items():
        setattr(out, name, ffi.from_buffer(ffi.typeof(getattr(out, name)), array))
    for f, text in enumerate(texts):
        text.attach(out.text[f], ffi)
    return out, rows, bad, texts


def connections(found: Scan, ts: pd.Series, host: str | None, categories: Mapping[str, str] | None = None,
                rows: np.ndarray | None = None) -> pd.DataFrame:
    """frames.CONNECTIONS rows of the scanned rows (those at positions ``rows``; default all) at times
    ``ts`` (one per row taken); host None: the scanned one, else this host for every row. The text the
    scanner dictionary-encoded stays categorical (unused values dropped when rows are left out)."""
    pick = (lambda values: values) if rows is None else (lambda values: values[rows])
    coded = (lambda values: values) if rows is None else (lambda values: frames.tidy(values[rows]))
    n = len(pick(found.line))
    one_host = pa.array([host], pa.large_string())
    hosts = coded(found.host) if host is None else frames.compact(np.zeros(n, np.int64), one_host)
    prefix = coded(found.prefix)
    labels = found.in_if.categories  # sorted: an empty IN= (the OUTPUT chain) is the first if any
    outbound = np.asarray(pick(found.in_if.codes)) == (0 if len(labels) and labels[0] == "" else -2)
    ports = {name: pd.arrays.IntegerArray(pick(values).astype(np.uint16), pick(values) < 0)
             for name, values in (("spt", found.spt), ("dpt", found.dpt))}
    text = lambda array: pd.array(array if rows is None else array.take(rows), dtype="str")  # noqa: E731
    return pd.DataFrame({  # arrays, not Series: a frame of Series aligns their indexes; not copied
        "ts": ts.array, "host": hosts, "prefix": prefix,
        "category": categorise(prefix, outbound, categories), "src": text(found.src), "dst": coded(found.dst),
        **ports, "proto": coded(found.proto),
        "ip_version": pd.arrays.IntegerArray(pick(found.ip_version).astype(np.uint8), np.zeros(n, bool)),
        "in_if": coded(found.in_if),
    }, copy=False)


def categorise(prefix: pd.Categorical, outbound: np.ndarray,
               categories: Mapping[str, str] | None = None) -> pd.Categorical:
    """The CONNECTIONS category of trimmed LOG prefixes: ``categories`` (default frames.CATEGORIES)
    looked up case-insensitively once per distinct prefix, else frames.OTHER_CATEGORY;
    frames.OUTBOUND_CATEGORY where ``outbound`` (empty IN=, the OUTPUT chain) whatever the prefix.
    Categories as frames.compact makes them (only those used, sorted), worked out on the table from
    prefix code to category code: the rows only go through it (a trimmed prefix is never missing)."""
    mapping = {key.strip().upper(): value for key, value in (categories or frames.CATEGORIES).items()}
    named = [mapping.get(label.upper(), frames.OTHER_CATEGORY) for label in prefix.categories]
    labels, inverse = np.unique(np.array([*named, frames.OUTBOUND_CATEGORY], dtype=object),
                                return_inverse=True)
    codes, any_outbound = np.asarray(prefix.codes), bool(outbound.any())
    inbound = np.bincount(codes[~outbound] if any_outbound else codes, minlength=len(named)) > 0
    used = np.zeros(len(labels), bool)
    used[inverse[-1]] = any_outbound
    used[inverse[:-1][inbound]] = True  # after: a prefix may be named as outbound rows are
    table = (np.cumsum(used) - 1).astype(np.min_scalar_type(-len(labels) - 1))[inverse]
    taken = table[:-1].take(codes)
    if any_outbound:
        taken[outbound] = table[-1]
    return pd.Categorical.from_codes(taken, dtype=labelled_dtype(tuple(labels[used])), validate=False)
