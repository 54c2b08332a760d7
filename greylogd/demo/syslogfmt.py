"""rsyslog file headers for many lines at once, and writing sorted lines to a file.

Formats (spec/logformats.md 3.2, samples in shared/samples/kernlog/), host time zone UTC:
- rfc3164: RSYSLOG_TraditionalFileFormat, `Nov  3 08:05:58 mx1 ` (day space-padded, no year);
- rfc3339: RSYSLOG_FileFormat (Debian 12's default), `2026-11-03T08:05:58.652063+00:00 mx1 `.
Timestamps are int64 microseconds since the Unix epoch. Formatting works per distinct day plus a table of
the 86400 `HH:MM:SS` strings, so a million headers take well under a second; files are written in
chunks so that ten million lines never sit in memory as text at once.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np
import pandas as pd

FORMATS = ("rfc3164", "rfc3339")
_US_PER_S = 1_000_000
_HMS = np.array([f"{s // 3600:02d}:{s // 60 % 60:02d}:{s % 60:02d}" for s in range(86400)], dtype=object)


def check_format(name: str) -> str:
    """`name` if it is a supported syslog format, else ValueError listing the supported ones."""
    if name not in FORMATS:
        raise ValueError(f"syslog_format {name!r}: expected one of {', '.join(FORMATS)}")
    return name


def headers(ts_us: np.ndarray, fmt: str, host: str) -> np.ndarray:
    """Object array of `<time> <host> ` headers for each timestamp."""
    seconds = ts_us // _US_PER_S
    day, second_of_day = np.divmod(seconds, 86400)
    days, inverse = np.unique(day, return_inverse=True)
    stamps = pd.to_datetime(days * 86400, unit="s", utc=True)
    if fmt == "rfc3164":
        labels = np.array([f"{d:%b} {d.day:2d} " for d in stamps], dtype=object)
        return labels[inverse] + _HMS[second_of_day] + f" {host} "
    labels = np.array([f"{d:%Y-%m-%d}T" for d in stamps], dtype=object)
    micros = (ts_us % _US_PER_S + _US_PER_S).astype(str).astype(object)
    fraction = np.array([m[1:] for m in micros], dtype=object)
    return labels[inverse] + _HMS[second_of_day] + "." + fraction + f"+00:00 {host} "


Render = Callable[[np.ndarray], np.ndarray]
CHUNK_LINES = 50_000


def write_sorted(path: Path, parts: list[tuple[np.ndarray, Render]], fmt: str, host: str) -> int:
    """Write every part's lines in time order with syslog headers; returns the number of lines.

    A part is (timestamps in µs, render) where render(positions) returns the message texts of those rows
    of the part. Lines are rendered CHUNK_LINES at a time in output order, so memory holds the timestamps
    and one chunk of text, not the whole file. Equal times keep part order, then row order (stable sort),
    so one session's lines stay in order.
    """
    ts = np.concatenate([p[0] for p in parts])
    which = np.concatenate([np.full(len(p[0]), k, dtype=np.int16) for k, p in enumerate(parts)])
    pos = np.concatenate([np.arange(len(p[0]), dtype=np.int64) for p in parts])
    order = np.argsort(ts, kind="stable")
    with path.open("w", encoding="utf-8", newline="\n") as out:
        for start in range(0, len(order), CHUNK_LINES):
            sel = order[start:start + CHUNK_LINES]
            text = np.empty(len(sel), dtype=object)
            part, row = which[sel], pos[sel]
            for k in np.unique(part).tolist():
                mask = part == k
                text[mask] = parts[k][1](row[mask])
            out.write("\n".join((headers(ts[sel], fmt, host) + text).tolist()))
            out.write("\n")
    return len(order)
