"""Every Store operation on the three real databases: SQLite files, and PostgreSQL 15 / MariaDB servers
started on loopback (tests/integration/servers.py), each holding greyd's schema as greyd or its admin
creates it."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from greylogd.errors import SchemaError, StoreError
from greylogd.greydb.mysql import MysqlStore
from greylogd.greydb.postgres import PostgresStore
from greylogd.greydb.sqlbase import SqlStore
from greylogd.greydb.sqlite import SqliteStore
from greylogd.greydb.store import Entry, Kind, RefreshResult
from tests.integration.servers import mariadb_server, postgres_server  # noqa: F401  (session fixtures)

HOST = "mx1.test.example"
NOW, W = 1_800_000_000, 3_110_400


@dataclass
class Backend:
    """One database under test: how to open a Store on it and a raw DB-API connection for greyd's SQL."""

    name: str
    open: Callable[..., SqlStore]
    raw: Callable[[], Any]
    param: str  # placeholder of the raw connection

    def run(self, sql: str, params: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
        """Execute one statement on a fresh raw autocommit connection; rows of a SELECT, else []."""
        conn = self.raw()
        try:
            cur = conn.cursor()
            cur.execute(sql.replace("?", self.param), params)
            return list(cur.fetchall()) if cur.description else []
        finally:
            conn.close()


def _sqlite(tmp_path: Path) -> Backend:
    import sqlite3

    directory = str(tmp_path / "greyd")

    def raw() -> sqlite3.Connection:
        return sqlite3.connect(f"{directory}/greyd.sqlite", isolation_level=None)

    def open_store(greyd_host: str | None = None, **kw: Any) -> SqlStore:
        del greyd_host  # SQLite has no greyd_host column
        return SqliteStore(directory, busy_timeout=5, **kw)

    return Backend("sqlite", open_store, raw, "?")


def _server(name: str, server: Any, cls: type[SqlStore]) -> Backend:
    server.reset_greyd_schema()
    params = server.params()

    def open_store(greyd_host: str = HOST, **kw: Any) -> SqlStore:
        return cls(host=params["host"], port=params["port"], user=params["user"], greyd_host=greyd_host,
                   busy_timeout=5, **kw)

    return Backend(name, open_store, server.connect, "%s")


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.server),
                        pytest.param("mysql", marks=pytest.mark.server)])
def backend(request: pytest.FixtureRequest, tmp_path: Path) -> Backend:
    if request.param == "sqlite":
        return _sqlite(tmp_path)
    if request.param == "postgresql":
        return _server("postgresql", request.getfixturevalue("postgres_server"), PostgresStore)
    return _server("mysql", request.getfixturevalue("mariadb_server"), MysqlStore)


@pytest.fixture
def store(backend: Backend) -> Iterator[SqlStore]:
    opened = backend.open()
    yield opened
    opened.close()


def _host(backend: Backend) -> str | None:
    return None if backend.name == "sqlite" else HOST


def test_every_kind_round_trips(backend: Backend, store: SqlStore) -> None:
    host = _host(backend)
    entries = [
        Entry(Kind.GREY, "203.0.113.5", "mx.x.org", "a@x.org", "b@y.net", 1700000000, 1700014400, 1700014400,
              1, 0),
        Entry(Kind.WHITE, "2001:db8::1", first=1795420921, pass_=1795420921, expire=1798531321, bcount=1),
        Entry(Kind.TRAPPED, "198.51.100.7", first=1795420921, expire=1795507321, bcount=1, pcount=-1),
        Entry(Kind.SPAMTRAP, "spam.trap@example.org", pcount=-2),
        Entry(Kind.DOMAIN, "@example.org", pcount=-3),
        Entry(Kind.WHITE, "192.0.2.10", first=1795420921, pass_=1795420921, expire=1798531321, bcount=1),
    ]
    store.add(entries)
    stamped = [Entry(**{**_fields(e), "greyd_host": host if e.kind not in (Kind.SPAMTRAP, Kind.DOMAIN)
                        else None}) for e in entries]
    assert store.snapshot() == [stamped[5], stamped[2], stamped[1], stamped[0], stamped[4], stamped[3]]
    assert list(store.iter_entries()) == store.snapshot()
    assert backend.run("SELECT ip, helo, `from`, `to` FROM entries WHERE pcount = -1".replace(
        "`", '"' if backend.name == "postgresql" else "`")) == [("198.51.100.7", "", "", "")]
    store.delete(entries)
    assert store.snapshot() == []
    store.delete(entries)  # missing keys: nothing to do, no error (greydb -d on SQL drivers)


def _fields(entry: Entry) -> dict[str, Any]:
    return {name: getattr(entry, name) for name in Entry.__slots__}


def test_sqlite_stores_integers_and_text(tmp_path: Path) -> None:
    backend = _sqlite(tmp_path)
    with _closing(backend.open()) as store:
        store.refresh_white({"192.0.2.1": 1}, NOW, W)
    assert backend.run("SELECT typeof(ip), typeof(helo), typeof(first), typeof(pcount) FROM entries") == [
        ("text", "text", "integer", "integer")]
    assert backend.run("PRAGMA journal_mode") == [("delete",)]


def test_refresh_new_existing_and_trapped(backend: Backend, store: SqlStore) -> None:
    host = _host(backend)
    store.add([Entry(Kind.WHITE, "192.0.2.1", first=100, pass_=200, expire=300, bcount=4, pcount=7),
               Entry(Kind.TRAPPED, "192.0.2.2", first=110, pass_=0, expire=400, bcount=2, pcount=-1)])
    result = store.refresh_white({"192.0.2.1": 3, "192.0.2.2": 2, "2001:db8::5": 4}, NOW, W)
    assert result == RefreshResult(created=("2001:db8::5",), refreshed=("192.0.2.1",),
                                   trapped_kept=("192.0.2.2",))
    assert store.snapshot() == [
        Entry(Kind.WHITE, "192.0.2.1", first=100, pass_=200, expire=NOW + W, bcount=4, pcount=10,
              greyd_host=host),
        Entry(Kind.TRAPPED, "192.0.2.2", first=110, pass_=0, expire=400, bcount=2, pcount=-1,
              greyd_host=host),
        Entry(Kind.WHITE, "2001:db8::5", first=NOW, pass_=NOW, expire=NOW + W, bcount=0, pcount=4,
              greyd_host=host),
    ]
    assert store.refresh_white({}, NOW, W) == RefreshResult()


def test_refresh_trapped_to_white_restores_greyds_behaviour(backend: Backend) -> None:
    with _closing(backend.open(trapped_to_white=True)) as store:
        store.add([Entry(Kind.TRAPPED, "192.0.2.2", first=110, pass_=0, expire=400, bcount=2, pcount=-1)])
        assert store.refresh_white({"192.0.2.2": 2}, NOW, W) == RefreshResult(refreshed=("192.0.2.2",))
        assert store.snapshot() == [Entry(Kind.WHITE, "192.0.2.2", first=110, pass_=0, expire=NOW + W,
                                          bcount=2, pcount=1, greyd_host=_host(backend))]


def test_greydb_add_merges_into_existing_ip_rows(backend: Backend, store: SqlStore) -> None:
    host = _host(backend)
    white = Entry(Kind.WHITE, "192.0.2.7", first=NOW, pass_=NOW, expire=NOW + W, bcount=1, pcount=0)
    trap = Entry(Kind.TRAPPED, "192.0.2.7", first=NOW + 5, pass_=0, expire=NOW + 86400, bcount=1, pcount=-1)
    store.add([white])
    store.add([Entry(Kind.WHITE, "192.0.2.7", first=NOW + 9, pass_=NOW + 9, expire=NOW + 9 + W, bcount=1)])
    assert store.snapshot() == [Entry(Kind.WHITE, "192.0.2.7", first=NOW, pass_=NOW + 9, expire=NOW + 9 + W,
                                      bcount=1, pcount=1, greyd_host=host)]
    store.add([trap])
    assert store.snapshot() == [Entry(Kind.TRAPPED, "192.0.2.7", first=NOW, pass_=NOW + 9, expire=NOW + 86400,
                                      bcount=1, pcount=-1, greyd_host=host)]
    store.add([white])  # a TRAPPED row becomes WHITE with pcount 0, like greydb -a
    assert store.snapshot() == [Entry(Kind.WHITE, "192.0.2.7", first=NOW, pass_=NOW, expire=NOW + W,
                                      bcount=1, pcount=0, greyd_host=host)]


def test_bad_row_is_reported_in_one_line(backend: Backend, store: SqlStore) -> None:
    quote = '"' if backend.name == "postgresql" else "`"
    backend.run(f"INSERT INTO entries (ip, helo, {quote}from{quote}, {quote}to{quote}, {quote}first{quote},"
                " pass, expire, bcount, pcount) VALUES ('192.0.2.9', '', '', '', NULL, 1, 2, 0, 1)")
    message = "entries row (ip='192.0.2.9', helo='', from='', to=''): field first is None, not an integer"
    for operation in (store.snapshot, lambda: store.refresh_white({"192.0.2.9": 1}, NOW, W)):
        with pytest.raises(StoreError) as caught:
            operation()
        assert str(caught.value) == message
    assert store.refresh_white({"192.0.2.8": 1}, NOW, W) == RefreshResult(created=("192.0.2.8",))


def test_sqlite_non_integer_counter_is_named(tmp_path: Path) -> None:
    backend = _sqlite(tmp_path)
    with _closing(backend.open()) as store:
        backend.run("INSERT INTO entries VALUES ('192.0.2.9', 'h', 'a@x', 'b@y', 'abc', 1, 2, 0, 1)")
        with pytest.raises(StoreError) as caught:
            store.snapshot()
    assert str(caught.value) == ("entries row (ip='192.0.2.9', helo='h', from='a@x', to='b@y'): "
                                 "field first is 'abc', not an integer")


def test_wrong_schema_is_refused_with_one_schema_error(backend: Backend) -> None:
    backend.open().close()  # SQLite: greyd's tables exist once a store (or greyd) has opened the file
    backend.run("ALTER TABLE entries DROP COLUMN pcount")
    with pytest.raises(SchemaError) as caught:
        store = backend.open()
        store.snapshot()  # PostgreSQL/MySQL connect (and check) on first use
    where = caught.value.args[0].split(": ")[0]
    hint = {"sqlite": "greyd's SQLite schema is created by greyd (or greylogd) on a new file",
            "postgresql": "load greyd's schema: greylogd-db --print-schema postgresql | psql <database>",
            "mysql": "load greyd's schema: greylogd-db --print-schema mysql | mysql <database>"}[backend.name]
    assert str(caught.value) == f"{where}: table entries has no column pcount; {hint}"
    assert where.endswith("/greyd.sqlite" if backend.name == "sqlite" else "/greyd")


class _closing:
    """Close a store at the end of a with block (SqlStore has close() but is not a context manager)."""

    def __init__(self, store: SqlStore) -> None:
        self.store = store

    def __enter__(self) -> SqlStore:
        return self.store

    def __exit__(self, *exc: object) -> None:
        self.store.close()
