"""Pure diff of greyd snapshots: the ledger's open tuples at the last poll vs greyd's GREY rows now.

No I/O and no clock: `diff(open_tuples, entries, now, since)` is a function of its arguments, so every edge
case of greyd's lifecycle (spec/greyd-compat.md 1.9, 1.10) is unit-tested with hand-built Entry lists.
What happens to a tuple that left greyd's database is decided in `verdict.py`. Times are Unix seconds (UTC).

Two inputs, one comparison: a whole snapshot (`diff`, what a poller reading greyd's database has), or
`Changes`, the rows written or deleted since the snapshot of the last poll (`diff_changes`, what a caller
that drives greyd itself knows, e.g. the demo). Both visit only the rows they are given (a whole snapshot:
all of them, once; no per-tuple work for tuples that did not move), and give the same Diff for the same
greyd history (tested on random histories in test_ledger_property).
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Mapping
from dataclasses import dataclass, field, replace

from greylogd.greydb.rows import ip_rows
from greylogd.greydb.store import Entry, Kind
from greylogd.ledger.model import Closed, Retry, TupleKey, TupleState, retry_ts
from greylogd.ledger.opentuples import Key4, OpenTuples, key4
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

    def apply_to(self, opened: OpenTuples) -> None:
        """Turn `opened` (the open tuples this diff was computed from) into the open tuples after it."""
        for closed in self.closed:
            opened.drop(closed.state)
        for state in self.changed + self.new:
            opened.put(state)


@dataclass(frozen=True, slots=True)
class Changes:
    """greyd's rows that may differ from the snapshot of the ledger's last poll.

    grey: every GREY key (ip, helo, from, to) written or deleted since, with its row now (None: deleted).
    ips: the addresses whose IP row was written or deleted since.
    ip_rows: the IP row now (WHITE, TRAPPED) of every address in `ips` and in the keys of `grey` that
    has one, by address (the rows the outcome rules look at).
    """

    grey: Mapping[Key4, Entry | None]
    ips: Collection[str]
    ip_rows: Mapping[str, Entry]


def entry_key(entry: Entry) -> TupleKey:
    return (entry.ip, entry.helo, entry.mail_from, entry.rcpt_to, entry.first)


def diff(open_tuples: Iterable[TupleState], entries: list[Entry], now: int, since: int | None,
         white_expiry: int | None = None) -> Diff:
    """Compare the open tuples, all seen at the previous poll `since`, with greyd's rows read at `now`;
    greyd's white_expiry (s), when given, dates promotions (verdict.Interval)."""
    opened = open_tuples if isinstance(open_tuples, OpenTuples) else OpenTuples(open_tuples)
    grey = {(e.ip, e.helo, e.mail_from, e.rcpt_to): e for e in entries if e.kind is Kind.GREY}
    gone: list[tuple[Key4, Entry | None]] = [(k, None) for k in opened.open_keys() if k not in grey]
    return _compare(opened, gone + list(grey.items()), ip_rows(entries), (), now, since, white_expiry)


def diff_changes(opened: OpenTuples, changes: Changes, now: int, since: int | None,
                 white_expiry: int | None = None) -> Diff:
    """The Diff that `diff` would compute from the whole snapshot, from the rows that changed since."""
    rows = changes.ip_rows
    marked = [ip for ip in changes.ips if ip in rows and rows[ip].kind is Kind.TRAPPED]
    return _compare(opened, changes.grey.items(), rows, marked, now, since, white_expiry,
                    touched=changes.grey)


def _compare(opened: OpenTuples, rows_now: Iterable[tuple[Key4, Entry | None]], rows: Mapping[str, Entry],
             marked: Iterable[str], now: int, since: int | None, white_expiry: int | None,
             touched: Collection[Key4] = ()) -> Diff:
    """Visit the given GREY keys (every key whose row may have moved, or gone), then the open tuples of the
    `marked` IPs (a TRAPPED row that appeared) among the keys not visited; then judge the vanished."""
    out, vanished = Diff(since), []
    trapped = _Trapped(rows)
    for key, entry in rows_now:
        state = opened.get(key)
        if state is not None and (entry is None or entry.first != state.first):
            vanished.append(state)
            state = None
        if entry is None:
            continue
        if state is None:
            out.new.append(_start(entry, now, trapped))
        else:
            _advance(out, state, entry, now, trapped)
    for ip in marked:
        out.changed += [replace(s, trapped_at=now) for s in opened.of_ip(ip)
                        if s.trapped_at is None and key4(s) not in touched]
    verdicts: Verdicts = close_vanished(vanished, rows, Interval(now if since is None else since, now,
                                                                  white_expiry))
    out.closed, out.retries = verdicts.closed, out.retries + verdicts.retries
    return out


class _Trapped:
    """`ip in trapped` for a mapping of IP rows, without building a set."""

    def __init__(self, rows: Mapping[str, Entry]) -> None:
        self.rows = rows

    def __contains__(self, ip: object) -> bool:
        row = self.rows.get(ip)  # type: ignore[call-overload]
        return row is not None and row.kind is Kind.TRAPPED


def _start(entry: Entry, now: int, trapped: Collection[str]) -> TupleState:
    """A tuple seen for the first time; its bcount may already be > 1 if it started before the ledger."""
    trapped_at = now if entry.ip in trapped else None
    return TupleState(entry.ip, entry.helo, entry.mail_from, entry.rcpt_to, entry.first, entry.pass_,
                      entry.expire, entry.bcount, now, trapped_at)


def _advance(out: Diff, state: TupleState, entry: Entry, now: int, trapped: Collection[str]) -> None:
    """A tuple still in greyd's database: record retries and moved columns (only changed rows are kept,
    and compared before copying: with a whole snapshot this runs for every open tuple at every poll)."""
    trapped_at = now if state.trapped_at is None and entry.ip in trapped else state.trapped_at
    if entry.bcount > state.bcount:
        ts = retry_ts(state.pass_, entry.pass_, now if out.since is None else out.since, now)
        out.retries.append(Retry(state.key, ts, now, entry.bcount))
    if (entry.pass_, entry.expire, entry.bcount, trapped_at) != (
            state.pass_, state.expire, state.bcount, state.trapped_at):
        out.changed.append(replace(state, pass_=entry.pass_, expire=entry.expire, bcount=entry.bcount,
                                   trapped_at=trapped_at))
