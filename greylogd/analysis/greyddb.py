"""greyd's database as the `entries` frame: from a Store snapshot or from a greydb/spamdb listing file.

`entries` columns and dtypes are frames.ENTRIES (spec/report.md): times are tz-aware UTC, NaT where greyd
stores 0 or a listing prints nothing; greyd_host is missing for SQLite and listings.

A listing (spec/greyd-compat.md 6.2) has no header and no time of its own, so the caller passes the file's
modification time as the snapshot time. Malformed lines are counted in the `bad_lines` frame (source,
line, reason, raw truncated to 200 characters) and skipped; they never raise.
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

import pandas as pd

from greylogd.analysis import frames
from greylogd.errors import InputError
from greylogd.greydb.store import Entry

_TIMES = ["first", "pass", "expire"]
# the entries columns each listing kind fills, in field order after the kind (greyd-compat 6.2)
_LAYOUT = {
    "GREY": ["ip", "helo", "from", "to", "first", "pass", "expire", "bcount", "pcount"],
    "WHITE": ["ip", "from", "to", "first", "pass", "expire", "bcount", "pcount"],
    "TRAPPED": ["ip", "expire"],
    "SPAMTRAP": ["ip"],
    "DOMAIN": ["ip"],
}


def entries_frame(entries: Iterable[Entry]) -> pd.DataFrame:
    """The entries frame of a Store snapshot (Store.snapshot() -> list[Entry])."""
    rows = [(e.kind.value, e.ip, e.helo, e.mail_from, e.rcpt_to, e.first, e.pass_, e.expire, e.bcount,
             e.pcount, e.greyd_host) for e in entries]
    return _typed(pd.DataFrame(rows, columns=frames.ENTRIES_COLUMNS))


def _typed(frame: pd.DataFrame) -> pd.DataFrame:
    """Apply frames.ENTRIES dtypes; Unix second 0 (greyd's "unset") becomes NaT."""
    out = frame.copy()
    for col in _TIMES:
        secs = pd.to_numeric(out[col], errors="coerce").astype("Int64")
        out[col] = pd.to_datetime(secs.where(secs > 0), unit="s", utc=True)
    for col in ["bcount", "pcount"]:
        out[col] = pd.to_numeric(out[col], errors="coerce")
    return frames.typed(out, frames.ENTRIES)


def _parse_line(text: str) -> dict[str, object] | str:
    """One listing line as a row, or the reason it is malformed."""
    fields = text.split("|")
    layout = _LAYOUT.get(fields[0])
    if layout is None:
        return f"unknown kind {fields[0][:20]!r}"
    if len(fields) - 1 != len(layout):
        return f"{fields[0]}: expected {len(layout) + 1} fields, got {len(fields)}"
    row: dict[str, object] = dict(zip(layout, fields[1:], strict=True))
    for col in ("first", "pass", "expire", "bcount", "pcount"):
        if col in row and not str(row[col]).lstrip("-").isdigit():
            return f"{fields[0]}: field {col} is not an integer"
    return {"kind": fields[0], **row}


def parse_listing(lines: Iterable[str], source: str = "listing") -> tuple[pd.DataFrame, pd.DataFrame]:
    """Parse greydb/spamdb listing lines -> (entries, bad_lines). TRAPPED rows get pcount -1 like greyd."""
    rows: list[dict[str, object]] = []
    bad: list[tuple[str, int, str, str]] = []
    for number, line in enumerate(lines, start=1):
        text = line.rstrip("\r\n")
        if not text.strip():
            continue
        parsed = _parse_line(text)
        if isinstance(parsed, str):
            bad.append((source, number, parsed, text[:frames.RAW_MAX]))
        else:
            rows.append(parsed)
    frame = pd.DataFrame(rows, columns=frames.ENTRIES_COLUMNS)
    frame.loc[frame["kind"] == "TRAPPED", "pcount"] = "-1"
    text_cols = ["helo", "from", "to"]
    frame[text_cols] = frame[text_cols].astype(object).fillna("")
    bad_lines = pd.DataFrame(bad, columns=frames.BAD_LINES_COLUMNS)
    return _typed(frame), frames.typed(bad_lines, frames.BAD_LINES)


def read_listing(path: str | Path) -> tuple[pd.DataFrame, pd.DataFrame, pd.Timestamp]:
    """Read a listing file -> (entries, bad_lines, snapshot time = the file's mtime, UTC).

    Undecodable bytes are replaced (U+FFFD) rather than rejected: helo strings come from the network.
    """
    path = Path(path)
    try:
        with path.open(encoding="utf-8", errors="replace") as handle:
            entries, bad = parse_listing(handle, source=str(path))
        mtime = pd.Timestamp(path.stat().st_mtime, unit="s", tz="UTC").floor("s")
    except OSError as exc:
        raise InputError(f"{path}: cannot read greydb listing: {exc.strerror}") from exc
    return entries, bad, mtime



def tuples_from_snapshot(entries: pd.DataFrame, taken_at: pd.Timestamp) -> pd.DataFrame:
    """The GREY rows of one snapshot as a `tuples` frame (frames.TUPLES), for reports without a ledger.

    A snapshot only holds tuples younger than grey_expiry, so the result covers a few hours, not a week.
    Outcome: promoted when greyd recorded a qualifying retry (pass < expire and pass <= taken_at: the next
    scan promotes it), otherwise pending; last_seen = outcome_ts = taken_at for promoted rows.
    """
    grey = entries.loc[entries["kind"].eq("GREY")].reset_index(drop=True)
    retried = (grey["pass"] < grey["expire"]) & (grey["pass"] <= taken_at)
    out = grey[["ip", "helo", "from", "to", "first", "pass", "bcount"]].copy()
    out["sender_domain"] = grey["from"].str.rpartition("@")[2].str.lower()
    out["rcpt_domain"] = grey["to"].str.rpartition("@")[2].str.lower()
    out["last_seen"] = taken_at
    out["outcome"] = retried.map({True: "promoted", False: "pending"})
    out["outcome_ts"] = pd.Series(taken_at, index=out.index).where(retried)
    return frames.typed(out, frames.TUPLES)
