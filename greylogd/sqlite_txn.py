"""One SQLite transaction helper for greyd's database and greylogd's ledger.

Both open their connections with isolation_level=None so that the transaction mode (BEGIN IMMEDIATE for
writes, plain BEGIN for reads) is ours to choose; every sqlite3 error becomes a one-line StoreError naming
the file, and the transaction is rolled back so a failed write changes nothing and can be retried whole.
"""

from __future__ import annotations

import contextlib
import sqlite3
from collections.abc import Iterator

from greylogd.errors import StoreError


@contextlib.contextmanager
def transaction(conn: sqlite3.Connection, begin: str, where: str,
                begin_note: str = "") -> Iterator[sqlite3.Cursor]:
    """Run the body between `begin` and COMMIT; `begin_note` is appended when BEGIN itself fails
    (e.g. how long the busy wait lasted)."""
    try:
        conn.execute(begin)
    except sqlite3.Error as exc:
        raise StoreError(f"{where}: {exc}{begin_note}") from exc
    try:
        yield conn.cursor()
        conn.execute("COMMIT")
    except sqlite3.Error as exc:
        _rollback(conn)
        raise StoreError(f"{where}: {exc}") from exc
    except BaseException:
        _rollback(conn)
        raise


def _rollback(conn: sqlite3.Connection) -> None:
    if conn.in_transaction:
        conn.execute("ROLLBACK")
