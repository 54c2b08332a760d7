"""Pure diff of greyd snapshots: the ledger's open tuples at the last poll vs greyd's GREY rows now.

No I/O and no clock: `diff(open_tuples, entries, now)` is a function of its arguments, so every edge case
of greyd's lifecycle (spec/greyd-compat.md 1.9, 1.10) is unit-tested with hand-built Entry lists. What
happens to a tuple that left greyd's database is decided in `verdict.py`. Times are Unix seconds (UTC).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field, replace

from greylogd.greydb.rows import ip_rows
from greylogd.greydb.store import Entry, Kind
from greylogd.ledger.model import Closed, Retry, TupleKey, TupleState, retry_ts
from greylogd.ledger.verdict import Verdicts, close_vanished


@dataclass(slots=True)
class Diff:
    """Everything one poll learnt. `changed` holds open tuples whose greyd columns or trap mark moved."""

    new: list[TupleState] = field(default_factory=list)
    changed: list[TupleState] = field(default_factory=list)
    retries: list[Retry] = field(default_factory=list)
    closed: list[Closed] = field(default_factory=list)


def entry_key(entry: Entry) -> TupleKey:
    return (entry.ip, entry.helo, entry.mail_from, entry.rcpt_to, entry.first)


def diff(open_tuples: Iterable[TupleState], entries: list[Entry], now: int) -> Diff:
    """Compare the open tuples (seen at the previous poll) with greyd's rows read at `now`."""
    grey = {entry_key(e): e for e in entries if e.kind is Kind.GREY}
    rows = ip_rows(entries)
    trapped = {ip for ip, row in rows.items() if row.kind is Kind.TRAPPED}
    out, vanished, known = Diff(), [], set()
    for state in open_tuples:
        known.add(state.key)
        entry = grey.get(state.key)
        if entry is None:
            vanished.append(state)
        else:
            _advance(out, state, entry, now, trapped)
    out.new = [_start(e, now, trapped) for k, e in grey.items() if k not in known]
    verdicts: Verdicts = close_vanished(vanished, rows, now)
    out.closed, out.retries = verdicts.closed, out.retries + verdicts.retries
    return out


def _start(entry: Entry, now: int, trapped: set[str]) -> TupleState:
    """A tuple seen for the first time; its bcount may already be > 1 if it started before the ledger."""
    return TupleState(entry.ip, entry.helo, entry.mail_from, entry.rcpt_to, entry.first, entry.pass_,
                      entry.expire, entry.bcount, now, now, now if entry.ip in trapped else None)


def _advance(out: Diff, state: TupleState, entry: Entry, now: int, trapped: set[str]) -> None:
    """A tuple still in greyd's database: record retries and moved columns (only changed rows are kept)."""
    trapped_at = state.trapped_at
    if trapped_at is None and entry.ip in trapped:
        trapped_at = now
    moved = replace(state, pass_=entry.pass_, expire=entry.expire, bcount=entry.bcount, last_seen=now,
                    trapped_at=trapped_at)
    if entry.bcount > state.bcount:
        ts = retry_ts(state.pass_, entry.pass_, state.last_seen, now)
        out.retries.append(Retry(state.key, ts, now, entry.bcount))
    if replace(moved, last_seen=state.last_seen) != state:
        out.changed.append(moved)
