"""The ledger in schema `greylogd` of a PostgreSQL database (e.g. the server greyd's tables live on).

Never greyd's tables: everything is created in its own schema, on first connection. The connection is
opened lazily and dropped when lost, so a server that is down or restarting only makes a poll fail with
StoreError (nothing written); the next poll reconnects. Each write transaction first takes a
transaction-scoped advisory lock, so two pollers (daemon and cron) serialise like SQLite's BEGIN
IMMEDIATE. Error messages name the server and database, never the password.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import Any

import psycopg
from psycopg.conninfo import conninfo_to_dict

from greylogd.errors import StoreError
from greylogd.ledger.sql import LedgerDB, statements

SCHEMA_NAME = "greylogd"
SQL = statements("%s", f"{SCHEMA_NAME}.", "BIGSERIAL PRIMARY KEY", "BIGINT")
LOCK_KEY = 0x67726C67  # "grlg": the advisory lock id of ledger writers
DSN_PREFIXES = ("postgresql://", "postgres://")


def is_dsn(path_or_dsn: str) -> bool:
    """True for a libpq URI (postgresql://user@host:port/dbname), the ledger's PostgreSQL form."""
    return path_or_dsn.startswith(DSN_PREFIXES)


class PostgresLedgerDB(LedgerDB):
    """The ledger's tables in schema `greylogd` of the database named by a libpq URI."""

    sql = SQL

    def __init__(self, dsn: str, connect_timeout: int = 10) -> None:
        try:
            params = conninfo_to_dict(dsn)
        except psycopg.ProgrammingError as exc:
            raise StoreError(f"ledger: invalid PostgreSQL URI: {_one_line(exc)}") from exc
        self.dsn, self.connect_timeout = dsn, connect_timeout
        self.where = f"PostgreSQL ledger {params.get('host', 'localhost')}/{params.get('dbname', '')}"
        self._conn: psycopg.Connection[Any] | None = None

    def _connection(self) -> psycopg.Connection[Any]:
        if self._conn is None:
            try:
                conn = psycopg.connect(self.dsn, connect_timeout=self.connect_timeout)
                with conn.cursor() as cur:
                    cur.execute(f"CREATE SCHEMA IF NOT EXISTS {SCHEMA_NAME}")
                    for statement in self.sql.schema:
                        cur.execute(statement)
                conn.commit()
            except psycopg.Error as exc:
                raise StoreError(f"{self.where}: cannot open the ledger: {_one_line(exc)}") from exc
            self._conn = conn
        return self._conn

    def write(self) -> contextlib.AbstractContextManager[psycopg.Cursor[Any]]:
        return self._transaction(lock=True)

    def read(self) -> contextlib.AbstractContextManager[psycopg.Cursor[Any]]:
        return self._transaction(lock=False)

    @contextlib.contextmanager
    def _transaction(self, lock: bool) -> Iterator[psycopg.Cursor[Any]]:
        """One transaction; a driver error rolls back (or drops a lost connection) and becomes StoreError."""
        conn = self._connection()
        try:
            with conn.cursor() as cur:
                if lock:
                    cur.execute("SELECT pg_advisory_xact_lock(%s)", (LOCK_KEY,))
                yield cur
            conn.commit()
        except psycopg.Error as exc:
            self._abandon(conn)
            raise StoreError(f"{self.where}: {_one_line(exc)}") from exc
        except BaseException:
            self._abandon(conn)
            raise

    def _abandon(self, conn: psycopg.Connection[Any]) -> None:
        try:
            conn.rollback()
        except psycopg.Error:
            self.close()

    def close(self) -> None:
        conn, self._conn = self._conn, None
        if conn is not None:
            with contextlib.suppress(psycopg.Error):
                conn.close()


def _one_line(exc: BaseException) -> str:
    """libpq messages span lines (DETAIL, HINT); the first non-empty one says what failed."""
    return next((line.strip() for line in str(exc).splitlines() if line.strip()), type(exc).__name__)
