"""Syslog, kmsg and dmesg headers: sniff a chunk's format, split lines into envelopes, place stamps in UTC.

All work is vectorized: one RE2 pass (``pyarrow.compute.extract_regex``) per chunk for the header,
and stamps are converted per distinct value. ``split_headers`` finds the same header parts in one C
pass (greylogd._logscan) for the formats kern.log and syslog usually have (``stamps.split_stamps``
places the stamps it and the scanners give). Formats and their time
rules are listed in ``greylogd.analysis.sources``; the header patterns are ``HEADERS``.
"""

from __future__ import annotations

import os
import re
import socket
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta, tzinfo
from zoneinfo import ZoneInfo

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from greylogd._logscan import ffi, lib
from greylogd.analysis.frames import TS_DTYPE

ENVELOPE = ["line", "raw", "ts", "host", "program", "pid", "message"]
_PROG = r"(?:(?P<program>[^ :\[\]]+)(?:\[(?P<pid>[0-9]{1,10})\])?: )?"
HEADERS = {
    "rfc5424": r"^<(?P<pri>[0-9]{1,3})>1 (?P<stamp>[^ ]+) (?P<host>[^ ]+) (?P<program>[^ ]+) "
               r"(?P<pid>[^ ]+) [^ ]+ (?:-|(?:\[(?:[^\]\\]|\\.)*\])+) ?",
    "rfc3339": r"^(?P<stamp>[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9:.]+(?:Z|[+-][0-9]{2}:?[0-9]{2})) "
               r"(?P<host>[^ ]+) " + _PROG,
    "rfc3164": r"^(?P<stamp>[A-Z][a-z]{2} [ 0-9][0-9] [0-9]{2}:[0-9]{2}:[0-9]{2}) (?P<host>[^ ]+) "
               + _PROG,
    "kmsg": r"^(?P<pri>[0-9]+),[0-9]+,(?P<stamp>[0-9]+),[^;]*;",
    "dmesg": r"^(?:<(?P<pri>[0-9]+)>)?\[ *(?P<stamp>[0-9]+\.[0-9]+)\] ",
}
_SNIFF = {name: re.compile(pattern) for name, pattern in HEADERS.items()}


@dataclass(frozen=True)
class SourceOptions:
    """How to place stamps that lack a year, a zone or a wall clock.

    tz: IANA zone of RFC 3164 stamps (None: the machine's, from $TZ or /etc/localtime).
    reference: a time after the newest RFC 3164 line, for the year (None: the file's mtime).
    boot_time: wall-clock time of the boot that kmsg/dmesg uptimes count from (None: this machine's).
    host: host name for formats that carry none (kmsg, dmesg; None: this machine's).
    """

    tz: str | None = None
    reference: datetime | None = None
    boot_time: datetime | None = None
    host: str | None = None


@dataclass
class HeaderSpans:
    """Where ``split_headers`` found each line's header parts: byte offsets into the lines' data buffer
    (``lines.buffers()[2]``), -1 where absent. parsed: bool per line; False where the C splitter cannot
    vouch for the line (RFC 5424, a stamp shape it does not take, no header at all): split those with
    ``envelopes``. stamp: int64, rfc3339 Unix microseconds (UTC), rfc3164 the printed digits as
    MMDDhhmmss (place them with STAMP_PARSERS["rfc3164"]), dmesg/kmsg microseconds of uptime. host,
    program: (n, 2) start and end (no host for dmesg/kmsg). pid: int64. message: where the message
    starts; it ends with the line, before its newline."""

    parsed: np.ndarray
    stamp: np.ndarray
    host: np.ndarray
    program: np.ndarray
    pid: np.ndarray
    message: np.ndarray


SPLIT_FORMATS = {"rfc3164": lib.LS_RFC3164, "rfc3339": lib.LS_RFC3339, "dmesg": lib.LS_DMESG,
                 "kmsg": lib.LS_KMSG}


def split_headers(lines: pa.Array, fmt: str) -> HeaderSpans:
    """The header parts of each line (a large_string array without nulls) read as ``fmt``, a
    SPLIT_FORMATS key, in one C pass (about 10 ns a line), exactly where HEADERS[fmt] would put them.
    For readers (e.g. greyd's log) that want envelopes at C speed: take the message and fields as
    slices of the data buffer; give the lines not parsed to ``envelopes``. Never raises for content."""
    n = len(lines)
    offsets = np.frombuffer(lines.buffers()[1], np.int64)[lines.offset:lines.offset + n + 1]
    data = lines.buffers()[2]
    status, stamp, pid = np.empty(n, np.int8), np.empty(n, np.int64), np.empty(n, np.int64)
    spans = np.empty((n, 5), np.int64)
    buffer = ffi.from_buffer("char[]", data) if data is not None else ffi.NULL
    lib.ls_headers(buffer, ffi.from_buffer("int64_t[]", offsets), n, SPLIT_FORMATS[fmt],
                   ffi.from_buffer("int8_t[]", status), ffi.from_buffer("int64_t[]", stamp),
                   ffi.from_buffer("int64_t[]", spans), ffi.from_buffer("int64_t[]", pid))
    parsed = status == lib.LS_GOOD
    return HeaderSpans(parsed, stamp, spans[:, 0:2], spans[:, 2:4], pid, spans[:, 4])


def sniff(lines: pa.Array) -> str | None:
    """The format of the first non-empty line among the first 50: a HEADERS key, journal, dmesg_json."""
    for text in lines[:50].to_pylist():
        stripped = text.lstrip()
        if stripped:
            if stripped[0] in "{[":
                return "journal" if stripped[0] == "{" else "dmesg_json"
            return next((name for name, rx in _SNIFF.items() if rx.match(text)), None)
    return None


def envelopes(lines: pa.Array, fmt: str | None, numbers: np.ndarray, mtime: datetime,
              options: SourceOptions) -> pd.DataFrame:
    """ENVELOPE frame of ``lines`` (their line ``numbers``) read as ``fmt`` (None: every ts is NaT)."""
    frame = pd.DataFrame({"line": numbers, "raw": pd.Series(lines, dtype="str")})
    pattern = HEADERS.get(fmt or "", "^(?P<stamp>\x00)")
    parts = pc.extract_regex(lines, pattern)
    valid = parts.is_valid().to_numpy(zero_copy_only=False)
    # the message is what remains without the header: cheaper than capturing it (RE2 runs its slow
    # submatch engine over the whole span of a capture)
    message = pc.replace_substring_regex(lines, pattern, "", max_replacements=1)
    frame["message"] = _where(pd.Series(pc.utf8_rtrim(message, "\n"), dtype="str"), valid)
    for name in ("host", "program", "pid", "stamp"):
        column = parts.field(name) if f"<{name}>" in pattern else pa.nulls(len(lines), pa.string())
        frame[name] = _where(pd.Series(column, dtype="str"), valid)
    for name in ("program", "pid"):  # RE2 gives "" for a group that did not take part
        frame[name] = frame[name].mask(frame[name].isin(["", "-"]))
    frame["ts"] = STAMP_PARSERS.get(fmt or "", _no_stamp)(frame.pop("stamp"), mtime, options)
    if fmt in ("kmsg", "dmesg"):
        frame["host"] = frame["host"].mask(frame["ts"].notna(), options.host or socket.gethostname())
        frame["program"] = frame["program"].mask(frame["ts"].notna(), "kernel")
    return frame[ENVELOPE]


def _where(column: pd.Series, valid: np.ndarray) -> pd.Series:
    """``column`` with NaN where not valid; no copy in the usual case where all are valid."""
    return column if valid.all() else column.where(valid)


def _iso(stamp: pd.Series, mtime: datetime, options: SourceOptions) -> pd.Series:
    """RFC 3339 stamps (offset with or without colon) in UTC; NaT where invalid."""
    return pd.to_datetime(stamp, format="ISO8601", utc=True, errors="coerce").astype(TS_DTYPE)


def _rfc3164(stamp: pd.Series, mtime: datetime, options: SourceOptions) -> pd.Series:
    """``Nov 23 08:05:58`` in the given zone, year from the reference with New Year roll-over."""
    zone = ZoneInfo(options.tz) if options.tz else local_zone()
    reference = (options.reference or mtime).astimezone(zone).replace(tzinfo=None)
    codes, uniques = pd.factorize(stamp)
    text = str(reference.year) + " " + pd.Series(uniques, dtype="str").str.replace("  ", " ")
    naive = pd.DatetimeIndex(pd.to_datetime(text, format="%Y %b %d %H:%M:%S", errors="coerce"))
    future = naive > reference + timedelta(days=1)
    naive = naive.where(~future, naive - pd.DateOffset(years=1))
    local = naive.tz_localize(zone, ambiguous=np.ones(len(naive), bool), nonexistent="shift_forward")
    return _take(local.tz_convert("UTC"), codes, stamp.index)


def uptime_us(micros: pd.Series, options: SourceOptions) -> pd.Series:
    """Boot time plus microseconds of uptime (below 10**16, about 300 years), UTC."""
    boot = pd.Timestamp(options.boot_time or boot_time()).tz_convert("UTC")
    return (boot + pd.to_timedelta(micros, unit="us")).astype(TS_DTYPE)


def _kmsg(stamp: pd.Series, mtime: datetime, options: SourceOptions) -> pd.Series:
    return uptime_us(to_int(stamp, 10**16 - 1), options)


def _dmesg(stamp: pd.Series, mtime: datetime, options: SourceOptions) -> pd.Series:
    parts = pc.extract_regex(arrow_strings(stamp), r"^(?P<s>[0-9]{1,10})\.(?P<f>[0-9]{1,9})$")
    seconds = to_int(pd.Series(parts.field("s"), dtype="str", index=stamp.index), 10**10)
    digits = pc.utf8_slice_codeunits(pc.utf8_rpad(parts.field("f"), 6, "0"), 0, 6)
    return uptime_us(seconds * 1_000_000 + to_int(pd.Series(digits, dtype="str", index=stamp.index),
                                                   999_999), options)


def _no_stamp(stamp: pd.Series, mtime: datetime, options: SourceOptions) -> pd.Series:
    return pd.Series(pd.NaT, index=stamp.index, dtype=TS_DTYPE)


def _take(values: pd.DatetimeIndex, codes: np.ndarray, index: pd.Index) -> pd.Series:
    """values[codes] as a Series on ``index``, NaT where code is -1 (missing stamp)."""
    padded = values.append(pd.DatetimeIndex([pd.NaT], tz="UTC"))
    return pd.Series(padded[codes], index=index).astype(TS_DTYPE)


STAMP_PARSERS: dict[str, Callable[[pd.Series, datetime, SourceOptions], pd.Series]] = {
    "rfc5424": _iso, "rfc3339": _iso, "rfc3164": _rfc3164, "kmsg": _kmsg, "dmesg": _dmesg,
}


def local_zone() -> tzinfo:
    """The machine's zone: $TZ, else /etc/localtime, else UTC."""
    if os.environ.get("TZ", "").lstrip(":"):
        return ZoneInfo(os.environ["TZ"].lstrip(":"))
    try:
        with open("/etc/localtime", "rb") as file:
            return ZoneInfo.from_file(file, key="localtime")
    except OSError:
        return UTC


def boot_time() -> datetime:
    """This machine's boot time (``btime`` of /proc/stat), UTC."""
    with open("/proc/stat") as stat:
        seconds = next(int(line.split()[1]) for line in stat if line.startswith("btime "))
    return datetime.fromtimestamp(seconds, UTC)

def to_int(text: pd.Series, maximum: int) -> pd.Series:
    """Decimal text as Int64; <NA> where missing, not 1 to 18 digits, or above ``maximum``."""
    array = arrow_strings(text)
    digits = pc.fill_null(pc.match_substring_regex(array, r"^[0-9]{1,18}$"), False)
    number = pc.cast(pc.if_else(digits, array, "0"), pa.int64())
    number = pc.if_else(pc.and_(digits, pc.less_equal(number, maximum)), number, None)
    return pd.Series(number, index=text.index, dtype="int64[pyarrow]").astype("Int64")


def arrow_strings(text: pd.Series) -> pa.Array:
    """The values of a str Series as one contiguous large_string array (missing values null)."""
    array = pa.array(text.array, pa.large_string())
    return array.combine_chunks() if isinstance(array, pa.ChunkedArray) else array
