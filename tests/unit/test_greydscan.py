"""The C scanner of greyd's messages (greylogd._greydscan) against the RE2 rules: the usual messages are
taken in C with the kind and captures the ordered rules give, near misses of every shape it takes
parse the same on both paths (most are left to the Python path), a real log is taken whole, and
hostile bytes never crash it. The RE2 reference is greydlog.parse_chunk of sources.chunk_envelopes."""

from __future__ import annotations

import string
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pytest
from hypothesis import given
from hypothesis import strategies as st
from pandas.testing import assert_frame_equal, assert_series_equal

from greylogd.analysis import frames, greydlog, greydscan
from greylogd.analysis.greydlog import KEEP, PROGRAMS, parse_chunk, read_greydlog
from greylogd.analysis.greydlog_rules import KIND
from greylogd.analysis.headers import SourceOptions
from greylogd.analysis.sources import RawChunk, chunk_envelopes, map_chunks
from greylogd.analysis.stamps import rfc3164_times, split_stamps
from tests.unit.test_greydlog import OPTIONS
from tests.unit.test_greydlog_split import ALL, FUZZ, REPORT, assert_same

WORLD = Path(__file__).parents[1] / "data" / "greydscan" / "world-sample.log"  # bench/demo_world.py's log
HEAD = "Nov 23 08:00:01 mx1 greyd[4079]: "
TAKEN = [  # (message, kind): every shape the scanner takes
    ("192.0.2.1: connected (3/1), lists: nixspam uatraps", "connected"),
    ("198.51.100.9: connected (4/1)", "connected"),
    ("2001:0db8:0000:0000:0000:0000:0000:0009: connected (5/0)", "connected"),
    ("192.0.2.1: disconnected after 371 seconds. lists: nixspam uatraps", "disconnected"),
    ("198.51.100.9: disconnected after 12 seconds.", "disconnected"),
    ("(GREY) 198.51.100.9: alice@example.org -> bob@example.net", "grey"),
    ("(GREY) 198.51.100.9:  -> bob@example.net", "grey"),
    ("(BLACK) 192.0.2.1: spam@example.com -> bob@example.net", "black"),
    ("new entry 198.51.100.9 from alice@example.org to bob@example.net, helo mail.example.org", "new_entry"),
    ("new greytrap entry 198.51.100.9 from a@example.org to trap@example.net, helo [198.51.100.9]",
     "new_trap_entry"),
    ("updated entry 2001:DB8::9 from <> to bob@example.net, helo mail example", "updated_entry"),
    ("updated greytrap entry 198.51.100.9 from  to , helo ", "updated_trap_entry"),
    ("whitelisting 203.0.113.7", "whitelisting"),
    ("whitelisting 203.0.113.7 in nixspam", "whitelisting"),
    ("packet received: direction = in, saddr = 198.51.100.9, daddr = 192.0.2.25", "packet"),
    ("packet received: direction = out, saddr = 192.0.2.25, daddr = 203.0.113.7", "packet"),
    ("packet received: direction = in, addr = 203.0.113.7", "packet"),
    ("packet received: direction = out, addr = 203.0.113.7", "packet"),
    ("inbound 203.0.113.7", "packet"),
    ("outbound ::1", "packet"),
]
ODD = [  # field values at the edges of the rules, put in place of a message's address, numbers, lists
    "::ffff:192.0.2.1", "1.2.3.256", "01.2.3.4", "1.2.3", "1.2.3.4.5", "mail.example.org", "fe80::1%eth0",
    "1::2::3", "2147483648", "2147483649", "4611686018427387904", "4611686018427387905",
    "0000000000000000012", "000000000000000012", "", " ", "  x  ", ":", ",", "(GREY)", ": connected (1/2)",
    ": disconnected after 5 seconds.", " lists: a", "->", " from ", ", helo ", "(sync): ",
]


def chunk(messages: list[str], fmt: str = "rfc3164", head: str = HEAD) -> RawChunk:
    text = [head + message + "\n" for message in messages]
    return RawChunk("x", fmt, pa.array(text, pa.large_string()), 3, OPTIONS.reference)


def test_every_shape_is_taken_in_c_with_the_rules_kind() -> None:
    raw = chunk([message for message, _ in TAKEN])
    found = greydscan.scan(raw.lines, raw.fmt, ALL)
    assert found.status.tolist() == [greydscan.GOOD] * len(TAKEN)
    assert found.kind.tolist() == [KIND[kind] for _, kind in TAKEN]
    assert found.texts["ip"].to_pylist()[:3] == ["192.0.2.1", "198.51.100.9", "2001:db8::9"]
    assert found.texts["lists"].to_pylist()[:6] == ["nixspam uatraps", "", "", "nixspam uatraps", "", None]
    assert found.numbers["clients"].tolist()[:4] == [3, 4, 5, -1]
    for columns in (ALL, REPORT):
        assert_same(raw, columns)


def near_misses(message: str) -> list[str]:
    """``message`` with one character replaced, dropped, doubled or a space inserted, at every place."""
    out = []
    for i in range(len(message) + 1):
        out += [message[:i] + " " + message[i:], message[:i] + message[i:i + 1] * 2 + message[i + 1:]]
        out += [message[:i] + other + message[i + 1:] for other in ("x", " ", ":", "") if i < len(message)]
    return out


@pytest.mark.parametrize("message", [m for m, _ in TAKEN], ids=[f"{k}-{i}" for i, (_, k) in enumerate(TAKEN)])
def test_near_misses_parse_the_same_on_both_paths(message: str) -> None:
    """Every one-character edit of the message, and every field replaced by an odd value."""
    fields = sorted({word for word in message.replace(",", " ").split(" ") if word}, key=len, reverse=True)
    odd = [message.replace(field, value, 1) for field in fields[:6] for value in ODD]
    raw = chunk(near_misses(message) + odd + [message + " ", " " + message, message.upper()])
    for columns in (ALL, REPORT):
        assert_same(raw, columns)
    found = greydscan.scan(raw.lines, raw.fmt, REPORT)
    assert 0 < np.count_nonzero(found.status == greydscan.GOOD) < len(raw.lines)


def test_the_first_rule_that_matches_wins() -> None:
    """The unanchored connection rules come first: their literal anywhere makes the message theirs."""
    raw = chunk(["192.0.2.1: disconnected after 5 seconds. lists: 10.0.0.1: connected (1/2)",
                 "whitelisting 192.0.2.7: connected (1/2)",
                 "(GREY) 192.0.2.1: a -> 10.0.0.2: connected (3/4)",
                 "new entry 192.0.2.1 from a to b, helo 10.0.0.3: disconnected after 3 seconds."])
    result = greydlog.parse_raw(raw, OPTIONS, ALL)
    assert result.events[["kind", "ip"]].astype(str).values.tolist() == [
        ["connected", "10.0.0.1"], ["connected", "192.0.2.7"], ["connected", "10.0.0.2"],
        ["disconnected", "10.0.0.3"]]
    assert_same(raw, ALL)


def test_categorical_columns_are_dictionary_encoded_in_c() -> None:
    """Thousands of distinct addresses and host names, each twice, shuffled: the C hash table's codes
    give back every row's value."""
    rng = np.random.default_rng(3)
    ips = [f"10.{k % 7}.{k // 256 % 256}.{k % 256}" for k in rng.permutation(np.arange(6000) % 3000)]
    lines = [f"Nov 23 08:00:01 mx{k % 500} greylogd[1]: whitelisting {ip}" for k, ip in enumerate(ips)]
    raw = RawChunk("x", "rfc3164", pa.array(lines, pa.large_string()), 1, OPTIONS.reference)
    found = greydscan.scan(raw.lines, raw.fmt, ALL)
    assert (found.texts["ip"].to_pylist(), len(found.texts["ip"].dictionary)) == (ips, 3000)
    assert found.texts["host"].to_pylist() == [f"mx{k % 500}" for k in range(6000)]
    assert_same(raw, ALL)


def test_counts_and_durations_out_of_range_are_missing() -> None:
    """As to_int reads them: 1 to 18 digits (so a duration is below 2**62), at most 2**31 clients."""
    raw = chunk([f"192.0.2.1: connected (2147483648/{'7':0>18})",
                 f"192.0.2.1: connected (2147483649/{'7':0>19})",
                 "192.0.2.1: disconnected after 999999999999999999 seconds.",
                 "192.0.2.1: disconnected after 4611686018427387904 seconds.",
                 "192.0.2.1: disconnected after 99999999999999999999 seconds."])
    found = greydscan.scan(raw.lines, raw.fmt, ALL)
    assert found.status.tolist() == [greydscan.GOOD] * 5
    assert found.numbers["clients"].tolist() == [2**31, -1, -1, -1, -1]
    assert found.numbers["black_clients"].tolist() == [7, -1, -1, -1, -1]
    assert found.numbers["duration_s"].tolist() == [-1, -1, 10**18 - 1, -1, -1]
    result = greydlog.parse_raw(raw, OPTIONS, ALL)
    assert result.events["duration_s"].tolist()[2:] == [10**18 - 1, pd.NA, pd.NA]
    assert_same(raw, ALL)


def test_invalid_addresses_are_bad_lines_with_their_reason() -> None:
    raw = chunk(["whitelisting 1.2.3.256", "whitelisting 1.2.3.4", "(GREY) 300.1.1.1: a -> b",
                 "whitelisting ::ffff:1.2.3.4", "whitelisting 01.2.3.4"])
    found = greydscan.scan(raw.lines, raw.fmt, REPORT)
    assert found.status.tolist() == [greydscan.GOOD, greydscan.GOOD, greydscan.GOOD, greydscan.FALLBACK,
                                     greydscan.GOOD]
    assert found.kind.tolist() == [greydscan.BAD_ADDRESS, KIND["whitelisting"], greydscan.BAD_ADDRESS,
                                   greydscan.BAD_ADDRESS]
    result = greydlog.parse_raw(raw, OPTIONS, REPORT)
    assert result.bad[["line", "reason"]].values.tolist() == [[3, "invalid address"], [5, "invalid address"],
                                                             [7, "invalid address"]]
    assert_same(raw, REPORT)


def test_only_greyd_programs_are_scanned_in_any_case() -> None:
    heads = [f"Nov 23 08:00:01 mx1 {name}[1]: " for name in (*PROGRAMS, "GreyLogd", "SPAMD", "sshd",
                                                              "greydx", "grey")]
    no_program = "Nov 23 08:00:01 mx1 whitelisting 1.1.1.1"
    lines = [*(head + "whitelisting 192.0.2.1\n" for head in heads), no_program]
    raw = RawChunk("x", "rfc3164", pa.array(lines, pa.large_string()), 1, OPTIONS.reference)
    found = greydscan.scan(raw.lines, raw.fmt, ALL)
    assert found.status.tolist() == [greydscan.GOOD] * 8 + [greydscan.SKIP] * 4
    assert_same(raw, ALL)


def test_columns_not_asked_for_are_not_built() -> None:
    raw = chunk([message for message, _ in TAKEN])
    found = greydscan.scan(raw.lines, raw.fmt, REPORT)
    assert (sorted(found.texts), sorted(found.numbers), found.pid) == (["ip", "lists"], ["duration_s"], None)


def test_hostile_lines_are_left_to_the_python_path() -> None:
    good = "new entry 192.0.2.1 from a@b to c@d, helo X"
    messages = [good, good.replace("X", "\x00"), good.replace("X", "\u00e9"), good.replace("X", "\t"),
                good.replace("X", "X" * 3_000_000), good + "\r", "", "x" * 3_000_000]
    raw = chunk(messages)
    found = greydscan.scan(raw.lines, raw.fmt, ALL)
    assert found.status.tolist() == [0, 2, 2, 2, 0, 2, 2, 2]
    assert [len(helo) for helo in found.texts["helo"].to_pylist()] == [1, 3_000_000]
    assert_same(raw, ALL)


def raw_bytes(data: list[bytes]) -> pa.Array:
    """Lines of arbitrary bytes (invalid UTF-8 too) as the large_string array a reader would wrap."""
    blob = b"".join(line.replace(b"\n", b"") + b"\n" for line in data)
    offsets = np.array([0, *np.cumsum([len(line.replace(b"\n", b"")) + 1 for line in data])], np.int64)
    return pa.LargeStringArray.from_buffers(len(data), pa.py_buffer(offsets), pa.py_buffer(blob))


_PIECES = st.sampled_from([HEAD.encode(), b"\xff\xfe", b"\x00", *(m.encode() for m, _ in TAKEN[::3])])


@FUZZ
@given(data=st.lists(st.lists(_PIECES | st.binary(max_size=40), max_size=4).map(b"".join), max_size=16),
       fmt=st.sampled_from(sorted(greydscan.FORMATS)))
def test_random_bytes_never_crash_the_scanner(data: list[bytes], fmt: str) -> None:
    found = greydscan.scan(raw_bytes(data), fmt, ALL)
    assert found.line.tolist() == np.flatnonzero(found.status == greydscan.GOOD).tolist()
    outside = [any(byte < 0x20 or byte > 0x7E for byte in line.replace(b"\n", b"")) for line in data]
    assert np.all(found.status[outside] == greydscan.FALLBACK)


def test_every_truncation_of_real_lines_parses_the_same_on_both_paths() -> None:
    lines = WORLD.read_text().splitlines()[::25]
    cut = [line[:k] for line in lines for k in range(len(line) + 1)]
    raw = RawChunk("x", "rfc3164", pa.array(cut, pa.large_string()), 1, OPTIONS.reference)
    assert_same(raw, REPORT)


@pytest.mark.parametrize("chunk_bytes", [1 << 20, 4096])
def test_a_real_log_is_taken_whole_in_c_and_read_as_the_rules_read_it(chunk_bytes: int) -> None:
    """The demo world's greyd.log (a sample of its kinds, IPv6 included) is scanned line by line in C and
    read_greydlog's result is the RE2 path's."""
    raws = list(map_chunks(lambda raw: raw, WORLD, chunk_bytes, progress=False))
    statuses = np.concatenate([greydscan.scan(raw.lines, raw.fmt, REPORT).status for raw in raws])
    assert statuses.tolist() == [greydscan.GOOD] * 595
    for columns in (None, REPORT):
        got = read_greydlog(WORLD, options=OPTIONS, chunk_bytes=chunk_bytes, columns=columns)
        parts = [parse_chunk(chunk_envelopes(raw, OPTIONS, KEEP), greydlog._columns(columns)) for raw in raws]
        expected = greydlog._combine(parts, greydlog._columns(columns))
        assert_frame_equal(got.events, expected.events)
        assert (got.lines, got.skipped, len(got.bad_lines)) == (expected.lines, expected.skipped, 0)


def test_rejected_stamps_and_fallback_lines_keep_line_order() -> None:
    """Lines left to the Python path (a sync line, a non-ASCII helo, Feb 30) between scanned ones."""
    lines = [HEAD + "whitelisting 192.0.2.1", HEAD + "sync white 192.0.2.2", "Feb 30 08:00:01 mx1 greyd: x",
             HEAD + "new entry 192.0.2.3 from a to b, helo \u00e9", HEAD + "whitelisting 1.2.3.999",
             "Nov 23 08:00:00 mx1 greyd: whitelisting 192.0.2.4", "Feb 30 08:00:01 mx1 sshd: x"]
    raw = RawChunk("x", "rfc3164", pa.array(lines, pa.large_string()), 10, OPTIONS.reference)
    result = greydlog.parse_raw(raw, OPTIONS, ALL)
    assert result.line.tolist() == [10, 11, 13, 15]
    assert result.bad[["line", "reason"]].values.tolist() == [[12, "no syslog header or time"],
                                                             [14, "invalid address"]]
    assert (result.lines, result.skipped) == (7, 1)
    assert_same(raw, ALL)


@pytest.mark.parametrize("zone", ["UTC", "Europe/Berlin", "America/New_York", "Australia/Lord_Howe"])
@pytest.mark.parametrize("reference", [datetime(2026, 3, 29, 1, 30, tzinfo=UTC),
                                       datetime(2026, 12, 31, 23, 30, tzinfo=UTC)])
def test_stamps_placed_by_the_hour_are_placed_as_one_by_one(zone: str, reference: datetime) -> None:
    """Random MMDDhhmmss stamps (DST days, New Year, Feb 29, out-of-range fields) about 25 to an hour."""
    rng = np.random.default_rng(5)
    stamp = np.zeros(30_000, np.int64)
    for low, high in ((1, 13), (0, 33), (0, 25), (0, 62), (0, 62)):  # month, day, hour, minute, second
        stamp = stamp * 100 + rng.integers(low, high, len(stamp))
    options = SourceOptions(tz=zone, reference=reference)
    got = split_stamps(stamp, "rfc3164", reference, options)
    assert_series_equal(got, rfc3164_times(stamp, reference, options))
    assert got.isna().sum() > 1000


@given(st.lists(st.none() | st.text(alphabet=string.printable + "\u00e9\u4e2d\U0001f600", max_size=4),
                max_size=40))
def test_categorical_is_astype_category(values: list[str | None]) -> None:
    got = frames.categorical(pa.array(values, pa.large_string()))
    expected = pd.Series(values, dtype="str").astype("category").array
    assert_series_equal(pd.Series(got), pd.Series(expected))
