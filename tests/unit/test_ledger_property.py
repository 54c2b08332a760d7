"""Property: polled right after each of greyd's scans, the ledger's outcomes equal greyd's ground truth.

Random greyd activity (greylisted RCPTs and retries, singly or two recipients at once so that one scan
promotes two tuples of an IP, spamtrap hits; four client IPs; WHITE rows expiring after 300 s so that IPs
are promoted again) runs on the demo's
in-memory greyd database (greylogd.demo.greyddb: greyd's own statements, and a ScanResult saying which rows
each scan expired or promoted). The ledger only sees snapshots; the oracle sees the truth:
- promoted at the scan that promoted it, expired at its `expire`, both unless the IP was TRAPPED at a poll
  while the tuple lived or when it went, in which case trapped at the first such poll.
Operations fall between scans (offsets 5..55 s), so no expiry coincides with a poll within the ledger's
clock slack; with greyd's pass_time of 100 s and scans every 60 s every tuple is polled at least once.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from greylogd.demo.greyddb import GreydDB
from greylogd.demo.params import GreyParams
from greylogd.ledger import Ledger

PARAMS = GreyParams(pass_time=100, grey_expiry=600, white_expiry=300, trap_expiry=1200)
T0 = 1_700_000_040
SCAN = 60
IPS = ("192.0.2.1", "192.0.2.2", "198.51.100.3", "2001:db8::4")
RCPTS = ("a@example.org", "b@example.org", "c@example.org")
OPS = st.lists(st.tuples(st.sampled_from(["grey", "grey", "pair", "pair", "trap"]), st.integers(0, 3),
                         st.integers(0, 2), st.integers(5, 55), st.integers(0, 4)), max_size=40)

TupleId = tuple[str, str, int]  # ip, rcpt, first


def key(ip: str, rcpt: str) -> tuple[str, str, str, str]:
    return (ip, f"mx.{ip}", f"sender@{ip.replace(':', '-')}.example", rcpt)


@dataclass
class Oracle:
    """Ground truth from the database's own ScanResults."""

    live: dict[tuple[str, str], tuple[int, int | None]] = field(default_factory=dict)  # -> first, trapped_at
    outcomes: dict[TupleId, tuple[str, int | None]] = field(default_factory=dict)

    def poll(self, db: GreydDB, now: int, expired: set[tuple[str, str]],
             promoted: set[tuple[str, str]]) -> None:
        trapped = db.white_and_trapped()[1]
        for ip_rcpt, (first, trapped_at) in list(self.live.items()):
            if trapped_at is None and ip_rcpt[0] in trapped:
                self.live[ip_rcpt] = (first, now)
        for ip_rcpt in expired | promoted:
            first, trapped_at = self.live.pop(ip_rcpt)
            outcome = ("trapped", trapped_at) if trapped_at is not None else (
                ("expired", first + PARAMS.grey_expiry) if ip_rcpt in expired else ("promoted", now))
            self.outcomes[(*ip_rcpt, first)] = outcome


def run(ops: list[tuple[str, int, int, int, int]], ledger: Ledger) -> Oracle:
    db, oracle, step = GreydDB(PARAMS), Oracle(), 0
    pending = list(ops)
    while pending or oracle.live:
        now = T0 + step * SCAN
        result = db.scan(now)
        ledger.observe(db.snapshot(), now)
        oracle.poll(db, now, {(k[0], k[3]) for k, *_ in result.expired if k[3]},
                    {(k[0], k[3]) for k, *_ in result.promoted})
        while pending and pending[0][4] == 0:
            kind, ip, rcpt, offset, _ = pending.pop(0)
            if kind == "trap":
                db.trap(IPS[ip], now + offset)
                continue
            for to in (RCPTS[rcpt], RCPTS[rcpt - 1])[:1 + (kind == "pair")]:
                if db.grey(key(IPS[ip], to), now + offset):
                    oracle.live[(IPS[ip], to)] = (now + offset, None)
        if pending:
            pending[0] = (*pending[0][:4], pending[0][4] - 1)
        step += 1
    return oracle


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(ops=OPS)
def test_outcomes_match_greyds_ground_truth(tmp_path_factory: object,
                                            ops: list[tuple[str, int, int, int, int]]) -> None:
    path = Path(tmp_path_factory.mktemp("ledger")) / "ledger.sqlite"  # type: ignore[attr-defined]
    with Ledger(path) as ledger:
        oracle = run(ops, ledger)
        frame = ledger.read_tuples(0, 2**40)
    got = {(ip, to, int(first.timestamp())): (outcome, None if pd.isna(ts) else int(ts.timestamp()))
           for ip, to, first, outcome, ts in zip(frame["ip"], frame["to"], frame["first"], frame["outcome"],
                                                 frame["outcome_ts"], strict=True)}
    assert got == oracle.outcomes
