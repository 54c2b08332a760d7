"""ThreadCommits on a real SQLite greyd database: outcomes arrive through the fd, a busy database is an
Outcome (retryable), a bug in the store call is re-raised in the caller's thread, the refresher commits
everything exactly once through it (merging a backlog of sealed batches into one transaction), and a ledger
snapshot on the loop thread never waits long for a refresh stuck on greyd's lock."""

from __future__ import annotations

import select
import sqlite3
import time

import pytest

from greylogd.commit_thread import Job, ThreadCommits
from greylogd.daemon_parts import SNAPSHOT_WAIT_S, LazyStore
from greylogd.daemon_settings import CliOptions, load
from greylogd.errors import StoreError
from greylogd.events import EventBatch
from greylogd.greydb.sqlite import SqliteStore
from greylogd.refresher import MERGE_BATCHES, Refresher, RefresherSettings, SystemClock
from greylogd.spill import Spill
from tests.unit.test_refresher import event

NOW, W = 1_800_000_000, 3600


@pytest.fixture
def store(tmp_path):
    s = SqliteStore(str(tmp_path), busy_timeout=0.05)
    yield s
    s.close()


def _outcome(commits: ThreadCommits):
    assert select.select([commits.fileno()], [], [], 10)[0] == [commits.fileno()]
    done = commits.outcome()
    assert done is not None and commits.outcome() is None
    assert select.select([commits.fileno()], [], [], 0)[0] == []  # the wake-up byte was consumed
    return done


def test_outcome_is_signalled_on_the_fd(store):
    commits = ThreadCommits(store)
    try:
        commits.submit(Job({"192.0.2.1": 2, "2001:db8::5": 1}, NOW, W))
        done = _outcome(commits)
        assert (done.result.created, done.error) == (("192.0.2.1", "2001:db8::5"), None)
        commits.submit(Job({"192.0.2.1": 3}, NOW + 1, W))
        assert _outcome(commits).result.refreshed == ("192.0.2.1",)
    finally:
        commits.close()
    assert {e.ip: e.pcount for e in store.snapshot()} == {"192.0.2.1": 5, "2001:db8::5": 1}


def test_locked_database_is_a_retryable_outcome(store):
    store.refresh_white({"192.0.2.9": 1}, NOW, W)
    other = sqlite3.connect(store.file, isolation_level=None)
    other.execute("BEGIN IMMEDIATE")
    commits = ThreadCommits(store)
    try:
        commits.submit(Job({"192.0.2.9": 1}, NOW, W))
        done = _outcome(commits)
        assert done.result is None and "locked" in str(done.error)
        other.execute("ROLLBACK")
        commits.submit(Job({"192.0.2.9": 1}, NOW, W))
        assert _outcome(commits).result.refreshed == ("192.0.2.9",)
    finally:
        commits.close()
        other.close()
    assert [e.pcount for e in store.snapshot()] == [2]


def test_a_bug_in_the_store_call_is_raised_by_outcome(store):
    store.refresh_white({"192.0.2.3": 1}, NOW, W)
    commits = ThreadCommits(store)
    try:
        commits.submit(Job({"192.0.2.3": None}, NOW, W))  # type: ignore[dict-item]
        select.select([commits.fileno()], [], [], 10)
        with pytest.raises(TypeError):
            commits.outcome()
    finally:
        commits.close()


def test_refresher_on_the_thread_commits_a_backlog_merged_and_exactly_once(store, tmp_path):
    spill = Spill(tmp_path / "journal")
    commits = ThreadCommits(store)
    sizes: list[int] = []
    settings = RefresherSettings(batch_events=10, flush_ms=0, queue_bound=10_000, white_expiry=W)
    refresher = Refresher(store, spill, settings, SystemClock(), lambda c: sizes.append(c.batch.events),
                          commits=commits)
    try:
        sent = [event(f"198.51.100.{i % 37 + 1}") for i in range(500)]
        refresher.add(EventBatch.of(sent))  # 50 sealed batches queue before the first tick
        while refresher.pending_events:
            refresher.tick()
            select.select([commits.fileno()], [], [], 1)
        refresher.shutdown(1)
    finally:
        commits.close()
        spill.close()
    assert sizes == [MERGE_BATCHES * 10] * 3 + [20]
    assert sum(e.pcount for e in store.snapshot()) == 500 == refresher.stats.committed_events
    assert refresher.stats.committed_batches == 50


def test_a_ledger_snapshot_does_not_wait_out_a_refresh_stuck_on_a_locked_database(tmp_path):
    """The daemon's LazyStore is shared by the commit thread and the loop's ledger polls: while a refresh
    waits for greyd's lock, a poll gives up after SNAPSHOT_WAIT_S with a StoreError (retried at the next
    interval) instead of stalling the capture loop; the refresh then commits once the lock is gone."""
    conf = tmp_path / "greyd.conf"
    conf.write_text('section firewall { driver = "greyd_netfilter.so" }\n section database { driver = '
                    f'"greyd_sqlite.so"; path = "{tmp_path}/db"; busy_timeout = 5000 }}\n')
    lazy = LazyStore(load(CliOptions(str(conf)))[0])
    assert lazy.snapshot() == []  # opens the file and creates greyd's tables
    other = sqlite3.connect(tmp_path / "db" / "greyd.sqlite", isolation_level=None)
    other.execute("BEGIN EXCLUSIVE")
    commits = ThreadCommits(lazy)
    try:
        commits.submit(Job({"192.0.2.1": 1}, NOW, W))
        time.sleep(0.3)  # the refresh is now in SQLite's busy wait, holding LazyStore's lock
        started = time.monotonic()
        with pytest.raises(StoreError, match=r"a refresh has held the database for over 1 s"):
            lazy.snapshot()
        assert SNAPSHOT_WAIT_S <= time.monotonic() - started < SNAPSHOT_WAIT_S + 1
        other.execute("ROLLBACK")
        assert _outcome(commits).result.created == ("192.0.2.1",)
    finally:
        commits.close()
        other.close()
    assert [(e.ip, e.pcount) for e in lazy.snapshot()] == [("192.0.2.1", 1)]
    lazy.close()
