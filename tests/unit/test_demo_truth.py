"""The simulated greyd database keeps greyd's invariants, and the ground truth agrees with the ledger.

greyd's rules (spec/greyd-compat.md 1.6, 1.9, 1.10) checked on the database as the simulation left it;
the ledger (real greylogd.ledger code, fed every 20 s) must find exactly the truth's outcomes; and the
sender behaviours produce what their definitions imply under greyd's timing.
"""

from __future__ import annotations

import json
import sqlite3

import pandas as pd
import pytest

from greylogd.analysis.weekly_tuples import classify
from greylogd.demo import GreyParams, World, build_world
from greylogd.demo.greyddb import GreydDB
from greylogd.demo.params import POLL_INTERVAL, SCAN_INTERVAL, SCAN_PHASE
from greylogd.greydb.schema import SQLITE_CREATE
from greylogd.ledger import Ledger

KEY = ["ip", "helo", "from", "to", "first"]
PARAMS = GreyParams()


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> World:
    return build_world(tmp_path_factory.mktemp("truth"), seed=11, connections=3000, days=2)


@pytest.fixture(scope="module")
def rows(world: World) -> pd.DataFrame:
    with sqlite3.connect(world.greyd_db) as conn:
        return pd.read_sql_query("SELECT * FROM entries", conn)


@pytest.fixture(scope="module")
def tuples(world: World) -> pd.DataFrame:
    return pd.read_parquet(world.truth_tuples)


def _last_scan(world: World) -> int:
    end = int(world.end.timestamp())
    return end - SCAN_INTERVAL + SCAN_PHASE


def _schema(conn: sqlite3.Connection) -> list[tuple[str, str, str]]:
    return conn.execute("SELECT type, name, sql FROM sqlite_master ORDER BY name").fetchall()


def test_file_has_exactly_greyds_schema(world: World, tmp_path: pytest.TempPathFactory) -> None:
    fresh = sqlite3.connect(":memory:")
    fresh.executescript(SQLITE_CREATE)
    with sqlite3.connect(world.greyd_db) as conn:
        assert _schema(conn) == _schema(fresh)
        assert conn.execute("SELECT address FROM spamtraps ORDER BY 1").fetchall() == [
            ("old-info@example.org",), ("sales2009@example.org",), ("trap@example.org",)]


def test_grey_rows_follow_greyds_tuple_rules(world: World, rows: pd.DataFrame) -> None:
    grey = rows[rows["from"] != ""]
    assert len(grey) > 50
    assert (grey["pcount"] == 0).all() and (grey["bcount"] >= 1).all()
    assert (grey["expire"] == grey["first"] + PARAMS.grey_expiry).all()
    retried = grey["pass"] != grey["expire"]
    assert (grey.loc[retried, "pass"] > grey.loc[retried, "first"] + PARAMS.pass_time).all()
    assert (grey.loc[retried, "pass"] < grey.loc[retried, "expire"]).all()
    assert (grey.loc[~retried, "bcount"] >= 1).all()


def test_ip_rows_and_the_last_scan(world: World, rows: pd.DataFrame) -> None:
    last = _last_scan(world)
    assert (rows["expire"] > last).all()
    ip_rows = rows[(rows["from"] == "") & (rows["to"] == "")]
    assert (ip_rows["helo"] == "").all()
    trapped = ip_rows[ip_rows["pcount"] < 0]
    assert len(trapped) > 0 and (trapped["pcount"] == -1).all()
    assert (trapped["expire"] == trapped["first"] + PARAMS.trap_expiry).all()
    white = ip_rows[ip_rows["pcount"] >= 0]
    assert (white["expire"] <= int(world.end.timestamp()) + PARAMS.white_expiry).all()
    grey = rows[rows["from"] != ""]
    promotable = grey[(grey["pass"] <= last) & ~grey["ip"].isin(ip_rows["ip"])]
    assert promotable.empty  # the last scan promoted every qualifying tuple it could


def _ledger_vs_truth(world: World, tuples: pd.DataFrame) -> pd.DataFrame:
    assert world.ledger is not None
    with Ledger(world.ledger) as ledger:
        found = ledger.read_tuples(world.start, world.end)
    found = found.assign(first=found["first"].astype("int64") // 10**6,
                         pass_=found["pass"].astype("int64") // 10**6)
    both = tuples.merge(found, on=KEY, how="outer", suffixes=("", "_ledger"), indicator=True)
    assert (both["_merge"] == "both").all()
    return both


def test_ledger_finds_exactly_the_truth(world: World, tuples: pd.DataFrame) -> None:
    both = _ledger_vs_truth(world, tuples)
    assert (both["outcome"] == both["outcome_ledger"]).all()
    promoted = both[both["outcome"] == "promoted"]
    assert len(promoted) > 5 and (promoted["pass"] == promoted["pass_"]).all()
    assert (both["bcount"] == both["bcount_ledger"]).all()
    # Retries written in the second of a poll, after it read greyd's database (polls run at start + 20 k s
    # before that second's writes), are among them: the ledger must place them in [since, now].
    assert (promoted["pass"] % POLL_INTERVAL == 0).any()


def test_the_reports_classification_agrees_with_the_truth(world: World, tuples: pd.DataFrame) -> None:
    with Ledger(world.ledger) as ledger:  # type: ignore[arg-type]
        classified = classify(ledger.read_tuples(world.start, world.end), world.period, PARAMS.grey_expiry)
    classified = classified.assign(first=classified["first"].astype("int64") // 10**6)
    both = tuples.merge(classified, on=KEY, suffixes=("", "_report"))
    assert len(both) == len(tuples)
    assert (both["status"] == both["status_report"]).all()
    assert set(tuples["status"]) == {"promoted", "abandoned", "trapped", "pending"}


def test_behaviours_lead_to_their_outcomes(tuples: pd.DataFrame) -> None:
    by = tuples.groupby("behaviour")["outcome"]
    never = ["spam_no_retry", "spam_retry_early", "trap_hitter", "gives_up_early"]
    assert not tuples[tuples["behaviour"].isin(never)]["outcome"].eq("promoted").any()
    assert by.apply(lambda s: s.eq("promoted").any())[["retry_same_ip", "gives_up_31min"]].all()
    delay = tuples["delay_s"].dropna()
    assert (delay > PARAMS.pass_time).all()
    hotmail = tuples[(tuples["behaviour"] == "retry_same_ip") & (tuples["outcome"] == "promoted")]
    assert hotmail["delay_s"].between(PARAMS.pass_time + 1, PARAMS.pass_time + 240 + 3).all()
    assert (tuples.loc[tuples["behaviour"] == "trap_hitter", "trapped"]).any()


def test_truth_json_counts_match_the_tables(world: World, tuples: pd.DataFrame) -> None:
    doc = json.loads(world.truth.read_text())
    assert doc["tuples_by_status"] == tuples["status"].value_counts().sort_index().to_dict()
    assert sum(doc["connections_by_prefix"].values()) == world.connections == doc["kern_lines"]
    domains = {d["domain"]: d for d in doc["domains"]}
    assert sum(d["promoted"] for d in domains.values()) == int((tuples["status"] == "promoted").sum())
    assert domains["gmail.com"]["behaviours"] == ["pool_rotation"]
    rotating = [d for d in doc["domains"] if "new_server" in d["behaviours"] and d["abandoned"] > 1]
    assert rotating and all(d["pool_rotation"] for d in rotating)
    assert doc["spam_networks"][0]["connections"] >= doc["spam_networks"][-1]["connections"]


def test_longer_pass_time_stops_the_31_minute_senders(tmp_path: pytest.TempPathFactory) -> None:
    slow = build_world(tmp_path, seed=11, connections=1500, days=1, ledger=False,
                       params=GreyParams(pass_time=2400))
    truth = pd.read_parquet(slow.truth_tuples)
    assert (truth["delay_s"].dropna() > 2400).all()
    aol = truth[truth["behaviour"] == "gives_up_31min"]
    assert len(aol) > 0 and not aol["outcome"].eq("promoted").any()


def test_save_refuses_a_mirror_that_disagrees_with_the_database(tmp_path: pytest.TempPathFactory) -> None:
    db = GreydDB(PARAMS)
    db.seed([], ("trap@example.org",))
    db.grey(("192.0.2.1", "mx.example.com", "a@example.com", "b@example.org"), 1_000_000)
    db.grey_rows.clear()
    with pytest.raises(RuntimeError, match="mirror disagrees"):
        db.save(tmp_path / "x.sqlite")
