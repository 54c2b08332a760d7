"""The ground truth of every GREY tuple, recorded as greyd's reader and scanner act on it.

A tuple is identified like the ledger identifies it: (ip, helo, from, to) plus its `first`; a key re-created
after expiry is a new tuple. Outcomes use the ledger's vocabulary (spec/report.md frame `tuples`):
promoted (the scan's UPDATE OR REPLACE took it), expired (the scan's DELETE took it), trapped (it left the
database while a TRAPPED row existed for its IP at some moment of its life: the ledger's rule, which takes
precedence over how greyd removed it), pending (still in the database at the end). Times are Unix seconds.

Columns are kept as compact arrays (a week of 10M connections has about 7M tuples): ip and helo as the
host id, from as the message id, to as a reference to the recipient string.
"""

from __future__ import annotations

from array import array
from collections import defaultdict
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

Key = tuple[str, str, str, str]
OUTCOMES = ("pending", "expired", "promoted", "trapped")
_NONE = -1  # pass / outcome_ts not known (yet)


def _col(code: str) -> array:
    return array(code)


@dataclass(slots=True)
class TupleBook:
    """Append-only tuple columns plus an index of the tuples that are in greyd's database now."""

    host: array = field(default_factory=lambda: _col("i"))
    msg: array = field(default_factory=lambda: _col("i"))
    rcpt: list[str] = field(default_factory=list)
    first: array = field(default_factory=lambda: _col("q"))
    pass_: array = field(default_factory=lambda: _col("q"))
    bcount: array = field(default_factory=lambda: _col("i"))
    attempts: array = field(default_factory=lambda: _col("i"))
    outcome: array = field(default_factory=lambda: _col("b"))
    outcome_ts: array = field(default_factory=lambda: _col("q"))
    trapped: array = field(default_factory=lambda: _col("b"))
    live: dict[Key, int] = field(default_factory=dict)
    live_by_ip: dict[str, set[int]] = field(default_factory=lambda: defaultdict(set))

    def opened(self, key: Key, host: int, msg: int, now: int, ip_trapped: bool) -> None:
        """greyd's reader created the tuple (bcount 1, pass = expire) for host id `host`, message `msg`."""
        tid = len(self.rcpt)
        self.host.append(host)
        self.msg.append(msg)
        self.rcpt.append(key[3])
        self.first.append(now)
        self.pass_.append(_NONE)
        self.bcount.append(1)
        self.attempts.append(1)
        self.outcome.append(0)
        self.outcome_ts.append(_NONE)
        self.trapped.append(ip_trapped)
        self.live[key] = tid
        self.live_by_ip[key[0]].add(tid)

    def retried(self, key: Key) -> None:
        self.attempts[self.live[key]] += 1

    def ip_trapped(self, ip: str) -> None:
        """A TRAPPED row for `ip` exists from now on: every open tuple of it is marked."""
        for tid in self.live_by_ip.get(ip, ()):
            self.trapped[tid] = True

    def closed(self, key: Key, how: str, now: int, pass_: int, bcount: int) -> None:
        """The scan removed the tuple: how is 'promoted' or 'expired'."""
        tid = self.live.pop(key)
        self.live_by_ip[key[0]].discard(tid)
        self.pass_[tid], self.bcount[tid], self.outcome_ts[tid] = pass_, bcount, now
        self.outcome[tid] = OUTCOMES.index("trapped" if self.trapped[tid] else how)

    def still_open(self, key: Key, pass_: int, bcount: int) -> None:
        """Final state of a tuple that is still in the database at the end."""
        tid = self.live[key]
        self.pass_[tid], self.bcount[tid] = pass_, bcount

    def frame(self, ips: np.ndarray, helos: np.ndarray, senders: np.ndarray) -> pd.DataFrame:
        """One row per tuple (columns ip, helo, from, to, msg, first, pass, bcount, attempts, outcome,
        outcome_ts, trapped); ips/helos are indexed by host id, senders by message id."""
        host, msg = np.frombuffer(self.host, dtype=np.int32), np.frombuffer(self.msg, dtype=np.int32)
        frame = pd.DataFrame({
            "ip": ips[host], "helo": helos[host], "from": senders[msg],
            "to": np.asarray(self.rcpt, dtype=object), "msg": msg.astype(np.int64),
            "first": np.frombuffer(self.first, dtype=np.int64),
            "pass": _optional(self.pass_),
            "bcount": np.frombuffer(self.bcount, dtype=np.int32).astype(np.int64),
            "attempts": np.frombuffer(self.attempts, dtype=np.int32).astype(np.int64),
            "outcome": np.asarray(OUTCOMES, dtype=object)[np.frombuffer(self.outcome, dtype=np.int8)],
            "outcome_ts": _optional(self.outcome_ts),
            "trapped": np.frombuffer(self.trapped, dtype=np.int8).astype(bool)})
        return frame


def _optional(column: array) -> pd.Series:
    values = np.frombuffer(column, dtype=np.int64)
    return pd.Series(values, dtype="Int64").mask(values == _NONE)
