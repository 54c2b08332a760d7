"""Write a WeeklyReport in the requested formats into one folder, and mail it.

File names: report.pdf, report.html, <table>.csv / <table>.parquet per table, summary.json. The folder
is created if needed; existing files of the same names are replaced.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from greylogd.analysis.weekly import WeeklyReport
from greylogd.report import export
from greylogd.report.html import render_html, render_images
from greylogd.report.mail import MailSettings, build_message, send
from greylogd.report.pdf import write_pdf

FORMATS = ("pdf", "html", "csv", "parquet", "json")


def write_report(report: WeeklyReport, out_dir: Path, formats: set[str],
                 generated: pd.Timestamp) -> list[Path]:
    """Render each requested format; returns the files written, PDF and HTML first."""
    out_dir.mkdir(parents=True, exist_ok=True)
    written: list[Path] = []
    images = render_images(report) if {"pdf", "html"} & formats else []
    if "pdf" in formats:
        written.append(out_dir / "report.pdf")
        write_pdf(report, images, written[-1], generated)
    if "html" in formats:
        written.append(out_dir / "report.html")
        written[-1].write_text(render_html(report, images, generated), encoding="utf-8")
    return written + export.write_tables(report, out_dir, formats)


def mail_report(report: WeeklyReport, settings: MailSettings, pdf_path: Path | None,
                generated: pd.Timestamp) -> None:
    """Send the HTML report with cid: charts, attaching the PDF when one was written."""
    domain = settings.sender.rpartition("@")[2] or "greylogd.invalid"
    images = render_images(report, cid_domain=domain)
    html = render_html(report, images, generated)
    pdf = pdf_path.read_bytes() if pdf_path is not None else None
    subject = f"Greylisting report {report.period.label}"
    name = f"greylisting-{report.period.label}.pdf"
    send(settings, build_message(settings, subject, html, images, pdf, name))
