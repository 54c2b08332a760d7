"""The report's tables as every view shows them: order, titles, formatted cells, hostile text made safe.

`sections(report)` lists the tables in report order; each carries the raw frame (for CSV/Parquet) and a
`display` frame of strings (for HTML and PDF): delays in minutes, times in the report's time zone, NA as
"-", and text cells passed through `clean_text` so that lone surrogates, control characters and 10 kB
HELO strings cannot break a renderer. Escaping for a format (HTML, CSV) is the renderer's job.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import pandas as pd

from greylogd.analysis.weekly import WeeklyReport

CELL_MAX = 80
DISPLAY_ROWS = 100
_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f]")
_SURROGATE = re.compile(r"[\ud800-\udfff]")
# field, title, what it shows; delay columns are seconds in the data and minutes on display
SECTIONS = [
    ("headline", "Headline figures", "This period, the one before, and the change."),
    ("delay_stats", "Delay percentiles", "Minutes from first attempt to pass, promoted tuples."),
    ("domain_delays", "Delay by sender domain", "Minutes; top domains by promoted tuples."),
    ("deferred", "Deferred domains", "Sender domains with abandoned tuples."),
    ("trusted", "Trusted domains", "Sender domains with promoted tuples (delays in minutes)."),
    ("rotation", "Pool rotation", "Same (from, to) abandoned from one IP, later seen from another."),
    ("suggestions", "Whitelist suggestions", "Evidence and the lines to add to a greyd whitelist file."),
    ("spam_sources", "Spam-source networks", "Greylisted networks without a promoted tuple, with the "
                     "HELO names they used most."),
    ("trapped", "Trapped hosts", "Hosts trapped by a spamtrap, per source."),
    ("white_summary", "Whitelist health", "WHITE entries of greyd's database."),
    ("white_expiring", "WHITE entries expiring within 7 days", "Unless the host connects again."),
    ("warnings", "Firewall warnings", "Connections no greyd rule should produce."),
    ("coverage", "Period covered by each source", "Share of the report period between first and last."),
    ("gaps", "Gaps in the logs", "Silences longer than the gap threshold."),
    ("bad_lines", "Bad input lines", "Lines the readers could not parse, per source."),
]
_SECONDS = {"delay_p50", "delay_p90", "delay_max", "p50", "p75", "p90", "p95", "p99", "max", "tarpit_s"}


@dataclass(frozen=True, slots=True)
class Section:
    """One table of the report. frame is None when its sources were missing (see the report's notes)."""

    key: str
    title: str
    description: str
    frame: pd.DataFrame | None
    display: pd.DataFrame | None


def encodable(text: str) -> str:
    """`text` with lone surrogates (undecodable bytes smuggled through Python) replaced by U+FFFD."""
    return _SURROGATE.sub("\ufffd", text)


def clean_text(value: object, limit: int | None = CELL_MAX) -> str:
    """Text safe for any renderer: lone surrogates -> U+FFFD, control characters (but tab and newline)
    -> U+FFFD, then cut to `limit` characters with an ellipsis. HTML/CSV escaping is still required."""
    text = _CONTROL.sub("\ufffd", encodable(str(value)))
    if limit is not None and len(text) > limit:
        text = text[: limit - 1] + "\u2026"
    return text


def _cell(value: object, column: str, tz: str) -> str:
    if value is None or (not isinstance(value, str) and pd.isna(value)):
        return "-"
    if isinstance(value, pd.Timestamp):
        return value.tz_convert(tz).strftime("%Y-%m-%d %H:%M")
    if column in _SECONDS:
        return f"{float(value) / 60:.1f}"
    if column == "share_abandoned" or column == "coverage":
        return f"{float(value):.1%}"
    if isinstance(value, float):
        return f"{value:.0f}" if value.is_integer() else f"{value:.1f}"
    return clean_text(value, None if column == "greyd_line" else CELL_MAX)


def display(frame: pd.DataFrame, tz: str) -> pd.DataFrame:
    """Every cell as a display string (see module docstring); index levels become columns."""
    flat = frame.reset_index() if frame.index.name else frame
    out = {col: [_cell(v, str(col), tz) for v in flat[col].tolist()] for col in flat.columns}
    return pd.DataFrame(out, columns=[str(c) for c in flat.columns], dtype=object)


def sections(report: WeeklyReport) -> list[Section]:
    """The report's tables in order (the charts' hourly/heatmap frames are exported, not tabulated).
    Long tables (trapped hosts, expiring entries) show their first DISPLAY_ROWS rows; exports keep all."""
    out = []
    for key, title, description in SECTIONS:
        frame = getattr(report, key)
        shown = None if frame is None else display(frame.head(DISPLAY_ROWS), report.period.tz)
        if frame is not None and len(frame) > DISPLAY_ROWS:
            description += f" First {DISPLAY_ROWS} of {len(frame)} rows; all of them in {key}.csv."
        out.append(Section(key, title, description, frame, shown))
    return out


def data_tables(report: WeeklyReport) -> dict[str, pd.DataFrame]:
    """Every computed table by name, chart data included, for CSV and Parquet export (raw values)."""
    names = [key for key, _, _ in SECTIONS] + ["hourly", "heatmap"]
    frames = {name: getattr(report, name) for name in names}
    return {name: frame for name, frame in frames.items() if frame is not None}
