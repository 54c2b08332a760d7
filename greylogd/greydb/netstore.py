"""What PostgreSQL and MySQL stores share: a lazily (re)opened DB-API connection, schema verification on
every connect, and transactions that turn driver errors into StoreError.

A server restart or a dropped connection must only delay writes: the failing call raises StoreError and
forgets the connection; the next call connects again (and checks the schema again). The retry loop itself
belongs to the caller (the daemon's durable queue).
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import Any

from greylogd.errors import SchemaError, StoreError
from greylogd.greydb.schema import check_columns, expected_columns
from greylogd.greydb.sqlbase import Dialect, SqlStore

_TABLES = "('spamtraps', 'domains', 'entries')"


class NetworkStore(SqlStore):
    """Base of PostgresStore and MysqlStore; subclasses implement _connect() and set the class attributes.

    errors: the driver's base exception; lost: exceptions after which the connection is discarded;
    current_schema: SQL expression naming the schema greyd's tables must be in; hint: how to load them.
    """

    errors: tuple[type[Exception], ...] = ()
    lost: tuple[type[Exception], ...] = ()
    current_schema = ""
    hint = ""

    def __init__(self, dialect: Dialect, where: str, *, greyd_host: str, trapped_to_white: bool) -> None:
        super().__init__(dialect, greyd_host=greyd_host, trapped_to_white=trapped_to_white)
        self.where = where
        self._conn: Any = None

    def _connect(self) -> Any:
        """A new DB-API connection with autocommit off, or the driver's exception."""
        raise NotImplementedError

    def connection(self) -> Any:
        """The open connection, connecting and checking greyd's schema first if there is none."""
        if self._conn is None:
            try:
                conn = self._connect()
            except self.errors as exc:
                raise StoreError(f"{self.where}: cannot connect: {_one_line(exc)}") from exc
            self._conn = conn
            try:
                self._check_schema()
            except BaseException:
                self.close()
                raise
        return self._conn

    def probe(self) -> None:
        """Connect now if the server answers, so a wrong schema is refused at start (SchemaError); an
        unreachable server is not an error here: writes wait for it (the next call connects again)."""
        try:
            self.connection()
        except SchemaError:
            raise
        except StoreError:
            return

    def _check_schema(self) -> None:
        found: dict[str, dict[str, str]] = {}
        with self._read() as cur:
            cur.execute("SELECT table_name, column_name, data_type FROM information_schema.columns"
                        f" WHERE table_schema = {self.current_schema} AND table_name IN {_TABLES}")
            for table, column, data_type in cur.fetchall():
                found.setdefault(table, {})[column] = data_type
        check_columns(found, expected_columns(with_host=True), self.where, self.hint)

    @contextlib.contextmanager
    def _transaction(self) -> Iterator[Any]:
        """One transaction: commit on success; on a driver error roll back (or drop a lost connection) and
        raise StoreError."""
        conn = self.connection()
        try:
            with conn.cursor() as cur:
                yield cur
            conn.commit()
        except self.errors as exc:
            self._abandon(conn, exc)
            raise StoreError(f"{self.where}: {_one_line(exc)}") from exc
        except BaseException as exc:
            self._abandon(conn, exc)
            raise

    def _abandon(self, conn: Any, exc: BaseException) -> None:
        """Roll back; forget the connection if it is lost or the rollback itself fails."""
        if isinstance(exc, self.lost):
            self.close()
            return
        try:
            conn.rollback()
        except self.errors:
            self.close()

    _write = _transaction
    _read = _transaction

    def close(self) -> None:
        conn, self._conn = self._conn, None
        if conn is not None:
            with contextlib.suppress(*self.errors):
                conn.close()


def _one_line(exc: BaseException) -> str:
    """Driver messages span lines (libpq adds DETAIL/HINT lines); keep the first non-empty one."""
    lines = [line.strip() for line in str(exc).splitlines() if line.strip()]
    return lines[0] if lines else type(exc).__name__
