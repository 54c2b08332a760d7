"""journald JSON exports and ``dmesg --json`` documents as envelope frames (headers.ENVELOPE columns).

``journalctl _TRANSPORT=kernel -o json`` (or any ``-o json`` export, e.g. greyd's own records):
MESSAGE is a string, or an array of byte values when it is not valid UTF-8 (decoded with U+FFFD
replacements). ``__REALTIME_TIMESTAMP`` is when journald *read* the record; for kernel records the
event time is ``__REALTIME_TIMESTAMP - (__MONOTONIC_TIMESTAMP - _SOURCE_MONOTONIC_TIMESTAMP)``
(same boot; spec/logformats.md 3.2, shared/samples/kernlog/README.md), for client records
``_SOURCE_REALTIME_TIMESTAMP`` when present. A line that is not a JSON object gets NaT and no message,
so the reader decides whether it is bad. Decoding JSON is a per-record loop in C (json module); it is
the one input read at about 300k records/s rather than millions.
"""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pyarrow as pa

from greylogd.analysis.frames import TS_DTYPE
from greylogd.analysis.headers import ENVELOPE, SourceOptions, boot_time, to_int

_FIELDS = ("MESSAGE", "_HOSTNAME", "SYSLOG_IDENTIFIER", "_PID", "SYSLOG_PID", "__REALTIME_TIMESTAMP",
           "__MONOTONIC_TIMESTAMP", "_SOURCE_MONOTONIC_TIMESTAMP", "_SOURCE_REALTIME_TIMESTAMP")


def journal_envelopes(lines: pa.Array, numbers: np.ndarray) -> pd.DataFrame:
    """ENVELOPE frame of ``journalctl -o json`` lines (one JSON object per line; line ``numbers``)."""
    records = pd.DataFrame([_record(text) for text in lines.to_pylist()], columns=_FIELDS)
    number = lambda name: to_int(records[name].astype("str"), 10**17).astype("float64")  # noqa: E731
    event_us = number("__REALTIME_TIMESTAMP") - (number("__MONOTONIC_TIMESTAMP")
                                                 - number("_SOURCE_MONOTONIC_TIMESTAMP"))
    event_us = number("_SOURCE_REALTIME_TIMESTAMP").fillna(event_us).fillna(number("__REALTIME_TIMESTAMP"))
    message = records["MESSAGE"].astype("str")
    return pd.DataFrame({
        "line": numbers,
        "raw": message.fillna(pd.Series(lines, dtype="str").str.rstrip("\n")),
        "ts": pd.to_datetime(event_us, unit="us", utc=True).astype(TS_DTYPE).where(message.notna()),
        "host": records["_HOSTNAME"].astype("str"),
        "program": records["SYSLOG_IDENTIFIER"].astype("str"),
        "pid": records["_PID"].fillna(records["SYSLOG_PID"]).astype("str"),
        "message": message,
    })[ENVELOPE]


def _record(text: str) -> tuple[object, ...]:
    """The _FIELDS of one JSON line; all None when the line is not a JSON object."""
    try:
        obj = json.loads(text)
    except ValueError:
        return (None,) * len(_FIELDS)
    if not isinstance(obj, dict):
        return (None,) * len(_FIELDS)
    message = obj.get("MESSAGE")
    if isinstance(message, list):
        message = bytes(b for b in message if isinstance(b, int) and 0 <= b < 256).decode("utf-8", "replace")
    return (message if isinstance(message, str) else None,
            *(_scalar(obj.get(name)) for name in _FIELDS[1:]))


def _scalar(value: object) -> str | None:
    return value if isinstance(value, str) else None


def dmesg_json_envelopes(document: str, options: SourceOptions, host: str) -> pd.DataFrame:
    """ENVELOPE frame of a whole ``dmesg --json`` document (a list, or ``{"dmesg": [...]}``).

    ``line`` is the 1-based record number; ``time`` (seconds of uptime) is placed after the boot time.
    An unreadable document yields one row per line, with NaT and no message (so every line is counted).
    """
    try:
        obj = json.loads(document)
    except ValueError:
        obj = None
    records = obj.get("dmesg") if isinstance(obj, dict) else obj
    records = records if isinstance(records, list) else document.removesuffix("\n").split("\n")
    frame = pd.DataFrame({"message": [r.get("msg") if isinstance(r, dict) else None for r in records],
                          "time": [r.get("time") if isinstance(r, dict) else None for r in records],
                          "raw": [str(r)[:1000] for r in records]})
    message = frame["message"].where(frame["message"].map(lambda m: isinstance(m, str))).astype("str")
    seconds = pd.to_numeric(frame["time"], errors="coerce").astype("float64")
    seconds = seconds.where((seconds >= 0) & (seconds < 1e10))
    boot = pd.Timestamp(options.boot_time or boot_time()).tz_convert("UTC")
    ts = (boot + pd.to_timedelta((seconds * 1e6).round(), unit="us")).astype(TS_DTYPE)
    return pd.DataFrame({"line": np.arange(1, len(frame) + 1, dtype=np.int64),
                         "raw": message.fillna(frame["raw"].astype("str")),
                         "ts": ts.where(message.notna()), "host": host, "program": "kernel",
                         "pid": pd.Series(np.nan, index=frame.index, dtype="str"),
                         "message": message})[ENVELOPE]
