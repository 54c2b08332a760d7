"""greyd's SQLite lifecycle, driven with greyd's own SQL on a real file and an explicit clock (tests only).

What greyd's reader does per RCPT (spec/greyd-compat.md 1.10: a get and a put of the tuple, or of the IP
row for a trap, in one BEGIN IMMEDIATE transaction) and what its scanner does every 60 s (1.9: DELETE of
expired rows, then the promotion UPDATE OR REPLACE, in one transaction), with greyd's `now` passed in so a
test can place every step on a timeline. The schema is greyd's own CREATE TABLE text (greydb.schema).
"""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass
from pathlib import Path

from greylogd.greydb.schema import SQLITE_CREATE

GET = "SELECT `first`, `pass`, `expire`, `bcount`, `pcount` FROM entries WHERE `ip` = ? AND `helo` = ? " \
      "AND `from` = ? AND `to` = ?"
PUT = "INSERT OR REPLACE INTO entries (`ip`, `helo`, `from`, `to`, `first`, `pass`, `expire`, `bcount`, " \
      "`pcount`) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)"
SCAN_DELETE = "DELETE FROM entries WHERE `expire` <= {now};"
SCAN_PROMOTE = ("UPDATE OR REPLACE entries SET `helo` = '', `from` = '', `to` = '', `expire` = {expire} "
                "WHERE `from` <> '' AND `to` <> '' AND `pcount` >= 0 AND `pass` <= {now} AND `ip` NOT IN "
                "(SELECT `ip` FROM entries WHERE `from` = '' AND `to` = '');")


@dataclass(frozen=True)
class Timing:
    """greyd's code defaults (spec 1.11), seconds."""

    pass_time: int = 1500
    grey_expiry: int = 14400
    white_expiry: int = 3110400
    trap_expiry: int = 86400


class GreydSim:
    """One greyd (reader + scanner) on the SQLite file <directory>/greyd.sqlite."""

    def __init__(self, directory: Path, timing: Timing = Timing()) -> None:
        directory.mkdir(mode=0o700, exist_ok=True)
        self.path, self.timing = directory / "greyd.sqlite", timing
        self.conn = sqlite3.connect(self.path, isolation_level=None)
        self.conn.executescript(SQLITE_CREATE)

    def grey(self, ip: str, helo: str, mail_from: str, rcpt_to: str, now: int) -> None:
        """A greylisted RCPT: new tuple (pass == expire == now + grey_expiry) or a retry of it."""
        self._get_put((ip, helo, mail_from, rcpt_to), now, self.timing.grey_expiry, 0)

    def trap(self, ip: str, now: int) -> None:
        """A RCPT to a spamtrap: the key becomes the IP row, pcount -1, trap_expiry."""
        self._get_put((ip, "", "", ""), now, self.timing.trap_expiry, -1)

    def greydb_white(self, ip: str, now: int) -> None:
        """`greydb -a ip` for a new address (spec 6.3): first = pass = now, bcount 1, pcount 0."""
        self.conn.execute(PUT, (ip, "", "", "", now, now, now + self.timing.white_expiry, 1, 0))

    def _get_put(self, key: tuple[str, str, str, str], now: int, expiry: int, pcount: int) -> None:
        self.conn.execute("BEGIN IMMEDIATE")
        row = self.conn.execute(GET, key).fetchone()
        if row is None:
            value = (now, now + expiry, now + expiry, 1, pcount)
        else:
            first, pass_, expire, bcount, _ = row
            value = (first, now if first + self.timing.pass_time < now else pass_, expire, bcount + 1, pcount)
        self.conn.execute(PUT, (*key, *value))
        self.conn.execute("COMMIT")

    def scan(self, now: int) -> None:
        """greyd's 60 s scan at `now`: expire, then promote (the later of two tuples of an IP wins)."""
        self.conn.execute("BEGIN IMMEDIATE")
        self.conn.execute(SCAN_DELETE.format(now=now))
        self.conn.execute(SCAN_PROMOTE.format(now=now, expire=now + self.timing.white_expiry))
        self.conn.execute("COMMIT")

    def close(self) -> None:
        self.conn.close()
