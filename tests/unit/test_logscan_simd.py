"""The C scanner's SIMD fast paths at their edges, with AVX2 and with SSE2 (greylogd._logscan.ls_avx2
switches; on a CPU without AVX2 both runs take SSE2): needles and bytes outside printable ASCII at
every offset of a 32-byte block, lines at the end of the buffer (no block can be loaded past it),
dotted quads as the _IPV4 pattern takes them, dictionary columns sorted as pandas sorts them, and
line ends found in one pass. Results are compared with the Python path and with exact values."""

from __future__ import annotations

import re
from collections.abc import Iterator

import numpy as np
import pandas as pd
import pyarrow as pa
import pytest
from greylogd._logscan import lib
from hypothesis import given, settings
from hypothesis import strategies as st

from greylogd.analysis import logscan
from greylogd.analysis.kernlog_lines import _IPV4
from greylogd.analysis.sources import RawChunk
from tests.unit.test_kernlog import OPTIONS
from tests.unit.test_logscan import FUZZ, assert_same, both_paths

HEADER = "Nov 23 08:05:58 mx1 kernel: "
BODY = "IN=eth0 OUT= MAC=52:54:00:aa:bb:cc SRC=192.0.2.7 DST=198.51.100.10 LEN=60 PROTO=TCP SPT=4000 DPT=25 "
GOOD, SKIP, FALLBACK = logscan.GOOD, logscan.SKIP, logscan.FALLBACK


@pytest.fixture(params=[1, 0], ids=["avx2", "sse2"], autouse=True)
def simd(request: pytest.FixtureRequest) -> Iterator[None]:
    lib.ls_avx2(request.param)
    yield
    lib.ls_avx2(1)


def scan(lines: list[str], fmt: str = "rfc3164") -> logscan.Scan:
    return logscan.scan(pa.array(lines, pa.large_string()), fmt)


def check_both_paths(lines: list[str], fmt: str = "rfc3164") -> None:
    array = pa.array(lines, pa.large_string())
    assert_same(*both_paths(RawChunk("x", fmt, array, 1, OPTIONS.reference)))


def padded(k: int, body: str = BODY, prefix: str = "") -> str:
    """A LOG line whose prefix is k bytes longer: its needles fall at every offset of a block."""
    return f"{HEADER}[{'x' * k}{prefix}] {body}\n"


def test_needles_at_every_offset_are_found() -> None:
    lines = [padded(k) for k in range(70)]
    found = scan(lines)
    assert found.status.tolist() == [GOOD] * 70
    assert found.src.to_pylist() == ["192.0.2.7"] * 70
    assert found.spt.tolist() == [4000] * 70
    assert [len(p) for p in found.prefix] == [k + 2 for k in range(70)]


def test_earlier_needles_in_prefix_or_host_leave_the_line_to_python() -> None:
    lines = [padded(k, prefix=" SRC=203.0.113.1") for k in range(40)]
    lines += [padded(k, prefix=" PROTO=UDP") for k in range(40)]
    lines += [HEADER.replace("mx1", "SRC=1") + BODY + "\n", HEADER.replace("mx1", "PROTO=1") + BODY + "\n"]
    found = scan(lines)
    # the prefix's " SRC=" is followed by "] IN=..": no DST; its " PROTO=" is the first, so RE2 takes it
    # too ("UDP]", no ports); needles in the header come before the message
    assert found.status.tolist() == [FALLBACK] * 40 + [GOOD] * 40 + [FALLBACK] * 2
    assert (set(found.proto), set(found.spt.tolist())) == ({"UDP]"}, {-1})
    check_both_paths(lines)


def test_out_only_in_the_host_is_no_log_line() -> None:
    lines = [HEADER.replace("mx1", "OUT=x") + "[x] IN=eth0 SRC=192.0.2.7 DST=192.0.2.8 PROTO=TCP \n",
             HEADER + "e1000e: eth0 NIC Link is Up\n", padded(3).replace(" OUT=", " OUT")]
    assert scan(lines).status.tolist() == [FALLBACK, SKIP, SKIP]
    check_both_paths(lines)


def test_icmp_ipv6_and_no_mac_lines() -> None:
    icmp = ("IN=eth0 OUT= SRC=203.0.113.5 DST=192.0.2.1 LEN=88 TTL=64 ID=1 PROTO=ICMP TYPE=3 CODE=3 "
            "[SRC=192.0.2.1 DST=203.0.113.5 LEN=60 TTL=64 ID=2 DF PROTO=TCP SPT=25 DPT=4000 ] ")
    ipv6 = ("IN= OUT=eth0 SRC=2001:0db8:0000:0000:0000:0000:0000:0001 "
            "DST=2001:0DB8:0000:0000:0001:0000:0000:0025 LEN=80 TC=0 HOPLIMIT=64 PROTO=TCP SPT=4000 DPT=25 ")
    lines = [padded(k, body) for k in range(33) for body in (icmp, ipv6)]
    found = scan(lines)
    assert found.status.tolist() == [GOOD] * 66
    assert found.src.to_pylist() == ["203.0.113.5", "2001:db8::1"] * 33
    assert list(found.dst) == ["192.0.2.1", "2001:db8::1:0:0:25"] * 33
    assert list(found.proto) == ["ICMP", "TCP"] * 33
    assert found.spt.tolist() == [-1, 4000] * 33
    assert found.ip_version.tolist() == [4, 6] * 33
    check_both_paths(lines)


@pytest.mark.parametrize("bad", ["\x00", "\x1f", "\x7f", "\u00e9", "\u20ac"])
def test_bytes_outside_printable_ascii_at_every_offset(bad: str) -> None:
    line = padded(5)
    spoiled = [line[:at] + bad + line[at:] for at in range(len(line) - 1)]
    found = scan([text for spoilt in spoiled for text in (line, spoilt)])  # the good line first: its
    expected = [FALLBACK if " OUT=" in text else SKIP for text in spoiled]  # blocks reach into the next
    assert found.status.tolist() == [status for bad_one in expected for status in (GOOD, bad_one)]


@pytest.mark.parametrize("size", range(70))
def test_lines_at_the_end_of_the_buffer(size: int) -> None:
    """The last line ends the buffer (no newline): its end falls at every offset of a block, and its
    DST, with less than 16 bytes after it, is checked from a copy."""
    lines = [padded(1), f"{HEADER}IN=e OUT= PROTO=TCP SRC=192.0.2.1 DST=192.0.2.{size} {'y' * size}"]
    found = scan(lines)
    assert found.status.tolist() == [GOOD, GOOD]
    assert list(found.dst) == ["198.51.100.10", f"192.0.2.{size}"]


QUADS = ["0.0.0.0", "255.255.255.255", "256.1.1.1", "1.2.3.256", "249.250.251.199", "260.0.0.1", "01.2.3.4",
         "1.2.3.04", "1.2.3", "1.2.3.4.5", "1..2.3", "1.2.3.", ".1.2.3", "2555.1.1.1", "1.2.3.4444",
         "10.0.0.10", "100.200.250.255", "1.22.255.0", "199.99.9.0", "123.123.123.123", "1.2.3.4a",
         "1.2.3.-4", "0.0.0.00"]


@settings(FUZZ, max_examples=25)  # each example runs the Python path too
@given(extra=st.lists(st.text(alphabet="0123456789.", min_size=1, max_size=17), max_size=20))
def test_dotted_quads_are_what_the_ipv4_pattern_takes(extra: list[str]) -> None:
    values = QUADS + extra
    lines = [f"{HEADER}IN=e OUT= PROTO=TCP SRC={v} DST={v} " for v in values]  # the last: DST at the end
    found = scan(lines)
    valid = [re.fullmatch(_IPV4, v) is not None for v in values]
    assert found.src.to_pylist() == [v for v, ok in zip(values, valid, strict=True) if ok]
    digits_and_dots = [set(v) <= set("0123456789.") for v in values]
    bad = [i for i, (ok, plain) in enumerate(zip(valid, digits_and_dots, strict=True)) if not ok and plain]
    assert found.bad_line.tolist() == bad
    check_both_paths(lines)


@pytest.mark.parametrize(("distinct", "rows", "width"), [(300, 2000, np.int16), (40_000, 60_000, np.int32)])
def test_dictionary_columns_are_sorted_as_pandas_sorts_them(distinct: int, rows: int, width: type) -> None:
    rng = np.random.default_rng(3)
    prefixes = ["", "a", "a b", "ab", "B", "[GREYD]", "[GREYD 25]", *(f"p{k}" for k in range(distinct))]
    chosen = [prefixes[k] for k in rng.permutation(rows) % len(prefixes)]  # every one, shuffled
    lines = [f"{HEADER}{p} IN={'eth0' if k % 3 else ''} OUT= SRC=192.0.2.1 DST=192.0.2.2 PROTO=TCP "
             for k, p in enumerate(chosen)]
    found = scan(lines)
    expected = pd.Series(chosen, dtype="str").astype("category").array
    assert list(found.prefix.categories) == list(expected.categories) == sorted(set(chosen))
    assert found.prefix.codes.tolist() == expected.codes.tolist()
    assert (found.prefix.codes.dtype, found.host.codes.dtype) == (width, np.int8)
    assert list(found.in_if.categories) == ["", "eth0"]
    assert found.in_if.codes.tolist() == [int(k % 3 > 0) for k in range(rows)]


@FUZZ
@given(data=st.lists(st.binary(max_size=150), max_size=30))
def test_line_ends_in_one_pass(data: list[bytes]) -> None:
    blob = np.frombuffer(b"".join(line.replace(b"\n", b"") + b"\n" for line in data), np.uint8)
    offsets, ascii = logscan.line_offsets(blob)
    assert offsets.tolist() == [0, *(np.flatnonzero(blob == 10) + 1).tolist()]
    assert ascii == bool(np.all(blob < 0x80))


def test_a_repeated_stamp_second_is_read_as_the_first() -> None:
    """The scanner remembers the last RFC 3339 date and time to the second it read; a line repeating
    them still has its fraction and offset read, and a bad one is still bad."""
    tails = ["Z", ".5+01:00", ".1234567890Z", "", ".25-0030", "+15:00", ".000001Z"]
    lines = [f"2026-11-23T08:05:58{tail} mx1 kernel: {BODY}" for tail in tails]
    lines += [f"2026-02-{day}T08:05:58Z mx1 kernel: {BODY}" for day in ("28", "29", "28")]
    found = scan(lines, "rfc3339")
    assert found.status.tolist() == [GOOD, GOOD, FALLBACK, FALLBACK, GOOD, FALLBACK, GOOD,  # tails
                                     GOOD, FALLBACK, GOOD]  # Feb 28, 29, 28
    second = 1795421158_000000  # 2026-11-23T08:05:58Z
    day = 1772265958_000000  # 2026-02-28T08:05:58Z
    assert found.stamp.tolist() == [second, second - 3600 * 10**6 + 500000, second + 1800 * 10**6 + 250000,
                                    second + 1, day, day]
    check_both_paths(lines, "rfc3339")
