"""The report period: `--period last-week|this-week|YYYY-Www|START..END` in a time zone.

A period is the half-open interval [start, end) of two tz-aware timestamps in the report's time zone, so
that "Monday 00:00" means local midnight (a week around a DST change is 167 or 169 hours long, as it
should be). Weeks are ISO weeks (Monday to Monday). START..END takes ISO dates or date-times; a bare END
date is inclusive (the period runs to the end of that day), which is what people mean by "1..7 March".
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import pandas as pd

from greylogd.errors import ConfigError

_ISO_WEEK = re.compile(r"^(\d{4})-W(\d{2})$")


@dataclass(frozen=True, slots=True)
class Period:
    """[start, end) as tz-aware pandas Timestamps in `tz`; `label` is what the report prints."""

    start: pd.Timestamp
    end: pd.Timestamp
    label: str

    @property
    def tz(self) -> str:
        return str(self.start.tz)

    def previous(self) -> Period:
        """The period of the same length just before this one, for week-over-week changes."""
        length = self.end - self.start
        return Period(self.start - length, self.start, f"before {self.label}")

    def contains(self, ts: pd.Series) -> pd.Series:
        """Boolean mask of timestamps (tz-aware, any zone) inside [start, end)."""
        return (ts >= self.start) & (ts < self.end)


def zone(name: str) -> ZoneInfo:
    """The IANA zone `name`, or a ConfigError naming the option."""
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError) as exc:
        raise ConfigError(f"--tz: unknown time zone {name!r}") from exc


def _local(day: date, tz: ZoneInfo) -> pd.Timestamp:
    return pd.Timestamp(datetime.combine(day, time(0), tzinfo=tz))


def _week(monday: date, tz: ZoneInfo) -> Period:
    year, week, _ = monday.isocalendar()
    return Period(_local(monday, tz), _local(monday + timedelta(days=7), tz), f"{year}-W{week:02d}")


def _bound(text: str, tz: ZoneInfo, is_end: bool) -> pd.Timestamp:
    try:
        if re.fullmatch(r"\d{4}-\d{2}-\d{2}", text):
            day = date.fromisoformat(text)
            return _local(day + timedelta(days=1) if is_end else day, tz)
        parsed = datetime.fromisoformat(text)
    except ValueError as exc:
        raise ConfigError(f"--period: {text!r} is not an ISO date or date-time") from exc
    return pd.Timestamp(parsed if parsed.tzinfo else parsed.replace(tzinfo=tz))


def parse_period(text: str, tz_name: str = "UTC", now: pd.Timestamp | None = None) -> Period:
    """Parse a --period value; `now` (default: the current time) anchors last-week and this-week.

    Raises ConfigError with a one-line message for anything else, including an empty or reversed range.
    """
    tz = zone(tz_name)
    today = (now if now is not None else pd.Timestamp.now(tz="UTC")).tz_convert(tz).date()
    this_monday = today - timedelta(days=today.weekday())
    if text == "last-week":
        return _week(this_monday - timedelta(days=7), tz)
    if text == "this-week":
        return _week(this_monday, tz)
    if match := _ISO_WEEK.match(text):
        try:
            return _week(date.fromisocalendar(int(match[1]), int(match[2]), 1), tz)
        except ValueError as exc:
            raise ConfigError(f"--period: {text!r} is not an ISO week") from exc
    start_text, sep, end_text = text.partition("..")
    if not sep:
        raise ConfigError(f"--period: {text!r}: expected last-week, this-week, YYYY-Www or START..END")
    start, end = _bound(start_text, tz, False), _bound(end_text, tz, True)
    if end <= start:
        raise ConfigError(f"--period: {text!r} ends before it starts")
    return Period(start.tz_convert(tz), end.tz_convert(tz), text)
