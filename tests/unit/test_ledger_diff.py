"""The ledger's pure snapshot diff and outcome rules, one greyd lifecycle edge case per test.

Entries are built by hand the way greyd writes them (spec/greyd-compat.md 1.6, 1.10): a new tuple has
pass == expire == first + grey_expiry and bcount 1; a qualifying retry moves pass to the retry's time; a
promotion keeps first, pass and bcount in the WHITE row.
"""

from __future__ import annotations

from dataclasses import replace

from greylogd.greydb.store import Entry, Kind
from greylogd.ledger.diff import diff, entry_key
from greylogd.ledger.model import Closed, Outcome, Retry, TupleState
from greylogd.ledger.opentuples import OpenTuples

GREY_EXPIRY = 14400
T0 = 1_700_000_000
IP = "192.0.2.10"


def grey(first: int, pass_: int | None = None, bcount: int = 1, ip: str = IP, to: str = "bob@example.net",
         helo: str = "mx.example.org", frm: str = "alice@example.org") -> Entry:
    pass_ = first + GREY_EXPIRY if pass_ is None else pass_
    return Entry(Kind.GREY, ip, helo, frm, to, first, pass_, first + GREY_EXPIRY, bcount, 0)


def white(first: int, pass_: int, bcount: int, expire: int, ip: str = IP) -> Entry:
    return Entry(Kind.WHITE, ip, first=first, pass_=pass_, expire=expire, bcount=bcount, pcount=0)


def trapped(first: int, ip: str = IP) -> Entry:
    return Entry(Kind.TRAPPED, ip, first=first, pass_=first + 86400, expire=first + 86400, bcount=1,
                 pcount=-1)


def state(entry: Entry, first_seen: int, trapped_at: int | None = None) -> TupleState:
    return TupleState(entry.ip, entry.helo, entry.mail_from, entry.rcpt_to, entry.first, entry.pass_,
                      entry.expire, entry.bcount, first_seen, trapped_at)


def test_tuple_first_seen_after_retries_keeps_greyds_counters_without_inventing_retries() -> None:
    entry = grey(T0, pass_=T0 + 1600, bcount=3)
    out = diff([], [entry], T0 + 2000, None)
    assert out.new == [TupleState(IP, "mx.example.org", "alice@example.org", "bob@example.net", T0, T0 + 1600,
                                  T0 + GREY_EXPIRY, 3, T0 + 2000, None)]
    assert (out.changed, out.retries, out.closed) == ([], [], [])


def test_unchanged_open_tuple_produces_no_write() -> None:
    entry = grey(T0)
    out = diff([state(entry, T0 + 5)], [entry], T0 + 45, T0 + 25)
    assert (out.new, out.changed, out.retries, out.closed) == ([], [], [], [])


def test_qualifying_retry_moves_pass_and_is_timed_exactly() -> None:
    old = grey(T0)
    now_entry = grey(T0, pass_=T0 + 1700, bcount=2)
    out = diff([state(old, T0 + 5)], [now_entry], T0 + 1710, T0 + 1690)
    assert out.changed == [state(now_entry, T0 + 5)]
    assert out.retries == [Retry(entry_key(old), T0 + 1700, T0 + 1710, 2)]


def test_early_retry_leaves_pass_and_is_timed_at_the_observation() -> None:
    old = grey(T0)
    now_entry = grey(T0, bcount=2)  # first + pass_time >= now: greyd only counts it
    out = diff([state(old, T0 + 5)], [now_entry], T0 + 320, T0 + 300)
    assert out.retries == [Retry(entry_key(old), T0 + 320, T0 + 320, 2)]
    assert out.changed == [state(now_entry, T0 + 5)]


def test_promotion_takes_pass_and_bcount_from_the_white_row() -> None:
    seen = grey(T0, pass_=T0 + 1700, bcount=2)
    row = white(T0, T0 + 1700, 2, T0 + 1720 + 3110400)
    out = diff([state(seen, T0 + 5)], [row], T0 + 1730, T0 + 1710)
    assert out.closed == [Closed(state(seen, T0 + 5), Outcome.PROMOTED, T0 + 1730)]
    assert out.retries == []


def test_retry_and_promotion_within_one_interval_are_both_recorded() -> None:
    seen = grey(T0)
    row = white(T0, T0 + 1750, 2, T0 + 1755 + 3110400)
    out = diff([state(seen, T0 + 5)], [row], T0 + 1760, T0 + 1740)
    final = state(grey(T0, pass_=T0 + 1750, bcount=2), T0 + 5)
    assert out.closed == [Closed(final, Outcome.PROMOTED, T0 + 1760)]
    assert out.retries == [Retry(final.key, T0 + 1750, T0 + 1760, 2)]


def test_retry_in_the_second_of_the_previous_poll_then_promotion_is_found() -> None:
    """Seen in the demo: the retry came after the poll of the same second, the scan promoted it next."""
    seen = grey(T0)
    row = white(T0, T0 + 1740, 2, T0 + 1750 + 3110400)
    out = diff([state(seen, T0 + 5)], [row], T0 + 1760, T0 + 1740)
    final = state(grey(T0, pass_=T0 + 1740, bcount=2), T0 + 5)
    assert out.closed == [Closed(final, Outcome.PROMOTED, T0 + 1760)]
    assert out.retries == [Retry(final.key, T0 + 1740, T0 + 1760, 2)]


def test_two_promotable_tuples_of_one_ip_in_one_scan_the_white_row_names_the_winner() -> None:
    first = grey(T0, pass_=T0 + 1600, bcount=2, to="a@example.net")
    later = grey(T0 + 100, pass_=T0 + 1650, bcount=3, to="b@example.net")
    row = white(T0 + 100, T0 + 1650, 3, T0 + 1680 + 3110400)
    states = [state(first, T0 + 5), state(later, T0 + 105)]
    out = diff(states, [row], T0 + 1680, T0 + 1660)
    assert out.closed == [Closed(states[0], Outcome.PROMOTED, T0 + 1680),
                          Closed(states[1], Outcome.PROMOTED, T0 + 1680)]


def test_sibling_whose_retry_we_missed_is_promoted_with_pass_at_the_observation() -> None:
    missed = grey(T0, to="a@example.net")
    winner = grey(T0 + 100, pass_=T0 + 1650, bcount=2, to="b@example.net")
    row = white(T0 + 100, T0 + 1650, 2, T0 + 1680 + 3110400)
    states = [state(missed, T0 + 5), state(winner, T0 + 105)]
    out = diff(states, [row], T0 + 1680, T0 + 1660)
    final = state(grey(T0, pass_=T0 + 1680, to="a@example.net"), T0 + 5)
    assert out.closed[0] == Closed(final, Outcome.PROMOTED, T0 + 1680)


def test_sibling_with_the_same_first_does_not_claim_a_white_row_promoted_earlier() -> None:
    """Two RCPTs in one second: the retried one was promoted at an earlier poll, the other expires later."""
    expiring = grey(T0, to="b@example.net")
    row = white(T0, T0 + 1600, 2, T0 + 1620 + 3110400)  # from the sibling, promoted long before
    out = diff([state(expiring, T0 + 5)], [row], T0 + GREY_EXPIRY + 30, T0 + GREY_EXPIRY - 10)
    assert out.closed == [Closed(state(expiring, T0 + 5), Outcome.EXPIRED, T0 + GREY_EXPIRY)]


def test_sibling_expiring_at_the_winners_scan_is_expired_when_white_expiry_dates_it() -> None:
    """The DELETE runs before the promotion: a sibling with expire <= the scan time went by expiry."""
    late = grey(T0 - GREY_EXPIRY + 1650, pass_=T0 + 1600, bcount=2, to="a@example.net")  # expire T0+1650
    winner = grey(T0, pass_=T0 + 1620, bcount=2, to="b@example.net")
    row = white(T0, T0 + 1620, 2, T0 + 1655 + 3110400)  # scan at T0 + 1655
    states = [state(late, T0 - 9000), state(winner, T0 + 5)]
    out = diff(states, [row], T0 + 1660, T0 + 1640, white_expiry=3110400)
    assert [(c.outcome, c.outcome_ts) for c in out.closed] == [(Outcome.EXPIRED, T0 + 1650),
                                                               (Outcome.PROMOTED, T0 + 1655)]
    undated = diff(states, [row], T0 + 1660, T0 + 1640)  # heuristic: it had retried, alive at T0 + 1640
    assert [c.outcome for c in undated.closed] == [Outcome.PROMOTED, Outcome.PROMOTED]


def test_sibling_with_an_unseen_retry_is_promoted_with_pass_at_the_dated_scan() -> None:
    missed = grey(T0 - GREY_EXPIRY + 1658, to="a@example.net")  # expire T0 + 1658, after the scan
    winner = grey(T0, pass_=T0 + 1620, bcount=2, to="b@example.net")
    row = white(T0, T0 + 1620, 2, T0 + 1655 + 3110400)
    states = [state(missed, T0 - 9000), state(winner, T0 + 5)]
    out = diff(states, [row], T0 + 1660, T0 + 1640, white_expiry=3110400)
    assert out.closed[0] == Closed(replace(state(missed, T0 - 9000), pass_=T0 + 1655), Outcome.PROMOTED,
                                   T0 + 1655)


def test_tuple_of_an_ip_with_an_older_white_row_expires() -> None:
    seen = grey(T0, pass_=T0 + 1600, bcount=2)
    row = white(T0 - 5000, T0 - 5000, 1, T0 + 3110400)
    out = diff([state(seen, T0 + 5)], [row], T0 + GREY_EXPIRY + 10, T0 + GREY_EXPIRY - 10)
    assert out.closed == [Closed(state(seen, T0 + 5), Outcome.EXPIRED,
                                 T0 + GREY_EXPIRY)]


def test_never_retried_tuple_expires_at_its_expire() -> None:
    seen = grey(T0)
    out = diff([state(seen, T0 + 5)], [], T0 + GREY_EXPIRY + 15, T0 + GREY_EXPIRY - 5)
    assert out.closed == [Closed(state(seen, T0 + 5), Outcome.EXPIRED,
                                 T0 + GREY_EXPIRY)]


def test_retried_tuple_gone_before_its_expiry_without_any_ip_row_was_promoted() -> None:
    """Only a promotion removes an unexpired tuple; its WHITE row was deleted within the interval."""
    seen = grey(T0, pass_=T0 + 1600, bcount=2)
    out = diff([state(seen, T0 + 5)], [], T0 + 1630, T0 + 1610)
    assert out.closed == [Closed(state(seen, T0 + 5), Outcome.PROMOTED, T0 + 1630)]


def test_retried_tuple_gone_at_its_expiry_without_any_ip_row_expired() -> None:
    """A retry in greyd's last minute meets no scan before the DELETE (or a blocking row went with it)."""
    seen = state(grey(T0, pass_=T0 + GREY_EXPIRY - 30, bcount=2), T0 + 5)
    out = diff([seen], [], T0 + GREY_EXPIRY + 30, T0 + GREY_EXPIRY - 10)
    assert out.closed == [Closed(seen, Outcome.EXPIRED, T0 + GREY_EXPIRY)]


def test_tuple_gone_near_its_expiry_within_clock_slack_is_expired_not_promoted() -> None:
    seen = grey(T0)
    out = diff([state(seen, T0 + 5)], [], T0 + GREY_EXPIRY - 1, T0 + GREY_EXPIRY - 20)
    assert out.closed == [Closed(state(seen, T0 + 5), Outcome.EXPIRED,
                                 T0 + GREY_EXPIRY - 1)]


def test_trapped_row_marks_open_and_new_tuples_and_closes_them_as_trapped() -> None:
    open_entry, new_entry = grey(T0), grey(T0 + 30, to="c@example.net")
    out = diff([state(open_entry, T0 + 5)], [open_entry, new_entry, trapped(T0 + 30)], T0 + 45, T0 + 25)
    assert out.changed == [state(open_entry, T0 + 5, trapped_at=T0 + 45)]
    assert out.new == [state(new_entry, T0 + 45, trapped_at=T0 + 45)]
    opened = OpenTuples([state(open_entry, T0 + 5)])
    out.apply_to(opened)
    later = diff(opened, [], T0 + GREY_EXPIRY + 40, T0 + 45)
    assert [(c.outcome, c.outcome_ts) for c in later.closed] == [(Outcome.TRAPPED, T0 + 45)] * 2


def test_vanished_tuple_with_a_trapped_row_now_is_trapped_at_the_observation() -> None:
    seen = grey(T0)
    end = T0 + GREY_EXPIRY
    out = diff([state(seen, T0 + 5)], [trapped(end - 3)], end + 15, end - 5)
    assert out.closed == [Closed(state(seen, T0 + 5), Outcome.TRAPPED, end + 15)]


def test_trapped_row_with_the_tuples_first_is_not_mistaken_for_its_promotion() -> None:
    seen = grey(T0)
    out = diff([state(seen, T0 + 5)], [trapped(T0)], T0 + GREY_EXPIRY + 5, T0 + 25)
    assert [c.outcome for c in out.closed] == [Outcome.TRAPPED]


def test_key_reused_after_expiry_closes_the_old_tuple_and_opens_a_new_one() -> None:
    old, reborn = grey(T0), grey(T0 + GREY_EXPIRY + 30)
    out = diff([state(old, T0 + 5)], [reborn], T0 + GREY_EXPIRY + 40, T0 + GREY_EXPIRY - 10)
    assert out.closed == [Closed(state(old, T0 + 5), Outcome.EXPIRED,
                                 T0 + GREY_EXPIRY)]
    assert out.new == [state(reborn, T0 + GREY_EXPIRY + 40)]
