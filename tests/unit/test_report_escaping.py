"""Hostile text from the network (HELO, from, domains) is made safe in every output: HTML, CSV, Parquet,
JSON, PDF and the charts. The strings go in as sender domains, so they reach every domain table, and as
HELO names (verbatim, not lower-cased like domains), which the suggestions show as evidence.

Invalid UTF-8 reaches the frames as U+FFFD (readers decode with errors="replace"; pyarrow strings cannot
hold lone surrogates at all); lone surrogates in object columns are handled by clean_text/neutralise."""

from __future__ import annotations

import csv
import json
import subprocess
from pathlib import Path

import pandas as pd
import pytest

from greylogd.analysis.weekly import Inputs, WeeklySettings, build_report
from greylogd.report.export import neutralise
from greylogd.report.output import write_report
from greylogd.report.tables import DISPLAY_ROWS, clean_text, sections
from tests.unit import weekly_world as world

HOSTILE = {
    "html": "<script>alert(1)</script><img src=x onerror=alert(2)>",
    "latex": r"$\textbf{x}$ \input{/etc/passwd} %",
    "formula": '=HYPERLINK("http://evil.example/","x")',
    "plus": "+41 cmd", "minus": "-2+3", "at": "@SUM(A1:A9)",
    "long": "a" * 10_000,
    "invalid_utf8": b"bad\xff\xfex".decode("utf-8", "replace"),
}


def _hostile_tuples() -> pd.DataFrame:
    base = world.tuples()
    rows = []
    for n, text in enumerate(HOSTILE.values()):
        for k, row in enumerate([base.iloc[0], base.iloc[1]]):  # one promoted, one abandoned
            rows.append(row.copy().to_dict() | {"ip": f"192.0.2.{100 + 2 * n + k}", "sender_domain": text,
                                                "from": f"x@{text}", "helo": text})
    return pd.DataFrame(rows).astype(base.dtypes.to_dict())


@pytest.fixture(scope="module")
def out(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("hostile")
    inputs = Inputs(world.connections(), world.greyd_events(), world.entries(), world.PERIOD.end,
                    _hostile_tuples(), None)
    report = build_report(inputs, world.PERIOD, WeeklySettings(min_promoted=1, delay_threshold_s=60))
    assert len(report.trusted) == len(HOSTILE)
    write_report(report, folder, {"pdf", "html", "csv", "parquet", "json"},
                 pd.Timestamp("2026-11-16", tz="UTC"))
    return folder


def test_html_escapes_and_cuts(out: Path) -> None:
    html = (out / "report.html").read_text(encoding="utf-8")
    assert "<script>" not in html and "<img src=x" not in html
    assert "&lt;script&gt;alert(1)&lt;/script&gt;&lt;img src=x onerror=alert(2)&gt;" in html
    assert "a" * 80 not in html and "a" * 79 + "\u2026" in html
    assert "bad\ufffd\ufffdx" in html
    assert "<td>=HYPERLINK(&#34;http://evil.example/&#34;,&#34;x&#34;)</td>" in html  # a HELO cell


@pytest.mark.parametrize("name", ["deferred", "trusted", "suggestions"])
def test_csv_cells_never_start_a_formula(out: Path, name: str) -> None:
    with (out / f"{name}.csv").open(encoding="utf-8", newline="") as handle:
        cells = [cell for row in csv.reader(handle) for cell in row]
    assert cells and not [c for c in cells if c[:1] in ("=", "+", "@", "\t", "\r")]
    assert "'" + HOSTILE["formula"].lower() in cells and "'-2+3" in cells and "'@sum(a1:a9)" in cells
    assert "a" * 10_000 in cells  # CSV keeps the full value: it is data, not layout
    assert "bad\ufffd\ufffdx" in cells
    if name == "suggestions":  # the HELO column: verbatim case, so not the domain cell
        assert "'" + HOSTILE["formula"] in cells and "'+41 cmd" in cells


def test_numbers_stay_numbers_in_csv(out: Path) -> None:
    head = pd.read_csv(out / "headline.csv").set_index("figure")
    assert head.loc["connections", "change"] == 7.0


def test_parquet_round_trips_text(out: Path) -> None:
    trusted = pd.read_parquet(out / "trusted.parquet")
    assert set(trusted["domain"]) >= {HOSTILE["formula"].lower(), HOSTILE["html"], "bad\ufffd\ufffdx"}
    helos = set(pd.read_parquet(out / "suggestions.parquet")["helos"])
    assert helos >= {HOSTILE["formula"], HOSTILE["latex"], HOSTILE["html"], "a" * 10_000}


def test_json_summary_is_valid(out: Path) -> None:
    summary = json.loads((out / "summary.json").read_text(encoding="utf-8"))
    assert summary["figures"]["promoted"]["value"] == len(HOSTILE)


def test_pdf_draws_hostile_text_literally(out: Path) -> None:
    text = subprocess.run(["pdftotext", "-layout", str(out / "report.pdf"), "-"], check=True,
                          capture_output=True, text=True).stdout
    assert r"$\textbf{x}$ \input{/etc/passwd}" in text
    assert "<script>alert(1)</script>" in text  # PDF text is not markup: shown, never run
    assert "a" * 70 not in text  # table cells cut at 40, the whitelist comment at 64


@pytest.mark.parametrize(("value", "expected"), [
    ("=1+1", "'=1+1"), ("+1", "'+1"), ("-1", "'-1"), ("@A1", "'@A1"), ("\t=1", "'\t=1"), ("\r=1", "'\r=1"),
    ("a=1", "a=1"), ("", ""), (-3, -3), (2.5, 2.5), ("x\udcffy", "x\ufffdy"), ("-\ud800", "'-\ufffd")])
def test_neutralise(value: object, expected: object) -> None:
    assert neutralise(value) == expected


def test_clean_text_controls_surrogates_and_limit() -> None:
    assert clean_text("bad\udcff\ud800x") == "bad\ufffd\ufffdx"
    assert clean_text("a\x00b\x1bc\x7f\nd\te", None) == "a\ufffdb\ufffdc\ufffd\nd\te"
    assert clean_text("x" * 100, 10) == "x" * 9 + "\u2026"


def test_long_tables_are_cut_for_display_only() -> None:
    many = pd.Series([f"203.0.113.{n}" for n in range(150)], dtype="str")
    inputs = Inputs(entries=world.entries().head(0), entries_at=world.PERIOD.end,
                    greyd_events=world.greyd_events().head(0))
    report = build_report(inputs, world.PERIOD)
    report.trapped = pd.DataFrame({"ip": many})
    section = next(s for s in sections(report) if s.key == "trapped")
    assert len(section.frame) == 150 and len(section.display) == DISPLAY_ROWS
    assert section.description.endswith("First 100 of 150 rows; all of them in trapped.csv.")
