"""The weekly tables on the hand-made week of weekly_world: every expected value worked out by hand."""

from __future__ import annotations

import pandas as pd
import pytest
from pandas.testing import assert_frame_equal

from greylogd.analysis import frames
from greylogd.analysis import weekly_domains as domains
from greylogd.analysis import weekly_hosts as hosts
from greylogd.analysis.weekly_suggest import suggestions
from greylogd.analysis.weekly_tuples import (
    STATUSES,
    classify,
    delay_stats,
    network,
    registrable,
    status_counts,
)
from tests.unit import weekly_world as world

UTC = "UTC"


def _ts(text: str) -> pd.Timestamp:
    return pd.Timestamp(text, tz=UTC)


@pytest.fixture(scope="module")
def classified() -> pd.DataFrame:
    return classify(world.tuples(), world.PERIOD, 14400)


def test_classify_statuses_delays_domains_nets(classified: pd.DataFrame) -> None:
    got = classified[["ip", "status", "delay_s", "domain", "net"]]
    expected = pd.DataFrame({
        "ip": ["192.0.2.1", "192.0.2.2", "198.51.100.3", "192.0.2.4", "203.0.113.9", "203.0.113.9",
               "2001:db8::5", "203.0.113.7"],
        "status": ["promoted", "abandoned", "promoted", "promoted", "abandoned", "pending", "promoted",
                   "trapped"],
        "delay_s": [1200.0, None, 2400.0, 3000.0, None, None, 2700.0, None],
        "domain": ["example.org"] * 4 + ["spam.test", "spam.test", "<>", "trap.test"],
        "net": ["192.0.2.0/24", "192.0.2.0/24", "198.51.100.0/24", "192.0.2.0/24", "203.0.113.0/24",
                "203.0.113.0/24", "2001:db8::/64", "203.0.113.0/24"],
    }).astype({"ip": "str", "status": pd.CategoricalDtype(STATUSES), "domain": "category", "net": "category"})
    assert_frame_equal(got, expected)  # domain and net: categorical with sorted categories
    assert status_counts(classified).to_dict() == {"promoted": 4, "abandoned": 2, "pending": 1, "trapped": 1}


def test_pending_ends_exactly_grey_expiry_before_the_end() -> None:
    tuples = world.tuples().iloc[[4]].assign(first=_ts("2026-11-15 20:00"), outcome="expired")
    assert classify(tuples, world.PERIOD, 14400)["status"].tolist() == ["abandoned"]
    tuples = tuples.assign(first=_ts("2026-11-15 20:00:01"))
    assert classify(tuples, world.PERIOD, 14400)["status"].tolist() == ["pending"]


def test_registrable_domain_is_offline_and_lower_cased() -> None:
    got = registrable(pd.Series(["mail.Example.CO.UK", "a.b.example.org.", "", "localhost"]))
    assert got.tolist() == ["example.co.uk", "example.org", "<>", "localhost"]
    assert network(pd.Series(["192.0.2.77", "2001:db8:1:2:3::9", "junk"])).tolist() == [
        "192.0.2.0/24", "2001:db8:1:2::/64", "junk"]


def test_delay_stats_linear_percentiles() -> None:
    got = delay_stats(pd.Series([60.0, 120.0, 180.0, 240.0, 300.0, None]))
    assert got.index.tolist() == ["count", "p50", "p75", "p90", "p95", "p99", "max"]
    assert got.round(6).tolist() == [5.0, 180.0, 240.0, 276.0, 288.0, 297.6, 300.0]


def test_deferred_domains(classified: pd.DataFrame) -> None:
    expected = pd.DataFrame({
        "domain": ["example.org", "spam.test"], "abandoned": [1, 1], "promoted": [3, 0],
        "distinct_ips": [4, 1], "distinct_nets": [2, 1], "distinct_rcpts": [2, 2],
        "first_seen": [_ts("2026-11-10 10:00"), _ts("2026-11-11 01:00")],
        "last_seen": [_ts("2026-11-13 08:50"), _ts("2026-11-16 03:00")],
        "share_abandoned": [0.5, 0.5], "never_retried": [False, False]})
    got = domains.deferred_domains(classified)
    assert_frame_equal(got, expected, check_dtype=False)


def test_never_retried_when_every_tuple_abandoned(classified: pd.DataFrame) -> None:
    only = classified.loc[classified["status"].ne("pending")]
    got = domains.deferred_domains(only).set_index("domain")["never_retried"]
    assert got.to_dict() == {"example.org": False, "spam.test": True}


def test_trusted_domains(classified: pd.DataFrame) -> None:
    conns = world.connections()
    trusted_conns = conns.loc[conns["category"].eq("trusted")]
    white = world.entries().query("kind == 'WHITE'")["ip"]
    expected = pd.DataFrame({
        "domain": ["example.org", "<>"], "promoted": [3, 1], "retries_median": [2.0, 2.0],
        "delay_p50": [2400.0, 2700.0], "delay_p90": [2880.0, 2700.0], "delay_max": [3000.0, 2700.0],
        "hosts_white": pd.array([2, 0], dtype="Int64"),
        "trusted_connections": pd.array([3, 0], dtype="Int64")})
    got = domains.trusted_domains(classified, white, trusted_conns)
    assert_frame_equal(got, expected, check_dtype=False)
    missing = domains.trusted_domains(classified, None, None)
    assert missing["hosts_white"].isna().all() and missing["trusted_connections"].isna().all()


def test_domain_delays(classified: pd.DataFrame) -> None:
    got = domains.domain_delays(classified)
    assert got["domain"].tolist() == ["example.org", "<>"]
    assert got.iloc[0, 1:].tolist() == [3, 2400.0, 2700.0, 2880.0, 2940.0, 2988.0, 3000.0]


def test_pool_rotation(classified: pd.DataFrame) -> None:
    expected = pd.DataFrame({"domain": ["example.org"], "rotated_pairs": [1], "ips": [2], "nets": [2],
                             "promoted_after": [1]})
    assert_frame_equal(domains.pool_rotation(classified), expected, check_dtype=False)


def test_no_rotation_when_the_other_ip_came_first(classified: pd.DataFrame) -> None:
    swapped = classified.copy()
    swapped.loc[2, "first"] = _ts("2026-11-10 10:30")
    assert domains.pool_rotation(swapped).empty


def test_suggestions_need_promoted_and_no_trap(classified: pd.DataFrame) -> None:
    trusted = domains.trusted_domains(classified, None, None)
    rotation = domains.pool_rotation(classified)
    got = suggestions(classified, trusted, rotation, pd.Series(["203.0.113.7"]), 1800, 3)
    assert got["domain"].tolist() == ["example.org"]
    row = got.iloc[0]
    assert (row["promoted"], row["abandoned"], row["rotated_pairs"]) == (3, 1, 1)
    assert row["reason"] == "pool rotation (1 pair); delay p90 48 min > 30 min"
    assert row["greyd_line"] == ("# example.org: pool rotation (1 pair); delay p90 48 min > 30 min\n"
                                 "192.0.2.0/24\n198.51.100.0/24")
    assert row["helos"] == "mx.example.org, mx.mail.example.org"  # 3 tuples, 1 tuple
    assert suggestions(classified, trusted, rotation, pd.Series(["192.0.2.4"]), 1800, 3).empty
    assert suggestions(classified, trusted, rotation, pd.Series([], dtype="str"), 1800, 4).empty


def test_spam_sources_and_tarpit(classified: pd.DataFrame) -> None:
    conns = world.connections()
    in_week = conns.loc[world.PERIOD.contains(conns["ts"])]
    greylisted = in_week.loc[in_week["category"].eq("greylisted")]
    trapped = hosts.trapped_ips(classified, world.entries(), world.greyd_events())
    assert trapped.tolist() == ["203.0.113.7"]
    got = hosts.spam_sources(greylisted, classified, trapped, world.greyd_events())
    expected = pd.DataFrame({"net": ["203.0.113.0/24"], "connections": [3], "hosts": [3],
                             "trapped_hosts": [1], "tarpit_s": pd.array([960.0], dtype="Float64"),
                             "helos": ["mx.spam.test, mx.trap.test"]})  # 2 tuples, 1 tuple
    assert_frame_equal(got, expected, check_dtype=False)
    unfiltered = hosts.spam_sources(greylisted, None, trapped, None)
    assert unfiltered["net"].tolist() == ["203.0.113.0/24", "192.0.2.0/24"]
    assert unfiltered["tarpit_s"].isna().all() and unfiltered["helos"].isna().all()


def test_trapped_hosts(classified: pd.DataFrame) -> None:
    trapped = hosts.trapped_ips(classified, world.entries(), world.greyd_events())
    got = hosts.trapped_hosts(trapped, classified, world.entries(), world.greyd_events())
    assert got.to_dict("records") == [{"ip": "203.0.113.7", "net": "203.0.113.0/24", "trapped_tuples": 1,
                                       "trap_events": 1, "db_expire": _ts("2026-11-13 09:00")}]


def test_whitelist_health() -> None:
    conns = world.connections()
    trusted = conns.loc[conns["category"].eq("trusted") & world.PERIOD.contains(conns["ts"])]
    summary, expiring = hosts.whitelist_health(world.entries(), trusted, world.PERIOD)
    assert dict(zip(summary["figure"], summary["value"], strict=True)) == {
        "white_at_end": 3, "new_in_period": 2, "refreshed_in_period": 2, "expiring_soon": 2}
    assert expiring["ip"].tolist() == ["192.0.2.99", "198.51.100.3"]
    summary, _ = hosts.whitelist_health(world.entries(), None, world.PERIOD)
    assert summary["value"].isna().tolist() == [False, False, True, False]


def test_frames_are_the_documented_ones() -> None:
    assert list(world.tuples().dtypes.astype(str)) == list(frames.TUPLES.values())
