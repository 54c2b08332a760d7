"""Batching, durable retry queue and backoff between capture and greyd's database: pure logic.

Contract (issue 4, spec Decisions): every connection event handed to `add()` ends up as exactly one pcount
increment in one committed `Store.refresh_white` call, however long the database is busy or down.
- Events gather in an open batch, one entry per address (connections counted, as greyd's pcount counts
  connections); the batch is sealed after `batch_events` events or `flush_ms` after its first event.
- Sealed batches queue in memory in FIFO order. The head batch (merged with up to MERGE_BATCHES - 1 batches
  behind it when a backlog has formed) is committed whole in one transaction; on StoreError it stays at the
  head and is retried after an exponential backoff capped at `max_backoff_s`. Because a failing store
  changes nothing, a retried batch is never counted twice. Batches leave the queue only when their commit
  succeeded, so one that is being committed still counts against the memory bound.
- The store call runs through `commits` (commit_thread.py): inline by default, on a writer thread in the
  daemon, where tick() starts a commit and a later tick() (woken by the runner's fd) takes in its outcome.
- Memory is bounded: a sealed batch that would push the queued addresses above `queue_bound` is written to
  the spill journal instead (fsync'd), and leaves the journal only after its commit.
- `shutdown()` seals the open batch, commits what it can until a deadline, and spills the rest.
Time comes from an injected Clock (monotonic seconds for timers, Unix seconds for greyd's `now`), so the
logic is testable without sleeping. The refresher never blocks except inside the store call itself.
"""

from __future__ import annotations

import itertools
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Protocol

from greylogd.commit_thread import Commits, InlineCommits, Job
from greylogd.events import EventBatch
from greylogd.greydb.store import RefreshResult, Store
from greylogd.spill import Batch, Spill


class Clock(Protocol):
    """monotonic(): seconds for timers; time(): Unix seconds (UTC) passed to the store as `now`."""

    def monotonic(self) -> float: ...

    def time(self) -> float: ...


class SystemClock:
    """The real clocks."""

    monotonic = staticmethod(time.monotonic)
    time = staticmethod(time.time)


@dataclass(frozen=True)
class RefresherSettings:
    """Tuning from `section greylogd`; times in seconds unless the name says ms."""

    batch_events: int = 1000
    flush_ms: int = 100
    queue_bound: int = 100_000  # addresses held in memory before batches go to the spill journal
    min_backoff_s: float = 0.25
    max_backoff_s: float = 10.0
    white_expiry: int = 3_110_400


@dataclass
class RefresherStats:
    """Monotonic counters (Prometheus counters read them)."""

    received: int = 0
    committed_events: int = 0
    committed_batches: int = 0
    retries: int = 0
    spilled_batches: int = 0
    spilled_events: int = 0


@dataclass(frozen=True)
class Commit:
    """One successful commit: the batch, greyd's `now` it was written with, and the store's answer."""

    batch: Batch
    now: int
    result: RefreshResult
    seconds: float  # time spent in the store call


CommitHook = Callable[[Commit], None]
MERGE_BATCHES = 16  # queued batches committed together (bounds one transaction to 16 x batch_events rows)


def merge(batches: list[Batch]) -> Batch:
    """One batch holding the connections of all `batches` (counts per address added up)."""
    counts = dict(batches[0].counts)
    for batch in batches[1:]:
        for address, n in batch.counts.items():
            counts[address] = counts.get(address, 0) + n
    return Batch(counts, sum(b.events for b in batches), min(b.oldest for b in batches),
                 list(itertools.chain.from_iterable(b.event_ts for b in batches)))


@dataclass
class Refresher:
    """See the module docstring. `on_commit` is called after every successful commit (logging, sync), in
    the thread that calls tick()/shutdown(); `commits` runs the store calls (InlineCommits if None)."""

    store: Store
    spill: Spill
    settings: RefresherSettings = field(default_factory=RefresherSettings)
    clock: Clock = field(default_factory=SystemClock)
    on_commit: CommitHook | None = None
    stats: RefresherStats = field(default_factory=RefresherStats)
    _open: Batch | None = None
    _opened_at: float = 0.0
    _queue: deque[Batch] = field(default_factory=deque)
    _queued_addresses: int = 0
    _failures: int = 0
    _retry_at: float = 0.0
    commits: Commits | None = None
    _inflight: tuple[Batch, int, int] | None = None  # (batch, queued batches merged in (0: spill head), now)

    def __post_init__(self) -> None:
        if self.commits is None:
            self.commits = InlineCommits(self.store)

    def add(self, events: EventBatch) -> None:
        """Count events into the open batch, sealing it whenever it reaches `batch_events` (a read that
        crosses the bound is split there, so batches keep their size however large reads are)."""
        start = 0
        while start < len(events):
            batch = self._open or self._start()
            part = events[start:start + max(1, self.settings.batch_events - batch.events)]
            for address, n in part.host_counts().items():
                batch.counts[address] = batch.counts.get(address, 0) + n
            stamps = part.timestamps()
            batch.event_ts += stamps
            batch.oldest = min(batch.oldest, min(stamps))
            batch.events += len(part)
            self.stats.received += len(part)
            start += len(part)
            if batch.events >= self.settings.batch_events:
                self._seal()

    def _start(self) -> Batch:
        self._open = Batch({}, 0, float("inf"), [])
        self._opened_at = self.clock.monotonic()
        return self._open

    def _seal(self) -> None:
        batch, self._open = self._open, None
        if batch is None:
            return
        if self._queued_addresses + len(batch.counts) > self.settings.queue_bound:
            self.spill.append(batch)
            self.stats.spilled_batches += 1
            self.stats.spilled_events += batch.events
        else:
            self._queue.append(batch)
            self._queued_addresses += len(batch.counts)

    @property
    def pending_events(self) -> int:
        """Events received but not committed yet, in memory (spilled batches are in `spill`)."""
        return sum(b.events for b in self._queue) + (self._open.events if self._open else 0)

    def next_deadline(self) -> float | None:
        """Monotonic time at which `tick()` has work to do; None when idle (wait for events only)."""
        times = []
        if self._open is not None:
            times.append(self._opened_at + self.settings.flush_ms / 1000)
        if self._inflight is None and self._has_work():
            times.append(self._retry_at)
        return min(times, default=None)

    def tick(self, budget_s: float = 0.5) -> None:
        """Seal an expired open batch, take in a finished commit, then start commits until one fails, one
        is still running (ThreadCommits: its fd wakes the loop) or `budget_s` is used."""
        now = self.clock.monotonic()
        if self._open is not None and now >= self._opened_at + self.settings.flush_ms / 1000:
            self._seal()
        self._collect()
        stop = now + budget_s
        while self._inflight is None and now >= self._retry_at and self._has_work() and now < stop:
            self._submit_head()
            if not self._collect():
                return
            now = self.clock.monotonic()

    def _has_work(self) -> bool:
        return bool(self._queue) or len(self.spill) > 0

    def _submit_head(self) -> None:
        """Start committing the oldest work: up to MERGE_BATCHES queued batches merged into one transaction
        (a backlog then costs one fsync per merge, not per batch), else the oldest spilled batch."""
        if self._queue:
            batches = list(itertools.islice(self._queue, MERGE_BATCHES))
            batch, taken = (batches[0] if len(batches) == 1 else merge(batches)), len(batches)
        else:
            batch, taken = self.spill.peek(), 0
        assert batch is not None
        now = int(self.clock.time())
        self._inflight = (batch, taken, now)
        self.commits.submit(Job(batch.counts, now, self.settings.white_expiry))

    def _collect(self) -> bool:
        """Finish the running commit if its outcome is in; True when it committed (batches retired)."""
        if self._inflight is None:
            return False
        done = self.commits.outcome()
        if done is None:
            return False
        (batch, taken, now), self._inflight = self._inflight, None
        if done.result is None:
            self._back_off()
            return False
        for _ in range(taken):
            self._queued_addresses -= len(self._queue.popleft().counts)
        if not taken:
            self.spill.done()
        self._failures, self._retry_at = 0, 0.0
        self.stats.committed_batches += max(taken, 1)
        self.stats.committed_events += batch.events
        if self.on_commit is not None:
            self.on_commit(Commit(batch, now, done.result, done.seconds))
        return True

    def _back_off(self) -> None:
        self._failures += 1
        self.stats.retries += 1
        delay = min(self.settings.min_backoff_s * 2 ** (self._failures - 1), self.settings.max_backoff_s)
        self._retry_at = self.clock.monotonic() + delay

    @property
    def failing(self) -> bool:
        """True while the store keeps refusing the head batch."""
        return self._failures > 0

    def shutdown(self, deadline_s: float) -> None:
        """Seal, commit until `deadline_s` seconds have passed or the store fails, then spill the rest.

        A commit already running is always waited for (its batches must not be spilled as well)."""
        self._seal()
        stop = self.clock.monotonic() + deadline_s
        self.commits.wait()
        self._collect()
        while self._has_work() and self.clock.monotonic() < stop:
            self._submit_head()
            self.commits.wait()
            if not self._collect():
                break
        while self._queue:
            batch = self._queue.popleft()
            self.spill.append(batch)
            self.stats.spilled_batches += 1
            self.stats.spilled_events += batch.events
        self._queued_addresses = 0
