"""Data quality: what each source covers, where its log has gaps, bad lines, and firewall warnings.

A report is only as good as its inputs: these tables tell the reader which numbers to trust. Source
timelines are given as (name, timestamps) pairs; times are tz-aware UTC and compared with the period.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd

from greylogd.analysis import frames
from greylogd.analysis.period import Period
from greylogd.analysis.weekly_traffic import period_micros, utc_micros

COVERAGE_COLUMNS = ["source", "rows", "first", "last", "coverage"]
GAP_COLUMNS = ["source", "gap_start", "gap_end", "hours"]
NAT = np.iinfo(np.int64).min  # NaT as int64
WARNING_CATEGORIES = {"fallthrough": "[GREYD FAILED]: no rule took the packet (firewall mistake)",
                      "jailed": "direct connections to greyd's port 8025"}


def coverage(timelines: Sequence[tuple[str, pd.Series]], period: Period) -> pd.DataFrame:
    """Per source: rows, first and last timestamp, and the share of the period between them (0..1)."""
    rows = []
    span = (period.end - period.start).total_seconds()
    for name, ts in timelines:
        first, last = _first_last(ts)
        if pd.isna(first):
            rows.append((name, 0, pd.NaT, pd.NaT, 0.0))
            continue
        covered = (min(last, period.end) - max(first, period.start)).total_seconds()
        rows.append((name, len(ts), first, last, max(covered, 0.0) / span))
    table = pd.DataFrame(rows, columns=COVERAGE_COLUMNS)
    return table.astype({"source": "str", "rows": "int64", "first": frames.TS_DTYPE,
                         "last": frames.TS_DTYPE, "coverage": "float64"})


def _first_last(ts: pd.Series) -> tuple[pd.Timestamp, pd.Timestamp]:
    """Earliest and latest time (UTC), NaT when there is none: two passes over the int64 microseconds
    (pandas' min and max make a mask of tens of millions of rows first); NaT rows are skipped."""
    micros = utc_micros(ts)
    if len(micros) and micros.min() == NAT:
        micros = micros[micros != NAT]
    if not len(micros):
        return pd.NaT, pd.NaT
    return pd.Timestamp(micros.min(), unit="us", tz="UTC"), pd.Timestamp(micros.max(), unit="us", tz="UTC")


BLOCK = 1 << 20  # timestamps compared per step: a log's whole timeline is never copied for a diff


def gaps(timelines: Sequence[tuple[str, pd.Series]], period: Period, min_hours: float) -> pd.DataFrame:
    """Silences of at least `min_hours` in each source inside the period, including its two edges.

    A log has millions of lines: its times are read in place as int64 microseconds, copied only when
    they are out of order, compared a block at a time, and only the few gaps found become Timestamps.
    """
    start, end = period_micros(period)
    shortest = min_hours * 3.6e9
    found = []
    for name, ts in timelines:
        micros = _inside(utc_micros(ts), start, end)
        edges = [start, *micros[:1], *micros[-1:], end]
        spans = [(edges[0], edges[1]), *_steps(micros, shortest), (edges[-2], edges[-1])]
        found += [(name, *pd.to_datetime([a, b], unit="us", utc=True), (b - a) / 3.6e9)
                  for a, b in (spans if len(micros) else [(start, end)]) if b - a >= shortest]
    table = pd.DataFrame(found, columns=GAP_COLUMNS)
    for col in ("gap_start", "gap_end"):
        table[col] = pd.to_datetime(table[col], utc=True).astype(frames.TS_DTYPE)
    return table.astype({"source": "str", "hours": "float64"})


def _inside(micros: np.ndarray, start: int, end: int) -> np.ndarray:
    """The values in [start, end), sorted: a slice of the array itself when it is sorted (a log almost
    always is), else a sorted copy of those values."""
    blocks = (micros[i:i + BLOCK + 1] for i in range(0, max(len(micros) - 1, 0), BLOCK))
    if not all(not (b[1:] < b[:-1]).any() for b in blocks):
        micros = np.sort(micros[(micros >= start) & (micros < end)])
    return micros[np.searchsorted(micros, start):np.searchsorted(micros, end)]


def _steps(micros: np.ndarray, shortest: float) -> list[tuple[int, int]]:
    """(from, to) of consecutive sorted values at least `shortest` apart."""
    found = []
    for i in range(0, max(len(micros) - 1, 0), BLOCK):
        block = micros[i:i + BLOCK + 1]
        found += [(block[k], block[k + 1]) for k in np.flatnonzero(np.diff(block) >= shortest)]
    return found


def bad_line_counts(bad_lines: pd.DataFrame) -> pd.DataFrame:
    """Bad lines per source (source, bad_lines), sources in name order."""
    counts = bad_lines.groupby("source", sort=True).size().rename("bad_lines").reset_index()
    return counts.astype({"source": "str", "bad_lines": "int64"})


def firewall_warnings(connections: pd.DataFrame) -> pd.DataFrame:
    """Connections of the warning categories in the period: category, meaning, connections, hosts."""
    rows = []
    for category, meaning in WARNING_CATEGORIES.items():
        picked = connections.loc[connections["category"].eq(category), "src"]
        rows.append((category, meaning, len(picked), picked.nunique()))
    table = pd.DataFrame(rows, columns=["category", "meaning", "connections", "hosts"])
    return table.astype({"category": "str", "meaning": "str", "connections": "int64", "hosts": "int64"})
