"""Ledger rows -> the report's `tuples` frame (spec/report.md; names and dtypes from analysis.frames.TUPLES).

Domains are derived here, once, the way the spec defines them: the lower-cased text after the last `@` of
greyd's normalised address, "" when there is no `@` (the null sender `<>` is stored by greyd as "").
Timestamps become tz-aware UTC; outcome_ts is NaT and outcome "pending" for tuples still open.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from datetime import datetime

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

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
# the text columns read_tuples returns categorical (frames.TUPLES names and meanings, repeated text
# encoded); `from` stays str: senders repeat little, and merging the categories of many slices' senders
# (frames.concat) cost the report more CPU and memory than plain strings (1M: 3.0 s/463 MB vs 2.6/368)
CATEGORICAL = ["ip", "helo", "to", "sender_domain", "rcpt_domain", "outcome"]
TUPLES_READ: dict[str, str] = {**TUPLES, **dict.fromkeys(CATEGORICAL, "category")}  # read_tuples' dtypes
TS_COLUMNS = dict.fromkeys(["first", "last_seen", "pass", "outcome_ts"], TS_DTYPE)


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
    """Lower-cased domain after the last '@'; '' when there is none. `addresses` is str dtype (pyarrow:
    the regex and lower-casing run in C, not per element)."""
    after = addresses.str.replace(r"(?s)^.*@", "", regex=True)
    return after.where(addresses.str.contains("@", regex=False), "").str.lower()


def _row_times(raw: pd.DataFrame, columns: Sequence[str]) -> None:
    for column in columns:
        raw[column] = pd.to_datetime(raw[column].astype("Int64"), unit="s", utc=True)


def retries_frame(rows: Sequence[Sequence[object]]) -> pd.DataFrame:
    """The RETRIES frame from rows in its column order."""
    if not rows:
        return empty(RETRIES)
    raw = pd.DataFrame(list(rows), columns=list(RETRIES))
    _row_times(raw, ["first", "ts", "observed_at"])
    return typed(raw, RETRIES)


def tuples_frame(table: pa.Table) -> pd.DataFrame:
    """The `tuples` frame, ordered by (first, id), from a columns.TUPLE_SCHEMA table in any order (outcome
    null = still open), built column by column: text but `from` is categorical (a host's address and HELO,
    recipients, domains and the four outcomes repeat over a week's tuples; categories sorted, as
    `astype("category")` gives), each domain derived once per distinct address, times converted as whole
    arrays; the rows are ordered last, when text is int32 codes."""
    if table.num_rows == 0:
        return empty(TUPLES_READ)
    text = {name: _categorical(table[name]) for name in ("ip", "helo", "from", "to")}
    frame = pd.DataFrame({
        **text, "from": pd.Series(text["from"]).astype(STR),  # mostly distinct: a categorical saves nothing
        "sender_domain": _derived(text["from"], domain_of),
        "rcpt_domain": _derived(text["to"], domain_of),
        **{name: _times(table[name]) for name in ("first", "last_seen", "pass")},
        "bcount": table["bcount"].to_pandas(types_mapper={pa.int64(): pd.Int64Dtype()}.get),
        "outcome": _categorical(pc.fill_null(table["outcome"], Outcome.PENDING.value)),
        "outcome_ts": _times(table["outcome_ts"])})
    order = np.lexsort((table["id"].to_numpy(), table["first"].to_numpy()))
    return frame.astype(TS_COLUMNS).take(order).reset_index(drop=True)


def _categorical(column: pa.ChunkedArray) -> pd.Categorical:
    """A text column (no nulls; plain or dictionary-encoded) as a categorical with sorted categories,
    encoded by pyarrow in C (combine_chunks unifies the chunks' dictionaries)."""
    encoded = pc.dictionary_encode(column).combine_chunks()
    order = pc.array_sort_indices(encoded.dictionary).to_numpy()
    rank = np.empty(len(order), np.int32)
    rank[order] = np.arange(len(order), dtype=np.int32)
    categories = pd.Index(encoded.dictionary.take(order).to_pandas(), dtype=STR)
    return pd.Categorical.from_codes(rank[encoded.indices.to_numpy()], categories=categories)


def _derived(text: pd.Categorical, derive: Callable[[pd.Series], pd.Series]) -> pd.Categorical:
    """`derive` applied once per category (e.g. the domain of each distinct address), spread to the rows."""
    values = derive(pd.Series(text.categories, dtype=STR)).astype("category")
    return pd.Categorical.from_codes(values.cat.codes.to_numpy()[text.codes], dtype=values.dtype)


def _times(seconds: pa.ChunkedArray) -> pd.Series:
    """Unix seconds -> tz-aware UTC timestamps (µs), null -> NaT."""
    micros = pc.multiply_checked(seconds, 1_000_000)
    return micros.cast(pa.timestamp("us", tz="UTC")).to_pandas()
