"""greyd's update rules without a database: greylogd refresh (spec 2.2 + Decisions), greydb add (6.3),
row typing (1.6) and the one-line errors for bad database contents."""

from __future__ import annotations

import pytest

from greylogd.errors import StoreError
from greylogd.greydb.rows import entry_from_row, kind_of, merge_add, plan_refresh
from greylogd.greydb.store import Entry, Kind, RefreshResult

NOW, W = 1_800_000_000, 3_110_400
WHITE = Entry(Kind.WHITE, "192.0.2.1", first=100, pass_=200, expire=300, bcount=4, pcount=7)
TRAPPED = Entry(Kind.TRAPPED, "192.0.2.2", first=110, pass_=0, expire=400, bcount=2, pcount=-1)


def test_refresh_creates_refreshes_and_keeps_trapped() -> None:
    existing = {"192.0.2.1": WHITE, "192.0.2.2": TRAPPED}
    writes, result = plan_refresh(existing, {"192.0.2.1": 3, "192.0.2.2": 2, "2001:db8::5": 4}, NOW, W,
                                  trapped_to_white=False)
    assert writes == [
        Entry(Kind.WHITE, "192.0.2.1", first=100, pass_=200, expire=NOW + W, bcount=4, pcount=10),
        Entry(Kind.WHITE, "2001:db8::5", first=NOW, pass_=NOW, expire=NOW + W, bcount=0, pcount=4),
    ]
    assert result == RefreshResult(created=("2001:db8::5",), refreshed=("192.0.2.1",),
                                   trapped_kept=("192.0.2.2",))


def test_refresh_trapped_to_white_is_greyds_behaviour() -> None:
    writes, result = plan_refresh({"192.0.2.2": TRAPPED}, {"192.0.2.2": 1}, NOW, W, trapped_to_white=True)
    assert writes == [Entry(Kind.WHITE, "192.0.2.2", first=110, pass_=0, expire=NOW + W, bcount=2, pcount=0)]
    assert result == RefreshResult(refreshed=("192.0.2.2",))


def test_merge_add_white_over_existing_rows() -> None:
    new = Entry(Kind.WHITE, "192.0.2.1", first=NOW, pass_=NOW, expire=NOW + W, bcount=1, pcount=0)
    assert merge_add(new, None) == new
    assert merge_add(new, WHITE) == Entry(Kind.WHITE, "192.0.2.1", first=100, pass_=NOW, expire=NOW + W,
                                          bcount=4, pcount=8)
    assert merge_add(new, TRAPPED) == Entry(Kind.WHITE, "192.0.2.2", first=110, pass_=NOW, expire=NOW + W,
                                            bcount=2, pcount=0)


def test_merge_add_trapped_keeps_first_pass_bcount() -> None:
    new = Entry(Kind.TRAPPED, "192.0.2.1", first=NOW, pass_=0, expire=NOW + 86400, bcount=1, pcount=-1)
    assert merge_add(new, WHITE) == Entry(Kind.TRAPPED, "192.0.2.1", first=100, pass_=200,
                                          expire=NOW + 86400, bcount=4, pcount=-1)


@pytest.mark.parametrize(("helo", "mail_from", "rcpt_to", "pcount", "kind"), [
    ("", "", "", 0, Kind.WHITE), ("", "", "", 5, Kind.WHITE), ("", "", "", -1, Kind.TRAPPED),
    ("", "", "", -2, Kind.SPAMTRAP), ("", "", "", -3, Kind.DOMAIN), ("", "", "", -4, Kind.WHITE),
    ("mx", "", "", 0, Kind.GREY), ("", "a@x", "b@y", -1, Kind.GREY),
])
def test_kind_of_follows_greyds_iterator(helo: str, mail_from: str, rcpt_to: str, pcount: int,
                                         kind: Kind) -> None:
    assert kind_of(helo, mail_from, rcpt_to, pcount) is kind


def test_entry_from_row_with_and_without_host() -> None:
    row = ("203.0.113.5", "mx.x.org", "a@x.org", "b@y.net", 1, 2, 3, 4, 0)
    assert entry_from_row(row) == Entry(Kind.GREY, "203.0.113.5", "mx.x.org", "a@x.org", "b@y.net",
                                        1, 2, 3, 4, 0, None)
    assert entry_from_row((*row[:1], "", "", "", *row[4:], "mx1")).greyd_host == "mx1"


@pytest.mark.parametrize(("row", "message"), [
    (("192.0.2.1", "", "", "", "abc", 2, 3, 4, 0),
     "entries row (ip='192.0.2.1', helo='', from='', to=''): field first is 'abc', not an integer"),
    (("192.0.2.1", None, "", "", 1, 2, 3, 4, 0),
     "entries row (ip='192.0.2.1', helo=None, from='', to=''): field helo is None, not text"),
    (("192.0.2.1", "", "", "", 1, 2, 3.5, 4, 0),
     "entries row (ip='192.0.2.1', helo='', from='', to=''): field expire is 3.5, not an integer"),
    ((b"\xc0\x00\x02\x01", "", "", "", 1, 2, 3, 4, 0),
     "entries row (ip=b'\\xc0\\x00\\x02\\x01', helo='', from='', to=''): field ip is "
     "b'\\xc0\\x00\\x02\\x01', not text"),
])
def test_entry_from_row_rejects_bad_contents_in_one_line(row: tuple[object, ...], message: str) -> None:
    with pytest.raises(StoreError) as caught:
        entry_from_row(row)
    assert str(caught.value) == message
