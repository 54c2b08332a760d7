"""Where Store.refresh_white runs: inline (the refresher's logic tests) or on a writer thread (the daemon).

Why a thread: a batch commit is mostly waiting (SQLite's fsyncs, a busy lock, a PostgreSQL round trip), and
the sqlite3/psycopg/PyMySQL drivers release the GIL while they wait, so the capture loop keeps reading the
netlink socket during a commit instead of letting the kernel queue (and, past its buffer, drop) events.

Contract shared by both runners: `submit(job)` starts one store call (never while one is running);
`outcome()` returns its Outcome once finished, else None, and never blocks; `wait()` blocks until the
running call (if any) has finished. A StoreError is an Outcome (the refresher backs off and retries the
same batch: a failed transaction changed nothing); any other exception is a bug and is re-raised by
outcome()/wait() in the caller's thread. The store object itself is only ever called by one thread at a
time; the daemon's other users of it (ledger polls, reloads) serialise through LazyStore's lock.
"""

from __future__ import annotations

import contextlib
import os
import threading
import time
from dataclasses import dataclass
from typing import Protocol

from greylogd.errors import StoreError
from greylogd.greydb.store import RefreshResult, Store


@dataclass(frozen=True)
class Job:
    """One refresh_white call: address text -> connections, greyd's `now` and white_expiry (seconds)."""

    counts: dict[str, int]
    now: int
    white_expiry: int


@dataclass(frozen=True)
class Outcome:
    """A finished call: the store's answer or its StoreError, and the seconds it took (wall clock)."""

    result: RefreshResult | None
    error: StoreError | None
    seconds: float


class Commits(Protocol):
    """What the refresher needs from a runner (see the module docstring)."""

    def submit(self, job: Job) -> None: ...

    def outcome(self) -> Outcome | None: ...

    def wait(self) -> None: ...


def run_job(store: Store, job: Job) -> Outcome:
    """Call the store once; StoreError becomes an Outcome, anything else propagates."""
    started = time.monotonic()
    try:
        result = store.refresh_white(job.counts, job.now, job.white_expiry)
    except StoreError as exc:
        return Outcome(None, exc, time.monotonic() - started)
    return Outcome(result, None, time.monotonic() - started)


class InlineCommits:
    """Runs each job inside submit(): deterministic, for the refresher's logic tests and tools."""

    def __init__(self, store: Store) -> None:
        self._store, self._done = store, None

    def submit(self, job: Job) -> None:
        self._done = run_job(self._store, job)

    def outcome(self) -> Outcome | None:
        done, self._done = self._done, None
        return done

    def wait(self) -> None:
        """Nothing runs in the background here."""


class ThreadCommits:
    """Runs each job on one daemon thread; fileno() becomes readable when an outcome is ready, so a
    selectors loop can wait for it next to its other fds."""

    def __init__(self, store: Store) -> None:
        self._store = store
        self._cond = threading.Condition()
        self._job: Job | None = None
        self._done: Outcome | BaseException | None = None
        self._closed = False
        self._rfd, self._wfd = os.pipe2(os.O_NONBLOCK | os.O_CLOEXEC)
        self._thread = threading.Thread(target=self._serve, name="greylogd-commit", daemon=True)
        self._thread.start()

    def fileno(self) -> int:
        return self._rfd

    def submit(self, job: Job) -> None:
        with self._cond:
            assert self._job is None and self._done is None, "one store call at a time"
            self._job = job
            self._cond.notify_all()

    def outcome(self) -> Outcome | None:
        with self._cond:
            done, self._done = self._done, None
        if done is None:
            return None
        with contextlib.suppress(BlockingIOError):
            os.read(self._rfd, 64)  # the one byte _serve wrote for this outcome
        if isinstance(done, BaseException):
            raise done
        return done

    def wait(self) -> None:
        with self._cond:
            self._cond.wait_for(lambda: self._job is None)

    def close(self) -> None:
        """Wait for a running call, stop the thread and close the pipe (idempotent)."""
        with self._cond:
            if self._closed:
                return
            self._closed = True
            self._cond.notify_all()
        self._thread.join()
        os.close(self._rfd)
        os.close(self._wfd)

    def _serve(self) -> None:
        while True:
            with self._cond:
                self._cond.wait_for(lambda: self._job is not None or self._closed)
                job = self._job
            if job is None:
                return
            try:
                done: Outcome | BaseException = run_job(self._store, job)
            except BaseException as exc:  # a bug: handed to the loop thread, which re-raises it
                done = exc
            with self._cond:
                self._job, self._done = None, done
                self._cond.notify_all()
            os.write(self._wfd, b"c")
