"""Ledger rows -> the report's `tuples` and retries frames: domains, time zone, dtypes, period bounds."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pandas as pd
import pytest

from greylogd.analysis.frames import empty
from greylogd.ledger.columns import from_rows
from greylogd.ledger.frame import RETRIES, TUPLES_READ, domain_of, retries_frame, tuples_frame, unix_bound

T0 = 1_700_000_000


def utc(seconds: int) -> pd.Timestamp:
    return pd.Timestamp(seconds, unit="s", tz="UTC")


def test_domains_are_lower_cased_after_the_last_at_and_empty_without_one() -> None:
    addresses = pd.Series(["Alice@Example.ORG", "", "odd@x@Mail.Example.net", "no-at-sign"], dtype="str")
    assert list(domain_of(addresses)) == ["example.org", "", "mail.example.net", ""]


def test_tuples_frame_has_the_spec_columns_dtypes_and_pending_for_open_rows() -> None:
    rows = [("192.0.2.1", "MX.Example", "a@A.example", "b@B.example", T0, T0 + 1630, T0 + 1600, 2,
             "promoted", T0 + 1650, 2),
            ("2001:db8::5", "h", "", "postmaster@b.example", T0 + 5, T0 + 40, T0 + 14405, 1, None, None, 1)]
    expected = pd.DataFrame({
        "ip": ["192.0.2.1", "2001:db8::5"], "helo": ["MX.Example", "h"], "from": ["a@A.example", ""],
        "to": ["b@B.example", "postmaster@b.example"], "sender_domain": ["a.example", ""],
        "rcpt_domain": ["b.example", "b.example"], "first": [utc(T0), utc(T0 + 5)],
        "last_seen": [utc(T0 + 1630), utc(T0 + 40)], "pass": [utc(T0 + 1600), utc(T0 + 14405)],
        "bcount": [2, 1], "outcome": ["promoted", "pending"], "outcome_ts": [utc(T0 + 1650), pd.NaT],
    }).astype(TUPLES_READ)
    pd.testing.assert_frame_equal(tuples_frame(from_rows(rows)), expected)


def test_no_rows_give_the_typed_empty_frames() -> None:
    pd.testing.assert_frame_equal(tuples_frame(from_rows([])),
                                  empty(TUPLES_READ))
    pd.testing.assert_frame_equal(retries_frame([]), empty(RETRIES))


def test_retries_frame_converts_its_three_times() -> None:
    frame = retries_frame([("192.0.2.1", "h", "a@x.example", "b@y.example", T0, T0 + 1600, T0 + 1610, 2)])
    assert list(frame.iloc[0]) == ["192.0.2.1", "h", "a@x.example", "b@y.example", utc(T0), utc(T0 + 1600),
                                   utc(T0 + 1610), 2]
    assert dict(frame.dtypes.astype(str)) == RETRIES


def test_period_bounds_accept_unix_seconds_and_aware_datetimes_rounding_up() -> None:
    assert unix_bound(T0) == T0
    assert unix_bound(datetime.fromtimestamp(T0, timezone(timedelta(hours=2)))) == T0
    assert unix_bound(pd.Timestamp(T0, unit="s", tz="Europe/Berlin") + pd.Timedelta("0.25s")) == T0 + 1


def test_naive_period_bound_is_refused() -> None:
    with pytest.raises(ValueError, match="has no time zone"):
        unix_bound(datetime(2026, 11, 16))
