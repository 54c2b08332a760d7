"""Per-domain tables: delays, deferred domains, trusted domains, pool rotation, whitelist suggestions.

Every function takes the frame of `weekly_tuples.classify` (one row per greylisted tuple of the period,
with status, delay_s, domain, net) and returns a table with one row per registrable sender domain, sorted
as the report shows it (ties broken by domain name so the output is deterministic). Delays are seconds.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from greylogd.analysis.weekly_tuples import PERCENTILES


def _by_domain(classified: pd.DataFrame) -> pd.core.groupby.DataFrameGroupBy:
    return classified.groupby("domain", sort=True, observed=True)


def _delay_table(promoted: pd.DataFrame) -> pd.DataFrame:
    """Per domain (index): count, p50..p99 and max of delay_s, as delay_stats defines them."""
    grouped = promoted.groupby("domain", sort=True)["delay_s"]
    table = pd.DataFrame({"count": grouped.size()})
    for name, q in PERCENTILES.items():
        table[name] = grouped.quantile(q)
    table["max"] = grouped.max()
    return table.astype({"count": "int64"} | {c: "float64" for c in [*PERCENTILES, "max"]})


def domain_delays(classified: pd.DataFrame) -> pd.DataFrame:
    """Delay percentiles per domain over its promoted tuples: count, p50..p99, max (seconds)."""
    table = _delay_table(classified.loc[classified["status"].eq("promoted"), ["domain", "delay_s"]])
    return table.reset_index().sort_values(["count", "domain"], ascending=[False, True], kind="stable",
                                           ignore_index=True)


def deferred_domains(classified: pd.DataFrame) -> pd.DataFrame:
    """Domains with abandoned tuples (spec columns); never_retried = every greylisted tuple abandoned."""
    flags = classified.assign(abandoned=classified["status"].eq("abandoned"),
                              promoted=classified["status"].eq("promoted"))
    grouped = _by_domain(flags)
    table = grouped.agg(abandoned=("abandoned", "sum"), promoted=("promoted", "sum"),
                        tuples=("status", "size"), distinct_ips=("ip", "nunique"),
                        distinct_nets=("net", "nunique"), distinct_rcpts=("to", "nunique"),
                        first_seen=("first", "min"), last_seen=("last_seen", "max"))
    table = table.loc[table["abandoned"] > 0].astype({"abandoned": "int64", "promoted": "int64"})
    total = int(table["abandoned"].sum())
    table["share_abandoned"] = table["abandoned"] / total if total else 0.0
    table["never_retried"] = table["abandoned"] == table["tuples"]
    table = table.drop(columns="tuples").reset_index()
    return table.sort_values(["abandoned", "domain"], ascending=[False, True], kind="stable",
                             ignore_index=True)


def trusted_domains(classified: pd.DataFrame, white_ips: pd.Series | None,
                    trusted_conns: pd.DataFrame | None) -> pd.DataFrame:
    """Domains with promoted tuples: promoted, delay p50/p90/max (s), median bcount before pass, hosts now
    WHITE (NA without a DB snapshot), trusted connections from the domain's promoted IPs (NA without kernel
    logs). `trusted_conns` holds the period's connections of category trusted (column src)."""
    promoted = classified.loc[classified["status"].eq("promoted"),
                              ["domain", "status", "bcount", "delay_s", "ip"]]
    grouped = promoted.groupby("domain", sort=True)
    table = grouped.agg(promoted=("status", "size"), retries_median=("bcount", "median"))
    stats = _delay_table(promoted)
    for col in ["p50", "p90", "max"]:
        table[f"delay_{col}"] = stats[col]
    pairs = promoted[["domain", "ip"]].drop_duplicates()
    table["hosts_white"] = _count_matching(pairs, white_ips, lambda p, w: p["ip"].isin(w))
    conn_counts = None if trusted_conns is None else trusted_conns["src"].value_counts()
    table["trusted_connections"] = _count_matching(pairs, conn_counts, lambda p, c: p["ip"].map(c).fillna(0))
    table = table.reset_index().astype({"promoted": "int64"})
    return table.sort_values(["promoted", "domain"], ascending=[False, True], kind="stable",
                             ignore_index=True)


def _rotating(multi: pd.DataFrame) -> np.ndarray:
    """Rows of (from, to) pairs where an abandoned tuple is followed, later, by one from another IP.

    Linear, not a join of each abandoned tuple with its pair (a botnet's pair can have thousands of
    tuples): per pair, the latest first and its IP; a tuple from another IP is followed by that one;
    a tuple from that IP by the latest first of the pair's other IPs.
    """
    pair = multi.groupby(["from", "to"], sort=False, observed=True).ngroup().to_numpy()
    ip = pd.factorize(multi["ip"])[0]
    first = multi["first"].to_numpy("datetime64[us]").view("int64")
    last = pd.Series(first).groupby(pair).transform("max").to_numpy()
    ip_last = pd.Series(np.where(first == last, ip, -1)).groupby(pair).transform("max").to_numpy()
    other = ip != ip_last
    last_other = pd.Series(np.where(other, first, np.iinfo(np.int64).min)).groupby(pair).transform("max")
    followed = np.where(other, last > first, last_other.to_numpy() > first)
    hit = multi["status"].eq("abandoned").to_numpy() & followed
    return pd.Series(hit).groupby(pair).transform("any").to_numpy()


def _count_matching(pairs: pd.DataFrame, other: object, measure: object) -> pd.Series:
    """Sum `measure(pairs, other)` per domain; an all-NA column when the other source is missing."""
    if other is None:
        return pd.Series(pd.NA, index=pairs["domain"].unique(), dtype="Int64")
    values = pd.Series(measure(pairs, other), index=pairs.index)  # type: ignore[operator]
    return values.groupby(pairs["domain"]).sum().astype("Int64")


def pool_rotation(classified: pd.DataFrame) -> pd.DataFrame:
    """Domains whose (from, to) pairs were abandoned from one IP and later seen from another IP.

    Columns: domain, rotated_pairs (distinct such pairs), ips and nets (distinct, over those pairs'
    tuples), promoted_after (rotated pairs that were eventually promoted from some IP).
    """
    key = ["from", "to"]
    spread = classified.groupby(key, sort=False)["ip"].transform("nunique")
    multi = classified.loc[spread > 1, ["domain", "from", "to", "ip", "net", "first", "status"]]
    rotated = multi.loc[_rotating(multi)]
    rotated = rotated.assign(promoted=rotated["status"].eq("promoted"))
    per_pair = rotated.groupby(["domain", *key], sort=False)["promoted"].any().reset_index()
    table = rotated.groupby("domain", sort=True).agg(ips=("ip", "nunique"), nets=("net", "nunique"))
    table["rotated_pairs"] = per_pair.groupby("domain").size()
    table["promoted_after"] = per_pair.groupby("domain")["promoted"].sum()
    table = table.reset_index()[["domain", "rotated_pairs", "ips", "nets", "promoted_after"]]
    table = table.astype({c: "int64" for c in ["rotated_pairs", "ips", "nets", "promoted_after"]})
    return table.sort_values(["rotated_pairs", "domain"], ascending=[False, True], kind="stable",
                             ignore_index=True)
