"""The ledger against a real greyd SQLite database driven through greyd's own lifecycle SQL.

One timeline (spec/greyd-compat.md 1.9, 1.10) with greyd's reader and scanner steps placed at chosen
seconds and ledger polls between them; every outcome, timestamp and counter is asserted. Clock: T0 + s.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from greylogd.greydb.sqlite import SqliteStore
from greylogd.ledger import Ledger, PollResult
from tests.greyd_sim import GreydSim

T0 = 1_700_000_000
WEEK = 7 * 86400
LOCAL = "local.example"
A = ("192.0.2.10", "mail.a.example", "alice@a.example", f"bob@{LOCAL}")
B1 = ("198.51.100.7", "out.b.example", "news@b.example", f"bob@{LOCAL}")
B2 = ("198.51.100.7", "out.b.example", "news@b.example", f"carol@{LOCAL}")
C = ("203.0.113.9", "spam.c.example", "x@c.example", f"bob@{LOCAL}")
D = ("192.0.2.20", "mx.d.example", "d@d.example", f"bob@{LOCAL}")
E = ("192.0.2.30", "mx.e.example", "e@e.example", f"bob@{LOCAL}")
F = ("192.0.2.40", "bounce.f.example", "", f"postmaster@{LOCAL}")
G = ("192.0.2.50", "mx.g.example", "g@g.example", f"bob@{LOCAL}")


@pytest.fixture
def world(tmp_path: Path) -> tuple[GreydSim, SqliteStore, Ledger]:
    sim = GreydSim(tmp_path / "greyd")
    store = SqliteStore(str(tmp_path / "greyd"), "greyd.sqlite")
    ledger = Ledger(tmp_path / "lib" / "ledger.sqlite")
    yield sim, store, ledger
    ledger.close()
    store.close()
    sim.close()


def at(s: int) -> int:
    return T0 + s


def run_week(sim: GreydSim, store: SqliteStore, ledger: Ledger) -> list[PollResult]:
    """The timeline; returns every poll's result."""
    polls = []

    def poll(s: int) -> None:
        polls.append(ledger.poll(store, at(s)))

    sim.greydb_white(D[0], at(-1000))           # D's IP is already white: its tuple can never be promoted
    sim.grey(*A, at(0))
    sim.grey(*B1, at(5))
    sim.grey(*B2, at(5))
    sim.grey(*C, at(8))
    sim.trap(C[0], at(8))                        # C also wrote to a spamtrap: its IP row is TRAPPED
    sim.grey(*D, at(10))
    poll(20)
    sim.grey(*F, at(100))                        # null sender, never retried
    sim.scan(at(60))
    poll(120)
    for s, key in ((1600, A), (1605, D), (1610, B1), (1620, B2)):
        sim.grey(*key, at(s))                    # qualifying retries: pass moves to the retry time
    poll(1630)
    sim.scan(at(1640))                           # promotes A; B1 and B2 in one scan (B2 wins); D blocked
    sim.grey(*E, at(1645))
    poll(1650)
    sim.grey(*E, at(3146))                       # E retries and is promoted between two polls
    sim.scan(at(3160))
    poll(3170)
    sim.grey(*G, at(14000))
    poll(14010)
    sim.scan(at(14420))                          # C (expire 14408) and D (14410) age out
    poll(14430)
    sim.scan(at(14520))                          # F (expire 14500) ages out
    poll(14530)
    return polls


def ts(s: int | None) -> pd.Timestamp:
    return pd.NaT if s is None else pd.Timestamp(at(s), unit="s", tz="UTC")


def expected_tuples(scans_dated: bool = False) -> pd.DataFrame:
    """The week's frame; with greyd's white_expiry known, promotions are dated at greyd's scan."""
    promoted_1, promoted_2 = (1640, 3160) if scans_dated else (1650, 3170)
    rows = [  # key, sender domain, first, last_seen, pass, bcount, outcome, outcome_ts
        (A, "a.example", 0, 1630, 1600, 2, "promoted", promoted_1),
        (B1, "b.example", 5, 1630, 1610, 2, "promoted", promoted_1),
        (B2, "b.example", 5, 1630, 1620, 2, "promoted", promoted_1),
        (C, "c.example", 8, 14010, 14408, 1, "trapped", 20),
        (D, "d.example", 10, 14010, 1605, 2, "expired", 14410),
        (F, "", 100, 14430, 14500, 1, "expired", 14500),
        (E, "e.example", 1645, 1650, 3146, 2, "promoted", promoted_2),
        (G, "g.example", 14000, 14530, 28400, 1, "pending", None),
    ]
    frame = pd.DataFrame(
        [(*key, dom, LOCAL, ts(first), ts(seen), ts(pass_), bcount, outcome, ts(when))
         for key, dom, first, seen, pass_, bcount, outcome, when in rows],
        columns=["ip", "helo", "from", "to", "sender_domain", "rcpt_domain", "first", "last_seen", "pass",
                 "bcount", "outcome", "outcome_ts"])
    return frame.astype({"bcount": "Int64"})


def test_a_week_of_greyd_lifecycle_gives_exact_outcomes(world: tuple[GreydSim, SqliteStore, Ledger]) -> None:
    from greylogd.ledger.frame import TUPLES_READ

    sim, store, ledger = world
    polls = run_week(sim, store, ledger)
    assert polls == [
        PollResult(new=5, pending=5, observed_at=at(20)),
        PollResult(new=1, pending=6, observed_at=at(120)),
        PollResult(retried=4, pending=6, observed_at=at(1630)),
        PollResult(new=1, promoted=3, pending=4, observed_at=at(1650)),
        PollResult(retried=1, promoted=1, pending=3, observed_at=at(3170)),
        PollResult(new=1, pending=4, observed_at=at(14010)),
        PollResult(expired=1, trapped=1, pending=2, observed_at=at(14430)),
        PollResult(expired=1, pending=1, observed_at=at(14530)),
    ]
    got = ledger.read_tuples(pd.Timestamp(T0, unit="s", tz="UTC"), T0 + WEEK)
    pd.testing.assert_frame_equal(got, expected_tuples().astype(TUPLES_READ))


def test_greyds_white_expiry_dates_promotions_at_the_scan(tmp_path: Path) -> None:
    from greylogd.ledger.frame import TUPLES_READ

    sim = GreydSim(tmp_path / "greyd")
    store = SqliteStore(str(tmp_path / "greyd"), "greyd.sqlite")
    with Ledger(tmp_path / "ledger.sqlite", white_expiry=sim.params.white_expiry) as ledger:
        run_week(sim, store, ledger)
        got = ledger.read_tuples(T0, T0 + WEEK)
    pd.testing.assert_frame_equal(got, expected_tuples(scans_dated=True).astype(TUPLES_READ))
    store.close()
    sim.close()


def test_retries_are_recorded_with_greyds_pass_time(world: tuple[GreydSim, SqliteStore, Ledger]) -> None:
    sim, store, ledger = world
    run_week(sim, store, ledger)
    got = ledger.read_retries(T0, T0 + WEEK)
    assert list(zip(got["to"], got["ip"], got["ts"], got["observed_at"], got["bcount"], strict=True)) == [
        (A[3], A[0], ts(1600), ts(1630), 2),
        (D[3], D[0], ts(1605), ts(1630), 2),
        (B1[3], B1[0], ts(1610), ts(1630), 2),
        (B2[3], B2[0], ts(1620), ts(1630), 2),
        (E[3], E[0], ts(3146), ts(3170), 2),
    ]


def test_period_bounds_are_half_open_on_first(world: tuple[GreydSim, SqliteStore, Ledger]) -> None:
    sim, store, ledger = world
    run_week(sim, store, ledger)
    assert list(ledger.read_tuples(at(5), at(100))["first"]) == [ts(5), ts(5), ts(8), ts(10)]
    assert ledger.read_tuples(at(20000), at(30000)).empty


def test_prune_drops_closed_tuples_beyond_retention_keeps_open_ones(
        world: tuple[GreydSim, SqliteStore, Ledger]) -> None:
    sim, store, ledger = world
    run_week(sim, store, ledger)
    assert ledger.prune(at(400 * 86400 + 1645)) == 6   # first < T0 + 1645: A, B1, B2, C, D, F
    assert list(ledger.read_tuples(T0, T0 + WEEK)["outcome"]) == ["promoted", "pending"]
    assert list(ledger.read_retries(T0, T0 + WEEK)["ip"]) == [E[0]]
