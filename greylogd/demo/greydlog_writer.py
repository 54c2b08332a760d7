"""greyd's and greylogd's syslog lines (spec/greyd-compat.md 5.3-5.5), as rsyslog writes them to one file
(`if $programname startswith 'grey'`), with debug = 1 so the tuple lines are there.

Per greylisted or tarpitted connection, from greyd's SMTP process (PID_SMTP): `<ip>: connected (c/b)` with
`, lists: <names>` for blacklisted hosts, one `(GREY)`/`(BLACK) <ip>: <from> -> <to>` per recipient, and
`<ip>: disconnected after N seconds.` (plus ` lists: <names>`); from the reader (PID_READER) one
`new entry`/`updated entry`/`new greytrap entry`/`updated greytrap entry` line per greylisted recipient, in
the second greyd's reader used for the database (db_t). c/b count the connections open at accept time
(this one included). Per whitelisted connection greylogd logs `packet received: ...` (DEBUG) and
`whitelisting <ip>` (INFO). IPv6 addresses are greyd's compressed inet_ntop form.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from greylogd.demo.hosts import Hosts
from greylogd.demo.params import HOSTNAME, MX_IPV4, MX_IPV6, PID_GREYLOGD, PID_READER, PID_SMTP
from greylogd.demo.plan import Plan
from greylogd.demo.simulate import BLACK, GREY, NEW, NEW_TRAP, UPDATED, UPDATED_TRAP, WHITED, Outcome
from greylogd.demo.syslogfmt import Render, write_sorted

_READER_TEXT = {NEW: "new entry", UPDATED: "updated entry", NEW_TRAP: "new greytrap entry",
                UPDATED_TRAP: "updated greytrap entry"}
_SMTP, _READER, _LOGD = f"greyd[{PID_SMTP}]: ", f"greyd[{PID_READER}]: ", f"greylogd[{PID_GREYLOGD}]: "


def _us(epoch: int, rel: np.ndarray) -> np.ndarray:
    return np.round((epoch + rel) * 1e6).astype(np.int64)


def _open_counts(start: np.ndarray, end: np.ndarray, at: np.ndarray) -> np.ndarray:
    """Connections with start <= at < end (this one included when `at` is its own start)."""
    return (np.searchsorted(np.sort(start), at, side="right")
            - np.searchsorted(np.sort(end), at, side="right"))


def _text(values: np.ndarray) -> np.ndarray:
    return values.astype(str).astype(object)


class GreydLog:
    """Collects parts (timestamps µs, renderer) and writes them sorted with syslog headers; renderers
    index compact arrays (host ids, counts, references to existing strings), so text exists one output
    chunk at a time."""

    def __init__(self, plan: Plan, hosts: Hosts, out: Outcome, rng: np.random.Generator, epoch: int):
        self.plan, self.hosts, self.out, self.rng, self.epoch = plan, hosts, out, rng, epoch
        self.ip = np.asarray(hosts.ip, dtype=object)
        self.parts: list[tuple[np.ndarray, Render]] = []

    def _add(self, rel: np.ndarray, render: Render) -> None:
        self.parts.append((_us(self.epoch, rel), render))

    def sessions(self) -> np.ndarray:
        """connected/disconnected lines; returns, per attempt, when a tarpitted client got to RCPT (halfway
        through its session; NaN for the others)."""
        route, n = self.out.route, len(self.plan.t)
        idx = np.flatnonzero((route == GREY) | (route == BLACK))
        black = route[idx] == BLACK
        start = self.plan.t[idx] + self.rng.uniform(0.002, 0.03, len(idx))
        length = np.where(black, self.rng.integers(60, 900, len(idx)), self.rng.integers(3, 13, len(idx)))
        end = start + length + self.rng.uniform(0.0, 0.9, len(idx))
        clients = _open_counts(start, end, start)
        blacks = _open_counts(start[black], end[black], start)
        lists = np.asarray(self.hosts.lists, dtype=object)[self.plan.host[idx]]
        lists = np.where(black & (lists == ""), "greyd-greytrap", lists)
        ip = self.ip[self.plan.host[idx]]
        secs = (np.floor(end) - np.floor(start)).astype(np.int64)
        self._add(start, lambda r: (_SMTP + ip[r] + ": connected (" + _text(clients[r]) + "/"
                                    + _text(blacks[r]) + ")"
                                    + np.where(black[r], ", lists: " + lists[r], "")))
        self._add(end, lambda r: (_SMTP + ip[r] + ": disconnected after " + _text(secs[r]) + " seconds."
                                  + np.where(black[r], " lists: " + lists[r], "")))
        rcpt_at = np.full(n, np.nan)
        rcpt_at[idx[black]] = (start[black] + end[black]) / 2
        return rcpt_at

    def tuples(self, rcpt_at: np.ndarray) -> None:
        """(GREY) and reader lines of greylisted recipients, (BLACK) lines of tarpitted ones."""
        out, plan = self.out, self.plan
        att = np.asarray(out.reader_attempt, dtype=np.int64)
        rcpt = np.asarray(out.reader_rcpt, dtype=object)
        ip, frm = self.ip[plan.host[att]], plan.mail_from[plan.msg[att]]
        at = np.maximum(plan.db_t[att], plan.t[att] + 0.3)
        self._add(at, lambda r: _SMTP + "(GREY) " + ip[r] + ": " + frm[r] + " -> " + rcpt[r])
        kinds = np.asarray([_READER_TEXT[k] for k in range(4)], dtype=object)
        kind = np.asarray(out.reader_kind, dtype=np.int8)
        helo = np.asarray(self.hosts.helo, dtype=object)[plan.host[att]]
        self._add(np.minimum(at + 0.0003, plan.db_t[att] + 0.9999),
                  lambda r: (_READER + kinds[kind[r]] + " " + ip[r] + " from " + frm[r] + " to " + rcpt[r]
                             + ", helo " + helo[r]))
        black = np.flatnonzero(out.route == BLACK)
        per = [len(plan.rcpts[m]) for m in plan.msg[black].tolist()]
        b_att = np.repeat(black, per)
        b_rcpt = np.asarray([r for m in plan.msg[black].tolist() for r in plan.rcpts[m]], dtype=object)
        b_ip, b_frm = self.ip[plan.host[b_att]], plan.mail_from[plan.msg[b_att]]
        self._add(rcpt_at[b_att],
                  lambda r: _SMTP + "(BLACK) " + b_ip[r] + ": " + b_frm[r] + " -> " + b_rcpt[r])

    def greylogd(self) -> None:
        idx = np.flatnonzero(self.out.route == WHITED)
        ip = self.ip[self.plan.host[idx]]
        at = np.maximum(self.plan.db_t[idx], self.plan.t[idx] + 0.01)
        v6 = np.array([":" in a for a in ip.tolist()], dtype=bool)
        self._add(at, lambda r: (_LOGD + "packet received: direction = in, saddr = " + ip[r] + ", daddr = "
                                 + np.where(v6[r], MX_IPV6, MX_IPV4).astype(object)))
        self._add(at + 0.0002, lambda r: _LOGD + "whitelisting " + ip[r])

    def write(self, path: Path, fmt: str) -> int:
        self.tuples(self.sessions())
        self.greylogd()
        return write_sorted(path, self.parts, fmt, HOSTNAME)
