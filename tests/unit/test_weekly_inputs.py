"""--period parsing, the greydb listing reader, and the time of a greyd database snapshot."""

from __future__ import annotations

import os

import pandas as pd
import pytest

from greylogd.analysis.greyddb import parse_listing, read_listing
from greylogd.analysis.period import parse_period
from greylogd.errors import ConfigError, InputError
from greylogd.greydb.sqlite import SqliteStore
from greylogd.greydb.store import Entry, Kind
from greylogd.report.inputs import Sources, load_inputs

NOW = pd.Timestamp("2026-11-19 10:00", tz="UTC")  # a Thursday in ISO week 47


@pytest.mark.parametrize(("text", "tz", "start", "end", "label"), [
    ("last-week", "UTC", "2026-11-09 00:00", "2026-11-16 00:00", "2026-W46"),
    ("this-week", "UTC", "2026-11-16 00:00", "2026-11-23 00:00", "2026-W47"),
    ("2026-W01", "UTC", "2025-12-29 00:00", "2026-01-05 00:00", "2026-W01"),
    ("2026-03-01..2026-03-07", "UTC", "2026-03-01 00:00", "2026-03-08 00:00", "2026-03-01..2026-03-07"),
    ("2026-03-01T06:00..2026-03-01T18:00", "UTC", "2026-03-01 06:00", "2026-03-01 18:00",
     "2026-03-01T06:00..2026-03-01T18:00"),
])
def test_parse_period(text: str, tz: str, start: str, end: str, label: str) -> None:
    period = parse_period(text, tz, NOW)
    assert (period.start, period.end, period.label) == (pd.Timestamp(start, tz=tz), pd.Timestamp(end, tz=tz),
                                                        label)


def test_dst_week_is_167_hours_in_local_time() -> None:
    period = parse_period("2026-W13", "Europe/Berlin", NOW)  # DST starts Sunday 29 March 2026
    assert str(period.start) == "2026-03-23 00:00:00+01:00"
    assert (period.end - period.start) == pd.Timedelta(hours=167)
    assert period.previous().end == period.start


@pytest.mark.parametrize(("text", "message"), [
    ("yesterday", "--period: 'yesterday': expected last-week, this-week, YYYY-Www or START..END"),
    ("2026-W54", "--period: '2026-W54' is not an ISO week"),
    ("2026-03-07..2026-03-01", "--period: '2026-03-07..2026-03-01' ends before it starts"),
    ("2026-13-01..2026-13-02", "--period: '2026-13-01' is not an ISO date or date-time"),
])
def test_bad_period_is_one_line(text: str, message: str) -> None:
    with pytest.raises(ConfigError) as err:
        parse_period(text, "UTC", NOW)
    assert str(err.value) == message


def test_unknown_zone() -> None:
    with pytest.raises(ConfigError, match="--tz: unknown time zone 'Mars/Olympus'"):
        parse_period("last-week", "Mars/Olympus", NOW)


LISTING = """WHITE|192.0.2.10|||1795420921|1795420921|1798531321|1|0
TRAPPED|198.51.100.7|1795507321
GREY|203.0.113.5|mx.x.org|a@x.org|b@y.net|1700000000|1700014400|1700014400|1|0
DOMAIN|@example.org
SPAMTRAP|spam.trap@example.org
BOGUS|x
WHITE|192.0.2.11|||x|1|1|1|0
GREY|203.0.113.6|<script>|a@x.org
"""


def test_parse_listing_rows_and_bad_lines() -> None:
    entries, bad = parse_listing(LISTING.splitlines(), source="db.txt")
    assert entries["kind"].tolist() == ["WHITE", "TRAPPED", "GREY", "DOMAIN", "SPAMTRAP"]
    assert entries.loc[0, "expire"] == pd.Timestamp(1798531321, unit="s", tz="UTC")
    assert entries.loc[1, "pcount"] == -1 and pd.isna(entries.loc[1, "first"])
    assert entries.loc[2, ["helo", "from", "to"]].tolist() == ["mx.x.org", "a@x.org", "b@y.net"]
    assert bad[["line", "reason"]].values.tolist() == [
        [6, "unknown kind 'BOGUS'"], [7, "WHITE: field first is not an integer"],
        [8, "GREY: expected 10 fields, got 4"]]
    assert bad["raw"].tolist()[2] == "GREY|203.0.113.6|<script>|a@x.org"


def test_read_listing_missing_file_is_one_line(tmp_path) -> None:
    with pytest.raises(InputError, match=r"nope\.txt: cannot read greydb listing: No such file"):
        read_listing(tmp_path / "nope.txt")
    path = tmp_path / "db.txt"
    path.write_bytes(b"GREY|192.0.2.1|\xff\xfe|a@x.org|b@y.net|1|2|3|1|0\n")
    entries, bad, _ = read_listing(path)
    assert entries.loc[0, "helo"] == "\ufffd\ufffd" and bad.empty


def test_sqlite_snapshot_is_dated_by_the_file_not_the_clock(tmp_path) -> None:
    store = SqliteStore(str(tmp_path), "greyd.sqlite")
    store.add([Entry(Kind.WHITE, "192.0.2.10", first=1795420921, pass_=1795420921, expire=1798531321)])
    store.close()
    changed = pd.Timestamp("2026-11-23 00:00", tz="UTC")  # e.g. the demo world's end
    os.utime(tmp_path / "greyd.sqlite", (changed.timestamp(), changed.timestamp()))
    inputs = load_inputs(Sources(db=tmp_path / "greyd.sqlite"), parse_period("2026-W47", "UTC", NOW))
    assert inputs.entries_at == changed
    assert inputs.entries["ip"].tolist() == ["192.0.2.10"]
