"""A hand-made week (ISO 2026-W46, UTC) small enough to check every report table by hand.

Tuples (ledger), one line each: ip, from, to, first, pass, outcome.
- example.org: 192.0.2.1 promoted after 20 min; 192.0.2.2 abandoned, then the same (from, to) pair
  retried from 198.51.100.3 and promoted after 40 min (pool rotation); 192.0.2.4 promoted after 50 min.
- spam.test: 203.0.113.9 abandoned (Tue), and a tuple first seen 1 h before the week's end (pending).
- trap.test: 203.0.113.7 trapped.
- null sender from 2001:db8::5 promoted after 45 min.
- previous week: one abandoned tuple (for week-over-week).
Each HELO is "mx." + the sender's domain (the null sender's is its address literal).
"""

from __future__ import annotations

import pandas as pd

from greylogd.analysis import frames
from greylogd.analysis.period import Period, parse_period

PERIOD: Period = parse_period("2026-W46", "UTC")
TUPLES = [
    ("192.0.2.1", "a@mail.example.org", "u@local.test", "2026-11-10 10:00", "2026-11-10 10:20", "promoted"),
    ("192.0.2.2", "b@example.org", "u@local.test", "2026-11-10 11:00", "2026-11-10 15:00", "expired"),
    ("198.51.100.3", "b@example.org", "u@local.test", "2026-11-10 11:30", "2026-11-10 12:10", "promoted"),
    ("192.0.2.4", "c@example.org", "w@local.test", "2026-11-13 08:00", "2026-11-13 08:50", "promoted"),
    ("203.0.113.9", "x@spam.test", "u@local.test", "2026-11-11 01:00", "2026-11-11 05:00", "expired"),
    ("203.0.113.9", "y@spam.test", "v@local.test", "2026-11-15 23:00", "2026-11-16 03:00", "pending"),
    ("2001:db8::5", "", "u@local.test", "2026-11-12 09:00", "2026-11-12 09:45", "promoted"),
    ("203.0.113.7", "t@trap.test", "trap@local.test", "2026-11-12 09:00", "2026-11-12 13:00", "trapped"),
    ("203.0.113.8", "z@spam.test", "u@local.test", "2026-11-04 09:00", "2026-11-04 13:00", "expired"),
]
# ts, category, src
CONNECTIONS = [
    ("2026-11-10 10:00:05", "greylisted", "192.0.2.1"),
    ("2026-11-10 10:25:00", "trusted", "192.0.2.1"),
    ("2026-11-11 10:25:00", "trusted", "192.0.2.1"),
    ("2026-11-10 12:15:00", "trusted", "198.51.100.3"),
    ("2026-11-11 01:00:00", "greylisted", "203.0.113.9"),
    ("2026-11-11 01:30:00", "greylisted", "203.0.113.10"),
    ("2026-11-12 09:00:00", "greylisted", "203.0.113.7"),
    ("2026-11-13 07:00:00", "fallthrough", "198.51.100.77"),
    ("2026-11-14 07:00:00", "outbound", "192.0.2.25"),
    ("2026-11-05 07:00:00", "greylisted", "203.0.113.8"),
]
# kind, ip, first, pass, expire, bcount, pcount (WHITE/TRAPPED rows of a snapshot taken at the week's end)
ENTRIES = [
    ("WHITE", "192.0.2.1", "2026-11-10 10:00", "2026-11-10 10:20", "2026-12-11 10:25", 2, 3),
    ("WHITE", "198.51.100.3", "2026-11-10 11:30", "2026-11-10 12:10", "2026-11-20 12:15", 2, 1),
    ("WHITE", "192.0.2.99", "2026-10-01 00:00", "2026-10-01 00:30", "2026-11-18 00:00", 2, 5),
    ("WHITE", "192.0.2.98", "2026-10-01 00:00", "2026-10-01 00:30", "2026-11-15 00:00", 2, 5),
    ("TRAPPED", "203.0.113.7", None, None, "2026-11-13 09:00", 1, -1),
]
# ts, kind, ip, duration_s, lists
EVENTS = [
    ("2026-11-11 01:06:00", "disconnected", "203.0.113.9", 360, "nixspam"),
    ("2026-11-11 01:40:00", "disconnected", "203.0.113.10", 600, "nixspam uatraps"),
    ("2026-11-10 10:00:09", "disconnected", "192.0.2.1", 4, ""),
    ("2026-11-12 09:00:01", "trapped", "203.0.113.7", None, None),
]


def _ts(values: object) -> pd.Series:
    return pd.to_datetime(pd.Series(values), utc=True)


def tuples() -> pd.DataFrame:
    raw = pd.DataFrame(TUPLES, columns=["ip", "from", "to", "first", "pass", "outcome"])
    raw["first"], raw["pass"] = _ts(raw["first"]), _ts(raw["pass"])
    raw["sender_domain"] = raw["from"].str.rpartition("@")[2]
    raw["helo"] = ("mx." + raw["sender_domain"]).where(raw["sender_domain"] != "", "[2001:db8::5]")
    raw["rcpt_domain"] = raw["to"].str.rpartition("@")[2]
    raw["last_seen"] = raw["pass"]
    raw["bcount"] = 2
    raw["outcome_ts"] = raw["pass"].where(raw["outcome"] != "pending")
    return frames.typed(raw, frames.TUPLES)


def connections() -> pd.DataFrame:
    raw = pd.DataFrame(CONNECTIONS, columns=["ts", "category", "src"])
    raw["ts"] = _ts(raw["ts"])
    prefixes = {v: k for k, v in frames.CATEGORIES.items()}
    raw["prefix"] = raw["category"].map(prefixes).fillna("")
    raw = raw.assign(host="gw", dst="192.0.2.25", spt=40000, dpt=25, proto="TCP", ip_version=4, in_if="eth0")
    return frames.typed(raw, frames.CONNECTIONS)


def entries() -> pd.DataFrame:
    raw = pd.DataFrame(ENTRIES, columns=["kind", "ip", "first", "pass", "expire", "bcount", "pcount"])
    for col in ("first", "pass", "expire"):
        raw[col] = _ts(raw[col])
    raw = raw.assign(helo="", **{"from": "", "to": ""}, greyd_host=None)
    return frames.typed(raw, frames.ENTRIES)


def greyd_events() -> pd.DataFrame:
    raw = pd.DataFrame(EVENTS, columns=["ts", "kind", "ip", "duration_s", "lists"])
    raw["ts"] = _ts(raw["ts"])
    raw = raw.assign(host="gw", program="greyd", pid=4079, helo=None, clients=None, black_clients=None,
                     message="", **{"from": None, "to": None})
    return frames.typed(raw, frames.GREYD_EVENTS)
