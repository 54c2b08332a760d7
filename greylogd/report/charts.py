"""The report's charts: explicit matplotlib Figures on the Agg canvas (no pyplot global state).

Each function takes one table of the WeeklyReport and returns a Figure (or None when the table is missing
or empty). Labels that come from the network (domain names) go through `clean_text` and are drawn with
mathtext off, so a `$` in a HELO or domain cannot be parsed as TeX. `png(fig)` renders for HTML/mail.
"""

from __future__ import annotations

import io

import numpy as np
import pandas as pd
from matplotlib.axes import Axes
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

from greylogd.analysis.weekly import WeeklyReport
from greylogd.report.tables import clean_text

COLOURS = {"trusted": "#2e7d32", "greylisted": "#f9a825", "fallthrough": "#c62828", "jailed": "#6a1b9a",
           "other": "#9e9e9e", "outbound": "#1565c0"}
SIZE = (8.0, 3.6)


def _figure(size: tuple[float, float] = SIZE) -> tuple[Figure, Axes]:
    fig = Figure(figsize=size, layout="constrained")
    FigureCanvasAgg(fig)
    return fig, fig.add_subplot()


def _safe_labels(labels: list[str]) -> list[str]:
    return [clean_text(label, 40) for label in labels]


def _no_math(ax: Axes) -> None:
    for text in [*ax.get_xticklabels(), *ax.get_yticklabels(), ax.title]:
        text.set_parse_math(False)


def hourly_connections(report: WeeklyReport) -> Figure | None:
    """Stacked area of connections per local hour by category."""
    table = report.hourly
    if table is None or int(table.to_numpy().sum()) == 0:
        return None
    used = [c for c in table.columns if table[c].sum() > 0]
    fig, ax = _figure()
    x = table.index.tz_localize(None)
    ax.stackplot(x, [table[c].to_numpy() for c in used], labels=used, colors=[COLOURS[c] for c in used])
    ax.set(title=f"Connections per hour ({report.period.tz})", ylabel="connections")
    ax.legend(loc="upper left", fontsize="small", ncols=len(used))
    ax.margins(x=0)
    return fig


def delay_distribution(report: WeeklyReport) -> Figure | None:
    """Histogram of promoted tuples' delays in minutes, p50 and p90 marked."""
    if report.delays is None or report.delays.empty:
        return None
    minutes = report.delays.to_numpy() / 60
    fig, ax = _figure()
    ax.hist(minutes, bins=min(60, max(10, len(minutes) // 20)), color="#5c6bc0")
    for q, style in ((0.5, "--"), (0.9, ":")):
        value = float(np.quantile(minutes, q))
        ax.axvline(value, color="black", linestyle=style, label=f"p{int(q * 100)} {value:.1f} min")
    ax.set(title="Greylisting delay (first attempt to pass)", xlabel="minutes", ylabel="tuples")
    ax.legend(fontsize="small")
    return fig


def weekday_heatmap(report: WeeklyReport) -> Figure | None:
    """Weekday x local hour counts of greylisted connections."""
    table = report.heatmap
    if table is None or int(table.to_numpy().sum()) == 0:
        return None
    fig, ax = _figure((8.0, 3.0))
    image = ax.imshow(table.to_numpy(), aspect="auto", cmap="YlOrRd")
    ax.set_yticks(range(7), list(table.index))
    ax.set_xticks(range(0, 24, 2), [str(h) for h in range(0, 24, 2)])
    ax.set(title="Greylisted connections by weekday and hour", xlabel=f"hour ({report.period.tz})")
    fig.colorbar(image, ax=ax, label="connections")
    return fig


def _barh(ax: Axes, labels: list[str], values: pd.Series, colour: str, title: str) -> None:
    ax.barh(range(len(labels)), values.to_numpy(), color=colour)
    ax.set_yticks(range(len(labels)), _safe_labels(labels), fontsize="small")
    ax.invert_yaxis()
    ax.set_title(title)
    _no_math(ax)


def top_domains(report: WeeklyReport, n: int = 10) -> Figure | None:
    """Side by side: top deferred domains by abandoned tuples, top trusted domains by promoted tuples."""
    deferred, trusted = report.deferred, report.trusted
    if deferred is None or trusted is None or (deferred.empty and trusted.empty):
        return None
    fig = Figure(figsize=(8.0, 3.8), layout="constrained")
    FigureCanvasAgg(fig)
    left, right = fig.subplots(1, 2)
    _barh(left, deferred["domain"].head(n).tolist(), deferred["abandoned"].head(n), "#c62828",
          "Deferred: abandoned tuples")
    _barh(right, trusted["domain"].head(n).tolist(), trusted["promoted"].head(n), "#2e7d32",
          "Trusted: promoted tuples")
    return fig


def spam_networks(report: WeeklyReport, n: int = 10) -> Figure | None:
    """Top spam-source networks by greylisted connections."""
    table = report.spam_sources
    if table is None or table.empty:
        return None
    fig, ax = _figure()
    _barh(ax, table["net"].head(n).tolist(), table["connections"].head(n), "#6d4c41",
          "Spam-source networks: greylisted connections")
    return fig


CHARTS = [("hourly", hourly_connections), ("delays", delay_distribution), ("heatmap", weekday_heatmap),
          ("domains", top_domains), ("spam", spam_networks)]


def figures(report: WeeklyReport) -> list[tuple[str, Figure]]:
    """(name, Figure) for every chart the report's data allows, in report order."""
    made = [(name, make(report)) for name, make in CHARTS]
    return [(name, fig) for name, fig in made if fig is not None]


def png(fig: Figure, dpi: int = 100) -> bytes:
    """The figure as PNG bytes."""
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=dpi)
    return buffer.getvalue()
