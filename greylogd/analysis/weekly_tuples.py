"""Tuple outcomes, delays, networks and registrable domains: the base every weekly table is built on.

`classify` turns the ledger's `tuples` frame into the period's *greylisted tuples* with a `status` each
(spec/report.md, Definitions):
- promoted: the ledger saw the tuple's IP become WHITE from it (outcome "promoted"), whenever that happened;
- trapped: the ledger saw it trapped;
- pending: neither, and first seen less than grey_expiry before the period's end (it may still pass);
- abandoned: neither, and first seen at least grey_expiry before the end: greyd has dropped it.
"""

from __future__ import annotations

import functools
import ipaddress
from collections.abc import Callable

import numpy as np
import pandas as pd
import tldextract

from greylogd.analysis.period import Period

STATUSES = ["promoted", "abandoned", "pending", "trapped"]
PERCENTILES = {"p50": 0.50, "p75": 0.75, "p90": 0.90, "p95": 0.95, "p99": 0.99}
NULL_SENDER = "<>"
HELO_TOP = 3  # HELO names shown per network or domain
BITMAP_MAX = 1 << 25  # distinct_per_group: (group, value) combinations marked in a bitmap of bytes
# added by classify() to the tuples columns
CLASSIFIED_COLUMNS = ["status", "delay_s", "domain", "net"]


@functools.cache
def _extractor() -> tldextract.TLDExtract:
    """tldextract on its bundled public suffix snapshot: no network and no cache directory at run time."""
    return tldextract.TLDExtract(suffix_list_urls=(), cache_dir=None)


def _registrable_one(domain: str) -> str:
    if not domain:
        return NULL_SENDER
    clean = domain.strip().rstrip(".").lower()
    parts = _extractor()(clean)
    return parts.top_domain_under_public_suffix or clean


def _net_one(ip: str) -> str:
    """/24 of an IPv4 address, /64 of an IPv6 one, in compressed CIDR form; unparsable text is kept as is."""
    try:
        addr = ipaddress.ip_address(ip)
    except ValueError:
        return ip
    prefix = 24 if addr.version == 4 else 64
    return str(ipaddress.ip_network(f"{addr}/{prefix}", strict=False))


def text_codes(values: pd.Series) -> tuple[np.ndarray, pd.Index]:
    """(codes, uniques) of a text column, categorical or not: uniques[codes] is the column as str; a
    missing value has code -1. codes are a signed integer array, read-only: a categorical's own codes
    (1 to 4 bytes a row), not copied.

    Why: hashing millions of strings is the costly step of every per-value computation and of grouping
    by text, so it is done once per column; a categorical column already has its codes and costs nothing.
    """
    if isinstance(values.dtype, pd.CategoricalDtype):
        codes, uniques = values.array.codes, values.cat.categories  # .cat.codes would copy
    else:
        codes, uniques = pd.factorize(values)
    codes = codes.view()
    codes.flags.writeable = False
    return codes, pd.Index(uniques, dtype="str")


def distinct_per_group(groups: np.ndarray, values: np.ndarray, n_groups: int) -> np.ndarray:
    """Number of distinct `values` (codes; -1 = missing, not counted) in each group (codes 0 ..
    n_groups - 1), int64 per group.

    One pass: each (group, value) combination is one int64 key, marked in a bitmap when there are few
    combinations (at most BITMAP_MAX), else deduplicated by hashing. Why: pandas' groupby nunique sorts
    each group's values, seconds at millions of rows.
    """
    known = values >= 0
    if not known.all():
        groups, values = groups[known], values[known]
    width = int(values.max()) + 1 if len(values) else 1
    keys = groups.astype(np.int64) * width + values
    if n_groups * width <= BITMAP_MAX:
        seen = np.zeros(n_groups * width, dtype=bool)
        seen[keys] = True
        return seen.reshape(n_groups, width).sum(axis=1, dtype=np.int64)
    return np.bincount(pd.unique(keys) // width, minlength=n_groups).astype(np.int64)


def _per_value(values: pd.Series, compute: Callable[[pd.Series], pd.Series]) -> pd.Series:
    """`compute` (str Series -> str Series of the same length) run once over the distinct values only
    (addresses and domains repeat a lot), spread back to every row as a categorical with its categories
    sorted, so that grouping by it orders groups as grouping the text would. Missing values are
    computed as ""."""
    codes, uniques = text_codes(values)
    if (missing := codes < 0).any():
        uniques = uniques.append(pd.Index([""], dtype="str"))
        codes = np.where(missing, len(uniques) - 1, codes.astype(np.int64))
    out_codes, categories = pd.factorize(compute(pd.Series(uniques, dtype="str")), sort=True)
    return pd.Series(pd.Categorical.from_codes(out_codes.astype(np.int32)[codes], categories),
                     index=values.index)


def _by_unique(values: pd.Series, func: Callable[[str], str]) -> pd.Series:
    """Apply a per-value Python function once per distinct value."""
    return _per_value(values, lambda uniques: pd.Series([func(u) for u in uniques], dtype="str"))


def registrable(domains: pd.Series) -> pd.Series:
    """Registrable domain (public suffix list) of lower-cased domains; '' (null sender) becomes '<>'.
    Categorical (sorted categories, see _per_value)."""
    return _by_unique(domains, _registrable_one)


def network(ips: pd.Series) -> pd.Series:
    """The /24 (IPv4) or /64 (IPv6) network of each address, as CIDR text (categorical, see _per_value).

    Addresses are in ipaddress compressed form (frames convention), so an IPv4 /24 is a text edit done
    in one vectorized pass over the distinct addresses (a host has many tuples); IPv6 (and anything
    odd) goes through ipaddress once per distinct value.
    """
    return _per_value(ips, _networks)


def _networks(text: pd.Series) -> pd.Series:
    v4 = text.str.fullmatch(r"\d{1,3}\.\d{1,3}\.\d{1,3}\.\d{1,3}")
    out = text.str.replace(r"\.\d{1,3}$", ".0/24", regex=True)
    if v4.all():
        return out
    odd = text.loc[~v4]  # distinct values already: ipaddress once each
    return out.where(v4, pd.Series([_net_one(u) for u in odd], index=odd.index, dtype="str"))


def rows_in(frame: pd.DataFrame, column: str, period: Period) -> pd.DataFrame:
    """The rows of `frame` whose time `column` is in the period. Logs and the ledger's frame are ordered
    by time and hold more than the period (rotated logs, the period before for week-over-week), so the
    period's rows are usually one run: then a slice that shares the columns (copy-on-write), not a copy
    of every column of millions of rows."""
    inside = period.contains(frame[column]).to_numpy(bool)
    rows = np.flatnonzero(inside)
    if len(rows) and rows[-1] - rows[0] + 1 == len(rows):
        return frame.iloc[rows[0]:rows[-1] + 1]
    return frame.loc[inside]


def classify(tuples: pd.DataFrame, period: Period, grey_expiry_s: int) -> pd.DataFrame:
    """The greylisted tuples of `period` (first in [start, end)) with CLASSIFIED_COLUMNS added.

    status is categorical (categories STATUSES, in that order); delay_s = pass - first in seconds
    (float) for promoted tuples, NaN otherwise; domain = registrable sender domain and net = /24 or /64
    of ip, both categorical with sorted categories. Categorical, because a week has millions of tuples
    and a handful of statuses, hundreds of domains and thousands of networks: a code per row instead of
    a string keeps the frame small and lets every table group by codes. Row order is kept; the index is
    reset. When the period's tuples are one run of rows (see rows_in) the columns are shared with
    `tuples`, not copied (copy-on-write keeps `tuples` intact).
    """
    out = rows_in(tuples, "first", period).reset_index(drop=True)
    settle_from = period.end - pd.Timedelta(seconds=grey_expiry_s)
    promoted = out["outcome"].eq("promoted").fillna(False).to_numpy(bool)
    status = np.select([promoted, out["outcome"].eq("trapped").fillna(False).to_numpy(bool),
                        (out["first"] > settle_from).to_numpy(bool)],
                       [STATUSES.index(s) for s in ("promoted", "trapped", "pending")],
                       STATUSES.index("abandoned")).astype(np.int8)
    out["status"] = pd.Categorical.from_codes(status, STATUSES)
    delay = np.full(len(out), np.nan)  # computed for the promoted few only: no column-sized temporaries
    delay[promoted] = (out["pass"][promoted] - out["first"][promoted]).dt.total_seconds().to_numpy(float)
    out["delay_s"] = delay
    out["domain"] = registrable(out["sender_domain"])
    out["net"] = network(out["ip"])
    return out


def top_helos(classified: pd.DataFrame, key: str, keys: pd.Series, n: int = HELO_TOP) -> pd.Series:
    """For each value of `keys` (a column `key` of classified: net, domain), the `n` HELO names its tuples
    used most (most tuples first, then by name), joined by ", "; "" where it has no tuple. HELO is what
    the sending host calls itself: evidence for a reader, and hostile text that renderers must escape."""
    rows = classified.loc[classified[key].isin(keys.unique()), [key, "helo"]]
    counts = rows.groupby([key, "helo"], observed=True).size().rename("tuples").reset_index()
    counts = counts.sort_values([key, "tuples", "helo"], ascending=[True, False, True], kind="stable")
    joined = counts.groupby(key, observed=True).head(n).groupby(key, observed=True)["helo"].agg(", ".join)
    return pd.Series(keys.map(joined).to_numpy(), index=keys.index, dtype="str").fillna("")


def delay_stats(delays: pd.Series) -> pd.Series:
    """count and p50/p75/p90/p95/p99/max of delays in seconds (linear interpolation), NaN when empty."""
    clean = delays.dropna()
    stats = {name: clean.quantile(q) if len(clean) else np.nan for name, q in PERCENTILES.items()}
    stats["max"] = clean.max() if len(clean) else np.nan
    return pd.Series({"count": float(len(clean)), **stats}, dtype="float64")


def status_counts(classified: pd.DataFrame) -> pd.Series:
    """Number of greylisted tuples per status, every status present (0 when none)."""
    return classified["status"].value_counts().reindex(STATUSES, fill_value=0).astype("int64")
