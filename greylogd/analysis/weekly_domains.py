"""Per-domain tables: delays, deferred domains, trusted domains, pool rotation, whitelist suggestions.

Every function takes the frame of `weekly_tuples.classify` (one row per greylisted tuple of the period,
with status, delay_s, domain, net) and returns a table with one row per registrable sender domain, sorted
as the report shows it (ties broken by domain name so the output is deterministic). Delays are seconds.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from greylogd.analysis.weekly_tuples import PERCENTILES, distinct_per_group, text_codes

INT64_MIN = np.iinfo(np.int64).min
DENSE_PAIRS = 1 << 26  # pool rotation: senders x recipients numbered without hashing (<= 5 bytes each)


def _ranked(table: pd.DataFrame, by: str) -> pd.DataFrame:
    """A per-domain table (domain as index or column) as the report shows it: by `by` descending, then
    domain; domain as str (classify makes it categorical)."""
    table = table.reset_index() if "domain" not in table.columns else table
    return table.astype({"domain": "str"}).sort_values([by, "domain"], ascending=[False, True],
                                                       kind="stable", ignore_index=True)


def _delay_table(promoted: pd.DataFrame) -> pd.DataFrame:
    """Per domain (index): count, p50..p99 and max of delay_s, as delay_stats defines them."""
    grouped = promoted.groupby("domain", sort=True, observed=True)["delay_s"]
    table = pd.DataFrame({"count": grouped.size()})
    for name, q in PERCENTILES.items():
        table[name] = grouped.quantile(q)
    table["max"] = grouped.max()
    return table.astype({"count": "int64"} | {c: "float64" for c in [*PERCENTILES, "max"]})


def domain_delays(classified: pd.DataFrame) -> pd.DataFrame:
    """Delay percentiles per domain over its promoted tuples: count, p50..p99, max (seconds)."""
    return _ranked(_delay_table(classified.loc[classified["status"].eq("promoted"), ["domain", "delay_s"]]),
                   "count")


def _count(groups: np.ndarray, mask: pd.Series, n: int) -> np.ndarray:
    """Rows per group where `mask` holds (int64)."""
    return np.bincount(groups, weights=mask.to_numpy(bool), minlength=n).astype(np.int64)


def _extreme(times: pd.Series, groups: np.ndarray, names: pd.Index,
             how: str) -> pd.api.extensions.ExtensionArray:
    """min or max of `times` per group (codes into names), in the dtype of `times`, NaT for a group
    without a time: grouped by a categorical, so by the codes, without hashing the rows again."""
    return times.groupby(pd.Categorical.from_codes(groups, names), observed=False).agg(how).array


def deferred_domains(classified: pd.DataFrame) -> pd.DataFrame:
    """Domains with abandoned tuples (spec columns); never_retried = every greylisted tuple abandoned.

    Counted over integer codes (one per row for domain, ip, net, to): a week has millions of tuples."""
    domain, names = text_codes(classified["domain"])  # never missing: classify names the null sender
    n = len(names)
    table = pd.DataFrame({
        "domain": names, "abandoned": _count(domain, classified["status"].eq("abandoned"), n),
        "promoted": _count(domain, classified["status"].eq("promoted"), n),
        **{name: distinct_per_group(domain, text_codes(classified[col])[0], n)
           for name, col in [("distinct_ips", "ip"), ("distinct_nets", "net"), ("distinct_rcpts", "to")]},
        "first_seen": _extreme(classified["first"], domain, names, "min"),
        "last_seen": _extreme(classified["last_seen"], domain, names, "max"),
        "tuples": np.bincount(domain, minlength=n)})
    table = table.loc[table["abandoned"] > 0]
    total = int(table["abandoned"].sum())
    table["share_abandoned"] = table["abandoned"] / total if total else 0.0
    table["never_retried"] = table["abandoned"] == table["tuples"]
    return _ranked(table.drop(columns="tuples"), "abandoned")


def trusted_domains(classified: pd.DataFrame, white_ips: pd.Series | None,
                    trusted_conns: pd.DataFrame | None) -> pd.DataFrame:
    """Domains with promoted tuples: promoted, delay p50/p90/max (s), median bcount before pass, hosts now
    WHITE (NA without a DB snapshot), trusted connections from the domain's promoted IPs (NA without kernel
    logs). `trusted_conns` holds the period's connections of category trusted (column src)."""
    promoted = classified.loc[classified["status"].eq("promoted"),
                              ["domain", "status", "bcount", "delay_s", "ip"]]
    grouped = promoted.groupby("domain", sort=True, observed=True)
    table = grouped.agg(promoted=("status", "size"), retries_median=("bcount", "median"))
    stats = _delay_table(promoted)
    for col in ["p50", "p90", "max"]:
        table[f"delay_{col}"] = stats[col]
    pairs = promoted[["domain", "ip"]].drop_duplicates()
    table["hosts_white"] = _count_matching(pairs, white_ips, lambda p, w: p["ip"].isin(w))
    conn_counts = None if trusted_conns is None else trusted_conns["src"].value_counts()
    table["trusted_connections"] = _count_matching(pairs, conn_counts, lambda p, c: p["ip"].map(c).fillna(0))
    return _ranked(table.astype({"promoted": "int64"}), "promoted")


def _group_max(groups: np.ndarray, values: np.ndarray, n: int) -> np.ndarray:
    """Largest int64 value per group (codes 0 .. n - 1); INT64_MIN for an empty group."""
    out = np.full(n, INT64_MIN, dtype=np.int64)
    np.maximum.at(out, groups, values)
    return out


def _rotating(pair: np.ndarray, ip: np.ndarray, first: np.ndarray, abandoned: np.ndarray) -> np.ndarray:
    """Per row: whether its (from, to) pair (dense codes) has an abandoned tuple followed, later, by one
    from another IP (`first` int64, `ip` codes).

    Linear, not a join of each abandoned tuple with its pair (a botnet's pair can have thousands of
    tuples): per pair, the latest first and its IP; a tuple from another IP is followed by that one;
    a tuple from that IP by the latest first of the pair's other IPs. When IPs tie for the latest first,
    which one is taken does not matter: a tuple at that time is followed by none, an earlier one by both.
    """
    n = int(pair.max()) + 1 if len(pair) else 0
    last = _group_max(pair, first, n)[pair]
    ip_last = _group_max(pair, np.where(first == last, ip, -1), n)[pair]
    other = ip != ip_last
    last_other = _group_max(pair, np.where(other, first, INT64_MIN), n)[pair]
    hit = abandoned & np.where(other, last > first, last_other > first)
    return np.bincount(pair, weights=hit, minlength=n)[pair] > 0


def _several(groups: np.ndarray, values: np.ndarray, n: int) -> np.ndarray:
    """Per group (codes 0 .. n - 1): whether its rows hold more than one distinct value (codes >= 0).

    No hashing, no sort: each group keeps the value of one of its rows (whichever write lands last, in
    the smallest integer type that holds the codes), and a group has several values exactly when some
    row's value differs from the kept one."""
    kept = np.empty(n, dtype=np.min_scalar_type(int(values.max(initial=0))))
    kept[groups] = values
    several = np.zeros(n, dtype=bool)
    several[groups[kept[groups] != values]] = True
    return several


def _pair_numbers(sender: np.ndarray, receiver: np.ndarray) -> np.ndarray:
    """A number per row for its (sender, recipient) codes (both >= 0): sender x recipients + recipient,
    int32, while that stays under DENSE_PAIRS (no hashing, 4 bytes a row); beyond, such int64 numbers
    hashed into dense ones."""
    width = int(receiver.max(initial=0)) + 1
    if (int(sender.max(initial=0)) + 1) * width <= DENSE_PAIRS:
        return sender.astype(np.int32) * np.int32(width) + receiver
    return pd.factorize(sender.astype(np.int64) * width + receiver)[0]


def _pairs_of_many_ips(classified: pd.DataFrame) -> tuple[np.ndarray, np.ndarray]:
    """(rows, pair codes) of the tuples whose (from, to) pair was seen from more than one IP; pair codes
    are dense over those rows. A tuple missing ip, from or to belongs to no pair."""
    sender, receiver, ip = (text_codes(classified[c])[0] for c in ("from", "to", "ip"))
    known = (sender >= 0) & (receiver >= 0) & (ip >= 0)
    if not known.all():
        sender, receiver, ip = sender[known], receiver[known], ip[known]
    pair = _pair_numbers(sender, receiver)
    del sender, receiver  # a row's sender code is as large as its pair number: not both kept from here
    many = _several(pair, ip, int(pair.max(initial=-1)) + 1)[pair]
    return np.flatnonzero(known)[many], pd.factorize(pair[many])[0]


def _count_matching(pairs: pd.DataFrame, other: object, measure: object) -> pd.Series:
    """Sum `measure(pairs, other)` per domain; an all-NA column when the other source is missing."""
    if other is None:
        return pd.Series(pd.NA, index=pairs["domain"].unique(), dtype="Int64")
    values = pd.Series(measure(pairs, other), index=pairs.index)  # type: ignore[operator]
    return values.groupby(pairs["domain"], observed=True).sum().astype("Int64")


def pool_rotation(classified: pd.DataFrame) -> pd.DataFrame:
    """Domains whose (from, to) pairs were abandoned from one IP and later seen from another IP.

    Columns: domain, rotated_pairs (distinct such pairs), ips and nets (distinct, over those pairs'
    tuples), promoted_after (rotated pairs that were eventually promoted from some IP). Counted over
    codes, like deferred_domains: a busy week has millions of tuples in pairs seen from several IPs.
    """
    rows, pair = _pairs_of_many_ips(classified)
    multi = classified[["domain", "ip", "net", "first", "status"]].iloc[rows]
    ip = text_codes(multi["ip"])[0]
    hit = _rotating(pair, ip, multi["first"].to_numpy("datetime64[us]").view("int64"),
                    multi["status"].eq("abandoned").to_numpy(bool))
    domain, names = text_codes(multi["domain"])
    domain, pair, n = domain[hit], pair[hit], len(names)
    promoted = multi["status"].eq("promoted").to_numpy(bool)[hit]
    table = pd.DataFrame({"domain": names, "rotated_pairs": distinct_per_group(domain, pair, n),
                          "ips": distinct_per_group(domain, ip[hit], n),
                          "nets": distinct_per_group(domain, text_codes(multi["net"])[0][hit], n),
                          "promoted_after": distinct_per_group(domain[promoted], pair[promoted], n)})
    return _ranked(table.loc[table["rotated_pairs"] > 0], "rotated_pairs")
