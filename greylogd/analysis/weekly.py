"""The weekly report as data: headline figures with week-over-week change, and every table of the report.

`build_report(inputs, period, settings)` is pure (frames in, frames out) and is the only place a number
of the report is computed; the PDF, HTML, CSV, Parquet and JSON renderers only format its fields.
Any input may be missing: the tables that need it are None and `notes` says why, so a report from kernel
logs alone, a DB snapshot alone or the ledger alone is still a report (spec/report.md, Sources).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from greylogd.analysis import weekly_domains as domains
from greylogd.analysis import weekly_hosts as hosts
from greylogd.analysis import weekly_quality as quality
from greylogd.analysis.period import Period
from greylogd.analysis.weekly_figures import headline
from greylogd.analysis.weekly_suggest import suggestions
from greylogd.analysis.weekly_traffic import hourly_connections, period_micros, utc_micros, weekday_hour
from greylogd.analysis.weekly_tuples import classify, delay_stats, rows_in, text_codes


@dataclass(frozen=True, slots=True)
class WeeklySettings:
    """Thresholds (spec defaults). Seconds unless named otherwise."""

    grey_expiry_s: int = 14400
    delay_threshold_s: int = 1800
    min_promoted: int = 3
    top: int = 20
    gap_hours: float = 6.0
    expiry_horizon_days: int = 7


@dataclass(frozen=True, slots=True)
class Inputs:
    """The frames of spec/report.md; None = source not given. entries_at is the DB snapshot's time."""

    connections: pd.DataFrame | None = None
    greyd_events: pd.DataFrame | None = None
    entries: pd.DataFrame | None = None
    entries_at: pd.Timestamp | None = None
    tuples: pd.DataFrame | None = None
    bad_lines: pd.DataFrame | None = None
    tuples_source: str = "ledger"


@dataclass(slots=True)
class WeeklyReport:
    """Every table of the report; None where the needed source is missing (see notes)."""

    period: Period
    settings: WeeklySettings
    headline: pd.DataFrame
    notes: list[str] = field(default_factory=list)
    hourly: pd.DataFrame | None = None
    heatmap: pd.DataFrame | None = None
    delays: pd.Series | None = None
    delay_stats: pd.DataFrame | None = None
    domain_delays: pd.DataFrame | None = None
    deferred: pd.DataFrame | None = None
    trusted: pd.DataFrame | None = None
    rotation: pd.DataFrame | None = None
    suggestions: pd.DataFrame | None = None
    spam_sources: pd.DataFrame | None = None
    trapped: pd.DataFrame | None = None
    white_summary: pd.DataFrame | None = None
    white_expiring: pd.DataFrame | None = None
    coverage: pd.DataFrame | None = None
    gaps: pd.DataFrame | None = None
    bad_lines: pd.DataFrame | None = None
    warnings: pd.DataFrame | None = None


# the only columns the tables read: a period slice copies these, not the whole frame
CONNECTION_COLUMNS = ["ts", "category", "src"]
EVENT_COLUMNS = ["ts", "kind", "ip", "duration_s", "lists"]


def _in_period(frame: pd.DataFrame | None, period: Period) -> pd.DataFrame | None:
    """The connections with ts in the period, CONNECTION_COLUMNS only, src categorical: every table
    counts or groups by address, so the period's millions of addresses (thousands of hosts) are hashed
    here once. No copy of ts and category when the period's rows are one run (weekly_tuples.rows_in)."""
    if frame is None:
        return None
    return rows_in(frame[CONNECTION_COLUMNS], "ts", period).astype({"src": "category"})


def _used_events(events: pd.DataFrame | None, period: Period) -> pd.DataFrame | None:
    """The period's greyd events the tables read (EVENT_COLUMNS): trap events and disconnections that
    carried blacklist names (tarpit time). A week's log has tens of millions of lines: they are picked
    by comparing codes (kind and lists are categorical), and only the picked rows' times are compared
    with the period; coverage and gaps read the whole log's times instead of a copy."""
    if events is None:
        return None
    kind, kinds = text_codes(events["kind"])
    lists, names = text_codes(events["lists"])
    rows = np.flatnonzero((kind == _code(kinds, "trapped")) | (
        (kind == _code(kinds, "disconnected")) & (lists >= 0) & (lists != _code(names, ""))))
    start, end = period_micros(period)
    times = utc_micros(events["ts"])[rows]
    return events[EVENT_COLUMNS].iloc[rows[(times >= start) & (times < end)]]


def _code(uniques: pd.Index, value: str) -> int:
    """The code of `value` among text_codes' uniques; -2 (no row's code) when absent."""
    return int(uniques.get_loc(value)) if value in uniques else -2


def _category(conns: pd.DataFrame | None, name: str) -> pd.DataFrame | None:
    return None if conns is None else conns.loc[conns["category"].eq(name)]


def _tuple_tables(report: WeeklyReport, classified: pd.DataFrame, conns: pd.DataFrame | None,
                  entries: pd.DataFrame | None) -> None:
    settings = report.settings
    report.delays = classified["delay_s"].dropna().reset_index(drop=True)
    report.delay_stats = delay_stats(report.delays).to_frame("all domains").T.rename_axis("scope")
    report.domain_delays = domains.domain_delays(classified).head(settings.top)
    report.deferred = domains.deferred_domains(classified).head(settings.top)
    white = None if entries is None else entries.loc[entries["kind"].eq("WHITE"), "ip"]
    trusted = domains.trusted_domains(classified, white, _category(conns, "trusted"))
    report.trusted = trusted.head(settings.top)
    rotation = domains.pool_rotation(classified)
    report.rotation = rotation.head(settings.top)
    report.suggestions = suggestions(classified, trusted, rotation,
                                     report.trapped["ip"] if report.trapped is not None else pd.Series(),
                                     settings.delay_threshold_s, settings.min_promoted)


def _host_tables(report: WeeklyReport, classified: pd.DataFrame | None, conns: pd.DataFrame | None,
                 inputs: Inputs, events: pd.DataFrame | None) -> None:
    trapped = hosts.trapped_ips(classified, inputs.entries, events)
    report.trapped = hosts.trapped_hosts(trapped, classified, inputs.entries, events)
    if conns is not None:
        report.spam_sources = hosts.spam_sources(_category(conns, "greylisted"), classified, trapped, events,
                                                 report.settings.top)
    if inputs.entries is not None:
        report.white_summary, report.white_expiring = hosts.whitelist_health(
            inputs.entries, _category(conns, "trusted"), report.period, report.settings.expiry_horizon_days)


def _quality_tables(report: WeeklyReport, inputs: Inputs, conns: pd.DataFrame | None) -> None:
    timelines = [(name, frame[col]) for name, frame, col in [
        ("kernel log", inputs.connections, "ts"), ("greyd log", inputs.greyd_events, "ts"),
        (inputs.tuples_source, inputs.tuples, "first")] if frame is not None]
    if inputs.entries_at is not None:
        timelines.append(("greyd db snapshot", pd.Series([inputs.entries_at])))
    report.coverage = quality.coverage(timelines, report.period)
    report.gaps = quality.gaps(timelines[:2], report.period, report.settings.gap_hours)
    if inputs.bad_lines is not None:
        report.bad_lines = quality.bad_line_counts(inputs.bad_lines)
    if conns is not None:
        report.warnings = quality.firewall_warnings(conns)
        report.hourly = hourly_connections(conns, report.period)
        report.heatmap = weekday_hour(conns, report.period)


def _missing_notes(inputs: Inputs, period: Period) -> list[str]:
    notes = []
    if inputs.connections is None:
        notes.append("No kernel log given: connection counts, spam sources, firewall warnings and "
                     "trusted connections per domain are not computed.")
    if inputs.tuples is None:
        notes.append("No ledger or DB snapshot with GREY tuples: tuple outcomes, delays and all domain "
                     "tables are not computed (greyd forgets tuples after grey_expiry).")
    elif inputs.tuples_source != "ledger":
        first, last = inputs.tuples["first"].min(), inputs.tuples["first"].max()
        notes.append(f"Domain tables come from {inputs.tuples_source} only: they cover tuples first seen "
                     f"{first} .. {last}, not the whole period {period.label}.")
    if inputs.entries is None:
        notes.append("No greyd database given: whitelist health and hosts now WHITE are not computed.")
    if inputs.greyd_events is None:
        notes.append("No greyd log given: tarpit time per network is not computed.")
    return notes


def build_report(inputs: Inputs, period: Period, settings: WeeklySettings | None = None) -> WeeklyReport:
    """Compute every figure and table of the report for `period` (see module docstring)."""
    settings = settings or WeeklySettings()
    conns = _in_period(inputs.connections, period)
    events = _used_events(inputs.greyd_events, period)
    classified = None if inputs.tuples is None else classify(inputs.tuples, period, settings.grey_expiry_s)
    report = WeeklyReport(period, settings, headline(inputs.connections, inputs.tuples, period,
                                                     settings.grey_expiry_s, classified),
                          _missing_notes(inputs, period))
    _host_tables(report, classified, conns, inputs, events)
    if classified is not None:
        _tuple_tables(report, classified, conns, inputs.entries)
    _quality_tables(report, inputs, conns)
    if report.warnings is not None and report.warnings["connections"].sum() > 0:
        report.notes.insert(0, "Firewall warning: " + "; ".join(
            f"{row.connections} {row.meaning}" for row in report.warnings.itertuples() if row.connections))
    return report
