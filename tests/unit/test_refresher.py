"""The refresher's batching, retry, backoff, spill and shutdown rules, with a fake clock and a fake store.

The refresher is pure logic over the Store protocol; the real stores are exercised end to end in
tests/integration/test_daemon_*.py. The fake store applies counts exactly like greyd's greylogd would
(pcount += connections) and can be told to fail, so double counting or loss shows in the totals.
"""

from __future__ import annotations

import itertools
import socket
from ipaddress import ip_address

import pytest

from greylogd.errors import StoreError
from greylogd.events import ConnectionEvent, Direction, EventBatch
from greylogd.greydb.store import RefreshResult
from greylogd.refresher import Commit, Refresher, RefresherSettings
from greylogd.spill import Batch, Spill


class FakeClock:
    def __init__(self) -> None:
        self.mono = 100.0

    def monotonic(self) -> float:
        return self.mono

    def time(self) -> float:
        return 1_700_000_000 + self.mono


class FakeStore:
    """pcount per address; `fail` makes the next calls raise StoreError and change nothing."""

    def __init__(self) -> None:
        self.pcount: dict[str, int] = {}
        self.calls: list[tuple[dict[str, int], int, int]] = []
        self.fail = 0

    def refresh_white(self, counts: dict[str, int], now: int, white_expiry: int) -> RefreshResult:
        self.calls.append((dict(counts), now, white_expiry))
        if self.fail:
            self.fail -= 1
            raise StoreError("database is locked")
        for addr, n in counts.items():
            self.pcount[addr] = self.pcount.get(addr, 0) + n
        return RefreshResult(refreshed=tuple(counts))


def event(addr: str, direction: Direction = Direction.INBOUND,
          ts: float = 1_700_000_000.0) -> ConnectionEvent:
    host, other = ip_address(addr), ip_address("192.0.2.1" if ":" not in addr else "2001:db8::1")
    src, dst = (host, other) if direction is Direction.INBOUND else (other, host)
    family = socket.AF_INET6 if host.version == 6 else socket.AF_INET
    return ConnectionEvent(ts, 155, direction, family, src, dst, 40000, 25, 2, "", None)


@pytest.fixture
def parts(tmp_path):
    clock, store = FakeClock(), FakeStore()
    spill = Spill(tmp_path / "spill.journal")
    commits: list[Commit] = []
    settings = RefresherSettings(batch_events=4, flush_ms=200, queue_bound=6, min_backoff_s=1,
                                 max_backoff_s=8, white_expiry=3600)
    refresher = Refresher(store, spill, settings, clock, commits.append)
    yield refresher, store, clock, spill, commits
    spill.close()


def test_batch_flushes_after_flush_ms_and_dedups_addresses(parts):
    refresher, store, clock, _spill, commits = parts
    refresher.add(EventBatch.of([event("203.0.113.7"), event("203.0.113.7"),
                                 event("2001:db8:2::5", Direction.OUTBOUND)]))
    assert refresher.next_deadline() == pytest.approx(100.2)
    clock.mono = 100.19
    refresher.tick()
    assert store.calls == []
    clock.mono = 100.2
    refresher.tick()
    assert store.calls == [({"203.0.113.7": 2, "2001:db8:2::5": 1}, 1_700_000_100, 3600)]
    assert commits[0].batch.events == 3 and commits[0].now == 1_700_000_100
    assert refresher.next_deadline() is None and refresher.pending_events == 0


def test_batch_seals_at_batch_events(parts):
    refresher, store, _clock, _spill, _commits = parts
    refresher.add(EventBatch.of([event(f"203.0.113.{i}") for i in range(1, 6)]))
    refresher.tick()
    assert [c[0] for c in store.calls] == [{f"203.0.113.{i}": 1 for i in range(1, 5)}]
    assert refresher.pending_events == 1


def test_failed_batch_is_retried_whole_with_capped_exponential_backoff(parts):
    refresher, store, clock, _spill, _commits = parts
    store.fail = 5
    refresher.add(EventBatch.of([event("203.0.113.1")] * 4))
    attempts = []
    for _ in range(6):
        refresher.tick()
        attempts.append(clock.mono)
        clock.mono = refresher.next_deadline()
    assert [round(b - a, 3) for a, b in itertools.pairwise(attempts)] == [1, 2, 4, 8, 8]
    assert store.pcount == {"203.0.113.1": 4}
    assert [c[0] for c in store.calls] == [{"203.0.113.1": 4}] * 6
    assert (refresher.stats.retries, refresher.stats.committed_events, refresher.failing) == (5, 4, False)


def test_memory_bound_spills_to_journal_and_commits_everything_once(parts):
    refresher, store, clock, spill, _commits = parts
    store.fail = 1
    sent = [event(f"198.51.100.{i % 13 + 1}") for i in range(40)]
    refresher.add(EventBatch.of(sent))
    refresher.tick()  # first batch fails: everything else queues
    assert len(spill) == 9 and refresher.stats.spilled_events == 36  # one 4-address batch fits in 6
    clock.mono = refresher.next_deadline()
    refresher.tick(budget_s=10)
    assert sum(store.pcount.values()) == 40 and len(spill) == 0
    assert store.pcount == {f"198.51.100.{i}": len([j for j in range(40) if j % 13 + 1 == i])
                            for i in range(1, 14)}
    assert spill.path.stat().st_size == 0


def test_spilled_batches_survive_a_restart_and_are_replayed(parts, tmp_path):
    refresher, store, clock, spill, _commits = parts
    store.fail = 100
    refresher.add(EventBatch.of([event("203.0.113.9")] * 3 + [event("203.0.113.10")]))
    refresher.add(EventBatch.of([event("203.0.113.11")] * 2))
    refresher.shutdown(deadline_s=1)
    assert len(spill) == 2 and store.pcount == {}
    spill.close()
    again, store2 = Spill(spill.path), FakeStore()
    second = Refresher(store2, again, refresher.settings, clock)
    assert second.next_deadline() == 0.0
    second.tick()
    assert store2.pcount == {"203.0.113.9": 3, "203.0.113.10": 1, "203.0.113.11": 2}
    assert len(again) == 0 and again.path.stat().st_size == 0
    again.close()


def test_torn_journal_line_is_skipped_and_done_records_retire_batches(tmp_path):
    path = tmp_path / "j"
    path.write_bytes(b'{"batch":0,"events":1,"oldest":5.0,"counts":{"192.0.2.5":1}}\n'
                     b'{"batch":1,"events":2,"oldest":6.0,"counts":{"192.0.2.6":2}}\n'
                     b'{"done":0}\n{"batch":2,"ev')
    spill = Spill(path)
    assert (len(spill), spill.torn) == (1, 1)
    assert spill.peek() == Batch({"192.0.2.6": 2}, 2, 6.0)
    spill.done()
    assert len(spill) == 0 and path.stat().st_size == 0
    spill.close()


def test_shutdown_commits_open_batch_when_store_works(parts):
    refresher, store, _clock, spill, _commits = parts
    refresher.add(EventBatch.of([event("192.0.2.77")]))
    refresher.shutdown(deadline_s=1)
    assert store.pcount == {"192.0.2.77": 1} and len(spill) == 0


def test_nothing_is_committed_while_backing_off(parts):
    refresher, store, clock, _spill, _commits = parts
    store.fail = 1
    refresher.add(EventBatch.of([event("192.0.2.8")] * 4))
    refresher.tick()
    clock.mono += 0.5
    refresher.tick()
    assert len(store.calls) == 1 and refresher.failing


@pytest.mark.parametrize("text", ["203.0.113.7", "2001:db8:2::a", "::", "2001:db8::1:0:0:1", "::ffff:1.2.3.4",
                                  "::1.2.3.4", "fe80::1"])
def test_batch_keys_are_pythons_spelling_of_inet_ntop_text(text):
    """Capture writes addresses as inet_ntop does (dotted for IPv4-mapped/-compatible IPv6); greyd's rows and
    the rest of greylogd use str() of the address."""
    host = ip_address(text)
    ntop = socket.inet_ntop(socket.AF_INET6 if host.version == 6 else socket.AF_INET, host.packed)
    rows = EventBatch.of([event(text), event(text, Direction.OUTBOUND)]).rows
    rows["src"][0] = rows["dst"][1] = ntop.encode()
    assert EventBatch(rows).host_counts() == {str(host): 2}


def test_a_read_larger_than_a_batch_is_split_at_batch_events(parts):
    refresher, store, _clock, _spill, commits = parts
    refresher.add(EventBatch.of([event(f"192.0.2.{i % 3 + 1}", ts=1_700_000_000.0 + i) for i in range(10)]))
    assert refresher.pending_events == 10 and refresher.stats.received == 10
    refresher.tick()  # the two sealed batches of 4 go in one commit, merged
    assert [c[0] for c in store.calls] == [{"192.0.2.1": 3, "192.0.2.2": 3, "192.0.2.3": 2}]
    assert commits[0].batch.event_ts == [1_700_000_000.0 + i for i in range(8)]
    assert refresher.pending_events == 2 and refresher.stats.committed_batches == 2
