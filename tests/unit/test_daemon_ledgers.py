"""The daemon's ledger part (daemon_parts.Ledgers): polls on its interval and prunes once a day after a
successful poll, with a real ledger file, a real greyd SQLite file driven by greyd's SQL (tests.greyd_sim)
and an injected clock. Wall clock: T0 + s; the monotonic clock moves with it.
"""

from __future__ import annotations

import logging
import sqlite3
from dataclasses import dataclass
from pathlib import Path

import pytest

from greylogd.daemon_parts import LazyStore, Ledgers
from greylogd.daemon_settings import CliOptions, DaemonSettings, load
from greylogd.ledger import Ledger
from tests.greyd_sim import GreydSim

T0 = 1_700_000_000
DAY = 86400
OLD = ("192.0.2.10", "mx.old.example", "a@old.example", "bob@local.example")
NEW = ("198.51.100.7", "mx.new.example", "b@new.example", "bob@local.example")
CONF = """\
section firewall {{ driver = "greyd_netfilter.so" }}
section database {{ driver = "greyd_sqlite.so"; path = "{root}/greyd"; busy_timeout = 50 }}
section grey {{ white_expiry = 3110400 }}
section greylogd {{ ledger = "{root}/ledger.sqlite"; ledger_interval = 20{extra} }}
"""


@dataclass
class FakeClock:
    """Unix seconds T0 + offset; monotonic = offset + 1000 (an arbitrary origin, as a real one)."""

    offset: float = 0.0

    def time(self) -> float:
        return T0 + self.offset

    def monotonic(self) -> float:
        return 1000 + self.offset


def settings(root: Path, extra: str = "") -> DaemonSettings:
    (root / "greyd.conf").write_text(CONF.format(root=root, extra=extra))
    return load(CliOptions(str(root / "greyd.conf")))[0]


@pytest.fixture
def sim(tmp_path: Path) -> GreydSim:
    sim = GreydSim(tmp_path / "greyd")
    yield sim
    sim.close()


def firsts(root: Path) -> list[int]:
    """`first` of every tuple in the ledger file, in order (read with a second Ledger, as a report would)."""
    with Ledger(root / "ledger.sqlite") as reader:
        return [int(t.timestamp()) for t in reader.read_tuples(0, 2**40)["first"]]


def run(ledgers: Ledgers, store: LazyStore, clock: FakeClock, at: float) -> None:
    clock.offset = at
    ledgers.poll(store)


def closed_old_tuple(root: Path, sim: GreydSim, caplog,
                     retention: int) -> tuple[Ledgers, LazyStore, FakeClock]:
    """OLD seen open by a first poll at 10 s (the first prune follows it), then aged out by greyd's scan."""
    s, clock = settings(root, f"; ledger_retention_days = {retention}"), FakeClock()
    ledgers, store = Ledgers(s, clock), LazyStore(s)
    caplog.set_level(logging.INFO, logger="greylogd")
    sim.grey(*OLD, T0)
    run(ledgers, store, clock, 10)
    sim.scan(T0 + 14401)                                 # OLD (expire T0 + 14400) ages out
    return ledgers, store, clock


def test_prunes_after_the_first_poll_then_once_a_day(tmp_path, sim, caplog):
    ledgers, store, clock = closed_old_tuple(tmp_path, sim, caplog, 1)
    run(ledgers, store, clock, 14420)                    # OLD closed as expired
    sim.grey(*NEW, T0 + DAY)
    run(ledgers, store, clock, DAY + 5)                  # OLD is beyond retention, but the last prune
    assert firsts(tmp_path) == [T0, T0 + DAY]            # was less than a day ago
    run(ledgers, store, clock, DAY + 15)                 # a day since that prune, but 10 s since the
    assert firsts(tmp_path) == [T0, T0 + DAY]            # last poll: no poll, so no prune
    run(ledgers, store, clock, DAY + 25)                 # poll, then prune: OLD goes, open NEW stays
    assert firsts(tmp_path) == [T0 + DAY]
    pruned = [r.getMessage() for r in caplog.records if r.getMessage().startswith("ledger: pruned")]
    assert pruned == ["ledger: pruned 0 closed tuples first seen more than 1 days ago (0.000 s)",
                      "ledger: pruned 1 closed tuples first seen more than 1 days ago (0.000 s)"]
    ledgers.close()
    store.close()


def test_open_tuples_are_kept_whatever_their_age(tmp_path, sim):
    s, clock = settings(tmp_path, "; ledger_retention_days = 1"), FakeClock()
    ledgers, store = Ledgers(s, clock), LazyStore(s)
    sim.grey(*OLD, T0)
    run(ledgers, store, clock, 10)
    run(ledgers, store, clock, 5 * DAY)                  # greyd has not scanned: OLD is still pending
    assert firsts(tmp_path) == [T0]
    ledgers.close()
    store.close()


def test_retention_0_keeps_everything(tmp_path, sim, caplog):
    ledgers, store, clock = closed_old_tuple(tmp_path, sim, caplog, 0)
    for day in (1, 100, 1000):
        run(ledgers, store, clock, day * DAY)
    assert firsts(tmp_path) == [T0]
    assert not [r for r in caplog.records if "pruned" in r.getMessage()]
    ledgers.close()
    store.close()


def test_default_retention_is_90_days_and_the_ledger_knows_greyds_white_expiry(tmp_path):
    s = settings(tmp_path)
    assert s.own.ledger_retention_days == 90
    ledgers = Ledgers(s, FakeClock())
    assert (ledgers.ledger.retention_days, ledgers.ledger.white_expiry) == (90, 3110400)
    ledgers.close()


def test_no_prune_while_greyds_database_is_locked(tmp_path, sim, caplog):
    ledgers, store, clock = closed_old_tuple(tmp_path, sim, caplog, 1)
    run(ledgers, store, clock, 14420)
    locker = sqlite3.connect(sim.path, isolation_level=None)
    locker.execute("BEGIN EXCLUSIVE")                    # greyd's file locked: the poll fails
    run(ledgers, store, clock, 2 * DAY)
    assert firsts(tmp_path) == [T0]
    locker.execute("ROLLBACK")
    locker.close()
    run(ledgers, store, clock, 2 * DAY + 20)             # the next poll succeeds and prunes
    assert firsts(tmp_path) == []
    messages = [r.getMessage() for r in caplog.records]
    assert sum(m.startswith("ledger poll failed, retrying in 20 s: ") for m in messages) == 1
    assert messages[-1] == "ledger: pruned 1 closed tuples first seen more than 1 days ago (0.000 s)"
    ledgers.close()
    store.close()
