"""The HTML report (also the mail body): jinja2 with autoescape on, so every value is HTML-escaped.

Charts are <img> elements whose src is either a data: URI (a standalone file) or a cid: reference (the
mail attaches the PNGs as related parts; many mail clients block data: URIs). Only the caller decides
which; the template never builds a URL from report data.
"""

from __future__ import annotations

import base64
from dataclasses import dataclass

import jinja2
import pandas as pd

from greylogd.analysis.weekly import WeeklyReport
from greylogd.analysis.weekly_figures import GLOSSARY
from greylogd.report import charts
from greylogd.report.tables import clean_text, display, sections

CHART_TITLES = {"hourly": "Connections per hour by category", "delays": "Delay distribution",
                "heatmap": "Greylisted connections by weekday and hour",
                "domains": "Top deferred and trusted domains", "spam": "Spam-source networks"}


@dataclass(frozen=True, slots=True)
class Image:
    """One chart: name (also the cid), title, PNG bytes, and the src the HTML uses."""

    name: str
    title: str
    png: bytes
    src: str


def render_images(report: WeeklyReport, cid_domain: str | None = None) -> list[Image]:
    """PNG charts with data: URIs, or cid:<name>@<cid_domain> references when cid_domain is given."""
    images = []
    for name, fig in charts.figures(report):
        data = charts.png(fig)
        src = (f"cid:{name}@{cid_domain}" if cid_domain
               else "data:image/png;base64," + base64.b64encode(data).decode("ascii"))
        images.append(Image(name, CHART_TITLES[name], data, src))
    return images


def _environment() -> jinja2.Environment:
    return jinja2.Environment(loader=jinja2.PackageLoader("greylogd.report", "templates"),
                              autoescape=True, undefined=jinja2.StrictUndefined)


def render_html(report: WeeklyReport, images: list[Image], generated: pd.Timestamp) -> str:
    """The whole report as one HTML document (UTF-8 text)."""
    headline = display(report.headline, report.period.tz)
    template = _environment().get_template("report.html.j2")
    return template.render(
        period=report.period, generated=generated.strftime("%Y-%m-%d %H:%M %Z"),
        headline=list(headline.itertuples(index=False)), notes=[clean_text(n, None) for n in report.notes],
        images=images, sections=[s for s in sections(report) if s.key != "headline"], glossary=GLOSSARY)
