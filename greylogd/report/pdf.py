"""The PDF report: A4 pages drawn with matplotlib's PdfPages (no extra dependency).

Page 1 holds the headline figures and their weekly change, then the notes; then the charts, two per
page; then every table as monospaced text (a font size that fits the widest table), the lines to paste
for whitelist suggestions, and the glossary. Fonts are embedded as TrueType (pdf.fonttype 42) so that
pdftotext and search find the figures as text. All text is drawn with mathtext off and after
`clean_text`, so a `$`, a backslash or a 10 kB HELO cannot break the layout.
"""

from __future__ import annotations

import io
import textwrap
from collections.abc import Iterator
from pathlib import Path

import matplotlib
import matplotlib.image
import pandas as pd
from matplotlib.backends.backend_pdf import PdfPages
from matplotlib.figure import Figure

from greylogd.analysis.weekly import WeeklyReport
from greylogd.analysis.weekly_figures import GLOSSARY
from greylogd.report.html import Image
from greylogd.report.tables import Section, clean_text, display, sections

A4 = (8.27, 11.69)
MARGIN_IN = 0.6
LINES_PER_PAGE = 70
PDF_CELL_MAX = 40


def _page(lines: list[str], size_pt: float = 8.0, title: str | None = None) -> Figure:
    """One A4 page of monospaced lines, top to bottom."""
    fig = Figure(figsize=A4)
    top = 1 - MARGIN_IN / A4[1]
    if title:
        fig.text(MARGIN_IN / A4[0], top, title, fontsize=14, weight="bold", va="top", parse_math=False)
        top -= 0.04
    step = size_pt * 1.35 / 72 / A4[1]
    for n, line in enumerate(lines):
        fig.text(MARGIN_IN / A4[0], top - n * step, line, family="monospace", fontsize=size_pt, va="top",
                 parse_math=False)
    return fig


def text_table(frame: pd.DataFrame) -> list[str]:
    """A display frame as aligned text lines (cells cut to PDF_CELL_MAX, line breaks shown as ' | ')."""
    cells = frame.map(lambda v: clean_text(str(v).replace("\n", " | "), PDF_CELL_MAX))
    header = [clean_text(c, PDF_CELL_MAX) for c in frame.columns]
    widths = [max([len(h), *cells[c].str.len().tolist()]) for h, c in zip(header, frame.columns, strict=True)]
    rows = [header, ["-" * w for w in widths], *cells.to_numpy().tolist()]
    return ["  ".join(str(v).ljust(w) for v, w in zip(row, widths, strict=True)).rstrip() for row in rows]


def _font_for(lines: list[str]) -> float:
    usable_pt = (A4[0] - 2 * MARGIN_IN) * 72
    widest = max((len(line) for line in lines), default=1)
    return max(4.0, min(8.0, usable_pt / (0.6 * widest)))


def _first_page(report: WeeklyReport, generated: pd.Timestamp) -> Figure:
    head = display(report.headline, report.period.tz)[["label", "value", "previous", "change", "unit"]]
    period = report.period
    lines = [f"{period.start:%Y-%m-%d %H:%M} to {period.end:%Y-%m-%d %H:%M} ({period.tz})",
             f"generated {generated:%Y-%m-%d %H:%M %Z}", "", *text_table(head), "", "Notes:"]
    for note in report.notes or ["none"]:
        lines += textwrap.wrap(clean_text(note, None), 100, initial_indent="- ", subsequent_indent="  ")
    for title, frame in (("Sources", report.coverage), ("Bad input lines", report.bad_lines)):
        if frame is not None and not frame.empty:
            lines += ["", f"{title}:", *text_table(display(frame, period.tz))]
    return _page(lines, 8.0, f"Greylisting report {period.label}")


def _chart_pages(images: list[Image]) -> Iterator[Figure]:
    for pair in (images[i:i + 2] for i in range(0, len(images), 2)):
        fig = Figure(figsize=A4)
        for slot, image in enumerate(pair):
            ax = fig.add_axes((0.07, 0.52 - slot * 0.47, 0.86, 0.44))
            ax.imshow(matplotlib.image.imread(io.BytesIO(image.png), format="png"))
            ax.set_axis_off()
        yield fig


def _section_lines(section: Section) -> list[str]:
    lines = [f"== {section.title} ==", section.description]
    if section.display is None:
        return [*lines, "Not computed: a source it needs was not given (see notes).", ""]
    if section.display.empty:
        return [*lines, "None this period.", ""]
    lines += text_table(section.display)
    if section.key == "suggestions":
        lines += ["", "Lines to add to a greyd whitelist file:"]
        lines += [line for block in section.display["greyd_line"] for line in [*block.splitlines(), ""]]
    return [*lines, ""]


def _table_pages(report: WeeklyReport) -> Iterator[Figure]:
    for section in sections(report)[1:]:
        lines = _section_lines(section)
        size = _font_for(lines)
        for start in range(0, len(lines), LINES_PER_PAGE):
            yield _page(lines[start:start + LINES_PER_PAGE], size)


def _glossary_page() -> Figure:
    lines = []
    for term, definition in GLOSSARY:
        lines += [*textwrap.wrap(f"{term}: {definition}", 100, subsequent_indent="    "), ""]
    return _page(lines, 8.0, "Glossary")


def write_pdf(report: WeeklyReport, images: list[Image], path: Path, generated: pd.Timestamp) -> None:
    """Write the whole report as an A4 PDF at `path`."""
    with matplotlib.rc_context({"pdf.fonttype": 42}), PdfPages(path, metadata={
            "Title": f"greylogd weekly report {report.period.label}", "Creator": "greylogd-report"}) as pdf:
        pages = [_first_page(report, generated), *_chart_pages(images), *_table_pages(report),
                 _glossary_page()]
        for page in pages:
            pdf.savefig(page)
