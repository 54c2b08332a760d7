"""The ledger in its own SQLite file (never greyd's database: greylogd writes greyd's tables only through
the Store).

The file uses WAL so that a report reading it never blocks the poller, and a busy timeout so that two
writers (the daemon and a cron `greylogd ledger --once`) wait for each other instead of failing. Each
poll is one `BEGIN IMMEDIATE` transaction: a crash or an error leaves the previous poll's state, which
the next poll diffs against. Errors become StoreError naming the file. A 64 MiB page cache (SQLite's
default is 2 MiB) keeps the recent part of the tuple indexes, where every poll writes, in memory.
"""

from __future__ import annotations

import contextlib
import sqlite3
from pathlib import Path

import pyarrow as pa

from greylogd.errors import StoreError
from greylogd.ledger.columns import read_sqlite
from greylogd.ledger.sql import LedgerDB, statements
from greylogd.sqlite_txn import transaction

SQL = statements("?", "", "INTEGER PRIMARY KEY", "INTEGER")


class SqliteLedgerDB(LedgerDB):
    """One connection to the ledger file (created with its directory if missing)."""

    sql = SQL

    def __init__(self, path: str | Path, busy_timeout: float = 30.0) -> None:
        self.where = str(path)
        try:
            Path(self.where).parent.mkdir(parents=True, exist_ok=True)
            self._conn = sqlite3.connect(self.where, timeout=busy_timeout, isolation_level=None)
            self._conn.execute("PRAGMA journal_mode = WAL")
            self._conn.execute("PRAGMA foreign_keys = ON")
            self._conn.execute("PRAGMA synchronous = NORMAL")
            self._conn.execute("PRAGMA cache_size = -65536")
            with self.write() as cur:
                for statement in self.sql.schema:
                    cur.execute(statement)
        except (OSError, sqlite3.Error) as exc:
            raise StoreError(f"{self.where}: cannot open the ledger: {exc}") from exc

    def write(self) -> contextlib.AbstractContextManager[sqlite3.Cursor]:
        """BEGIN IMMEDIATE: the write lock up front, so two pollers serialise cleanly."""
        return self._transaction("BEGIN IMMEDIATE")

    def read(self) -> contextlib.AbstractContextManager[sqlite3.Cursor]:
        return self._transaction("BEGIN")

    def _transaction(self, begin: str) -> contextlib.AbstractContextManager[sqlite3.Cursor]:
        return transaction(self._conn, begin, self.where)

    def tuples(self, start: int, end: int) -> pa.Table:
        """As LedgerDB.tuples, read column-wise (columns.read_sqlite): no Python object per row. Text that
        is not UTF-8 (only a file written by something else holds it) is a StoreError naming the file."""
        try:
            with self.read() as cur:
                return read_sqlite(cur, self.position(cur)[0], start, end)
        except pa.ArrowInvalid as exc:
            raise StoreError(f"{self.where}: unreadable tuples: {exc}") from exc

    def close(self) -> None:
        self._conn.close()
