"""Pure diff of greyd snapshots: the ledger's open tuples at the last poll vs greyd's GREY rows now.

No I/O and no clock: `diff(open_tuples, entries, now)` is a function of its arguments, so every edge case
of greyd's lifecycle (spec/greyd-compat.md 1.9, 1.10) is unit-tested with hand-built Entry lists. What
happens to a tuple that left greyd's database is decided in `verdict.py`. Times are Unix seconds (UTC).
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace

from greylogd.greydb.rows import ip_rows
from greylogd.greydb.store import Entry, Kind
from greylogd.ledger.model import Closed, Retry, TupleKey, TupleState, retry_ts
from greylogd.ledger.verdict import Interval, Verdicts, close_vanished


@dataclass(slots=True)
class Diff:
    """Everything one poll learnt. `changed` holds open tuples whose greyd columns or trap mark moved;
    `since` is the previous poll, when every closed tuple was last seen (None on the first poll)."""

    since: int | None = None
    new: list[TupleState] = field(default_factory=list)
    changed: list[TupleState] = field(default_factory=list)
    retries: list[Retry] = field(default_factory=list)
    closed: list[Closed] = field(default_factory=list)

    def open_after(self, opened: list[TupleState]) -> list[TupleState]:
        """The open tuples once this diff is applied to `opened` (the ones it was computed from)."""
        gone = {c.state.key for c in self.closed} | {s.key for s in self.changed}
        return [s for s in opened if s.key not in gone] + self.changed + self.new


def entry_key(entry: Entry) -> TupleKey:
    return (entry.ip, entry.helo, entry.mail_from, entry.rcpt_to, entry.first)


def diff(open_tuples: list[TupleState], entries: list[Entry], now: int, since: int | None,
         white_expiry: int | None = None) -> Diff:
    """Compare the open tuples, all seen at the previous poll `since`, with greyd's rows read at `now`;
    greyd's white_expiry (s), when given, dates promotions (verdict.Interval)."""
    grey = {entry_key(e): e for e in entries if e.kind is Kind.GREY}
    rows = ip_rows(entries)
    trapped = {ip for ip, row in rows.items() if row.kind is Kind.TRAPPED}
    out, vanished, known = Diff(since), [], set()
    for state in open_tuples:
        known.add(state.key)
        entry = grey.get(state.key)
        if entry is None:
            vanished.append(state)
        else:
            _advance(out, state, entry, now, trapped)
    out.new = [_start(e, now, trapped) for k, e in grey.items() if k not in known]
    interval = Interval(now if since is None else since, now, white_expiry)
    verdicts: Verdicts = close_vanished(vanished, rows, interval)
    out.closed, out.retries = verdicts.closed, out.retries + verdicts.retries
    return out


def _start(entry: Entry, now: int, trapped: set[str]) -> TupleState:
    """A tuple seen for the first time; its bcount may already be > 1 if it started before the ledger."""
    trapped_at = now if entry.ip in trapped else None
    return TupleState(entry.ip, entry.helo, entry.mail_from, entry.rcpt_to, entry.first, entry.pass_,
                      entry.expire, entry.bcount, now, trapped_at)


def _advance(out: Diff, state: TupleState, entry: Entry, now: int, trapped: set[str]) -> None:
    """A tuple still in greyd's database: record retries and moved columns (only changed rows are kept,
    and compared before copying: this runs for every open tuple at every poll)."""
    trapped_at = now if state.trapped_at is None and entry.ip in trapped else state.trapped_at
    if entry.bcount > state.bcount:
        ts = retry_ts(state.pass_, entry.pass_, now if out.since is None else out.since, now)
        out.retries.append(Retry(state.key, ts, now, entry.bcount))
    if (entry.pass_, entry.expire, entry.bcount, trapped_at) != (
            state.pass_, state.expire, state.bcount, state.trapped_at):
        out.changed.append(replace(state, pass_=entry.pass_, expire=entry.expire, bcount=entry.bcount,
                                   trapped_at=trapped_at))
