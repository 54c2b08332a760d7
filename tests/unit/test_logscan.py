"""The C scanner (greylogd._logscan) against the Python path: identical frames and bad_lines on the whole
tests/data/kernlog corpus, on generated near-miss LOG lines and on fuzzed bytes; hostile input never
crashes it; its IPv6 form is ipaddress's."""

from __future__ import annotations

import ipaddress
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pandas.testing import assert_frame_equal

from greylogd.analysis import kernlog, kernlog_lines, logscan
from greylogd.analysis.headers import HEADERS, split_headers
from greylogd.analysis.kernlog import KernlogResult, read_kernlog
from greylogd.analysis.kernlog_lines import LOG_MARK, Parsed, parse_chunk, parse_raw
from greylogd.analysis.sources import RawChunk, chunk_envelopes, map_chunks
from tests.unit.test_kernlog import OPTIONS, SAMPLES, split_sample

FUZZ = settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])


def both_paths(raw: RawChunk) -> tuple[Parsed, Parsed]:
    """(scanner path, Python path) of one raw chunk."""
    return parse_raw(raw, OPTIONS), parse_chunk(chunk_envelopes(raw, OPTIONS, LOG_MARK))


def assert_same(fast: Parsed, slow: Parsed) -> None:
    """Same rows, values and dtypes (categories aside: _combine drops unused ones and sorts them)."""
    assert_frame_equal(as_text(fast.connections), as_text(slow.connections))
    assert_frame_equal(fast.bad, slow.bad)
    assert (fast.line.tolist(), fast.lines, fast.skipped) == (slow.line.tolist(), slow.lines, slow.skipped)


def as_text(frame: pd.DataFrame) -> pd.DataFrame:
    categorical = list(frame.select_dtypes("category"))
    assert categorical == ["host", "prefix", "category", "dst", "proto", "in_if"]
    return frame.astype(dict.fromkeys(categorical, "str"))


def raw_chunks(path: Path, chunk_bytes: int) -> Iterator[RawChunk]:
    return map_chunks(lambda raw: raw, path, chunk_bytes, progress=False)


@pytest.mark.parametrize("sample", SAMPLES, ids=lambda p: p.name)
@pytest.mark.parametrize("chunk_bytes", [1 << 20, 211])
def test_corpus_parses_the_same_on_both_paths(sample: Path, chunk_bytes: int, tmp_path: Path) -> None:
    split_sample(sample, tmp_path / sample.name)
    for raw in raw_chunks(tmp_path / sample.name, chunk_bytes):
        assert_same(*both_paths(raw))


@pytest.mark.parametrize(("name", "fmt"), [
    ("kern-rsyslog-TraditionalFileFormat.log", "rfc3164"), ("kern-rsyslog-FileFormat.log", "rfc3339"),
    ("dmesg-r.txt", "dmesg"), ("dev-kmsg-records.txt", "kmsg")])
def test_scanner_takes_every_captured_log_line(name: str, fmt: str, tmp_path: Path) -> None:
    split_sample(SAMPLES[0].parent / name, tmp_path / name)
    (raw,) = raw_chunks(tmp_path / name, 1 << 20)
    found = logscan.scan(raw.lines, fmt)
    assert found.status.tolist() == [logscan.GOOD] * 5
    assert found.line.tolist() == [0, 1, 2, 3, 4]


def test_scanner_leaves_the_edge_cases_it_cannot_vouch_for(tmp_path: Path) -> None:
    split_sample(SAMPLES[0].parent / "constructed-edge-cases.log", tmp_path / "edge.log")
    (raw,) = raw_chunks(tmp_path / "edge.log", 1 << 20)
    found = logscan.scan(raw.lines, "rfc3164")
    # IPv6 DST missing, truncated, no PROTO: fallback; SRC .300 and SPT 70000 are bad lines with their
    # reason; "Nov 31" is a row here (the stamp rules reject it later, in kernlog_lines.stamps);
    # non-LOG lines skipped
    assert found.status.tolist() == [0] * 9 + [2, 2, 0, 0, 2] + [0, 2, 1, 1, 1]
    assert found.line.tolist() == [*range(9), 14]
    assert found.bad_line.tolist() == [11, 12]
    assert found.bad_reason.tolist() == [logscan.BAD_ADDRESS, logscan.BAD_PORT]


def usually(good: list[str], odd: list[str]) -> st.SearchStrategy[str]:
    """A well-formed value nine times in ten, else a near miss."""
    return st.integers(0, 9).flatmap(lambda k: st.sampled_from(odd if k == 0 else good))


_STAMPS = usually(["2026-11-23T08:05:58.652063+00:00", "2026-11-23T08:05:58Z", "2026-11-23T08:05:58.5-0130",
                   "2028-02-29T23:59:59.123456789+14:00"],
                  ["2026-02-29T08:05:58Z", "2026-11-23T08:05:60Z", "2026-11-23T24:00:00Z",
                   "2026-11-23T08:05Z", "2026-13-01T00:00:00Z", "1969-12-31T23:59:59Z",
                   "2026-11-23T08:05:58+15:00",
                   "2026-11-23T08:05:58.1234567890Z", "2026-11-23T08:05:58+01:60"])
_OLD_STAMPS = usually(["Nov 23 08:05:58", "Nov  3 08:05:58", "Dec 31 23:59:59"],
                      ["Feb 29 00:00:00", "Feb 30 10:00:00", "Nov 00 08:05:58", "Nov 23 25:05:58",
                       "Foo 23 08:05:58", "Mar 31 23:59:60"])
_HEADERS = {"rfc3339": _STAMPS.map(lambda stamp: f"{stamp} mx1 kernel: "),
            "rfc3164": _OLD_STAMPS.map(lambda stamp: f"{stamp} mx1 kernel: "),
            "dmesg": usually(["<4>[ 5765.603140] ", "[    0.5] "], ["<4[ 1.0] ", "[ 1.1234567890] ", "[1] "]),
            "kmsg": usually(["4,333,5765603140,-;", "6,1,2,c,x;"], ["4,333,;", "4,1,12345678901234567,-;"])}
_PROGRAMS = usually(["kernel:", "kernel[12]:"], ["k[x]:", "kern", ":", "a]:", "k[12345678901]:"])
_PREFIXES = usually(["[GREYD WHITED] ", "", "[greyd 25 dnat]", "  x  ", "[ 12.5] [GREYD FAILED] "],
                    ["IIN=x ", "INI ", "[ 99999999999.1234567890] [X] ", "I", "PIN ", "SRC=1.1.1.1 DST=1 "])
_ADDRESSES = usually(["192.0.2.1", "0.0.0.0", "255.255.255.255", "2001:0db8:0000:0000:0000:0000:0000:0025",
                      "2001:DB8::1", "::", "::1", "1::", "1:0:0:2:0:0:0:3", "1:2:3:4:5:6:7::",
                      "::1:2:3:4:5:6:7"],
                     ["256.1.1.1", "01.2.3.4", "1.2.3", "1.2.3.4.5", "::ffff:192.0.2.1", "::0.0.0.1", "x",
                      "0000:0000:0000:0000:0000:ffff:c000:0201", "fe80::1%eth0", "1::2::3", "12345::"])
_PORTS = usually(["SPT=4000 DPT=25 ", "SPT=0 DPT=65535 ", "SPT=0000000000000025 DPT=1 ", "SPT=1 DPT=2x ", ""],
                 ["SPT=65536 DPT=25 ", "SPT=1234567890123456789 DPT=1 ", "SPT= DPT=1 ", "SPT=1 ", "DPT=25 "])
_PROTOS = usually(["TCP", "UDP", "ICMP", "47"], ["", "TCP\r"])


@st.composite
def log_lines(draw: st.DrawFn, fmt: str) -> str:
    """A LOG line of ``fmt`` near the edge of what the patterns accept (each field usually well-formed)."""
    header = draw(_HEADERS[fmt]).replace("kernel:", draw(_PROGRAMS))
    body = (f"{draw(_PREFIXES)}IN={draw(st.sampled_from(['eth0', '']))} OUT= SRC={draw(_ADDRESSES)} "
            f"DST={draw(_ADDRESSES)} LEN=60 PROTO={draw(_PROTOS)} {draw(_PORTS)}")
    if draw(st.integers(0, 3)):
        return header + body
    cut = draw(st.integers(0, len(body)))
    return header + body[:cut] + draw(st.text(max_size=3)) + body[cut:]


_CHUNKS = st.sampled_from(sorted(logscan.FORMATS)).flatmap(
    lambda fmt: st.tuples(st.just(fmt), st.lists(log_lines(fmt), min_size=1, max_size=12)))


@FUZZ
@given(chunk=_CHUNKS)
def test_near_miss_lines_parse_the_same_on_both_paths(chunk: tuple[str, list[str]]) -> None:
    fmt, lines = chunk
    array = pa.array([line + "\n" for line in lines], pa.large_string())
    assert_same(*both_paths(RawChunk("x", fmt, array, 7, OPTIONS.reference)))


@FUZZ
@given(data=st.lists(st.binary(max_size=200), max_size=20), fmt=st.sampled_from(sorted(logscan.FORMATS)))
def test_random_bytes_never_crash_the_scanner(data: list[bytes], fmt: str) -> None:
    blob = b"".join(line.replace(b"\n", b"") + b"\n" for line in data)
    offsets = np.array([0, *np.cumsum([len(line.replace(b"\n", b"")) + 1 for line in data])], np.int64)
    lines = pa.LargeStringArray.from_buffers(len(data), pa.py_buffer(offsets), pa.py_buffer(blob))
    found = logscan.scan(lines, fmt)
    handled = np.sort(np.concatenate([found.line, found.bad_line]))
    assert handled.tolist() == np.flatnonzero(found.status == logscan.GOOD).tolist()
    assert set(found.status.tolist()) <= {logscan.GOOD, logscan.SKIP, logscan.FALLBACK}
    assert np.all(found.status[[b" OUT=" not in line for line in data]] == logscan.SKIP)


@FUZZ
@given(data=st.lists(st.binary(max_size=120) | log_lines("rfc3164").map(str.encode), max_size=12),
       fmt=st.sampled_from(sorted(logscan.FORMATS)))
def test_fuzzed_lines_parse_the_same_on_both_paths(data: list[bytes], fmt: str) -> None:
    text = [line.replace(b"\n", b"").decode("utf-8", "replace") + "\n" for line in data]
    array = pa.array(text, pa.large_string())
    assert_same(*both_paths(RawChunk("x", fmt, array, 1, OPTIONS.reference)))


def test_hostile_lines_are_left_to_the_python_path() -> None:
    good = "Nov 23 08:05:58 vm kernel: [X] IN=e OUT= SRC=192.0.2.1 DST=192.0.2.2 PROTO=TCP SPT=1 DPT=2 "
    lines = [good, good.replace("[X]", "[\x00]"), good.replace("[X]", "[\u00e9]"), good[:60],
             good.replace("[X]", "M" * 3_000_000), good.replace("TCP", "TCP\r"), "", " OUT="]
    found = logscan.scan(pa.array(lines, pa.large_string()), "rfc3164")
    assert found.status.tolist() == [0, 2, 2, 2, 0, 2, 1, 2]
    assert list(found.prefix) == ["[X]", "M" * 3_000_000]


@FUZZ
@given(value=st.integers(0, 2**128 - 1), start=st.integers(0, 7), zeros=st.integers(0, 8),
       style=st.sampled_from(["exploded", "compressed", "upper"]))
def test_ipv6_form_is_ipaddress_compressed(value: int, start: int, zeros: int, style: str) -> None:
    for hextet in range(start, min(8, start + zeros)):
        value &= ~(0xFFFF << (16 * hextet))
    address = ipaddress.IPv6Address(value)
    text = address.exploded.upper() if style == "upper" else getattr(address, style)
    line = f"Nov 23 08:05:58 vm k: IN=e OUT= SRC={text} DST={text} PROTO=TCP "
    found = logscan.scan(pa.array([line], pa.large_string()), "rfc3164")
    mapped = address.ipv4_mapped is not None
    assert found.src.to_pylist() == ([] if mapped else [address.compressed])
    assert found.ip_version.tolist() == ([] if mapped else [6])


def python_path_only(path: Path) -> KernlogResult:
    """read_kernlog's result with every line through the Python path (the reference)."""
    parts = [parse_chunk(chunk_envelopes(raw, OPTIONS, LOG_MARK)) for raw in raw_chunks(path, 1 << 20)]
    return kernlog._combine(parts)


def assert_same_result(got: KernlogResult, expected: KernlogResult) -> None:
    assert_frame_equal(got.connections, expected.connections)
    assert_frame_equal(got.bad_lines, expected.bad_lines)
    assert (got.lines, got.skipped, got.duplicates) == (expected.lines, expected.skipped, expected.duplicates)


@pytest.mark.parametrize("sample", SAMPLES, ids=lambda p: p.name)
def test_read_kernlog_equals_the_python_path_alone(sample: Path, tmp_path: Path) -> None:
    split_sample(sample, tmp_path / sample.name)
    got = read_kernlog(tmp_path / sample.name, options=OPTIONS, chunk_bytes=97)
    assert_same_result(got, python_path_only(tmp_path / sample.name))


@pytest.mark.parametrize("defer_lines", [8192, 7])
def test_batched_leftovers_keep_input_order_and_first_duplicates(defer_lines: int, tmp_path: Path,
                                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    """Rows the Python path finds late (IPv4-mapped source, non-ASCII prefix) tie in time with scanned
    ones and duplicate them: the result must be as if every line had been read in order."""
    monkeypatch.setattr(kernlog, "DEFER_LINES", defer_lines)
    monkeypatch.setattr(kernlog_lines, "DEFER_LINES", defer_lines)
    rng = np.random.default_rng(7)
    lines = []
    for _ in range(1500):
        src = rng.choice(["192.0.2.1", "192.0.2.2", "::ffff:192.0.2.1", "2001:db8::1", "192.0.2.300"])
        prefix = rng.choice(["[GREYD WHITED]", "[GRÉYD]", "[GREYD FAILED]"])
        stamp = f"Nov 23 08:00:0{rng.integers(0, 3)} mx{rng.integers(1, 3)}"
        lines.append(f"{stamp} kernel: {prefix} IN=eth0 OUT= SRC={src} DST=198.51.100.10 PROTO=TCP "
                     f"SPT={rng.integers(1, 3)} DPT=25 \n")
    (tmp_path / "kern.log").write_text("".join(lines))
    got = read_kernlog(tmp_path / "kern.log", options=OPTIONS, chunk_bytes=997)
    expected = python_path_only(tmp_path / "kern.log")
    assert_same_result(got, expected)
    assert got.duplicates > 1000 and len(got.bad_lines) > 100
    assert set(got.connections["prefix"]) == {"[GREYD WHITED]", "[GRÉYD]", "[GREYD FAILED]"}


def test_long_fields_are_kept_whole() -> None:
    lines = [f"Nov 23 08:05:58 {'h' * k} kernel: [{'P' * (3 * k)}] IN={'e' * k} OUT= SRC=2001:db8::{k:x} "
             f"DST=192.0.2.{k % 250} PROTO=TCP SPT={k} DPT=25 " for k in range(1, 600)]
    found = logscan.scan(pa.array(lines, pa.large_string()), "rfc3164")
    assert found.status.tolist() == [logscan.GOOD] * 599
    assert list(found.prefix) == [f"[{'P' * (3 * k)}]" for k in range(1, 600)]
    assert list(found.host) == ["h" * k for k in range(1, 600)]
    assert found.src.to_pylist() == [f"2001:db8::{k:x}" for k in range(1, 600)]


def regex_split(lines: pa.Array, fmt: str) -> list[tuple]:
    """(host, program, pid, message) of each line by HEADERS[fmt] (None where it does not match)."""
    parts = pc.extract_regex(lines, HEADERS[fmt]).to_pylist()
    message = pc.utf8_rtrim(pc.replace_substring_regex(lines, HEADERS[fmt], "", max_replacements=1), "\n")
    names = [name for name in ("host", "program", "pid") if f"<{name}>" in HEADERS[fmt]]
    return [None if part is None else (*(part[name] or None for name in names), text)
            for part, text in zip(parts, message.to_pylist(), strict=True)]


def c_split(lines: pa.Array, fmt: str) -> list[tuple]:
    """The same from split_headers (None where it does not vouch for the line)."""
    spans, data = split_headers(lines, fmt), lines.buffers()[2].to_pybytes()
    ends = np.frombuffer(lines.buffers()[1], np.int64)[1:]
    text = lambda start, end: data[start:end].decode() if start >= 0 else None  # noqa: E731
    rows: list[tuple | None] = [None] * len(lines)
    for k in np.flatnonzero(spans.parsed):
        end = ends[k] - (data[ends[k] - 1:ends[k]] == b"\n")
        pid = str(spans.pid[k]) if spans.pid[k] >= 0 else None
        syslog = fmt in ("rfc3164", "rfc3339")
        fields = (text(*spans.host[k]), text(*spans.program[k]), pid)[:3 if syslog else 0]
        rows[k] = (*fields, text(spans.message[k], end))
    assert not np.any(spans.host[~spans.parsed] != -1)
    return rows


@FUZZ
@given(chunk=_CHUNKS, junk=st.lists(st.text(max_size=40), max_size=4))
def test_split_headers_finds_what_the_header_patterns_find(chunk: tuple[str, list[str]],
                                                          junk: list[str]) -> None:
    """Where split_headers vouches for a line, it splits it as HEADERS does."""
    fmt, lines = chunk
    array = pa.array([line.replace("\n", "") + "\n" for line in [*lines, *junk]], pa.large_string())
    expected, got = regex_split(array, fmt), c_split(array, fmt)
    vouched = [k for k, row in enumerate(got) if row is not None]
    assert [got[k] for k in vouched] == [expected[k] for k in vouched]


@pytest.mark.parametrize(("name", "fmt"), [
    ("kern-rsyslog-TraditionalFileFormat.log", "rfc3164"), ("kern-rsyslog-FileFormat.log", "rfc3339"),
    ("journalctl-k-short-iso-precise.txt", "rfc3339"), ("dmesg-r.txt", "dmesg"),
    ("dev-kmsg-records.txt", "kmsg")])
def test_split_headers_vouches_for_every_captured_line(name: str, fmt: str, tmp_path: Path) -> None:
    split_sample(SAMPLES[0].parent / name, tmp_path / name)
    (raw,) = raw_chunks(tmp_path / name, 1 << 20)
    assert c_split(raw.lines, fmt) == regex_split(raw.lines, fmt)
    assert all(row is not None for row in c_split(raw.lines, fmt))
