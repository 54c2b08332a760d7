"""Ledger.read_tuples against a plain row-by-row reading of the rows written (test_ledger_postgres does
the same on PostgreSQL, without the NUL, which PostgreSQL's text refuses).

The ledger rows are written straight into the file with awkward values (NULL outcome / outcome_ts, an
outcome without a time, empty HELO and sender, IPv6, non-ASCII, commas, newlines and a NUL in text,
`first` ties, ids out of `first` order, several hours) so that every trick of the reader is exercised:
byte lengths vs characters, NULLs that group_concat would skip, the per-hour windows and their order.
"""

from __future__ import annotations

import random
import re
import sqlite3
from pathlib import Path

import pandas as pd
import pytest

from greylogd.analysis.frames import empty
from greylogd.errors import StoreError
from greylogd.ledger import Ledger
from greylogd.ledger.frame import TUPLES_READ

T0 = 1_790_000_000
LAST_POLL = T0 + 5 * 3600
IPS = ["192.0.2.7", "2001:db8::25", "2001:db8:0:1::a", "198.51.100.200", "203.0.113.1"]
HELOS = ["", "mx.example.org", "a,b", "x\ny", "nul\x00byte", "Ünïcödé.例え.jp", "=cmd|' /C calc'!A0",
         "[192.0.2.7]"]
SENDERS = ["", "alice@Example.ORG", "odd@x@Mail.Example.net", "no-at-sign", "bøb@exämple.ORG",
           "a,b@c.example"]
RCPTS = ["postmaster@example.net", "Ünï@Bücher.Example", "x\n@y.example", "bare"]
RANGES = ((0, 2**40), (T0 + 3600 + 3, T0 + 4 * 3600 + 1), (T0 + 7, T0 + 8))  # all, hours cut, one second
OUTCOMES = [(None, None), ("promoted", 60), ("expired", 14400), ("trapped", 5), ("expired", None)]
COLUMNS = ("ip", "helo", "mail_from", "rcpt_to", "first", "pass", "expire", "bcount", "first_seen",
           "last_seen", "outcome", "outcome_ts")


def awkward_rows(count: int, seed: int, helos: list[str] = HELOS) -> list[tuple[object, ...]]:
    """Distinct tuples (COLUMNS) over ~6 hours, `first` often shared, in random order (so ids, given in
    insertion order, do not follow first)."""
    rng, rows, seen = random.Random(seed), [], set()
    while len(rows) < count:
        key = (rng.choice(IPS), rng.choice(helos), rng.choice(SENDERS), rng.choice(RCPTS),
               T0 + rng.randrange(0, 6 * 3600, 7))
        if key in seen:
            continue
        seen.add(key)
        outcome, delay = rng.choice(OUTCOMES)
        first = key[4]
        rows.append((*key, first + 1800, first + 14400, rng.randrange(1, 40), first + 10, first + 1900,
                     outcome, None if delay is None else first + delay))
    return rows


def insert_sql(table: str, mark: str) -> str:
    return f"INSERT INTO {table} ({', '.join(COLUMNS)}) VALUES ({', '.join([mark] * len(COLUMNS))})"


def _write(path: Path, rows: list[tuple[object, ...]]) -> None:
    Ledger(path).close()  # the schema
    with sqlite3.connect(path) as conn:
        conn.executemany(insert_sql("tuples", "?"), rows)
        conn.execute("INSERT INTO meta (name, value) VALUES ('last_poll', ?)", (LAST_POLL,))


def _domain(address: str) -> str:
    return address.rpartition("@")[2].lower() if "@" in address else ""


def _utc(seconds: int | None) -> pd.Timestamp | None:
    return None if seconds is None else pd.Timestamp(seconds, unit="s", tz="UTC")


def expected(rows: list[tuple[object, ...]], start: int, end: int) -> list[tuple[object, ...]]:
    """The straightforward reading: row by row, in (first, insertion order) order."""
    chosen = sorted((r for r in rows if start <= r[4] < end), key=lambda r: r[4])  # stable: ties by id
    return [(ip, helo, frm, to, _domain(frm), _domain(to), _utc(first),
             _utc(LAST_POLL if outcome is None else last_seen), _utc(pass_), bcount, outcome or "pending",
             _utc(outcome_ts))
            for ip, helo, frm, to, first, pass_, _, bcount, _, last_seen, outcome, outcome_ts in chosen]


def as_rows(frame: pd.DataFrame) -> list[tuple[object, ...]]:
    columns = [[None if v is pd.NaT else v for v in frame[name].tolist()] for name in frame.columns]
    return list(zip(*columns, strict=True))


def test_column_wise_read_equals_the_row_wise_read_of_awkward_tuples(tmp_path: Path) -> None:
    path, rows = tmp_path / "ledger.sqlite", awkward_rows(1500, seed=8)
    _write(path, rows)
    with Ledger(path) as ledger:
        for start, end in RANGES:
            frame = ledger.read_tuples(start, end)
            assert len(frame) > 0
            assert as_rows(frame) == expected(rows, start, end)
            assert dict(frame.dtypes.astype(str)) == dict(empty(TUPLES_READ).dtypes.astype(str))


def test_a_range_without_tuples_gives_the_empty_frame(tmp_path: Path) -> None:
    path = tmp_path / "ledger.sqlite"
    _write(path, awkward_rows(20, seed=3))
    with Ledger(path) as ledger:
        frame = ledger.read_tuples(T0 + 7 * 3600, T0 + 9 * 3600)
    assert frame.empty and list(frame.columns) == list(TUPLES_READ)


def test_text_that_is_not_utf8_is_a_store_error_naming_the_file(tmp_path: Path) -> None:
    path = tmp_path / "ledger.sqlite"
    _write(path, awkward_rows(5, seed=1))
    with sqlite3.connect(path) as conn:
        conn.execute("UPDATE tuples SET helo = CAST(x'6d78ff' AS TEXT) WHERE id = 3")
    message = rf"^{re.escape(str(path))}: unreadable tuples: helo: text that is not UTF-8 \("
    with Ledger(path) as ledger, pytest.raises(StoreError, match=message):
        ledger.read_tuples(0, 2**40)
