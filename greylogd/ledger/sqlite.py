"""The ledger's own SQLite file: tuples with their outcome, observed retries, and the last poll time.

Never greyd's database: greylogd writes greyd's tables only through the Store. The file uses WAL so that a
report reading it never blocks the poller, and a busy timeout so that two writers (daemon and a cron
`greylogd ledger --once`) wait for each other instead of failing. Each poll is one `BEGIN IMMEDIATE`
transaction: a crash or an error leaves the previous poll's state, which the next poll diffs against.

Open tuples (outcome NULL) were all present at the last poll, so their last_seen is `meta.last_poll` and is
not rewritten every poll; closed tuples store their own. Times are Unix seconds (UTC).
"""

from __future__ import annotations

import contextlib
import sqlite3
from collections.abc import Iterator
from pathlib import Path

from greylogd.errors import StoreError
from greylogd.ledger.diff import Diff
from greylogd.ledger.model import Closed, Retry, TupleState

SCHEMA = """
CREATE TABLE IF NOT EXISTS tuples (
    id INTEGER PRIMARY KEY,
    ip TEXT NOT NULL, helo TEXT NOT NULL, mail_from TEXT NOT NULL, rcpt_to TEXT NOT NULL,
    first INTEGER NOT NULL, pass INTEGER NOT NULL, expire INTEGER NOT NULL, bcount INTEGER NOT NULL,
    first_seen INTEGER NOT NULL, last_seen INTEGER NOT NULL, trapped_at INTEGER,
    outcome TEXT CHECK (outcome IN ('promoted', 'expired', 'trapped')), outcome_ts INTEGER,
    UNIQUE (ip, helo, mail_from, rcpt_to, first));
CREATE INDEX IF NOT EXISTS tuples_first ON tuples (first);
CREATE INDEX IF NOT EXISTS tuples_open ON tuples (ip) WHERE outcome IS NULL;
CREATE TABLE IF NOT EXISTS retries (
    tuple_id INTEGER NOT NULL REFERENCES tuples (id) ON DELETE CASCADE,
    ts INTEGER NOT NULL, observed_at INTEGER NOT NULL, bcount INTEGER NOT NULL);
CREATE INDEX IF NOT EXISTS retries_tuple ON retries (tuple_id);
CREATE INDEX IF NOT EXISTS retries_ts ON retries (ts);
CREATE TABLE IF NOT EXISTS meta (name TEXT PRIMARY KEY, value INTEGER NOT NULL);
"""
KEY = "ip = ? AND helo = ? AND mail_from = ? AND rcpt_to = ? AND first = ?"
STATE_COLUMNS = "ip, helo, mail_from, rcpt_to, first, pass, expire, bcount, first_seen, last_seen, trapped_at"
INSERT = (f"INSERT INTO tuples ({STATE_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) "
          "ON CONFLICT (ip, helo, mail_from, rcpt_to, first) DO UPDATE SET pass = excluded.pass, "
          "expire = excluded.expire, bcount = excluded.bcount, last_seen = excluded.last_seen, "
          "trapped_at = excluded.trapped_at, outcome = NULL, outcome_ts = NULL")
UPDATE = f"UPDATE tuples SET pass = ?, expire = ?, bcount = ?, trapped_at = ? WHERE {KEY}"
CLOSE = f"UPDATE tuples SET pass = ?, bcount = ?, last_seen = ?, outcome = ?, outcome_ts = ? WHERE {KEY}"
RETRY = f"INSERT INTO retries (tuple_id, ts, observed_at, bcount) SELECT id, ?, ?, ? FROM tuples WHERE {KEY}"
RETRIES = ("SELECT t.ip, t.helo, t.mail_from, t.rcpt_to, t.first, r.ts, r.observed_at, r.bcount"
           " FROM retries r JOIN tuples t ON t.id = r.tuple_id WHERE r.ts >= ? AND r.ts < ?"
           " ORDER BY r.ts, t.id")
TUPLES = ("SELECT ip, helo, mail_from, rcpt_to, first, CASE WHEN outcome IS NULL THEN ? ELSE last_seen END,"
          " pass, bcount, outcome, outcome_ts FROM tuples WHERE first >= ? AND first < ? ORDER BY first, id")


class SqliteLedgerDB:
    """One connection to the ledger file; errors become StoreError naming the file."""

    def __init__(self, path: str | Path, busy_timeout: float = 30.0) -> None:
        self.file = str(path)
        try:
            Path(self.file).parent.mkdir(parents=True, exist_ok=True)
            self._conn = sqlite3.connect(self.file, timeout=busy_timeout, isolation_level=None)
            self._conn.execute("PRAGMA journal_mode = WAL")
            self._conn.execute("PRAGMA foreign_keys = ON")
            self._conn.executescript(SCHEMA)
        except (OSError, sqlite3.Error) as exc:
            raise StoreError(f"{self.file}: cannot open the ledger: {exc}") from exc

    def write(self) -> contextlib.AbstractContextManager[sqlite3.Cursor]:
        """One BEGIN IMMEDIATE ... COMMIT: the write lock up front, so two pollers serialise cleanly."""
        return self._transaction("BEGIN IMMEDIATE")

    @contextlib.contextmanager
    def _transaction(self, begin: str) -> Iterator[sqlite3.Cursor]:
        """Run the body between `begin` and COMMIT; any error rolls back and is raised as StoreError."""
        try:
            self._conn.execute(begin)
            yield self._conn.cursor()
            self._conn.execute("COMMIT")
        except sqlite3.Error as exc:
            self._rollback()
            raise StoreError(f"{self.file}: {exc}") from exc
        except BaseException:
            self._rollback()
            raise

    def _rollback(self) -> None:
        if self._conn.in_transaction:
            self._conn.execute("ROLLBACK")

    @staticmethod
    def last_poll(cur: sqlite3.Cursor) -> int | None:
        row = cur.execute("SELECT value FROM meta WHERE name = 'last_poll'").fetchone()
        return None if row is None else int(row[0])

    @staticmethod
    def load_open(cur: sqlite3.Cursor, last_poll: int) -> list[TupleState]:
        """The open tuples as the last poll left them (the persisted 'last snapshot')."""
        rows = cur.execute(f"SELECT {STATE_COLUMNS} FROM tuples WHERE outcome IS NULL").fetchall()
        return [TupleState(*row[:9], last_seen=last_poll, trapped_at=row[10]) for row in rows]

    @staticmethod
    def apply(cur: sqlite3.Cursor, diff: Diff, now: int) -> None:
        """Write one poll's diff and move meta.last_poll to `now` (all within the caller's transaction)."""
        cur.executemany(INSERT, [_state_row(s) for s in diff.new])
        cur.executemany(UPDATE, [(s.pass_, s.expire, s.bcount, s.trapped_at, *s.key) for s in diff.changed])
        cur.executemany(CLOSE, [_closed_row(c) for c in diff.closed])
        cur.executemany(RETRY, [_retry_row(r) for r in diff.retries])
        cur.execute("INSERT INTO meta (name, value) VALUES ('last_poll', ?) "
                    "ON CONFLICT (name) DO UPDATE SET value = excluded.value", (now,))

    def prune(self, cutoff: int) -> int:
        """Delete closed tuples first seen before `cutoff` (their retries cascade); returns how many."""
        with self.write() as cur:
            cur.execute("DELETE FROM tuples WHERE first < ? AND outcome IS NOT NULL", (cutoff,))
            return cur.rowcount

    def tuples(self, start: int, end: int) -> tuple[list[tuple[object, ...]], int | None]:
        """Rows (ip, helo, from, to, first, last_seen, pass, bcount, outcome, outcome_ts) with first in
        [start, end), in one read transaction, and the last poll time."""
        with self._transaction("BEGIN") as cur:
            last = self.last_poll(cur)
            return cur.execute(TUPLES, (last, start, end)).fetchall(), last

    def retries(self, start: int, end: int) -> list[tuple[object, ...]]:
        """Rows (ip, helo, from, to, first, ts, observed_at, bcount) of retries with ts in [start, end)."""
        with self._transaction("BEGIN") as cur:
            return cur.execute(RETRIES, (start, end)).fetchall()

    def close(self) -> None:
        self._conn.close()


def _state_row(s: TupleState) -> tuple[object, ...]:
    return (*s.key, s.pass_, s.expire, s.bcount, s.first_seen, s.last_seen, s.trapped_at)


def _closed_row(c: Closed) -> tuple[object, ...]:
    s = c.state
    return (s.pass_, s.bcount, s.last_seen, c.outcome.value, c.outcome_ts, *s.key)


def _retry_row(r: Retry) -> tuple[object, ...]:
    return (r.ts, r.observed_at, r.bcount, *r.key)

