"""Event times of the stamps the C code gives (headers.split_headers, logscan.scan, greydscan.scan).

``split_stamps`` applies the time rules of headers.STAMP_PARSERS to stamps as numbers: RFC 3339 as Unix
microseconds, dmesg/kmsg as uptime microseconds, RFC 3164 as the printed digits MMDDhhmmss. An RFC 3164
stamp has no year and no zone, so it is placed by text (``rfc3164_times``, once per distinct value,
about 1.5 us each: a week has 600,000 distinct seconds); ``split_stamps`` does that once per clock hour
instead and adds the minutes and seconds, where that gives the same time.
"""

from __future__ import annotations

from datetime import datetime

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from greylogd.analysis.frames import TS_DTYPE
from greylogd.analysis.headers import STAMP_PARSERS, SourceOptions, uptime_us

_MONTHS = ["", "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"]
_HOUR_US = 3599 * 1_000_000  # from hh:00:00 to hh:59:59
_NAT = np.iinfo(np.int64).min


def split_stamps(stamp: np.ndarray, fmt: str, mtime: datetime, options: SourceOptions) -> pd.Series:
    """Event times (TS_DTYPE, UTC) of stamps as the C code gives them for ``fmt``, with the time rules
    of headers.STAMP_PARSERS; NaT where those rules give none (e.g. Feb 30): the caller gives such
    lines to headers.envelopes, which says why.

    RFC 3164: where ``rfc3164_times`` puts hh:59:59 exactly 3599 s after hh:00:00, the UTC offset, the
    year and the New Year roll-over are the same across the hour, so each stamp is its hour's start
    plus its minutes and seconds. Hours without that property (a DST change, the reference hour) and
    stamps with minutes or seconds above 59 are placed one by one. Exact for zones whose offset changes
    at most once within an hour (tzdata has none that changes twice within 12 hours, 1990-2100)."""
    if fmt == "rfc3339":
        return pd.Series(stamp.view("datetime64[us]")).dt.tz_localize("UTC")
    if fmt != "rfc3164":
        return uptime_us(pd.Series(stamp), options)
    hour, rest = np.divmod(stamp, 10_000)
    codes, hours = pd.factorize(hour)
    bounds = rfc3164_times(np.concatenate([hours * 10_000, hours * 10_000 + 5959]), mtime, options)
    first, last = np.split(bounds.array.asi8, 2)
    linear = (first != _NAT) & (last != _NAT) & (last - first == _HOUR_US)
    minute, second = np.divmod(rest, 100)
    simple = linear[codes] & (minute < 60) & (second < 60)
    micros = first[codes] + (minute * 60 + second) * 1_000_000
    if not simple.all():
        micros[~simple] = rfc3164_times(stamp[~simple], mtime, options).array.asi8
    return pd.Series(micros.view("datetime64[us]")).dt.tz_localize("UTC")


def rfc3164_times(stamp: np.ndarray, mtime: datetime, options: SourceOptions) -> pd.Series:
    """RFC 3164 stamps (MMDDhhmmss) placed by headers.STAMP_PARSERS, once per distinct value."""
    codes, uniques = pd.factorize(stamp)
    unique_ts = STAMP_PARSERS["rfc3164"](_rfc3164_text(uniques), mtime, options)
    return pd.Series(unique_ts.array.take(codes), dtype=TS_DTYPE)


def _rfc3164_text(stamp: np.ndarray) -> pd.Series:
    """MMDDhhmmss numbers as the RFC 3164 stamps they were (``Nov 23 08:05:58``, day zero-padded),
    built column-wise: a Python loop per distinct stamp cost as much as parsing them."""
    month, rest = np.divmod(stamp, 10**8)
    two = [pc.utf8_lpad(pc.cast(pa.array(part), pa.string()), 2, "0")
           for part in (rest // 10**6, rest // 10**4 % 100, rest // 100 % 100, rest % 100)]
    day = pc.binary_join_element_wise(pa.array(_MONTHS).take(pa.array(month)), two[0], " ")
    return pd.Series(pc.binary_join_element_wise(day, pc.binary_join_element_wise(*two[1:], ":"), " "),
                     dtype="str")
