"""The ground truth of a simulated week: what the report should find, from what greyd actually did.

Three files:
- truth-tuples.parquet, one row per GREY tuple: ip, helo, from, to, first, pass, bcount (greyd's columns
  at the end of its life), attempts (reader writes seen), outcome in the ledger's vocabulary (promoted,
  expired, trapped, pending), outcome_ts (the scan that removed it), trapped (a TRAPPED row for its IP
  existed while it was open), sender_domain, behaviour (of the message that created it), status in the
  report's vocabulary (promoted, abandoned, trapped, pending: spec/report.md "Definitions"; a tuple first
  seen less than grey_expiry before the end and not promoted is pending) and delay_s = pass - first of
  promoted tuples. Times are Unix seconds (UTC).
- truth-senders.parquet, one row per envelope sender: behaviour, messages, connections, delivered
  messages, and the sending hosts (comma-separated, compressed form).
- truth.json: the period, the parameters, connection counts per kernel prefix, one record per sender
  domain (counts by status, delay percentiles, distinct IPs, pool rotation) and the spam networks.
"""

from __future__ import annotations

import ipaddress
import json
from dataclasses import asdict
from pathlib import Path

import numpy as np
import pandas as pd

from greylogd.demo.hosts import Hosts
from greylogd.demo.params import GreyParams
from greylogd.demo.plan import Plan
from greylogd.demo.simulate import BLACK, GREY, WHITED, Outcome


def tuple_truth(out: Outcome, plan: Plan, hosts: Hosts, end: int, params: GreyParams) -> pd.DataFrame:
    """The tuple table; delay_s = pass - first for promoted tuples, <NA> otherwise."""
    frame = out.book.frame(np.asarray(hosts.ip, dtype=object), np.asarray(hosts.helo, dtype=object),
                           plan.mail_from)
    frame["sender_domain"] = frame["from"].str.extract(r"@([^@]*)$", expand=False).fillna("")
    frame["behaviour"] = pd.array(plan.behaviour[frame["msg"].to_numpy()], dtype="str")
    status = frame["outcome"].replace({"expired": "abandoned"})
    late = (frame["outcome"] == "pending") & (frame["first"] <= end - params.grey_expiry)
    frame["status"] = status.mask(late, "abandoned")
    frame["delay_s"] = (frame["pass"] - frame["first"]).where(frame["outcome"] == "promoted")
    return frame.drop(columns=["msg"])


def sender_truth(out: Outcome, plan: Plan, hosts: Hosts) -> pd.DataFrame:
    """One row per (envelope sender, behaviour): bots forge the same junk senders, so a sender address
    can appear under several bot behaviours. Grouped once per message, then counted per attempt with
    integer codes (strings per attempt would cost gigabytes at 10M connections)."""
    msgs = pd.DataFrame({"from": plan.mail_from, "behaviour": plan.behaviour})
    group = msgs.groupby(["from", "behaviour"], sort=True)
    code, table = group.ngroup().to_numpy(), group.size().rename("messages").to_frame()
    made = out.route != 0
    att = code[plan.msg[made]]
    table["connections"] = np.bincount(att, minlength=len(table)).astype(np.int64)
    whited = out.route[made] == WHITED
    table["delivered"] = np.bincount(att, weights=whited, minlength=len(table)).astype(np.int64)
    table["hosts"] = _host_lists(att, plan.host[made], len(table), hosts)
    return table.reset_index()


def _host_lists(code: np.ndarray, host: np.ndarray, groups: int, hosts: Hosts) -> np.ndarray:
    """Comma-joined addresses of the hosts of each group code, in host id order ("" for none)."""
    pairs = np.unique(code.astype(np.int64) * len(hosts) + host)  # sorted by code, then host id
    codes, ips = pairs // len(hosts), np.asarray(hosts.ip, dtype=object)[pairs % len(hosts)]
    out = np.full(groups, "", dtype=object)
    if len(pairs):
        cuts = np.flatnonzero(np.diff(codes)) + 1
        out[codes[np.r_[0, cuts]]] = [",".join(part) for part in np.split(ips, cuts)]
    return out


def pool_rotation(tuples: pd.DataFrame) -> pd.Series:
    """Sender domains with a (from, to) pair abandoned from one IP and later seen from another IP."""
    pair = tuples.groupby(["from", "to"], sort=False).ngroup().to_numpy()
    tuples = tuples[np.bincount(pair)[pair] > 1]  # a pair seen once cannot rotate: keeps the merge small
    left = tuples[tuples["status"] == "abandoned"][["from", "to", "ip", "first", "sender_domain"]]
    pairs = left.merge(tuples[["from", "to", "ip", "first"]], on=["from", "to"], suffixes=("", "_b"))
    hit = pairs[(pairs["ip_b"] != pairs["ip"]) & (pairs["first_b"] > pairs["first"])]
    return pd.Series(sorted(set(hit["sender_domain"])), dtype=object)


def domain_truth(tuples: pd.DataFrame) -> list[dict[str, object]]:
    """Per sender domain: counts by status, delay p50/p90/max (s), distinct IPs, behaviours, rotation."""
    by = tuples.groupby("sender_domain", sort=True)
    counts = pd.crosstab(tuples["sender_domain"], tuples["status"])
    delays = tuples.dropna(subset=["delay_s"]).astype({"delay_s": float}).groupby("sender_domain")["delay_s"]
    table = pd.DataFrame({
        "behaviours": by["behaviour"].agg(lambda s: sorted(set(s))),
        **{s: counts.get(s, 0) for s in ("promoted", "abandoned", "trapped", "pending")},
        "delay_p50_s": delays.quantile(0.5), "delay_p90_s": delays.quantile(0.9), "delay_max_s": delays.max(),
        "distinct_ips": by["ip"].nunique()})
    table["pool_rotation"] = table.index.isin(set(pool_rotation(tuples)))
    table = table.astype(object).where(table.notna(), None)
    return [{"domain": domain, **row} for domain, row in table.to_dict("index").items()]


def _networks(ips: pd.Series) -> pd.Series:
    """/24 of IPv4 (string arithmetic, vectorised), /64 of IPv6 (ipaddress, once per address)."""
    v6 = ips.str.contains(":", regex=False)
    out = ips.str.rsplit(".", n=1).str[0] + ".0/24"
    uniq = ips[v6].unique()
    nets = {ip: str(ipaddress.ip_network(f"{ip}/64", strict=False)) for ip in uniq}
    return out.mask(v6, ips.map(nets))


def spam_networks(out: Outcome, plan: Plan, hosts: Hosts, tuples: pd.DataFrame) -> list[dict[str, object]]:
    """/24 (/64) networks with greylisted connections and no promoted tuple, most connections first."""
    dnat = (out.route == GREY) | (out.route == BLACK)
    per_host = np.bincount(plan.host[dnat], minlength=len(hosts))  # counted per host, then per network
    host_net = _networks(pd.Series(hosts.ip, dtype=str)).to_numpy(dtype=object)  # once per host
    promoted = tuples.loc[tuples["status"] == "promoted", "ip"].map(hosts.index)
    good = set(host_net[promoted.to_numpy(dtype=np.int64)])
    counts = pd.Series(per_host).groupby(host_net).sum()
    counts = counts[(counts > 0) & ~counts.index.isin(good)]
    counts = counts.sort_index().sort_values(ascending=False, kind="stable")
    return [{"network": net, "connections": int(n)} for net, n in counts.items()]


def write_truth(paths: dict[str, Path], summary: dict[str, object], tuples: pd.DataFrame,
                domains: list[dict[str, object]], spam: list[dict[str, object]], params: GreyParams) -> None:
    """truth.json (summary, params, domains, spam networks) and the tuples' Parquet table (the senders'
    table is written by the caller, before the tuples' exists)."""
    tuples.to_parquet(paths["tuples"], index=False)
    doc = {**summary, "params": asdict(params), "domains": domains, "spam_networks": spam}
    paths["json"].write_text(json.dumps(doc, indent=1, sort_keys=False) + "\n", encoding="utf-8")
