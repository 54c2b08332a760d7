"""The ground truth of every GREY tuple, recorded as greyd's reader and scanner act on it.

A tuple is identified like the ledger identifies it: (ip, helo, from, to) plus its `first`; a key re-created
after expiry is a new tuple. Outcomes use the ledger's vocabulary (spec/report.md frame `tuples`):
promoted (the scan's UPDATE OR REPLACE took it), expired (the scan's DELETE took it), trapped (it left the
database while a TRAPPED row existed for its IP at some moment of its life: the ledger's rule, which takes
precedence over how greyd removed it), pending (still in the database at the end). Times are Unix seconds.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field

import pandas as pd

Key = tuple[str, str, str, str]
COLUMNS = ("ip", "helo", "from", "to", "msg", "first", "pass", "bcount", "attempts", "outcome",
           "outcome_ts", "trapped")


@dataclass(slots=True)
class TupleBook:
    """Append-only tuple records plus an index of the tuples that are in greyd's database now."""

    rows: list[list[object]] = field(default_factory=list)
    live: dict[Key, int] = field(default_factory=dict)
    live_by_ip: dict[str, set[int]] = field(default_factory=lambda: defaultdict(set))

    def opened(self, key: Key, msg: int, now: int, ip_trapped: bool) -> None:
        """greyd's reader created the tuple (bcount 1, pass = expire)."""
        tid = len(self.rows)
        self.rows.append([*key, msg, now, None, 1, 1, "pending", None, ip_trapped])
        self.live[key] = tid
        self.live_by_ip[key[0]].add(tid)

    def retried(self, key: Key) -> None:
        self.rows[self.live[key]][8] += 1  # type: ignore[operator]

    def ip_trapped(self, ip: str) -> None:
        """A TRAPPED row for `ip` exists from now on: every open tuple of it is marked."""
        for tid in self.live_by_ip.get(ip, ()):
            self.rows[tid][11] = True

    def closed(self, key: Key, how: str, now: int, pass_: int, bcount: int) -> None:
        """The scan removed the tuple: how is 'promoted' or 'expired'."""
        tid = self.live.pop(key)
        self.live_by_ip[key[0]].discard(tid)
        row = self.rows[tid]
        row[6], row[7], row[10] = pass_, bcount, now
        row[9] = "trapped" if row[11] else how

    def still_open(self, key: Key, pass_: int, bcount: int) -> None:
        """Final state of a tuple that is still in the database at the end."""
        row = self.rows[self.live[key]]
        row[6], row[7] = pass_, bcount

    def frame(self) -> pd.DataFrame:
        """One row per tuple; msg is the index of the message that created it."""
        frame = pd.DataFrame(self.rows, columns=list(COLUMNS))
        for name in ("pass", "outcome_ts"):
            frame[name] = frame[name].astype("Int64")
        return frame.astype({"msg": "int64", "first": "int64", "bcount": "int64", "attempts": "int64",
                             "trapped": "bool"})
