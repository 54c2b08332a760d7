"""Host and network tables: spam-source networks, trapped hosts and the whitelist's health.

Inputs are the period's slices: `greylisted`/`trusted` are connections (column src) of that category in
the period, `classified` is weekly_tuples.classify output, `entries` a greyd DB snapshot, `events` the
greyd_events frame restricted to the period. Any of them may be None when its source was not given; the
functions then leave the dependent column NA (Int64) rather than guess.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from greylogd.analysis import frames
from greylogd.analysis.period import Period
from greylogd.analysis.weekly_tuples import distinct_per_group, network, text_codes, top_helos

SPAM_COLUMNS = ["net", "connections", "hosts", "trapped_hosts", "tarpit_s", "helos"]
TRAPPED_COLUMNS = ["ip", "net", "trapped_tuples", "trap_events", "db_expire"]
EXPIRING_COLUMNS = ["ip", "first", "expire", "pcount"]


def trapped_ips(classified: pd.DataFrame | None, entries: pd.DataFrame | None,
                events: pd.DataFrame | None) -> pd.Series:
    """Sorted distinct IPs trapped by any source: a trapped tuple, a TRAPPED row, a `trapped` log event."""
    parts = [pd.Series([], dtype="str")]
    if classified is not None:
        parts.append(classified.loc[classified["status"].eq("trapped"), "ip"])
    if entries is not None:
        parts.append(entries.loc[entries["kind"].eq("TRAPPED"), "ip"])
    if events is not None:
        parts.append(events.loc[events["kind"].eq("trapped"), "ip"])
    ips = pd.concat(parts, ignore_index=True).dropna().astype("str")
    return pd.Series(sorted(set(ips)), dtype="str")


def tarpit_seconds(events: pd.DataFrame) -> pd.Series:
    """Seconds per network spent in greyd's tarpit: `disconnected` events that carried blacklist names."""
    listed = events["kind"].eq("disconnected") & events["lists"].notna() & events["lists"].ne("")
    hits = events.loc[listed]
    return hits["duration_s"].groupby(network(hits["ip"]), observed=True).sum()


def _connections_per_net(connections: pd.DataFrame) -> pd.DataFrame:
    """Per network with connections (index `net`, sorted): connections and hosts (distinct src),
    counted over codes: millions of connections come from thousands of hosts."""
    net, names = text_codes(network(connections["src"]))
    table = pd.DataFrame({"connections": np.bincount(net, minlength=len(names)),
                          "hosts": distinct_per_group(net, text_codes(connections["src"])[0], len(names))},
                         index=pd.Index(names, name="net"))
    return table.loc[table["connections"] > 0]


def spam_sources(greylisted: pd.DataFrame, classified: pd.DataFrame | None, trapped: pd.Series,
                 events: pd.DataFrame | None, top: int = 20) -> pd.DataFrame:
    """Networks with greylisted connections and no promoted tuple, by connections (descending), top N;
    helos: the HELO names the network's tuples used most (weekly_tuples.top_helos).

    Without the ledger (classified None) no network can be excluded and no HELO is known (NA).
    """
    table = _connections_per_net(greylisted)
    if classified is not None:
        passed = set(classified.loc[classified["status"].eq("promoted"), "net"])
        table = table.loc[~table.index.isin(passed)]
    trapped_nets = network(trapped).value_counts()
    table["trapped_hosts"] = table.index.map(trapped_nets).fillna(0).astype("int64")
    if events is None:
        table["tarpit_s"] = pd.Series(pd.NA, index=table.index, dtype="Float64")
    else:
        table["tarpit_s"] = table.index.map(tarpit_seconds(events)).fillna(0).astype("Float64")
    table = table.reset_index().astype({"net": "str", "connections": "int64", "hosts": "int64"})
    ranked = table.sort_values(["connections", "net"], ascending=[False, True], kind="stable")
    ranked = ranked.head(top).reset_index(drop=True)
    ranked["helos"] = (pd.Series(pd.NA, index=ranked.index, dtype="str") if classified is None
                       else top_helos(classified, "net", ranked["net"]))
    return ranked[SPAM_COLUMNS]


def trapped_hosts(trapped: pd.Series, classified: pd.DataFrame | None, entries: pd.DataFrame | None,
                  events: pd.DataFrame | None) -> pd.DataFrame:
    """One row per trapped IP: trapped tuples (ledger), trap log events, expiry of its TRAPPED row."""
    table = pd.DataFrame({"ip": trapped, "net": network(trapped).astype("str")})
    sources = [(classified, "trapped_tuples", lambda f: f.loc[f["status"].eq("trapped"), "ip"]),
               (events, "trap_events", lambda f: f.loc[f["kind"].eq("trapped"), "ip"])]
    for frame, column, pick in sources:
        counts = None if frame is None else pick(frame).value_counts()
        table[column] = (pd.Series(pd.NA, index=table.index, dtype="Int64") if counts is None
                         else table["ip"].map(counts).fillna(0).astype("Int64"))
    expire = pd.Series(pd.NaT, index=trapped, dtype=frames.TS_DTYPE)
    if entries is not None:
        rows = entries.loc[entries["kind"].eq("TRAPPED")].drop_duplicates("ip").set_index("ip")["expire"]
        expire = rows.reindex(trapped).astype(frames.TS_DTYPE)
    table["db_expire"] = expire.to_numpy()
    return table[TRAPPED_COLUMNS]


def whitelist_health(entries: pd.DataFrame, trusted: pd.DataFrame | None, period: Period,
                     horizon_days: int = 7) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(summary, expiring). summary rows (figure, value): white_at_end (WHITE rows first seen before the
    period's end and expiring after it), new_in_period, refreshed_in_period (WHITE hosts with a trusted
    connection in the period; NA without kernel logs), expiring_soon (expire in [end, end + horizon)).
    expiring lists those entries (EXPIRING_COLUMNS) by expiry."""
    white = entries.loc[entries["kind"].eq("WHITE")]
    alive = white.loc[(white["first"] < period.end) & (white["expire"] >= period.end)]
    soon = alive.loc[alive["expire"] < period.end + pd.Timedelta(days=horizon_days)]
    refreshed = pd.NA if trusted is None else int(white["ip"].isin(trusted["src"].unique()).sum())
    summary = pd.DataFrame({
        "figure": ["white_at_end", "new_in_period", "refreshed_in_period", "expiring_soon"],
        "value": pd.array([len(alive), int(period.contains(white["first"]).sum()), refreshed, len(soon)],
                          dtype="Int64")})
    expiring = soon.sort_values(["expire", "ip"], kind="stable")[EXPIRING_COLUMNS].reset_index(drop=True)
    return summary, expiring
