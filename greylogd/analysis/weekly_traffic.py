"""Connection counts over time: per hour by category, and greylisted connections by weekday and hour.

Both take the `connections` frame (ts tz-aware UTC, category) already restricted to the period, and bin
in the period's time zone, so "09:00" is local time and a DST week has 167 or 169 hourly rows.
"""

from __future__ import annotations

import pandas as pd

from greylogd.analysis.period import Period

CATEGORIES = ["trusted", "greylisted", "fallthrough", "jailed", "other", "outbound"]
WEEKDAYS = ["Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun"]


def hourly_connections(connections: pd.DataFrame, period: Period) -> pd.DataFrame:
    """One row per local hour of the period (index `hour`, tz-aware), one int64 column per category."""
    hours = pd.date_range(period.start, period.end, freq="h", inclusive="left", name="hour")
    local = connections["ts"].dt.tz_convert(period.tz).dt.floor("h", ambiguous="NaT",
                                                                 nonexistent="shift_backward")
    table = pd.crosstab(local.rename("hour"), connections["category"].astype("object"))
    return table.reindex(index=hours, columns=CATEGORIES, fill_value=0).astype("int64").rename_axis(
        columns=None)


def weekday_hour(connections: pd.DataFrame, period: Period, category: str = "greylisted") -> pd.DataFrame:
    """7 x 24 counts of `category` connections: index weekday (Mon..Sun), columns local hour 0..23."""
    picked = connections.loc[connections["category"].eq(category), "ts"].dt.tz_convert(period.tz)
    table = pd.crosstab(picked.dt.day_of_week.rename("weekday"), picked.dt.hour.rename("hour"))
    table = table.reindex(index=range(7), columns=range(24), fill_value=0).astype("int64")
    table.index = pd.Index(WEEKDAYS, name="weekday")
    return table.rename_axis(columns="hour")
