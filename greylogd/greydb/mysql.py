"""greyd's MySQL/MariaDB database (spec/greyd-compat.md 1.4) through PyMySQL with bound parameters.

greyd never creates these tables: the admin loads drivers/mysql_schema.sql
(`greylogd-db --print-schema mysql | mysql greyd`); a database without them is refused with SchemaError.
Writes are greyd's `REPLACE INTO` / `INSERT IGNORE` and stamp greyd_host, which greyd's scan uses to pick
the rows it expires and promotes. Note the latin1 tables compare keys case-insensitively (unlike SQLite/PG).
"""

from __future__ import annotations

import pymysql

from greylogd.greydb.netstore import NetworkStore
from greylogd.greydb.sqlbase import Dialect

DIALECT = Dialect(
    quote="`", param="%s", with_host=True,
    put_entry="REPLACE INTO entries ({cols}) VALUES ({params})",
    put_key="INSERT IGNORE INTO {table}({column}) VALUES ({param})",
    lock=" FOR UPDATE",
)


class MysqlStore(NetworkStore):
    """A Store on greyd's MySQL tables; connects lazily, reconnects after a lost connection.

    `socket` is the server's Unix socket path (used instead of host/port when set). busy_timeout (seconds,
    at least 1) bounds the wait for a row lock held by greyd (innodb_lock_wait_timeout).
    """

    errors = (pymysql.err.Error,)
    lost = (pymysql.err.OperationalError, pymysql.err.InterfaceError)
    current_schema = "DATABASE()"
    hint = "load greyd's schema: greylogd-db --print-schema mysql | mysql <database>"

    def __init__(self, *, host: str = "localhost", port: int | str = 3306, dbname: str = "greyd",
                 user: str | None = None, password: str | None = None, socket: str | None = None,
                 greyd_host: str, busy_timeout: float = 10.0, trapped_to_white: bool = False) -> None:
        self.params = {"host": host, "port": int(port), "database": dbname, "user": user,
                       "password": password or "", "unix_socket": socket}
        self.busy_timeout = busy_timeout
        where = f"mysql://{socket or f'{host}:{port}'}/{dbname}"
        super().__init__(DIALECT, where, greyd_host=greyd_host, trapped_to_white=trapped_to_white)

    def _connect(self) -> pymysql.connections.Connection:
        conn = pymysql.connect(**self.params, charset="utf8mb4", autocommit=False, connect_timeout=10,
                               read_timeout=60, write_timeout=60)
        with conn.cursor() as cur:
            cur.execute("SET SESSION innodb_lock_wait_timeout = %s", (max(1, round(self.busy_timeout)),))
        return conn
