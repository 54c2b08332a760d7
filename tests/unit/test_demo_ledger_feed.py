"""The demo's ledger process: changes cross the pipe unchanged, and a failing child is reported."""

from __future__ import annotations

from pathlib import Path

import pytest

from greylogd.demo.greyddb import GreydDB
from greylogd.demo.ledger_feed import LedgerFeed, _pack, _unpack
from greylogd.demo.params import GreyParams
from greylogd.ledger import Ledger

T0 = 1_700_000_000
KEY = ("192.0.2.1", "mx.example.com", "a@example.com", "b@example.org")


def _db() -> GreydDB:
    db = GreydDB(GreyParams(pass_time=100, grey_expiry=600))
    db.seed([("198.51.100.7", "", "", "", T0 - 900, T0 - 900, T0 + 9000, 1, 4)], ("trap@example.org",))
    db.grey(KEY, T0)
    db.trap("192.0.2.1", T0 + 1)
    return db


def test_changes_survive_packing_exactly() -> None:
    changes = _db().changes()
    assert set(changes.ips) == {"198.51.100.7", "192.0.2.1"}
    assert _unpack(_pack(changes)) == changes


def test_the_child_writes_what_an_in_process_ledger_writes(tmp_path: Path) -> None:
    db, mine = _db(), Ledger(tmp_path / "here.sqlite")
    feed = LedgerFeed(tmp_path / "child.sqlite")
    for now in (T0 + 20, T0 + 700):
        changes = db.changes()
        feed.observe(changes, now)
        mine.observe_changes(changes, now)
        db.scan(now - 5)
    feed.close()
    with Ledger(tmp_path / "child.sqlite") as theirs:
        assert theirs.read_tuples(0, 2**40).equals(mine.read_tuples(0, 2**40))
        assert len(theirs.read_tuples(0, 2**40)) == 1
    mine.close()


def test_a_failing_child_is_an_error(tmp_path: Path) -> None:
    (tmp_path / "file").write_text("not a directory")
    feed = LedgerFeed(tmp_path / "file" / "ledger.sqlite")
    feed.observe(_db().changes(), T0 + 20)
    with pytest.raises(RuntimeError, match="ledger process failed"):
        feed.close()
