"""What became of the tuples that left greyd's database between two polls.

greyd removes a GREY row in two ways only (spec/greyd-compat.md 1.9): the scan's `DELETE ... expire <= now`,
and the promotion `UPDATE OR REPLACE`, which turns the tuple into its IP's WHITE row keeping first, pass,
bcount and pcount, unless the IP already has an IP row (white or trapped). For a vanished tuple T observed
at `now`, with R the IP row of T.ip in the same snapshot (if any), the rules in order:

1. trapped: a TRAPPED row for T.ip was seen while T was open, or is there now. outcome_ts = the first poll
   that saw it.
2. promoted: R is WHITE, R.first == T.first, R.bcount >= T.bcount and R.pass is T's or moved since the
   last poll: R is T itself. pass and bcount are taken from R (a retry after our last poll shows there).
   When one scan promotes two tuples of an IP the later replaces the earlier (verified in greyd), so R
   matches only the winner; the pass test stops a sibling with the same first (two RCPTs in one second)
   from matching a row promoted at an earlier poll.
3. expired: R exists and matches none of the IP's vanished tuples, so it was there before and greyd never
   promoted T: it aged out. outcome_ts = T.expire (or now, if something removed it before that).
4. Otherwise (no IP row, or a row another tuple won in this interval):
   - a sibling of this interval's winner, when greyd's white_expiry is known: the winner's scan ran at
     S = row.expire - white_expiry, the only scan in an interval shorter than greyd's 60 s; T went in
     it, by the DELETE if T.expire <= S (expired), else by the promotion (promoted; a retry we did not see
     is placed at S, its upper bound). Without white_expiry, as below, and a sibling that had retried
     (pass < expire) and was unexpired when the interval began counts as promoted.
   - T.expire > now + CLOCK_SLACK_S: T cannot have expired (greyd only deletes expire <= its clock; the
     slack covers a snapshot read a moment after `now` and a database server clock running a little
     ahead with MySQL/PostgreSQL), so a promotion took it: a sibling won the IP row, or its own WHITE row
     was deleted (greydb -d) or expired (a white_expiry shorter than the poll interval) within the
     interval. A retry we did not see (pass still == expire) is placed at `now`, its upper bound.
   - else expired at T.expire. Even with pass < expire: a retry in greyd's last minute before `expire`
     meets no scan before the DELETE, and a row that blocked it may have gone in the same scan; a tuple
     promoted earlier would have left its WHITE row (rule 2) unless that row vanished within one poll
     interval, which real white_expiry values (days) rule out.
Promoted outcome_ts = the scan's time when white_expiry dates it, else `now`: the scan ran in [since, now],
at most one poll interval earlier (`since` is the previous poll, when every vanished tuple was last seen).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, replace

from greylogd.greydb.store import Entry, Kind
from greylogd.ledger.model import Closed, Outcome, Retry, TupleState, retry_ts

CLOCK_SLACK_S = 2


@dataclass(slots=True)
class Verdicts:
    """Closed tuples plus the retries that only the WHITE row revealed."""

    closed: list[Closed] = field(default_factory=list)
    retries: list[Retry] = field(default_factory=list)


@dataclass(frozen=True, slots=True)
class Interval:
    """The poll interval [since, now] and, when known, greyd's white_expiry (seconds), which dates a fresh
    promotion: greyd's scan sets the new WHITE row's expire to its `now` + white_expiry. A refresh by
    greylogd in the same interval moves expire on, so the date is then that of the refresh: still
    within the interval (seen once in the demo week's 132 promotions, 8 s late)."""

    since: int
    now: int
    white_expiry: int | None = None

    def scan_time(self, row: Entry) -> int | None:
        """The time of the scan that created WHITE `row`, if it lies in this interval."""
        if self.white_expiry is None:
            return None
        scan = row.expire - self.white_expiry
        return scan if self.since <= scan <= self.now else None


def close_vanished(vanished: Iterable[TupleState], rows: Mapping[str, Entry],
                   interval: Interval) -> Verdicts:
    """Decide the outcome of every vanished tuple, one IP at a time (rules in the module docstring)."""
    by_ip: dict[str, list[TupleState]] = defaultdict(list)
    for state in vanished:
        by_ip[state.ip].append(state)
    out = Verdicts()
    for ip, states in by_ip.items():
        _close_ip(out, states, rows.get(ip), interval)
    return out


def _close_ip(out: Verdicts, states: list[TupleState], row: Entry | None, iv: Interval) -> None:
    winner = _winner(states, row, iv)
    for state in states:
        if state.trapped_at is not None or (row is not None and row.kind is Kind.TRAPPED):
            trapped_at = iv.now if state.trapped_at is None else state.trapped_at
            out.closed.append(Closed(state, Outcome.TRAPPED, trapped_at))
        elif row is not None and state is winner:
            _promote_winner(out, state, row, iv)
        elif row is not None and winner is not None:
            out.closed.append(_sibling(state, iv, iv.scan_time(row)))
        elif row is not None:
            out.closed.append(_expired(state, iv.now))
        else:
            out.closed.append(_unblocked(state, iv.now))


def _winner(states: list[TupleState], row: Entry | None, iv: Interval) -> TupleState | None:
    """The tuple the WHITE row was promoted from in this interval: same first, no fewer attempts, and the
    row's pass is the tuple's or moved within [since, now] (a retry we did not see). The pass test keeps
    a row promoted earlier from a sibling with the same first (two RCPTs in one second) from matching."""
    if row is None or row.kind is not Kind.WHITE:
        return None
    fresh = iv.since <= row.pass_ <= iv.now
    found = [s for s in states
             if s.first == row.first and s.bcount <= row.bcount and (fresh or s.pass_ == row.pass_)]
    return max(found, key=lambda s: (s.bcount == row.bcount, s.pass_ == row.pass_), default=None)


def _promote_winner(out: Verdicts, state: TupleState, row: Entry, iv: Interval) -> None:
    if row.bcount > state.bcount:
        ts = retry_ts(state.pass_, row.pass_, iv.since, iv.now)
        out.retries.append(Retry(state.key, ts, iv.now, row.bcount))
    final = replace(state, pass_=row.pass_, bcount=row.bcount)
    scan = iv.scan_time(row)
    out.closed.append(Closed(final, Outcome.PROMOTED, iv.now if scan is None else scan))


def _sibling(state: TupleState, iv: Interval, scan: int | None) -> Closed:
    """Rule 4 for a tuple of an IP whose WHITE row another tuple won in this interval."""
    if scan is None:
        return _unblocked(state, iv.now, qualified=state.pass_ < state.expire and state.expire > iv.since)
    if state.expire <= scan:
        return _expired(state, iv.now)
    final = replace(state, pass_=scan) if state.pass_ >= state.expire else state
    return Closed(final, Outcome.PROMOTED, scan)


def _expired(state: TupleState, now: int) -> Closed:
    return Closed(state, Outcome.EXPIRED, min(state.expire, now))


def _unblocked(state: TupleState, now: int, qualified: bool = False) -> Closed:
    """Rule 4 without a dated scan: unexpired means promoted; `qualified` (a sibling that had retried and
    was alive when the interval began) also counts as promoted."""
    if state.expire > now + CLOCK_SLACK_S:
        final = replace(state, pass_=now) if state.pass_ >= state.expire else state
        return Closed(final, Outcome.PROMOTED, now)
    return Closed(state, Outcome.PROMOTED, now) if qualified else _expired(state, now)
