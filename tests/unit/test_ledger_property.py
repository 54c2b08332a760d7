"""Property: the ledger's outcomes equal greyd's ground truth, whatever greyd did between two polls, and
a ledger fed the changes between polls (Ledger.observe_changes, the demo's path) writes what one fed whole
snapshots (Ledger.observe, the daemon's path) writes.

Random greyd activity (greylisted RCPTs and retries, singly or two recipients at once so that one scan
promotes two tuples of an IP; spamtrap hits; four client IPs; WHITE rows expiring after 300 s so that IPs
are promoted again) runs on the demo's in-memory greyd database (greylogd.demo.greyddb: greyd's own
statements, and a ScanResult saying which rows each scan expired or promoted). The ledger only sees
snapshots, polled right after each scan or every 20 s with scans 10 s out of phase; the oracle sees the
truth: promoted at the scan that promoted it, expired at its `expire`, both unless the IP was
TRAPPED at a poll while the tuple lived or when it went (then trapped at the first such poll).
With pass_time 100 s and scans every 60 s, every tuple is polled at least once before it can go.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from greylogd.demo.greyddb import GreydDB, ScanResult
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
    """Ground truth from the database's own ScanResults, applied at the ledger's polls."""

    live: dict[TupleId, int | None] = field(default_factory=dict)  # -> trapped_at
    current: dict[tuple[str, str], int] = field(default_factory=dict)  # (ip, rcpt) -> first of the live one
    gone: dict[TupleId, tuple[str, int]] = field(default_factory=dict)  # -> how, scan time
    outcomes: dict[TupleId, tuple[str, int | None]] = field(default_factory=dict)

    def new(self, ip: str, rcpt: str, first: int) -> None:
        self.live[(ip, rcpt, first)] = None
        self.current[(ip, rcpt)] = first

    def scan(self, result: ScanResult, now: int) -> None:
        for kind, rows in (("expired", result.expired), ("promoted", result.promoted)):
            for (ip, _, _, rcpt), *_ in rows:
                if rcpt:  # not an IP row
                    self.gone[(ip, rcpt, self.current.pop((ip, rcpt)))] = (kind, now)

    def poll(self, db: GreydDB, now: int) -> None:
        trapped = db.white_and_trapped()[1]
        for tid, trapped_at in self.live.items():
            if trapped_at is None and tid[0] in trapped:
                self.live[tid] = now
        for tid, (kind, scanned) in self.gone.items():
            trapped_at = self.live.pop(tid)
            self.outcomes[tid] = ("trapped", trapped_at) if trapped_at is not None else (
                ("expired", tid[2] + PARAMS.grey_expiry) if kind == "expired" else ("promoted", scanned))
        self.gone.clear()


def schedule(ops: list[tuple[str, int, int, int, int]]) -> dict[int, list[tuple[str, int, int]]]:
    """Operations by absolute second: each `gap` scans after the previous one, at `offset` s past a scan."""
    at: dict[int, list[tuple[str, int, int]]] = {}
    step = 0
    for kind, ip, rcpt, offset, gap in ops:
        step += gap
        at.setdefault(T0 + step * SCAN + offset, []).append((kind, ip, rcpt))
    return at


def run(ops: list[tuple[str, int, int, int, int]], ledger: Ledger, poll_every: int,
        scan_phase: int, follower: Ledger) -> Oracle:
    """Second by second: greyd's scan (every 60 s at `scan_phase`), then a ledger poll (every `poll_every`
    s, right after each scan when that is 60), then the operations of that second. `ledger` observes
    whole snapshots, `follower` the same polls as the changes since the previous one."""
    db, oracle, todo = GreydDB(PARAMS), Oracle(), schedule(ops)
    now = T0
    while todo or oracle.live:
        if (now - T0) % SCAN == scan_phase:
            oracle.scan(db.scan(now), now)
        if (now - T0) % poll_every == (scan_phase if poll_every == SCAN else 0):
            ledger.observe(db.snapshot(), now)
            follower.observe_changes(db.changes(), now)
            oracle.poll(db, now)
        for kind, ip, rcpt in todo.pop(now, []):
            if kind == "trap":
                db.trap(IPS[ip], now)
                continue
            for to in (RCPTS[rcpt], RCPTS[rcpt - 1])[:1 + (kind == "pair")]:
                if db.grey(key(IPS[ip], to), now):
                    oracle.new(IPS[ip], to, now)
        now += 1
    return oracle


def _rows(frame: pd.DataFrame) -> list[tuple[object, ...]]:
    """A frame's rows in a canonical order (ids, hence the order of equal `first`s, may differ)."""
    return sorted(frame.astype(str).itertuples(index=False, name=None))


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(ops=OPS, timing=st.sampled_from([(SCAN, 0), (20, 10)]))
def test_outcomes_match_greyds_ground_truth(tmp_path_factory: object,
                                            ops: list[tuple[str, int, int, int, int]],
                                            timing: tuple[int, int]) -> None:
    """Polled right after each scan, or every 20 s with greyd's scans 10 s out of phase (as in the demo)."""
    folder = Path(tmp_path_factory.mktemp("ledger"))  # type: ignore[attr-defined]
    with (Ledger(folder / "full.sqlite", white_expiry=PARAMS.white_expiry) as ledger,
          Ledger(folder / "changes.sqlite", white_expiry=PARAMS.white_expiry) as follower):
        oracle = run(ops, ledger, *timing, follower)
        frame = ledger.read_tuples(0, 2**40)
        assert _rows(follower.read_tuples(0, 2**40)) == _rows(frame)
        assert _rows(follower.read_retries(0, 2**40)) == _rows(ledger.read_retries(0, 2**40))
    got = {(ip, to, int(first.timestamp())): (outcome, None if pd.isna(ts) else int(ts.timestamp()))
           for ip, to, first, outcome, ts in zip(frame["ip"], frame["to"], frame["first"], frame["outcome"],
                                                 frame["outcome_ts"], strict=True)}
    assert got == oracle.outcomes
