"""greyd's PostgreSQL database (spec/greyd-compat.md 1.3) through psycopg 3 with bound parameters.

greyd never creates these tables: the admin loads drivers/postgresql_schema.sql
(`greylogd-db --print-schema postgresql | psql greyd`); a database without them is refused with SchemaError.
Writes are greyd's upsert (INSERT ... ON CONFLICT DO UPDATE, EXCLUDED.*) and stamp greyd_host, which greyd's
scan uses to pick the rows it expires and promotes. Rows about to be rewritten are read FOR UPDATE.
"""

from __future__ import annotations

from typing import Any

import psycopg

from greylogd.greydb.netstore import NetworkStore
from greylogd.greydb.sqlbase import Dialect

_UPDATE = ", ".join(f'"{c}" = EXCLUDED."{c}"' for c in ("first", "pass", "expire", "bcount", "pcount",
                                                        "greyd_host"))
DIALECT = Dialect(
    quote='"', param="%s", with_host=True,
    put_entry=('INSERT INTO entries ({cols}) VALUES ({params}) ON CONFLICT ("ip", "helo", "from", "to")'
               f" DO UPDATE SET {_UPDATE}"),
    put_key="INSERT INTO {table}({column}) VALUES ({param}) ON CONFLICT DO NOTHING",
    lock=" FOR UPDATE",
)


class PostgresStore(NetworkStore):
    """A Store on greyd's PostgreSQL tables; connects lazily, reconnects after a lost connection.

    Connection keywords are libpq's. `socket` (greyd's key, which libpq does not know) is used as the host
    when set: libpq reads a host starting with `/` as the directory of the server's Unix socket.
    busy_timeout (seconds) bounds the wait for a row lock held by greyd (lock_timeout).
    """

    errors = (psycopg.Error,)
    lost = (psycopg.OperationalError, psycopg.InterfaceError)
    current_schema = "current_schema()"
    hint = "load greyd's schema: greylogd-db --print-schema postgresql | psql <database>"

    def __init__(self, *, host: str = "localhost", port: str | int = "5432", dbname: str = "greyd",
                 user: str | None = None, password: str | None = None, socket: str | None = None,
                 greyd_host: str, busy_timeout: float = 10.0, trapped_to_white: bool = False) -> None:
        self.params: dict[str, Any] = {"host": socket or host, "port": str(port), "dbname": dbname,
                                       "user": user, "password": password, "connect_timeout": 10}
        self.busy_timeout = busy_timeout
        where = f"postgresql://{socket or host}:{port}/{dbname}"
        super().__init__(DIALECT, where, greyd_host=greyd_host, trapped_to_white=trapped_to_white)

    def _connect(self) -> psycopg.Connection[Any]:
        params = {k: v for k, v in self.params.items() if v is not None}
        conn = psycopg.connect(**params, autocommit=True)
        conn.execute(f"SET lock_timeout = {int(self.busy_timeout * 1000)}")
        conn.autocommit = False
        return conn
