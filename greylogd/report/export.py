"""CSV (formula-safe), Parquet and the JSON summary.

CSV files are opened by people in spreadsheets, and cells hold text from the network (HELO, addresses,
domains). Following OWASP's CSV-injection advice, a cell that starts with `=`, `+`, `-`, `@`, tab or
carriage return gets a leading single quote, so a spreadsheet shows it as text instead of running it.
Numbers are written as numbers (a negative change stays -3, not '-3): only text cells are neutralised.
Lone surrogates are replaced (U+FFFD) because UTF-8 cannot encode them.
"""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd

from greylogd.analysis.weekly import WeeklyReport
from greylogd.report.tables import clean_text, data_tables, encodable

FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def neutralise(value: object) -> object:
    """A CSV cell value: text made encodable and formula-safe; anything else unchanged."""
    if not isinstance(value, str):
        return value
    text = encodable(value)
    return "'" + text if text.startswith(FORMULA_START) else text


def _flat(frame: pd.DataFrame) -> pd.DataFrame:
    out = frame.reset_index() if frame.index.name else frame.copy()
    out.columns = [str(c) for c in out.columns]
    return out


def write_csv(frame: pd.DataFrame, path: Path) -> None:
    """One table as UTF-8 CSV with a header row; text cells neutralised."""
    out = _flat(frame)
    for col in out.columns:
        if not pd.api.types.is_numeric_dtype(out[col]) and not pd.api.types.is_datetime64_any_dtype(out[col]):
            out[col] = out[col].astype(object).map(neutralise)
    out.to_csv(path, index=False, encoding="utf-8")


def write_parquet(frame: pd.DataFrame, path: Path) -> None:
    """One table as Parquet (pyarrow), typed; text made encodable (no formula handling: not a sheet)."""
    out = _flat(frame)
    for col in out.columns:
        if pd.api.types.is_string_dtype(out[col]) or out[col].dtype == object:
            out[col] = out[col].map(lambda v: clean_text(v, None) if isinstance(v, str) else v)
    out.to_parquet(path, index=False)


def summary(report: WeeklyReport) -> dict[str, object]:
    """The JSON summary: period, headline figures (value, previous, change; null when unknown), notes."""
    def number(value: object) -> int | float | None:
        """Counts stay integers in JSON (monitoring compares them exactly); other values keep 3 decimals."""
        if pd.isna(value):  # type: ignore[arg-type]
            return None
        rounded = round(float(value), 3)  # type: ignore[arg-type]
        return int(rounded) if rounded.is_integer() else rounded

    figures = {row.figure: {"value": number(row.value), "previous": number(row.previous),
                            "change": number(row.change), "unit": row.unit}
               for row in report.headline.itertuples()}
    return {"period": {"label": report.period.label, "start": report.period.start.isoformat(),
                       "end": report.period.end.isoformat(), "tz": report.period.tz},
            "figures": figures, "notes": [clean_text(n, None) for n in report.notes]}


def write_tables(report: WeeklyReport, out_dir: Path, formats: set[str]) -> list[Path]:
    """Write csv and/or parquet files (<table>.csv, <table>.parquet) and summary.json; return the paths."""
    written = []
    for name, frame in data_tables(report).items():
        if "csv" in formats:
            written.append(out_dir / f"{name}.csv")
            write_csv(frame, written[-1])
        if "parquet" in formats:
            written.append(out_dir / f"{name}.parquet")
            write_parquet(frame, written[-1])
    if "json" in formats:
        written.append(out_dir / "summary.json")
        written[-1].write_text(json.dumps(summary(report), indent=2, ensure_ascii=False) + "\n",
                               encoding="utf-8")
    return written
