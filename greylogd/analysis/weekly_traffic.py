"""Connection counts over time: per hour by category, and greylisted connections by weekday and hour.

Both take the `connections` frame (ts tz-aware UTC, category) already restricted to the period, and bin
in the period's time zone, so "09:00" is local time and a DST week has 167 or 169 hourly rows. A week
has millions of connections: each is placed in its hour by a binary search over the period's hour
starts (int64 microseconds), never by converting millions of timestamps to local time.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from greylogd.analysis.period import Period
from greylogd.analysis.weekly_tuples import text_codes

CATEGORIES = ["trusted", "greylisted", "fallthrough", "jailed", "other", "outbound"]
WEEKDAYS = ["Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun"]


def utc_micros(ts: pd.Series | pd.DatetimeIndex) -> np.ndarray:
    """Tz-aware times as int64 microseconds since the epoch; a view, not a copy, for microsecond times
    (pandas' as_unit copies even when the unit is already right)."""
    index = pd.DatetimeIndex(ts).tz_convert("UTC")
    return (index if index.unit == "us" else index.as_unit("us")).asi8


def period_micros(period: Period) -> tuple[int, int]:
    """The period's [start, end) as int64 microseconds since the epoch (UTC)."""
    start, end = utc_micros(pd.DatetimeIndex([period.start, period.end]))
    return int(start), int(end)


def _hours(period: Period) -> pd.DatetimeIndex:
    """The local hour starts of the period (tz-aware, name `hour`)."""
    return pd.date_range(period.start, period.end, freq="h", inclusive="left", name="hour")


def _hour_of(ts: pd.Series, hours: pd.DatetimeIndex, period: Period) -> np.ndarray:
    """Index into `hours` of the hour each time falls in (int64); len(hours) for a time outside the
    period. The hour of a time in a repeated (DST fall-back) local hour is the one it really falls in."""
    micros = utc_micros(ts)
    found = np.searchsorted(utc_micros(hours), micros, side="right") - 1
    found[(found < 0) | (micros >= period_micros(period)[1])] = len(hours)
    return found


def hourly_connections(connections: pd.DataFrame, period: Period) -> pd.DataFrame:
    """One row per local hour of the period (index `hour`, tz-aware), one int64 column per category;
    connections of a category not in CATEGORIES (or none) are not counted.

    Counted in one bincount over hour x category cells, computed in place in the hour array (a week has
    millions of connections: no per-row copies), with a last row and column for the uncounted."""
    hours = _hours(period)
    codes, names = text_codes(connections["category"])
    column = pd.Index(CATEGORIES).get_indexer(names)
    column = np.append(np.where(column < 0, len(CATEGORIES), column), len(CATEGORIES)).astype(np.int8)
    cell = _hour_of(connections["ts"], hours, period)
    cell *= len(CATEGORIES) + 1
    cell += column[codes]  # code -1 (no category) takes the last entry
    counts = np.bincount(cell, minlength=(len(hours) + 1) * (len(CATEGORIES) + 1))
    return pd.DataFrame(counts.reshape(len(hours) + 1, -1)[:-1, :-1].astype("int64"), index=hours,
                        columns=CATEGORIES)


def weekday_hour(connections: pd.DataFrame, period: Period, category: str = "greylisted") -> pd.DataFrame:
    """7 x 24 counts of `category` connections: index weekday (Mon..Sun), columns local hour 0..23.
    A connection outside the period (the caller's slice normally has none) is counted at its own local
    weekday and hour, converted one by one."""
    hours = _hours(period)
    picked = connections.loc[connections["category"].eq(category), "ts"]
    hour = _hour_of(picked, hours, period)
    outside = picked.loc[hour == len(hours)].dropna().dt.tz_convert(period.tz)  # NaT: no hour at all
    cell = np.append((hours.day_of_week * 24 + hours.hour).to_numpy(), 7 * 24)  # last: outside
    counts = np.bincount(cell[hour], minlength=7 * 24 + 1)[:-1] + np.bincount(
        (outside.dt.day_of_week * 24 + outside.dt.hour).to_numpy(np.int64), minlength=7 * 24)
    counts = counts.reshape(7, 24).astype("int64")
    return pd.DataFrame(counts, index=pd.Index(WEEKDAYS, name="weekday"),
                        columns=pd.RangeIndex(24, name="hour"))
