"""build_report on the hand-made week: headline with week-over-week change, partial inputs, data quality."""

from __future__ import annotations

import pandas as pd
from pandas.testing import assert_frame_equal

from greylogd.analysis import weekly_quality as quality
from greylogd.analysis.greyddb import tuples_from_snapshot
from greylogd.analysis.weekly import Inputs, WeeklySettings, build_report
from greylogd.analysis.weekly_traffic import hourly_connections, weekday_hour
from tests.unit import weekly_world as world


def _full() -> Inputs:
    return Inputs(world.connections(), world.greyd_events(), world.entries(), world.PERIOD.end,
                  world.tuples(), None)


def test_headline_values_and_change() -> None:
    report = build_report(_full(), world.PERIOD)
    got = report.headline.set_index("figure")
    expected = {"connections": (8, 1), "trusted_connections": (3, 0), "greylisted_connections": (4, 1),
                "firewall_warnings": (1, 0), "greylisted_tuples": (8, 1), "promoted": (4, 0),
                "abandoned": (2, 1), "pending": (1, 0), "trapped": (1, 0), "deferred_domains": (2, 1),
                "trusted_domains": (2, 0)}
    for name, (value, previous) in expected.items():
        assert (got.loc[name, "value"], got.loc[name, "previous"], got.loc[name, "change"]) == (
            value, previous, value - previous), name
    assert got.loc["delay_p50_min", "value"] == 42.5 and pd.isna(got.loc["delay_p50_min", "previous"])
    assert got.loc["delay_p90_min", "value"] == 48.5
    assert report.notes == ["Firewall warning: 1 [GREYD FAILED]: no rule took the packet (firewall mistake)"]


def test_report_from_kernel_logs_only_says_what_is_missing() -> None:
    report = build_report(Inputs(connections=world.connections()), world.PERIOD)
    assert report.deferred is None and report.trusted is None and report.white_summary is None
    assert report.spam_sources["net"].tolist() == ["203.0.113.0/24", "192.0.2.0/24"]
    assert report.headline.set_index("figure")["value"].isna().sum() == 9
    assert any(n.startswith("No ledger or DB snapshot") for n in report.notes)
    assert any(n.startswith("No greyd database given") for n in report.notes)


def test_report_from_a_snapshot_only_names_the_window_it_covers() -> None:
    entries = world.entries()
    grey = pd.DataFrame({"kind": ["GREY", "GREY"], "ip": ["192.0.2.50", "192.0.2.51"],
                         "helo": ["h", "h"], "from": ["a@shop.example.com", "b@shop.example.com"],
                         "to": ["u@local.test", "u@local.test"],
                         "first": pd.to_datetime(["2026-11-15 21:00", "2026-11-15 22:00"], utc=True),
                         "pass": pd.to_datetime(["2026-11-15 21:30", "2026-11-16 02:00"], utc=True),
                         "expire": pd.to_datetime(["2026-11-16 01:00", "2026-11-16 02:00"], utc=True),
                         "bcount": [2, 1], "pcount": [0, 0], "greyd_host": [None, None]})
    snapshot = pd.concat([entries, grey.astype(entries.dtypes.to_dict())], ignore_index=True)
    tuples = tuples_from_snapshot(snapshot, world.PERIOD.end)
    assert tuples["outcome"].tolist() == ["promoted", "pending"]
    report = build_report(Inputs(entries=snapshot, entries_at=world.PERIOD.end, tuples=tuples,
                                 tuples_source="greyd db snapshot"), world.PERIOD)
    assert report.trusted["domain"].tolist() == ["example.com"]
    assert report.trusted["delay_p50"].tolist() == [1800.0]
    assert any("cover tuples first seen 2026-11-15 21:00:00+00:00 .. 2026-11-15 22:00:00+00:00" in n
               for n in report.notes)


def test_settings_change_thresholds() -> None:
    loose = build_report(_full(), world.PERIOD, WeeklySettings(min_promoted=1, delay_threshold_s=60))
    assert loose.suggestions["domain"].tolist() == ["example.org"]
    strict = build_report(_full(), world.PERIOD, WeeklySettings(min_promoted=4))
    assert strict.suggestions.empty


def test_hourly_and_heatmap_in_local_time() -> None:
    conns = world.connections()
    hourly = hourly_connections(conns.loc[world.PERIOD.contains(conns["ts"])], world.PERIOD)
    assert hourly.shape == (168, 6) and int(hourly.to_numpy().sum()) == 9
    assert hourly.loc[pd.Timestamp("2026-11-11 01:00", tz="UTC"), "greylisted"] == 2
    heat = weekday_hour(conns, world.PERIOD)
    assert heat.loc["Wed", 1] == 2 and int(heat.to_numpy().sum()) == 5


def test_coverage_gaps_bad_lines_and_warnings() -> None:
    conns = world.connections()
    cov = quality.coverage([("kernel log", conns["ts"])], world.PERIOD)
    assert cov.iloc[0].tolist()[:2] == ["kernel log", 10]
    assert round(cov.iloc[0]["coverage"], 6) == round(127 / 168, 6)
    gaps = quality.gaps([("kernel log", conns["ts"])], world.PERIOD, 30.0)
    assert gaps[["hours"]].round(6)["hours"].tolist() == [round(34 + 5 / 3600, 6), 41.0]
    bad = pd.DataFrame({"source": ["b.log", "a.log", "b.log"], "line": [1, 2, 3], "reason": ["x"] * 3,
                        "raw": ["r"] * 3})
    assert_frame_equal(quality.bad_line_counts(bad), pd.DataFrame(
        {"source": ["a.log", "b.log"], "bad_lines": [1, 2]}), check_dtype=False)
    warn = quality.firewall_warnings(conns)
    assert warn[["category", "connections", "hosts"]].values.tolist() == [["fallthrough", 1, 1],
                                                                          ["jailed", 0, 0]]


def test_previous_period_is_unknown_when_a_source_starts_later() -> None:
    conns = world.connections()
    tuples = world.tuples()
    inputs = Inputs(connections=conns.loc[conns["ts"] >= world.PERIOD.start],
                    tuples=tuples.loc[tuples["first"] >= world.PERIOD.start])
    head = build_report(inputs, world.PERIOD).headline.set_index("figure")
    assert head["value"].notna().all() and head["previous"].isna().all() and head["change"].isna().all()
    assert (head.loc["connections", "value"], head.loc["promoted", "value"]) == (8, 4)
