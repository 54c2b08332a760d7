"""greyd's SQLite lifecycle on a real file, driven with greyd's own SQL and an explicit clock (tests only).

The demo's greyd database (greylogd.demo.greyddb) runs in memory; these tests need greyd's file itself,
shared with a SqliteStore and with other processes that take greyd's lock. The statements are the demo's
(greyd's reader get/put, spec/greyd-compat.md 1.10, and the scanner's DELETE and UPDATE OR REPLACE, 1.9),
each call is one greyd transaction (BEGIN IMMEDIATE), and the schema is greyd's CREATE TABLE text.
"""

from __future__ import annotations

import sqlite3
from pathlib import Path

from greylogd.demo.greyddb import GET, PUT, SCAN_DELETE, SCAN_PROMOTE
from greylogd.demo.params import GreyParams
from greylogd.greydb.schema import SQLITE_CREATE

DEFAULTS = GreyParams()  # greyd's code defaults


def scan_statements(now: int, params: GreyParams = DEFAULTS) -> list[tuple[str, tuple[int, ...]]]:
    """greyd's scan at `now` as (statement, parameters) pairs: expire, then promote."""
    return [(SCAN_DELETE, (now,)), (SCAN_PROMOTE, (now + params.white_expiry, now))]


class GreydSim:
    """One greyd (reader + scanner) on the SQLite file <directory>/greyd.sqlite."""

    def __init__(self, directory: Path, params: GreyParams = DEFAULTS) -> None:
        directory.mkdir(mode=0o700, exist_ok=True)
        self.path, self.params = directory / "greyd.sqlite", params
        self.conn = sqlite3.connect(self.path, isolation_level=None)
        self.conn.executescript(SQLITE_CREATE)

    def grey(self, ip: str, helo: str, mail_from: str, rcpt_to: str, now: int) -> None:
        """A greylisted RCPT: new tuple (pass == expire == now + grey_expiry) or a retry of it."""
        self._get_put((ip, helo, mail_from, rcpt_to), now, self.params.grey_expiry, 0)

    def trap(self, ip: str, now: int) -> None:
        """A RCPT to a spamtrap: the key becomes the IP row, pcount -1, trap_expiry."""
        self._get_put((ip, "", "", ""), now, self.params.trap_expiry, -1)

    def greydb_white(self, ip: str, now: int) -> None:
        """`greydb -a ip` for a new address (spec 6.3): first = pass = now, bcount 1, pcount 0."""
        self.conn.execute(PUT, (ip, "", "", "", now, now, now + self.params.white_expiry, 1, 0))

    def _get_put(self, key: tuple[str, str, str, str], now: int, expiry: int, pcount: int) -> None:
        self.conn.execute("BEGIN IMMEDIATE")
        row = self.conn.execute(GET, key).fetchone()
        if row is None:
            value = (now, now + expiry, now + expiry, 1, pcount)
        else:
            first, pass_, expire, bcount, _ = row
            value = (first, now if first + self.params.pass_time < now else pass_, expire, bcount + 1, pcount)
        self.conn.execute(PUT, (*key, *value))
        self.conn.execute("COMMIT")

    def scan(self, now: int) -> None:
        """greyd's 60 s scan at `now` in one transaction (the later of two tuples of an IP wins)."""
        self.conn.execute("BEGIN IMMEDIATE")
        for statement, params in scan_statements(now, self.params):
            self.conn.execute(statement, params)
        self.conn.execute("COMMIT")

    def close(self) -> None:
        self.conn.close()
