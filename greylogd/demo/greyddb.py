"""greyd's SQLite database, driven by greyd's own statements at simulated times.

The reader's get/put (spec/greyd-compat.md 1.10), greylogd's refresh (2.2) and the scanner's DELETE and
UPDATE OR REPLACE (1.9) run verbatim against greyd's schema (greylogd.greydb.schema.SQLITE_CREATE). Before
each scan statement an observing SELECT with the same WHERE clause records which rows the statement is
about to remove or promote: that is the ground truth, and it keeps the simulator's whitelist/trap sets in
step with greyd's without re-reading every IP row each minute.

greyd's reader does a GET and a PUT per RCPT; the PUTs are greyd's statement verbatim, batched
(executemany, one transaction; a key's last PUT only, which is the row INSERT OR REPLACE leaves) up to
the next scan or read of the database, and the GETs read a mirror of
the rows that is kept from the very values the PUTs write (and re-read from the database after a
promotion, where SQLite decides which of two tuples of one IP wins). With a single simulated writer,
nothing reads the database between a PUT and its flush, so this is what greyd's one transaction per RCPT
leaves. The mirror also tells the ledger what changed since its last poll (`changes()`, tens of rows per
20 s instead of a snapshot of every row); `listing()` reads the database itself, and `save()` checks that
the two agree.

The simulation runs in memory with three extra indexes (on expire, a partial one on pass, and one of
the IP rows for the promotion's NOT IN) so a week of scans stays fast; `save()` drops them before
copying, so the file holds exactly greyd's schema.
"""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass
from pathlib import Path

from greylogd.demo.params import GreyParams
from greylogd.greydb.rows import entry_from_row, sort_key
from greylogd.greydb.schema import SQLITE_CREATE
from greylogd.greydb.store import Entry, Kind
from greylogd.ledger.diff import Changes
from greylogd.sqlite_txn import transaction

COLS = "`ip`, `helo`, `from`, `to`, `first`, `pass`, `expire`, `bcount`, `pcount`"
GET = ("SELECT `first`, `pass`, `expire`, `bcount`, `pcount` FROM entries"
       " WHERE `ip` = ? AND `helo` = ? AND `from` = ? AND `to` = ?")
PUT = f"INSERT OR REPLACE INTO entries ({COLS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)"
SCAN_DELETE = "DELETE FROM entries WHERE `expire` <= ?"
PROMOTABLE = ("`from` <> '' AND `to` <> '' AND `pcount` >= 0 AND `pass` <= ?"
              " AND `ip` NOT IN (SELECT `ip` FROM entries WHERE `from` = '' AND `to` = '')")
SCAN_PROMOTE = ("UPDATE OR REPLACE entries SET `helo` = '', `from` = '', `to` = '', `expire` = ?"
                f" WHERE {PROMOTABLE}")
SEE_EXPIRING = ("SELECT `ip`, `helo`, `from`, `to`, `pcount`, `pass`, `bcount` FROM entries"
                " WHERE `expire` <= ?")
SEE_PROMOTABLE = f"SELECT `ip`, `helo`, `from`, `to`, `pass`, `bcount` FROM entries WHERE {PROMOTABLE}"
LISTING = (f"SELECT {COLS} FROM entries UNION ALL SELECT `address`, '', '', '', 0, 0, 0, 0, -2 FROM spamtraps"
           " UNION ALL SELECT `domain`, '', '', '', 0, 0, 0, 0, -3 FROM domains")
SIM_INDEXES = {
    "demo_expire": "CREATE INDEX demo_expire ON entries (`expire`)",
    "demo_grey_pass": ("CREATE INDEX demo_grey_pass ON entries (`pass`)"
                       " WHERE `from` <> '' AND `to` <> '' AND `pcount` >= 0"),
    "demo_ip_rows": "CREATE INDEX demo_ip_rows ON entries (`ip`) WHERE `from` = '' AND `to` = ''",
}

Key = tuple[str, str, str, str]


@dataclass(frozen=True, slots=True)
class ScanResult:
    """What one scan did: rows deleted as expired (key, pcount, pass, bcount) and tuples promoted
    (key, pass, bcount)."""

    expired: list[tuple[Key, int, int, int]]
    promoted: list[tuple[Key, int, int]]


class GreydDB:
    """greyd's database in memory; every method takes greyd's `now` (Unix seconds, UTC)."""

    def __init__(self, params: GreyParams) -> None:
        self.params = params
        self.conn = sqlite3.connect(":memory:", isolation_level=None)
        self.conn.executescript(SQLITE_CREATE)
        for sql in SIM_INDEXES.values():
            self.conn.execute(sql)
        self.grey_rows: dict[Key, Entry] = {}
        self.ip_rows: dict[str, Entry] = {}
        self.traps: list[Entry] = []
        # PUTs not yet run, the last one per key, in the order of those last PUTs: INSERT OR REPLACE leaves
        # the row of a key's last PUT, and nothing reads the database before the flush
        self.pending: dict[tuple[object, ...], tuple[object, ...]] = {}
        self.touched: dict[Key, None] = {}  # GREY keys written or deleted since the last changes()
        self.touched_ips: dict[str, None] = {}  # the same for IP rows
        self.grey_changes = 0  # writes that a ledger poll can see (everything but greylogd refreshes)

    def seed(self, rows: list[tuple[object, ...]], spamtraps: tuple[str, ...]) -> None:
        """Rows (in COLS order) and spamtrap addresses present before the simulated period."""
        self.conn.executemany("INSERT INTO spamtraps (`address`) VALUES (?)", [(a,) for a in spamtraps])
        for row in rows:
            self._put(row)
        self.traps = [entry_from_row((a, "", "", "", 0, 0, 0, 0, -2)) for a in spamtraps]

    def _put(self, row: tuple[object, ...]) -> None:
        """Queue greyd's PUT and mirror the row (typed as entry_from_row would: GREY, WHITE or TRAPPED)."""
        self.pending.pop(row[:4], None)
        self.pending[row[:4]] = row
        ip, helo, mail_from, rcpt_to, first, pass_, expire, bcount, pcount = row
        if helo or mail_from or rcpt_to:
            key = (ip, helo, mail_from, rcpt_to)
            self.grey_rows[key] = Entry(Kind.GREY, *key, first, pass_, expire, bcount, pcount)  # type: ignore[arg-type]
            self.touched[key] = None
        else:
            kind = Kind.TRAPPED if pcount == -1 else Kind.WHITE
            self.ip_rows[ip] = Entry(kind, ip, "", "", "", first, pass_, expire, bcount, pcount)  # type: ignore[arg-type]
            self.touched_ips[ip] = None  # type: ignore[index]

    def flush(self) -> None:
        """Run the queued PUTs in one transaction."""
        if self.pending:
            with transaction(self.conn, "BEGIN IMMEDIATE", "demo greyd"):
                self.conn.executemany(PUT, self.pending.values())
            self.pending = {}

    def grey(self, key: Key, now: int) -> bool:
        """The reader's get+put for a local, non-trapped tuple; True if the tuple is new."""
        old = self.grey_rows.get(key)
        p = self.params
        self.grey_changes += 1
        if old is None:
            self._put((*key, now, now + p.grey_expiry, now + p.grey_expiry, 1, 0))
            return True
        new_pass = now if old.first + p.pass_time < now else old.pass_
        self._put((*key, old.first, new_pass, old.expire, old.bcount + 1, 0))
        return False

    def trap(self, ip: str, now: int) -> bool:
        """The reader's get+put when the recipient is a spamtrap: the key becomes the IP row, pcount -1."""
        old = self.ip_rows.get(ip)
        p = self.params
        self.grey_changes += 1
        if old is None:
            self._put((ip, "", "", "", now, now + p.trap_expiry, now + p.trap_expiry, 1, -1))
            return True
        new_pass = now if old.first + p.pass_time < now else old.pass_
        self._put((ip, "", "", "", old.first, new_pass, old.expire, old.bcount + 1, -1))
        return False

    def refresh(self, ip: str, now: int) -> bool:
        """greylogd's per-packet refresh of an IP row; True if it had to create the row."""
        old = self.ip_rows.get(ip)
        if old is None:
            self._put((ip, "", "", "", now, now, now + self.params.white_expiry, 0, 1))
            self.grey_changes += 1
            return True
        self._put((ip, "", "", "", old.first, old.pass_, now + self.params.white_expiry, old.bcount,
                   old.pcount + 1))
        return False

    def scan(self, now: int) -> ScanResult:
        """greyd's Mod_scan_db in one transaction, with the observing SELECTs just before each statement."""
        self.flush()
        conn = self.conn
        with transaction(conn, "BEGIN IMMEDIATE", "demo greyd"):
            expired = [((r[0], r[1], r[2], r[3]), r[4], r[5], r[6])
                       for r in conn.execute(SEE_EXPIRING, (now,))]
            conn.execute(SCAN_DELETE, (now,))
            promoted = [((r[0], r[1], r[2], r[3]), r[4], r[5]) for r in conn.execute(SEE_PROMOTABLE, (now,))]
            if promoted:
                conn.execute(SCAN_PROMOTE, (now + self.params.white_expiry, now))
        self._mirror_scan(expired, promoted)
        return ScanResult(expired, promoted)

    def _mirror_scan(self, expired: list[tuple[Key, int, int, int]],
                     promoted: list[tuple[Key, int, int]]) -> None:
        self.grey_changes += bool(expired or promoted)
        for key, *_ in expired + promoted:
            if key[1] or key[2] or key[3]:
                del self.grey_rows[key]
                self.touched[key] = None
            else:
                del self.ip_rows[key[0]]
                self.touched_ips[key[0]] = None
        ips = sorted({key[0] for key, *_ in promoted})
        for start in range(0, len(ips), 500):
            chunk = ips[start:start + 500]
            marks = ", ".join("?" * len(chunk))
            sql = f"SELECT {COLS} FROM entries WHERE `from` = '' AND `to` = '' AND `ip` IN ({marks})"
            for row in self.conn.execute(sql, chunk):
                self.ip_rows[row[0]] = entry_from_row(row)
                self.touched_ips[row[0]] = None

    def changes(self) -> Changes:
        """What changed since the previous call (the first: since the empty database), for the ledger."""
        ips = self.touched_ips | dict.fromkeys(k[0] for k in self.touched)
        out = Changes({k: self.grey_rows.get(k) for k in self.touched}, list(self.touched_ips),
                      {ip: self.ip_rows[ip] for ip in ips if ip in self.ip_rows})
        self.touched, self.touched_ips = {}, {}
        return out

    def snapshot(self) -> list[Entry]:
        """Every row as greyd's iterator types it (what the ledger's poller reads), from the mirror."""
        return [*self.grey_rows.values(), *self.ip_rows.values(), *self.traps]

    def listing(self) -> list[Entry]:
        """Every row read from the database itself (greydb's listing: entries, spamtraps, domains)."""
        self.flush()
        return [entry_from_row(row) for row in self.conn.execute(LISTING)]

    def white_and_trapped(self) -> tuple[set[str], set[str]]:
        """greyd's scan SELECTs of the whitelist and the trap list (1.6), for checks."""
        self.flush()
        rows = self.conn.execute("SELECT `ip`, `pcount` FROM entries WHERE `from` = '' AND `to` = ''")
        white, trapped = set(), set()
        for ip, pcount in rows:
            (white if pcount >= 0 else trapped).add(ip)
        return white, trapped

    def save(self, path: Path) -> None:
        """Write greyd's file: the simulation indexes are dropped first, so only greyd's schema remains.

        Raises RuntimeError if the mirror the ledger was fed from disagrees with the database.
        """
        if sorted(self.snapshot(), key=sort_key) != sorted(self.listing(), key=sort_key):
            raise RuntimeError("demo: the greyd snapshot mirror disagrees with the database")
        for name in SIM_INDEXES:
            self.conn.execute(f"DROP INDEX {name}")
        path.unlink(missing_ok=True)
        target = sqlite3.connect(path)
        with target:
            self.conn.backup(target)
        target.close()
        self.conn.close()
