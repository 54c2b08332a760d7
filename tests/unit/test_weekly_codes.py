"""The counting machinery under the weekly tables: text codes, distinct counts per group, the pairs pool
rotation looks at, hour bins. Each fast path is checked against pandas' plain definition or by hand, and
each fallback (hashing instead of a bitmap or direct numbering) against the fast path."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from pandas.testing import assert_frame_equal

from greylogd.analysis import weekly_domains as domains
from greylogd.analysis import weekly_quality as quality
from greylogd.analysis import weekly_tuples as tuples
from greylogd.analysis.period import parse_period
from greylogd.analysis.weekly import Inputs, build_report
from greylogd.analysis.weekly_traffic import hourly_connections, weekday_hour
from tests.unit import weekly_world as world


def test_text_codes_of_a_categorical_are_its_own_codes_read_only() -> None:
    values = pd.Series(["b", "a", None, "b"], dtype="category")
    codes, uniques = tuples.text_codes(values)
    assert codes.tolist() == [1, 0, -1, 1] and uniques.tolist() == ["a", "b"]
    assert np.shares_memory(codes, values.array.codes) and not codes.flags.writeable
    codes, uniques = tuples.text_codes(pd.Series(["b", "a", None, "b"], dtype="str"))
    assert codes.tolist() == [0, 1, -1, 0] and uniques.tolist() == ["b", "a"]
    assert str(uniques.dtype) == "str"


@pytest.mark.parametrize("bitmap_max", [tuples.BITMAP_MAX, 0])
def test_distinct_per_group_is_nunique(monkeypatch: pytest.MonkeyPatch, bitmap_max: int) -> None:
    monkeypatch.setattr(tuples, "BITMAP_MAX", bitmap_max)  # 0: every combination is hashed
    rng = np.random.default_rng(7)
    groups, values = rng.integers(0, 50, 20_000), rng.integers(-1, 300, 20_000)  # -1: missing
    expected = pd.Series(np.where(values < 0, np.nan, values)).groupby(groups).nunique()
    got = tuples.distinct_per_group(groups, values, 52)
    assert got.tolist() == expected.reindex(range(52), fill_value=0).tolist()
    assert tuples.distinct_per_group(np.array([], dtype=np.int64), np.array([], dtype=np.int64), 2).tolist() \
        == [0, 0]


def test_per_value_results_are_categorical_with_sorted_categories() -> None:
    got = tuples.network(pd.Series(["198.51.100.7", None, "192.0.2.1", "2001:db8::1", "198.51.100.7"]))
    assert got.tolist() == ["198.51.100.0/24", "", "192.0.2.0/24", "2001:db8::/64", "198.51.100.0/24"]
    assert got.cat.categories.tolist() == ["", "192.0.2.0/24", "198.51.100.0/24", "2001:db8::/64"]


@pytest.fixture(scope="module")
def classified() -> pd.DataFrame:
    return tuples.classify(world.tuples(), world.PERIOD, 14400)


def test_pool_rotation_is_the_same_when_pairs_are_hashed(monkeypatch: pytest.MonkeyPatch,
                                                         classified: pd.DataFrame) -> None:
    dense = domains.pool_rotation(classified)
    monkeypatch.setattr(domains, "DENSE_PAIRS", 0)  # a site with too many senders x recipients
    assert_frame_equal(domains.pool_rotation(classified), dense)
    assert dense.to_dict("records") == [{"domain": "example.org", "rotated_pairs": 1, "ips": 2, "nets": 2,
                                         "promoted_after": 1}]


def _pair(rows: list[tuple[str, str, str]]) -> pd.DataFrame:
    """Tuples of one (from, to) pair: (ip, first, outcome) each."""
    raw = world.tuples().iloc[[1] * len(rows)].reset_index(drop=True)
    raw["ip"] = pd.Series([r[0] for r in rows], dtype="str")
    raw["first"] = pd.to_datetime(pd.Series([r[1] for r in rows]), utc=True).astype(raw["first"].dtype)
    raw["outcome"] = [r[2] for r in rows]
    return tuples.classify(raw, world.PERIOD, 14400)


def test_rotation_when_two_ips_tie_for_the_latest_first() -> None:
    # abandoned from .2 at 11:00, then .2 and .3 both at 12:00: followed by .3 whichever IP counts as last
    got = domains.pool_rotation(_pair([("192.0.2.2", "2026-11-10 11:00", "expired"),
                                       ("192.0.2.2", "2026-11-10 12:00", "expired"),
                                       ("198.51.100.3", "2026-11-10 12:00", "promoted")]))
    assert got.to_dict("records") == [{"domain": "example.org", "rotated_pairs": 1, "ips": 2, "nets": 2,
                                       "promoted_after": 1}]
    # abandoned at the very time the other IP came: not later, so no rotation
    assert domains.pool_rotation(_pair([("192.0.2.2", "2026-11-10 12:00", "expired"),
                                        ("198.51.100.3", "2026-11-10 12:00", "promoted")])).empty


DST_END = parse_period("2026-W43", "Europe/Berlin")  # Sunday 25 October 2026, 03:00 CEST -> 02:00 CET


def test_hours_of_a_dst_fall_back_week_count_the_repeated_hour_twice() -> None:
    conns = world.connections().iloc[[0, 0, 0]].reset_index(drop=True)
    conns["ts"] = pd.to_datetime(pd.Series(["2026-10-25 00:30", "2026-10-25 01:30", "2026-10-25 01:40"]),
                                 utc=True).astype(conns["ts"].dtype)  # 02:30 CEST, 02:30 and 02:40 CET
    hourly = hourly_connections(conns, DST_END)
    assert hourly.shape == (169, 6) and int(hourly["greylisted"].sum()) == 3
    first, second = (pd.Timestamp(f"2026-10-25 0{h}:00", tz="UTC").tz_convert(DST_END.tz) for h in (0, 1))
    assert (hourly.loc[first, "greylisted"], hourly.loc[second, "greylisted"]) == (1, 2)
    assert weekday_hour(conns, DST_END).loc["Sun", 2] == 3
    unknown = conns.assign(ts=conns["ts"].where(conns.index > 0))  # a time the log did not give
    assert weekday_hour(unknown, DST_END).loc["Sun", 2] == 2
    assert int(hourly_connections(unknown, DST_END)["greylisted"].sum()) == 2


def test_gaps_of_a_sorted_log_are_those_of_the_same_times_unsorted() -> None:
    times = world.connections()["ts"]  # out of order, one time in the week before
    ordered = times.sort_values(ignore_index=True)
    assert_frame_equal(quality.gaps([("log", ordered)], world.PERIOD, 30.0),
                       quality.gaps([("log", times)], world.PERIOD, 30.0))


def test_tarpit_counts_only_the_period_s_listed_disconnections() -> None:
    events = world.greyd_events()
    before = events.iloc[[0]].assign(ts=pd.Timestamp("2026-11-05 07:00", tz="UTC"), duration_s=5000)
    events = pd.concat([events, before], ignore_index=True)
    inputs = Inputs(world.connections(), events, world.entries(), world.PERIOD.end, world.tuples(), None)
    report = build_report(inputs, world.PERIOD)
    assert report.spam_sources.set_index("net").loc["203.0.113.0/24", "tarpit_s"] == 960.0  # 360 + 600
    assert report.trapped["trap_events"].tolist() == [1]


def test_classify_slices_a_run_of_rows_and_copies_scattered_ones() -> None:
    # ordered by first like the ledger's frame: the previous week's tuple, then the period's eight
    ordered = world.tuples().sort_values("first", kind="stable", ignore_index=True)
    run = tuples.classify(ordered, world.PERIOD, 14400)
    assert np.shares_memory(run["first"].array.asi8, ordered["first"].array.asi8)
    scattered = tuples.classify(ordered.iloc[[1, 0, 2, 3, 4, 5, 6, 7, 8]], world.PERIOD, 14400)
    assert not np.shares_memory(scattered["first"].array.asi8, ordered["first"].array.asi8)
    assert len(run) == 8 and run["first"].is_monotonic_increasing
    assert_frame_equal(scattered.sort_values("first", kind="stable", ignore_index=True), run)


def test_coverage_skips_unknown_times() -> None:
    times = pd.Series(pd.to_datetime(["2026-11-10 00:00", None, "2026-11-12 12:00"], utc=True))
    got = quality.coverage([("log", times), ("none", times.iloc[[1]])], world.PERIOD)
    assert got.to_dict("records") == [
        {"source": "log", "rows": 3, "first": pd.Timestamp("2026-11-10", tz="UTC"),
         "last": pd.Timestamp("2026-11-12 12:00", tz="UTC"), "coverage": 60 / 168},
        {"source": "none", "rows": 0, "first": pd.NaT, "last": pd.NaT, "coverage": 0.0}]


def _recast(frame: pd.DataFrame, to: str) -> pd.DataFrame:
    """The frame with every text column categorical (to="category") or every categorical one str."""
    text = [c for c, d in frame.dtypes.items() if (str(d) == "str") == (to == "category")
            and (str(d) == "str" or isinstance(d, pd.CategoricalDtype))]
    return frame.astype(dict.fromkeys(text, to))


@pytest.mark.parametrize("to", ["category", "str"])
def test_report_is_the_same_for_text_and_categorical_columns(to: str) -> None:
    # the readers' frames mix both (frames.py); the DB snapshot's entries are str and pass through
    frames = [world.connections(), world.greyd_events(), world.tuples()]
    recast = [_recast(frame, to) for frame in frames]
    assert sum(not a.dtypes.equals(b.dtypes) for a, b in zip(frames, recast, strict=True)) >= 2
    given, got = (build_report(Inputs(c, e, world.entries(), world.PERIOD.end, t, None), world.PERIOD)
                  for c, e, t in (frames, recast))
    for field in ("headline", "hourly", "heatmap", "delay_stats", "domain_delays", "deferred", "trusted",
                  "rotation", "suggestions", "spam_sources", "trapped", "white_summary", "white_expiring",
                  "coverage", "gaps", "warnings"):
        assert_frame_equal(getattr(got, field), getattr(given, field), obj=field)
    assert got.notes == given.notes
