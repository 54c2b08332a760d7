"""The Ledger: every GREY tuple greyd ever held, with its retries and outcome, kept by polling greyd's DB.

greyd forgets a tuple within 60 s of its promotion (its helo/from/to are erased) and 4 h after its last
chance; polling greyd's database every `ledger_interval` seconds (below greyd's 60 s scan) and diffing
consecutive snapshots keeps the history the weekly report needs (spec/report.md, frame `tuples`).

Contract: greyd's database is only read, through Store.snapshot() (one short read-only transaction); the
ledger lives in its own file. A poll is all-or-nothing: a busy or failing greyd database raises StoreError
before anything is written, and the next poll diffs against the same stored state, so a missed poll loses
no tuple (only the precision of timestamps inside the longer interval). Snapshots must be applied in time
order; an older one than the last applied (two pollers racing) is skipped and logged.
"""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from types import TracebackType

import pandas as pd

from greylogd.greydb.store import Entry, Store
from greylogd.ledger.diff import Changes, Diff, diff, diff_changes
from greylogd.ledger.frame import retries_frame, tuples_frame, unix_bound
from greylogd.ledger.model import Outcome
from greylogd.ledger.opentuples import OpenTuples
from greylogd.ledger.postgres import PostgresLedgerDB, is_dsn
from greylogd.ledger.sql import LedgerDB
from greylogd.ledger.sqlite import SqliteLedgerDB

log = logging.getLogger(__name__)
DAY_S = 86400


@dataclass(frozen=True, slots=True)
class PollResult:
    """Counts of one poll: tuples first seen, tuples whose bcount grew, tuples closed per outcome, tuples
    still open afterwards; observed_at is the time the poll was recorded at (Unix s); skipped is True when
    the snapshot was older than the last applied one and was ignored."""

    new: int = 0
    retried: int = 0
    promoted: int = 0
    expired: int = 0
    trapped: int = 0
    pending: int = 0
    observed_at: int = 0
    skipped: bool = False

    @classmethod
    def of(cls, d: Diff, opened: int, now: int) -> PollResult:
        outcomes = [c.outcome for c in d.closed]
        return cls(len(d.new), len({r.key for r in d.retries}), outcomes.count(Outcome.PROMOTED),
                   outcomes.count(Outcome.EXPIRED), outcomes.count(Outcome.TRAPPED),
                   opened + len(d.new) - len(d.closed), now)


class Ledger:
    """greylogd's tuple history: in its own SQLite file (created with its directory if missing), or, when
    `path_or_dsn` is a libpq URI (postgresql://user@host:port/dbname), in schema `greylogd` of that
    PostgreSQL database (created on first use; greyd's tables are never touched).

    retention_days bounds the file: prune() deletes closed tuples first seen longer ago than that.
    white_expiry: greyd's grey.white_expiry (seconds), optional; it dates greyd's promotions, which decides
    the rare tuple that expired or was promoted in the very scan that promoted another tuple of its IP.
    """

    def __init__(self, path_or_dsn: str | os.PathLike[str], *, retention_days: int = 400,
                 busy_timeout: float = 30.0, white_expiry: int | None = None) -> None:
        self.retention_days, self.white_expiry = retention_days, white_expiry
        where = os.fspath(path_or_dsn)
        self._db: LedgerDB = PostgresLedgerDB(where) if is_dsn(where) else SqliteLedgerDB(where, busy_timeout)
        # The open tuples after the last poll this object applied, tagged with the stored generation it
        # produced: reused while no other process has polled in between (saves reloading them every poll).
        self._open: tuple[int, OpenTuples] | None = None

    def __enter__(self) -> Ledger:
        return self

    def __exit__(self, kind: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.close()

    def close(self) -> None:
        self._db.close()

    def poll(self, store: Store, now: int) -> PollResult:
        """Snapshot greyd's database and record what changed. `now` (Unix s, greyd's clock) is read just
        before the call; whole seconds spent waiting for greyd's lock are added to it, so the observation
        time is never earlier than the snapshot. StoreError from the store propagates with nothing written.
        """
        started = time.monotonic()
        entries = store.snapshot()
        return self.observe(entries, now + int(time.monotonic() - started))

    def observe(self, entries: list[Entry], now: int) -> PollResult:
        """Record a whole snapshot of greyd's rows read at `now` (Unix s)."""
        return self._record(now, lambda opened, since: diff(opened, entries, now, since, self.white_expiry))

    def observe_changes(self, changes: Changes, now: int) -> PollResult:
        """Record greyd's rows at `now` (Unix s) given as what changed since the snapshot of the last poll
        stored in this ledger (diff.Changes): for a caller that drives greyd itself and knows every write,
        like the demo. The same rows are written as observe() of the whole snapshot would write."""
        return self._record(now, lambda opened, since: diff_changes(opened, changes, now, since,
                                                                    self.white_expiry))

    def _record(self, now: int, compare: Callable[[OpenTuples, int | None], Diff]) -> PollResult:
        """One poll in one write transaction: diff against the stored open tuples, apply, move last_poll."""
        with self._db.write() as cur:
            last, generation = self._db.position(cur)
            if last is not None and now < last:
                log.warning("ledger: snapshot at %d is older than the last poll at %d, skipped", now, last)
                return PollResult(observed_at=now, skipped=True)
            opened = self._open[1] if self._open is not None and self._open[0] == generation else None
            if opened is None:
                opened = OpenTuples(self._db.load_open(cur))
            self._open = None  # until this poll is stored: the in-place update below is not transactional
            count = len(opened)
            changes = compare(opened, last)
            self._db.apply(cur, changes, now)
            changes.apply_to(opened)
        self._open = (generation + 1, opened)
        return PollResult.of(changes, count, now)

    def read_tuples(self, start: int | datetime | pd.Timestamp,
                    end: int | datetime | pd.Timestamp) -> pd.DataFrame:
        """The `tuples` frame (analysis.frames.TUPLES) of tuples whose `first` is in [start, end), ordered
        by first. Bounds are tz-aware datetimes or Unix seconds. Open tuples are 'pending', last_seen =
        the last poll, outcome_ts NaT."""
        return tuples_frame(self._db.tuples(unix_bound(start), unix_bound(end)))

    def read_retries(self, start: int | datetime | pd.Timestamp,
                     end: int | datetime | pd.Timestamp) -> pd.DataFrame:
        """The observed retries (frame.RETRIES) with ts in [start, end), ordered by ts."""
        return retries_frame(self._db.retries(unix_bound(start), unix_bound(end)))

    def prune(self, now: int) -> int:
        """Delete closed tuples first seen more than retention_days before `now`; returns how many."""
        return self._db.prune(now - self.retention_days * DAY_S)
