"""The ledger when greyd's database is locked by another process, and when the ledger itself restarts.

A separate Python process opens greyd's file, takes greyd's lock (BEGIN IMMEDIATE, as greyd's scan does,
or BEGIN EXCLUSIVE, which also shuts readers out), runs greyd's scan SQL and holds the transaction until
the test releases it. Nothing may be lost: the poll that cannot read changes nothing, the next one
records everything that happened meanwhile.
"""

from __future__ import annotations

import json
import subprocess
import sys
import threading
from collections.abc import Iterator
from contextlib import closing
from pathlib import Path

import pandas as pd
import pytest

from greylogd.errors import StoreError
from greylogd.greydb.sqlite import SqliteStore
from greylogd.ledger import Ledger, PollResult
from tests.greyd_sim import GreydSim, scan_statements

T0 = 1_700_000_000
A = ("192.0.2.10", "mail.a.example", "alice@a.example", "bob@local.example")
HOLDER = """
import json, sqlite3, sys
conn = sqlite3.connect(sys.argv[1], isolation_level=None)
conn.execute(sys.argv[2])
for statement, params in json.loads(sys.argv[3]):
    conn.execute(statement, params)
print("locked", flush=True)
sys.stdin.readline()
conn.execute("COMMIT")
"""


class Holder:
    """Another process inside a greyd transaction on `path` until release()."""

    def __init__(self, path: Path, begin: str, statements: list[tuple[str, tuple[int, ...]]]) -> None:
        self.proc = subprocess.Popen([sys.executable, "-c", HOLDER, str(path), begin, json.dumps(statements)],
                                     stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
        assert self.proc.stdout is not None and self.proc.stdout.readline() == "locked\n"

    def release(self) -> None:
        assert self.proc.stdin is not None
        self.proc.stdin.write("go\n")
        self.proc.stdin.flush()
        assert self.proc.wait(timeout=10) == 0


@pytest.fixture
def retried(tmp_path: Path) -> Iterator[tuple[GreydSim, Path]]:
    """Tuple A greylisted at T0 and retried at T0 + 1600; the ledger has seen it before and after."""
    sim = GreydSim(tmp_path / "greyd")
    sim.grey(*A, T0)
    sim.grey(*A, T0 + 1600)
    yield sim, tmp_path
    sim.close()


def open_pair(tmp_path: Path, busy_timeout: float) -> tuple[SqliteStore, Ledger]:
    return (SqliteStore(str(tmp_path / "greyd"), "greyd.sqlite", busy_timeout=busy_timeout),
            Ledger(tmp_path / "ledger.sqlite"))


def outcomes(ledger: Ledger) -> list[tuple[str, pd.Timestamp, pd.Timestamp]]:
    frame = ledger.read_tuples(T0, T0 + 86400)
    return list(zip(frame["outcome"], frame["last_seen"], frame["outcome_ts"], strict=True))


def utc(seconds: int) -> pd.Timestamp:
    return pd.Timestamp(seconds, unit="s", tz="UTC")


def test_greyds_immediate_lock_does_not_block_the_read_only_poll(retried: tuple[GreydSim, Path]) -> None:
    sim, tmp_path = retried
    store, ledger = open_pair(tmp_path, busy_timeout=10)
    with closing(store), ledger:
        assert ledger.poll(store, T0 + 1610) == PollResult(new=1, pending=1, observed_at=T0 + 1610)
        holder = Holder(sim.path, "BEGIN IMMEDIATE", scan_statements(T0 + 1620))
        assert ledger.poll(store, T0 + 1630) == PollResult(pending=1, observed_at=T0 + 1630)
        holder.release()
        assert ledger.poll(store, T0 + 1650) == PollResult(promoted=1, observed_at=T0 + 1650)
        assert outcomes(ledger) == [("promoted", utc(T0 + 1630), utc(T0 + 1650))]


def test_poll_failing_on_an_exclusive_lock_writes_nothing_and_the_next_loses_nothing(
        retried: tuple[GreydSim, Path]) -> None:
    sim, tmp_path = retried
    store, ledger = open_pair(tmp_path, busy_timeout=0.2)
    with closing(store), ledger:
        ledger.poll(store, T0 + 1610)
        before = ledger.read_tuples(T0, T0 + 86400)
        holder = Holder(sim.path, "BEGIN EXCLUSIVE", scan_statements(T0 + 1620))
        with pytest.raises(StoreError, match="database is locked"):
            ledger.poll(store, T0 + 1630)
        pd.testing.assert_frame_equal(ledger.read_tuples(T0, T0 + 86400), before)
        holder.release()
        assert ledger.poll(store, T0 + 1650) == PollResult(promoted=1, observed_at=T0 + 1650)
        assert outcomes(ledger) == [("promoted", utc(T0 + 1610), utc(T0 + 1650))]


def test_poll_waits_for_a_short_exclusive_lock_and_dates_its_observation_after_it(
        retried: tuple[GreydSim, Path]) -> None:
    sim, tmp_path = retried
    store, ledger = open_pair(tmp_path, busy_timeout=10)
    with closing(store), ledger:
        ledger.poll(store, T0 + 1610)
        holder = Holder(sim.path, "BEGIN EXCLUSIVE", scan_statements(T0 + 1620))
        timer = threading.Timer(1.2, holder.release)
        timer.start()
        result = ledger.poll(store, T0 + 1630)
        timer.join()
        assert result.promoted == 1 and result.observed_at >= T0 + 1631
        assert outcomes(ledger) == [("promoted", utc(T0 + 1610), utc(result.observed_at))]


def test_ledger_restarted_mid_week_resumes_from_its_stored_open_tuples(tmp_path: Path) -> None:
    sim = GreydSim(tmp_path / "greyd")
    store = SqliteStore(str(tmp_path / "greyd"), "greyd.sqlite")
    other = ("192.0.2.11", "mx.o.example", "o@o.example", "bob@local.example")
    sim.grey(*A, T0)
    sim.grey(*other, T0 + 30)
    with Ledger(tmp_path / "ledger.sqlite") as ledger:
        assert ledger.poll(store, T0 + 40) == PollResult(new=2, pending=2, observed_at=T0 + 40)
    sim.grey(*A, T0 + 1600)                      # while the ledger is down: A retried and promoted,
    sim.scan(T0 + 1620)
    sim.scan(T0 + 14460)                         # and the other tuple expired
    with Ledger(tmp_path / "ledger.sqlite") as ledger:
        assert ledger.poll(store, T0 + 14470) == PollResult(retried=1, promoted=1, expired=1,
                                                            observed_at=T0 + 14470)
        frame = ledger.read_tuples(T0, T0 + 86400)
        retries = ledger.read_retries(T0, T0 + 86400)
    assert list(zip(frame["ip"], frame["outcome"], frame["pass"], frame["bcount"], frame["outcome_ts"],
                    strict=True)) == [(A[0], "promoted", utc(T0 + 1600), 2, utc(T0 + 14470)),
                                      (other[0], "expired", utc(T0 + 14430), 1, utc(T0 + 14430))]
    assert list(zip(retries["ts"], retries["observed_at"], strict=True)) == [(utc(T0 + 1600),
                                                                            utc(T0 + 14470))]
    store.close()
    sim.close()


def test_a_snapshot_older_than_the_last_poll_is_skipped(tmp_path: Path) -> None:
    sim = GreydSim(tmp_path / "greyd")
    store = SqliteStore(str(tmp_path / "greyd"), "greyd.sqlite")
    sim.grey(*A, T0)
    with Ledger(tmp_path / "ledger.sqlite") as ledger:
        stale = store.snapshot()
        ledger.poll(store, T0 + 40)
        assert ledger.observe(stale, T0 + 20) == PollResult(observed_at=T0 + 20, skipped=True)
        assert ledger.observe([], T0 + 40) == PollResult(observed_at=T0 + 40, promoted=1)
    store.close()
    sim.close()


def test_a_second_poller_on_the_same_ledger_is_seen_by_the_first(tmp_path: Path) -> None:
    """Daemon and cron on one file: each Ledger reloads the open tuples when the other has polled."""
    sim = GreydSim(tmp_path / "greyd")
    store = SqliteStore(str(tmp_path / "greyd"), "greyd.sqlite")
    sim.grey(*A, T0)
    sim.grey(*A, T0 + 1600)
    with Ledger(tmp_path / "ledger.sqlite") as daemon, Ledger(tmp_path / "ledger.sqlite") as cron:
        assert daemon.poll(store, T0 + 1610) == PollResult(new=1, pending=1, observed_at=T0 + 1610)
        sim.scan(T0 + 1620)
        assert cron.poll(store, T0 + 1630) == PollResult(promoted=1, observed_at=T0 + 1630)
        assert daemon.poll(store, T0 + 1650) == PollResult(observed_at=T0 + 1650)
        assert outcomes(daemon) == [("promoted", utc(T0 + 1610), utc(T0 + 1630))]
    store.close()
    sim.close()
