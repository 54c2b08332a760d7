"""greyd's own 60 s scan, run verbatim against rows greylogd wrote: it must expire, promote and list them
exactly as it does its own (spec/greyd-compat.md 1.9; statements copied from greyd's drivers)."""

from __future__ import annotations

import time
from typing import Any

from greylogd.greydb.store import Entry, Kind, RefreshResult
from tests.integration.servers import mariadb_server, postgres_server  # noqa: F401  (session fixtures)
from tests.integration.test_greydb_stores import HOST, Backend, _closing, backend  # noqa: F401  (fixture)

W = 3_110_400

# drivers/sqlite.c Mod_scan_db (greyd f04f414, spec 1.9), bound parameters as greyd binds them.
SQLITE_SCAN = (
    "DELETE FROM entries WHERE expire <= ?",
    "UPDATE OR REPLACE entries SET `helo` = '', `from` = '', `to` = '', `expire` = ? "
    "WHERE `from` <> '' AND `to` <> '' AND `pcount` >= 0 AND `pass` <= ? "
    "AND `ip` NOT IN (     SELECT `ip` FROM entries WHERE `from` = '' AND `to` = '' )",
)
# drivers/mysql.c and drivers/postgresql.c Mod_scan_db: asprintf'd text, server clock, greyd_host filter.
MYSQL_SCAN = (
    "DELETE FROM entries WHERE expire <= UNIX_TIMESTAMP() AND `greyd_host`='{host}'",
    "UPDATE entries e LEFT JOIN entries g ON g.`ip`=e.`ip` AND g.`to`='' AND g.`from`='' "
    "SET e.`helo` = '', e.`from` = '', e.`to` = '', e.`expire` = {expire} "
    "WHERE e.`from` <> '' AND e.`to` <> '' AND e.`pcount` >= 0 AND g.`ip` IS NULL "
    "AND e.`pass` <= UNIX_TIMESTAMP() AND e.`greyd_host`='{host}'",
)
POSTGRESQL_SCAN = (
    "DELETE FROM entries WHERE \"expire\" <= EXTRACT(EPOCH FROM now()) AND \"greyd_host\"='{host}'",
    "UPDATE entries e SET \"helo\" = '', \"from\" = '', \"to\" = '', \"expire\" = {expire} FROM entries g "
    "WHERE g.\"ip\"=e.\"ip\" AND g.\"to\"='' AND g.\"from\"='' AND e.\"from\" <> '' AND e.\"to\" <> '' "
    "AND e.\"pcount\" >= 0 AND g.\"ip\" IS NULL AND e.\"pass\" <= EXTRACT(EPOCH FROM now()) "
    "AND e.\"greyd_host\"='{host}'",
)
# The white IPv4 / white IPv6 / trap SELECT, identical in the three drivers but for identifier quotes.
LISTS = ("SELECT `ip`, NULL, NULL FROM entries WHERE `to`='' AND `from`='' AND `ip` NOT LIKE '%:%' "
         "AND `pcount` >= 0 UNION SELECT NULL, `ip`, NULL FROM entries WHERE `to`='' AND `from`='' "
         "AND `ip` LIKE '%:%' AND `pcount` >= 0 UNION SELECT NULL, NULL, `ip` FROM entries "
         "WHERE `to`='' AND `from`='' AND `pcount` < 0")


def greyd_scan(db: Backend, now: int) -> tuple[set[str], set[str], set[str]]:
    """One greyd scan at greyd time `now`: (white IPv4, white IPv6, trapped) as greyd collects them."""
    conn = db.raw()
    try:
        cur = conn.cursor()
        if db.name == "sqlite":
            cur.execute("BEGIN IMMEDIATE")
            cur.execute(SQLITE_SCAN[0], (now,))
            cur.execute(SQLITE_SCAN[1], (now + W, now))
        else:
            for statement in MYSQL_SCAN if db.name == "mysql" else POSTGRESQL_SCAN:
                cur.execute(statement.format(host=HOST, expire=now + W))
        cur.execute(LISTS.replace("`", '"') if db.name == "postgresql" else LISTS)
        rows: list[tuple[Any, ...]] = cur.fetchall()
        if db.name == "sqlite":
            cur.execute("COMMIT")
    finally:
        conn.close()
    return tuple({row[i] for row in rows if row[i] is not None} for i in range(3))  # type: ignore[return-value]


def test_greyd_scan_expires_promotes_and_lists_our_rows(backend: Backend) -> None:  # noqa: F811
    now = int(time.time())  # PostgreSQL/MySQL scans compare with the server clock
    with _closing(backend.open()) as store, _closing(backend.open(greyd_host="other-host")) as other:
        store.refresh_white({"192.0.2.1": 2}, now - 200, 100)          # expired
        other.refresh_white({"192.0.2.2": 1}, now - 200, 100)          # expired, another greyd_host
        store.refresh_white({"192.0.2.3": 1, "2001:db8::3": 1}, now, W)
        tuple_values = (now - 2000, now - 10, now + 999, 2)  # first, pass, expire, bcount: promotable
        store.add([Entry(Kind.GREY, "192.0.2.3", "h", "a@x.org", "b@y.org", *tuple_values),
                   Entry(Kind.GREY, "192.0.2.4", "h", "a@x.org", "b@y.org", *tuple_values),
                   Entry(Kind.TRAPPED, "192.0.2.5", first=now, expire=now + 999, bcount=1, pcount=-1)])
        white4, white6, trapped = greyd_scan(backend, now)
        promoted = backend.name != "postgresql"
        survivor = set() if backend.name == "sqlite" else {"192.0.2.2"}
        assert white4 == {"192.0.2.3"} | survivor | ({"192.0.2.4"} if promoted else set())
        assert (white6, trapped) == ({"2001:db8::3"}, {"192.0.2.5"})
        assert store.refresh_white({"192.0.2.4": 1, "192.0.2.5": 1}, now + 1, W) == RefreshResult(
            created=() if promoted else ("192.0.2.4",), refreshed=("192.0.2.4",) if promoted else (),
            trapped_kept=("192.0.2.5",))
        rows = {(e.kind, e.ip, e.helo): (e.first, e.pass_, e.expire, e.bcount, e.pcount)
                for e in store.snapshot()}
    if promoted:  # first, pass, bcount, pcount of the tuple kept; our refresh then counted one connection
        assert rows[(Kind.WHITE, "192.0.2.4", "")] == (now - 2000, now - 10, now + 1 + W, 2, 1)
    else:  # greyd's PostgreSQL promotion inner-joins and then asks g.ip IS NULL: it never promotes
        assert rows[(Kind.GREY, "192.0.2.4", "h")] == (now - 2000, now - 10, now + 999, 2, 0)
        assert rows[(Kind.WHITE, "192.0.2.4", "")] == (now + 1, now + 1, now + 1 + W, 0, 1)
    assert rows[(Kind.GREY, "192.0.2.3", "h")] == (now - 2000, now - 10, now + 999, 2, 0)  # IP row exists
    assert (Kind.WHITE, "192.0.2.1", "") not in rows
    assert ((Kind.WHITE, "192.0.2.2", "") in rows) is (backend.name != "sqlite")

