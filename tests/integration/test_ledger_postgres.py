"""The ledger in schema `greylogd` of a real PostgreSQL 15 on loopback (the server greyd's tables live on).

The same week of greyd lifecycle as test_ledger_lifecycle must give the same frames; greyd's tables stay
untouched; a killed connection makes one poll fail with nothing written, and the next one reconnects.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pandas as pd
import pytest

from greylogd.errors import StoreError
from greylogd.greydb.sqlite import SqliteStore
from greylogd.ledger import Ledger, PollResult
from greylogd.ledger.frame import TUPLES_READ
from tests.greyd_sim import GreydSim
from tests.integration.servers import PostgresServer, postgres_server  # noqa: F401  (session fixture)
from tests.integration.test_ledger_lifecycle import T0, WEEK, A, at, expected_tuples, run_week
from tests.unit import test_ledger_columns as awkward

pytestmark = pytest.mark.server
APP = "greylogd-ledger-test"


@pytest.fixture
def dsn(postgres_server: PostgresServer) -> Iterator[str]:  # noqa: F811
    postgres_server.reset_greyd_schema()
    postgres_server.execute("DROP SCHEMA IF EXISTS greylogd CASCADE")
    yield f"postgresql://postgres@127.0.0.1:{postgres_server.port}/greyd?application_name={APP}"


@pytest.fixture
def greyd(tmp_path: Path) -> Iterator[tuple[GreydSim, SqliteStore]]:
    sim = GreydSim(tmp_path / "greyd")
    store = SqliteStore(str(tmp_path / "greyd"), "greyd.sqlite")
    yield sim, store
    store.close()
    sim.close()


def test_a_week_in_postgresql_gives_the_same_frames_and_leaves_greyds_tables_alone(
        dsn: str, greyd: tuple[GreydSim, SqliteStore], postgres_server: PostgresServer) -> None:  # noqa: F811
    sim, store = greyd
    with Ledger(dsn) as ledger:
        polls = run_week(sim, store, ledger)
        got = ledger.read_tuples(T0, T0 + WEEK)
        retries = ledger.read_retries(T0, T0 + WEEK)
        assert ledger.prune(at(400 * 86400 + 1645)) == 6
    assert [(p.new, p.retried, p.promoted, p.expired, p.trapped) for p in polls] == [
        (5, 0, 0, 0, 0), (1, 0, 0, 0, 0), (0, 4, 0, 0, 0), (1, 0, 3, 0, 0), (0, 1, 1, 0, 0), (1, 0, 0, 0, 0),
        (0, 0, 0, 1, 1), (0, 0, 0, 1, 0)]
    pd.testing.assert_frame_equal(got, expected_tuples().astype(TUPLES_READ))
    assert list(retries["ts"]) == [pd.Timestamp(at(s), unit="s", tz="UTC")
                                   for s in (1600, 1605, 1610, 1620, 3146)]
    with postgres_server.connect() as conn:
        tables = conn.execute("SELECT table_schema, table_name FROM information_schema.tables WHERE "
                              "table_schema IN ('public', 'greylogd') ORDER BY 1, 2").fetchall()
        assert conn.execute("SELECT count(*) FROM entries").fetchone() == (0,)
    assert tables == [("greylogd", "meta"), ("greylogd", "retries"), ("greylogd", "tuples"),
                      ("public", "domains"), ("public", "entries"), ("public", "spamtraps")]


def test_awkward_tuples_read_back_as_a_row_by_row_reading_gives_them(
        dsn: str, postgres_server: PostgresServer) -> None:  # noqa: F811
    rows = awkward.awkward_rows(400, seed=5, helos=[h for h in awkward.HELOS if "\x00" not in h])
    with Ledger(dsn) as ledger:
        ledger.observe([], awkward.LAST_POLL)  # creates the schema; last_poll is the open tuples' last_seen
        with postgres_server.connect() as conn, conn.cursor() as cur:
            cur.executemany(awkward.insert_sql("greylogd.tuples", "%s"), rows)
        for start, end in awkward.RANGES:
            assert awkward.as_rows(ledger.read_tuples(start, end)) == awkward.expected(rows, start, end)


def test_a_lost_connection_fails_one_poll_and_the_next_reconnects(
        dsn: str, greyd: tuple[GreydSim, SqliteStore], postgres_server: PostgresServer) -> None:  # noqa: F811
    sim, store = greyd
    sim.grey(*A, T0)
    sim.grey(*A, T0 + 1600)
    with Ledger(dsn) as ledger:
        assert ledger.poll(store, T0 + 1610) == PollResult(new=1, pending=1, observed_at=T0 + 1610)
        with postgres_server.connect() as conn:
            conn.execute("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name = %s",
                         (APP,))
        sim.scan(T0 + 1620)
        with pytest.raises(StoreError, match=r"^PostgreSQL ledger 127\.0\.0\.1/greyd: "):
            ledger.poll(store, T0 + 1630)
        assert ledger.poll(store, T0 + 1650) == PollResult(promoted=1, observed_at=T0 + 1650)
        frame = ledger.read_tuples(T0, T0 + WEEK)
    assert list(zip(frame["outcome"], frame["last_seen"], strict=True)) == [
        ("promoted", pd.Timestamp(T0 + 1610, unit="s", tz="UTC"))]


def test_an_unreachable_server_is_a_store_error_on_use_not_at_construction(tmp_path: Path) -> None:
    from tests.integration.servers import free_port

    ledger = Ledger(f"postgresql://postgres:secret@127.0.0.1:{free_port()}/greyd")
    message = r"^PostgreSQL ledger 127\.0\.0\.1/greyd: cannot open the ledger: "
    with pytest.raises(StoreError, match=message) as err:
        ledger.observe([], T0)
    assert "secret" not in str(err.value)
    ledger.close()
