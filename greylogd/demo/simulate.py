"""The simulated week: firewall routing, greyd's reader and scanner, greylogd, and the ledger's poller.

Time advances in 20 s ticks (the ledger's poll interval). Within a tick, attempts are handled in db_t
order; greyd's scan runs at start + 60 k + 10 s, between the attempts before and after it; the ledger
polls at the end of the tick when greyd's database changed since its last poll in a way a ledger can see
(an unchanged snapshot teaches it nothing; greylogd's refreshes of existing WHITE rows only move pcount
and expire, which the ledger never reads). Routing follows what the firewall knows: the whitelist and
trap list that greyd's last scan pushed (a list is pushed only when non-empty, spec 1.9), so a promoted
host reaches the MTA from the scan after its qualifying retry, and a trapped host is tarpitted from the
scan after its trap.
"""

from __future__ import annotations

from array import array
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np

from greylogd.demo.greyddb import GreydDB
from greylogd.demo.hosts import Hosts
from greylogd.demo.params import POLL_INTERVAL, SCAN_INTERVAL, SCAN_PHASE, SPAMTRAPS
from greylogd.demo.plan import Plan
from greylogd.demo.tuplebook import TupleBook
from greylogd.ledger.diff import Changes

# Routes of an attempt: not made (the message was already delivered), trusted, greylisted, tarpitted.
DROPPED, WHITED, GREY, BLACK = 0, 1, 2, 3
# Reader lines: new entry, updated entry, new greytrap entry, updated greytrap entry.
NEW, UPDATED, NEW_TRAP, UPDATED_TRAP = 0, 1, 2, 3
NONE_ROW, WHITE_ROW, TRAPPED_ROW = 0, 1, 2

Observer = Callable[[Changes, int], object]


@dataclass(slots=True)
class Outcome:
    """route per attempt; reader lines as parallel columns (attempt index, recipient, kind)."""

    route: np.ndarray
    reader_attempt: array = field(default_factory=lambda: array("q"))
    reader_rcpt: list[str] = field(default_factory=list)
    reader_kind: array = field(default_factory=lambda: array("b"))
    book: TupleBook = field(default_factory=TupleBook)


class Simulator:
    """One pass over the plan; `epoch` is the period's start in Unix seconds."""

    def __init__(self, plan: Plan, hosts: Hosts, db: GreydDB, epoch: int, observer: Observer | None):
        self.plan, self.hosts, self.db, self.epoch, self.observer = plan, hosts, db, epoch, observer
        self.out = Outcome(np.zeros(len(plan.t), dtype=np.int8))
        self.row = np.zeros(len(hosts), dtype=np.int8)  # greyd's IP rows as they are in the database
        self.white = bytearray(len(hosts))  # the whitelist ipset
        self.blocked = bytearray(len(hosts))  # the trap list in greyd's SMTP process
        self.listed = [bool(x) for x in hosts.lists]
        self.done = bytearray(len(plan.behaviour))
        self.senders = plan.mail_from.tolist()
        self.dirty = True
        self.polled_at_changes = -1

    def seed_white(self, hosts: np.ndarray) -> None:
        """Hosts whose WHITE rows the caller seeded into the database before the period."""
        self.row[hosts] = WHITE_ROW

    def run(self, days: int) -> Outcome:
        db_t = self.plan.db_t
        ticks = days * 86400 // POLL_INTERVAL
        bounds = np.searchsorted(db_t, np.arange(ticks + 1) * POLL_INTERVAL)
        for j in range(ticks):
            lo, hi, start = int(bounds[j]), int(bounds[j + 1]), j * POLL_INTERVAL
            if start % SCAN_INTERVAL == 0:
                mid = lo + int(np.searchsorted(db_t[lo:hi], start + SCAN_PHASE))
                self._attempts(lo, mid)
                self._scan(start + SCAN_PHASE)
                lo = mid
            self._attempts(lo, hi)
            self._poll(start + POLL_INTERVAL)
        self._finish()
        return self.out

    def _attempts(self, lo: int, hi: int) -> None:
        """Route attempts lo..hi-1 (the hot loop: plain lists of this slice, no numpy scalars)."""
        route, done, white, blocked = self.out.route, self.done, self.white, self.blocked
        plan = self.plan
        rows = zip(range(lo, hi), plan.msg[lo:hi].tolist(), plan.host[lo:hi].tolist(),
                   plan.db_t[lo:hi].tolist(), strict=True)
        for i, m, h, t in rows:
            if done[m]:
                continue
            if white[h]:
                route[i], done[m] = WHITED, True
                if self.db.refresh(self.hosts.ip[h], self.epoch + t):
                    self.row[h], self.dirty = WHITE_ROW, True
            elif blocked[h] or self.listed[h]:
                route[i] = BLACK
            else:
                route[i] = GREY
                self._greylist(i, m, h, self.epoch + t)

    def _greylist(self, i: int, m: int, h: int, now: int) -> None:
        """greyd's reader, once per recipient (spec 1.10); spamtraps switch the key to the IP."""
        ip, out = self.hosts.ip[h], self.out
        for rcpt in self.plan.rcpts[m]:
            out.reader_attempt.append(i)
            out.reader_rcpt.append(rcpt)
            if rcpt in SPAMTRAPS:
                out.reader_kind.append(NEW_TRAP if self.db.trap(ip, now) else UPDATED_TRAP)
                self.row[h], self.dirty = TRAPPED_ROW, True
                out.book.ip_trapped(ip)
                continue
            key = (ip, self.hosts.helo[h], self.senders[m], rcpt)
            if self.db.grey(key, now):
                out.reader_kind.append(NEW)
                out.book.opened(key, h, m, now, bool(self.row[h] == TRAPPED_ROW))
            else:
                out.reader_kind.append(UPDATED)
                out.book.retried(key)

    def _scan(self, rel: int) -> None:
        now = self.epoch + rel
        result = self.db.scan(now)
        for key, _pcount, pass_, bcount in result.expired:
            if key[2] == "" and key[3] == "":
                self.row[self.hosts.index[key[0]]], self.dirty = NONE_ROW, True
            else:
                self.out.book.closed(key, "expired", now, pass_, bcount)
        for key, pass_, bcount in result.promoted:
            self.out.book.closed(key, "promoted", now, pass_, bcount)
            self.row[self.hosts.index[key[0]]], self.dirty = WHITE_ROW, True
        if self.dirty:
            self._push_lists()

    def _push_lists(self) -> None:
        """The firewall child replaces the whitelist, greyd's main process the trap list: non-empty only."""
        white, trapped = self.row == WHITE_ROW, self.row == TRAPPED_ROW
        if white.any():
            self.white = bytearray(white.tobytes())
        if trapped.any():
            self.blocked = bytearray(trapped.tobytes())
        self.dirty = False

    def _poll(self, rel: int) -> None:
        if self.db.grey_changes == self.polled_at_changes:
            return
        self.polled_at_changes = self.db.grey_changes
        changes = self.db.changes()  # taken without a ledger too: the record of changes stays one poll long
        if self.observer is not None:
            self.observer(changes, self.epoch + rel)

    def _finish(self) -> None:
        """Record the final pass/bcount of the tuples still in greyd's database."""
        book = self.out.book
        for entry in self.db.listing():
            key = (entry.ip, entry.helo, entry.mail_from, entry.rcpt_to)
            if key in book.live:
                book.still_open(key, entry.pass_, entry.bcount)
