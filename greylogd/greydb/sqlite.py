"""greyd's SQLite database (spec/greyd-compat.md 1.2, 1.8), shared live with greyd.

The file is <path>/<db_name>; the directory is created mode 0700 as greyd's Mod_db_init does, and greyd's
CREATE TABLE IF NOT EXISTS runs on every open. The journal mode is left alone (greyd uses the default
rollback journal; switching the file to WAL would change it for greyd too).

Locking: every write is `BEGIN IMMEDIATE` ... `COMMIT`, so the write lock is taken up front and held only
for the few statements of one batch. A busy lock is waited for at most busy_timeout seconds (SQLite's busy
handler), then StoreError: the caller keeps the batch and retries, nothing is lost. Nothing else is ever
waited for while the lock is held.
"""

from __future__ import annotations

import contextlib
import itertools
import os
import sqlite3
from typing import Any

from greylogd.errors import StoreError
from greylogd.greydb.schema import SQLITE_CREATE, check_columns, expected_columns
from greylogd.greydb.sqlbase import Dialect, SqlStore
from greylogd.greydb.store import Entry
from greylogd.sqlite_txn import transaction

REFRESH_ROW = ("UPDATE entries SET pcount = ?, expire = ? WHERE ip = ? AND helo = '' AND `from` = '' AND "
               "`to` = ''")
ROWS_PER_INSERT = 100  # 900 bound parameters a statement: below 999, the limit of the oldest SQLite builds
DIALECT = Dialect(
    quote="`", param="?", with_host=False,
    put_entry="INSERT OR REPLACE INTO entries ({cols}) VALUES ({params})",
    put_key="INSERT OR IGNORE INTO {table}({column}) VALUES ({param})",
)


class SqliteStore(SqlStore):
    """A Store on greyd's SQLite file; one connection, used by one thread at a time (the daemon opens it in
    whichever thread needs it first and serialises its users, so sqlite3's same-thread check is off).

    Raises SchemaError when the file's tables lack greyd's columns, StoreError when it cannot be opened.
    """

    def __init__(self, path: str, db_name: str = "greyd.sqlite", *, busy_timeout: float = 10.0,
                 trapped_to_white: bool = False) -> None:
        super().__init__(DIALECT, greyd_host=None, trapped_to_white=trapped_to_white)
        self.file, self.busy_timeout = f"{path}/{db_name}", busy_timeout
        try:
            _make_dir(path)
            self._conn = sqlite3.connect(self.file, timeout=busy_timeout, isolation_level=None,
                                         check_same_thread=False)
            self._conn.text_factory = _decode
        except (OSError, sqlite3.Error) as exc:
            raise StoreError(f"{self.file}: cannot open greyd's database: {exc}") from exc
        try:
            self._create()
            self._check_schema()
        except BaseException:
            self._conn.close()
            raise

    def _create(self) -> None:
        """greyd's script, run like greyd's sqlite3_exec (autocommit): on existing tables it only reads, so
        opening never waits for greyd's write lock unless the tables must be created."""
        try:
            self._conn.executescript(SQLITE_CREATE)
        except sqlite3.Error as exc:
            raise StoreError(f"{self.file}: cannot create greyd's tables: {exc}") from exc

    def _check_schema(self) -> None:
        found = {}
        with self._read() as cur:
            for table in ("spamtraps", "domains", "entries"):
                rows = cur.execute(f"PRAGMA table_info({table})").fetchall()
                if rows:
                    found[table] = {row[1]: row[2] for row in rows}
        check_columns(found, expected_columns(with_host=False), self.file,
                      "greyd's SQLite schema is created by greyd (or greylogd) on a new file")

    def _put_rows(self, cur: sqlite3.Cursor, params: list[tuple[Any, ...]]) -> None:
        """Multi-row INSERT OR REPLACE, ROWS_PER_INSERT rows a statement (rows apply in order, so a later
        row of a key still wins). Against executemany it costs about 25% less CPU, and above all it steps
        SQLite once per 100 rows instead of once per row: each step releases and retakes the GIL, and in
        the daemon every retake can wait for the capture and logging threads."""
        head, group = self.sql.put_entry.split(" VALUES ")
        for start in range(0, len(params), ROWS_PER_INSERT):
            chunk = params[start:start + ROWS_PER_INSERT]
            cur.execute(f"{head} VALUES {', '.join([group] * len(chunk))}",
                        list(itertools.chain.from_iterable(chunk)))

    def _write_refresh(self, cur: sqlite3.Cursor, refreshed: list[Entry],
                       fresh: list[tuple[Any, ...]]) -> None:
        """Existing rows are UPDATEd in place (pcount and expire are all that changes, and neither is in the
        key's index), new rows inserted. INSERT OR REPLACE would delete and reinsert each existing row and
        its index entry: on a large greyd database that journals and fsyncs about twice the pages per
        transaction and costs about 40% more CPU."""
        cur.executemany(REFRESH_ROW, [(e.pcount, e.expire, e.ip) for e in refreshed])
        self._put_rows(cur, fresh)

    def _write(self) -> contextlib.AbstractContextManager[sqlite3.Cursor]:
        return self._transaction("BEGIN IMMEDIATE")

    def _read(self) -> contextlib.AbstractContextManager[sqlite3.Cursor]:
        return self._transaction("BEGIN")

    def _transaction(self, begin: str) -> contextlib.AbstractContextManager[sqlite3.Cursor]:
        return transaction(self._conn, begin, str(self.file),
                           f" (after waiting up to {self.busy_timeout:g} s)")

    def close(self) -> None:
        self._conn.close()


def _decode(raw: bytes) -> str:
    """greyd stores HELO/addresses as raw bytes from the network: undecodable bytes become surrogates
    (surrogateescape), so one hostile HELO neither breaks a snapshot nor changes what greylogd-db prints."""
    return raw.decode("utf-8", "surrogateescape")


def _make_dir(path: str) -> None:
    """mkdir(path, 0700) like greyd; an existing directory is left as it is (owner and mode)."""
    with contextlib.suppress(FileExistsError):
        os.mkdir(path, 0o700)
