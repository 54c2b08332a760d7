"""Ledger rows -> the report's `tuples` frame (spec/report.md; names and dtypes from analysis.frames.TUPLES).

Domains are derived here, once, the way the spec defines them: the lower-cased text after the last `@` of
greyd's normalised address, "" when there is no `@` (the null sender `<>` is stored by greyd as "").
Timestamps become tz-aware UTC; outcome_ts is NaT and outcome "pending" for tuples still open.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from datetime import datetime

import pandas as pd

from greylogd.analysis.frames import INT, STR, TS_DTYPE, TUPLES, empty, typed
from greylogd.ledger.model import Outcome

# Observed retries (greylogd's own frame until analysis.frames adopts it): one row per bcount increase.
RETRIES: dict[str, str] = {
    "ip": STR, "helo": STR, "from": STR, "to": STR,  # the tuple, as in `tuples`
    "first": TS_DTYPE,        # the tuple's first, UTC: with the four above, its identity
    "ts": TS_DTYPE,           # the retry: exact when greyd moved pass to it, else = observed_at
    "observed_at": TS_DTYPE,  # the poll that saw bcount grow, UTC
    "bcount": INT,            # greyd's bcount after the retry(s)
}
ROW_COLUMNS = ["ip", "helo", "from", "to", "first", "last_seen", "pass", "bcount", "outcome", "outcome_ts"]
TIME_COLUMNS = ["first", "last_seen", "pass", "outcome_ts"]


def unix_bound(when: int | datetime | pd.Timestamp) -> int:
    """A period bound as Unix seconds, rounded up (tuples' `first` is whole seconds, periods are [start,
    end)). Datetimes must be tz-aware: a naive one has no defined instant, so it raises ValueError."""
    if isinstance(when, int):
        return when
    stamp = pd.Timestamp(when)
    if stamp.tzinfo is None:
        raise ValueError(f"period bound {when!r} has no time zone")
    return math.ceil(stamp.timestamp())


def domain_of(addresses: pd.Series) -> pd.Series:
    """Lower-cased domain after the last '@'; '' when there is none."""
    return addresses.str.extract(r"@([^@]*)$", expand=False).fillna("").str.lower()


def _times(raw: pd.DataFrame, columns: Sequence[str]) -> None:
    for column in columns:
        raw[column] = pd.to_datetime(raw[column].astype("Int64"), unit="s", utc=True)


def retries_frame(rows: Sequence[Sequence[object]]) -> pd.DataFrame:
    """The RETRIES frame from rows in its column order."""
    if not rows:
        return empty(RETRIES)
    raw = pd.DataFrame(list(rows), columns=list(RETRIES))
    _times(raw, ["first", "ts", "observed_at"])
    return typed(raw, RETRIES)


def tuples_frame(rows: Sequence[Sequence[object]]) -> pd.DataFrame:
    """The `tuples` frame from rows in ROW_COLUMNS order (outcome NULL = still open)."""
    if not rows:
        return empty(TUPLES)
    raw = pd.DataFrame(list(rows), columns=ROW_COLUMNS)
    _times(raw, TIME_COLUMNS)
    raw["outcome"] = raw["outcome"].fillna(Outcome.PENDING.value)
    text = raw[["from", "to"]].astype(TUPLES["from"])
    raw["sender_domain"], raw["rcpt_domain"] = domain_of(text["from"]), domain_of(text["to"])
    return typed(raw, TUPLES)
