"""open_store: the one place that turns greyd.conf's `database` section into a Store."""

from __future__ import annotations

from typing import TYPE_CHECKING

from greylogd.errors import ConfigError
from greylogd.greydb.mysql import MysqlStore
from greylogd.greydb.postgres import PostgresStore
from greylogd.greydb.sqlite import SqliteStore
from greylogd.greydb.store import Store

if TYPE_CHECKING:
    from greylogd.config import DatabaseSettings


def open_store(db: DatabaseSettings, *, hostname: str | None = None, trapped_to_white: bool = False) -> Store:
    """Open greyd's database as configured.

    hostname: greyd_host written into MySQL/PostgreSQL rows; None keeps db.greyd_host (the config's
    `hostname`, else this machine's name, so greyd's scan expires and promotes our rows). busy_timeout is
    in milliseconds. trapped_to_white: greyd's behaviour of whitening TRAPPED rows on a connection event.
    Raises SchemaError for a database without greyd's tables, StoreError when SQLite cannot be opened,
    and ConfigError for a backend greylogd does not drive. An unreachable PostgreSQL/MySQL server is not
    an error here: the store connects on its first operation (which raises StoreError until it answers).
    """
    host = db.greyd_host if hostname is None else hostname
    timeout = db.busy_timeout / 1000
    if db.backend == "sqlite":
        return SqliteStore(db.path, db.db_name, busy_timeout=timeout, trapped_to_white=trapped_to_white)
    server = {"host": db.host, "port": db.port, "dbname": db.name, "user": db.user, "password": db.password,
              "socket": db.socket, "greyd_host": host, "busy_timeout": timeout,
              "trapped_to_white": trapped_to_white}
    if db.backend in ("postgresql", "mysql"):
        store = (PostgresStore if db.backend == "postgresql" else MysqlStore)(**server)
        store.probe()
        return store
    raise ConfigError(f"database.driver {db.driver!r}: greylogd drives greyd's sqlite, postgresql and mysql "
                      "modules only")
