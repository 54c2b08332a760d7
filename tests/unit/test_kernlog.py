"""read_kernlog against every sample in tests/data/kernlog (annotated fail2ban-style), edge cases, fuzzing.

Each data file carries its expected parse in ``# failJSON: {...}`` comment lines: a full connections
row, or {"bad": reason}, {"skipped": true}, {"duplicate": true} for the data line that follows.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

import pandas as pd
import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st
from pandas.testing import assert_frame_equal

from greylogd.analysis import frames
from greylogd.analysis.headers import HEADERS, SourceOptions, sniff
from greylogd.analysis.kernlog import KernlogResult, iter_kernlog, parse_kernlog, read_kernlog
from greylogd.analysis.logfiles import read_lines

DATA = Path(__file__).parents[1] / "data" / "kernlog"
OPTIONS = SourceOptions(tz="UTC", reference=datetime(2026, 11, 23, 12, tzinfo=UTC),
                        boot_time=datetime(2026, 11, 23, 6, 30, tzinfo=UTC), host="vm")
SAMPLES = sorted(p for p in DATA.iterdir() if p.name != "README.md")
ANNOTATION = b"# failJSON: "


def split_sample(path: Path, out: Path) -> dict:
    """Write the data lines of an annotated sample to ``out``; return what the annotations expect."""
    rows, bad, skipped, duplicates, data, pending = [], [], 0, 0, [], None
    for line in path.read_bytes().split(b"\n")[:-1]:
        if line.startswith(ANNOTATION):
            note = json.loads(line[len(ANNOTATION):])
            rows += [note] if "ts" in note else []
            pending = None if "ts" in note else note
            continue
        if line.startswith(b"# "):
            continue
        data.append(line)
        if pending:
            bad += [(len(data), pending["bad"])] if "bad" in pending else []
            skipped += "skipped" in pending
            duplicates += "duplicate" in pending
        pending = None
    out.write_bytes(b"\n".join(data) + b"\n")
    return {"rows": rows, "bad": bad, "skipped": skipped, "duplicates": duplicates}


def expected_connections(rows: list[dict]) -> pd.DataFrame:
    frame = pd.DataFrame(rows, columns=frames.CONNECTIONS_COLUMNS)
    frame["ts"] = pd.to_datetime(frame["ts"], format="ISO8601", utc=True)
    return frames.typed(frame, frames.CONNECTIONS)


@pytest.mark.parametrize("sample", SAMPLES, ids=lambda p: p.name)
def test_sample_parses_as_annotated(sample: Path, tmp_path: Path) -> None:
    expected = split_sample(sample, tmp_path / sample.name)
    result = read_kernlog(tmp_path / sample.name, options=OPTIONS, progress=False)
    assert_frame_equal(result.connections, expected_connections(expected["rows"]))
    assert list(result.bad_lines[["line", "reason"]].itertuples(index=False, name=None)) == expected["bad"]
    assert (result.skipped, result.duplicates) == (expected["skipped"], expected["duplicates"])
    assert set(result.bad_lines["source"]) <= {str(tmp_path / sample.name)}


def test_every_input_format_has_a_sample(tmp_path: Path) -> None:
    seen = set()
    for sample in SAMPLES:
        split_sample(sample, tmp_path / sample.name)
        with open(tmp_path / sample.name, "rb") as stream:
            seen.add(sniff(next(read_lines(stream, sample.name))))
    assert seen == {*HEADERS, "journal", "dmesg_json"}


def test_annotations_cover_every_line() -> None:
    for sample in SAMPLES:
        if sample.suffix == ".json":
            continue
        lines = sample.read_bytes().split(b"\n")[:-1]
        for before, line in zip([b"", *lines], lines, strict=False):
            if not line.startswith(b"# "):
                assert before.startswith(ANNOTATION), f"{sample.name}: no annotation above {line[:60]!r}"


def test_same_line_in_kern_log_and_syslog_is_kept_once(tmp_path: Path) -> None:
    expected = split_sample(DATA / "kern-rsyslog-FileFormat.log", tmp_path / "kern.log")
    (tmp_path / "syslog").write_bytes((tmp_path / "kern.log").read_bytes())
    result = read_kernlog([tmp_path / "kern.log", tmp_path / "syslog"], options=OPTIONS)
    assert_frame_equal(result.connections, expected_connections(expected["rows"]))
    assert (result.lines, result.duplicates) == (10, 5)


def test_categories_are_configurable_and_case_insensitive() -> None:
    line = ("2026-11-23T08:00:00+00:00 mx1 kernel: [My Rule] IN=eth0 OUT= SRC=192.0.2.1 DST=192.0.2.2 "
            "LEN=60 TOS=0x00 PREC=0x00 TTL=64 ID=1 DF PROTO=TCP SPT=1 DPT=25 WINDOW=1 RES=0x00 SYN URGP=0 ")
    result = parse_kernlog([line, line.replace("[My Rule]", "[GREYD WHITED]")],
                           categories={"[MY RULE]": "trusted"})
    assert result.connections["category"].tolist() == ["trusted", "other"]


def test_chunk_boundaries_do_not_change_the_result(tmp_path: Path) -> None:
    split_sample(DATA / "constructed-edge-cases.log", tmp_path / "edge.log")
    whole = read_kernlog(tmp_path / "edge.log", options=OPTIONS)
    small = read_kernlog(tmp_path / "edge.log", options=OPTIONS, chunk_bytes=333)
    assert_frame_equal(small.connections, whole.connections)
    assert_frame_equal(small.bad_lines, whole.bad_lines)
    assert (small.lines, small.skipped, small.duplicates) == (whole.lines, whole.skipped, whole.duplicates)


def generated_lines(n: int) -> tuple[list[str], int, int, int]:
    """n lines: 10 of every 12 LOG lines (distinct), one non-LOG line, one bad; counts of each."""
    lines = []
    for i in range(n):
        stamp = f"2026-11-{16 + i % 7:02d}T{i % 24:02d}:{i % 60:02d}:{i % 59:02d}.{i % 999983:06d}+00:00"
        if i % 12 == 10:
            lines.append(f"{stamp} mx1 kernel: [{i}.5] eth0: link up")
            continue
        src = f"203.0.{i % 250}.{i % 199 + 1}" if i % 12 != 11 else f"203.0.{i % 250}.999"
        lines.append(f"{stamp} mx1 kernel: [GREYD 25 DNAT] IN=eth0 OUT= SRC={src} DST=198.51.100.10 LEN=60 "
                     f"TOS=0x00 PREC=0x00 TTL=50 ID={i % 65536} DF PROTO=TCP SPT={1024 + i % 60000} DPT=25 "
                     "WINDOW=64240 RES=0x00 SYN URGP=0 ")
    skipped, bad = n // 12 + (n % 12 > 10), n // 12
    return lines, n - skipped - bad, skipped, bad


def test_generated_1m_lines_exact_counts(tmp_path: Path) -> None:
    lines, good, skipped, bad = generated_lines(1_000_000)
    (tmp_path / "kern.log").write_text("\n".join(lines) + "\n")
    result = read_kernlog(tmp_path / "kern.log", chunk_bytes=4 << 20)
    assert (len(result.connections), result.skipped, len(result.bad_lines)) == (good, skipped, bad)
    assert (result.lines, result.duplicates) == (1_000_000, 0)
    assert set(result.bad_lines["reason"]) == {"invalid address"}
    assert result.bad_lines["line"].iloc[:2].tolist() == [12, 24]
    assert result.bad_lines["line"].iloc[-1] == 999_996
    assert result.connections["ts"].is_monotonic_increasing
    sources = {(i % 250, i % 199) for i in range(1_000_000) if i % 12 < 10}
    assert result.connections["src"].nunique() == len(sources) == 49_750


def accounted(result: KernlogResult) -> int:
    return len(result.connections) + result.duplicates + len(result.bad_lines) + result.skipped


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.lists(st.binary(max_size=300) | st.sampled_from([
    b"Nov 23 08:05:58 vm kernel: [GREYD WHITED] IN=vB OUT= SRC=198.51.100.1 DST=",
    b"<4>1 2026-11-23T08:05:58Z vm kernel - - - IN= OUT= SRC=::1 DST=::2 PROTO=TCP SPT=1",
    b"4,1,2,-;[X] IN=a OUT= SRC=1.2.3.4 DST=5.6.7.8 LEN=1 PROTO=UDP SPT=99999999999999999999 DPT=1",
    b'{"MESSAGE": [255, 254], "__REALTIME_TIMESTAMP": "x"}', b"[ 1.0] IN= OUT= SRC=\xff DST=\xfe PROTO=\x00",
]), max_size=30))
def test_fuzzed_input_never_raises_and_every_line_is_accounted(data: list[bytes], tmp_path: Path) -> None:
    path = tmp_path / "fuzz.log"
    path.write_bytes(b"\n".join(data))
    assume(not path.read_bytes().startswith(b"\x1f\x8b"))  # gzip magic: a corrupt .gz is an InputError
    result = read_kernlog(path, options=OPTIONS, chunk_bytes=97)
    assert accounted(result) == result.lines
    assert result.bad_lines["raw"].str.len().max() <= frames.RAW_MAX if len(result.bad_lines) else True


def test_huge_line_is_one_bad_line(tmp_path: Path) -> None:
    huge = "Nov 23 08:05:58 vm kernel: [GREYD WHITED] IN=vB OUT= " + "MAC=00 " * 300_000
    (tmp_path / "kern.log").write_text(huge + "\n")
    result = read_kernlog(tmp_path / "kern.log", options=OPTIONS, chunk_bytes=1 << 16)
    assert result.bad_lines[["line", "reason"]].values.tolist() == [[1, "no SRC"]]
    assert len(result.bad_lines["raw"].iloc[0]) == frames.RAW_MAX


def test_iter_kernlog_parts_add_up_to_read_kernlog(tmp_path: Path) -> None:
    lines, good, skipped, bad = generated_lines(30_000)
    (tmp_path / "kern.log").write_text("\n".join(lines) + "\n")
    parts = list(iter_kernlog(tmp_path / "kern.log", chunk_bytes=1 << 20))
    whole = read_kernlog(tmp_path / "kern.log", chunk_bytes=1 << 20)
    assert len(parts) > 5
    assert all(part.connections["ts"].is_monotonic_increasing for part in parts)
    assert sum(len(part.connections) for part in parts) == len(whole.connections) == good
    assert sum(len(part.bad_lines) for part in parts) == bad
    assert (sum(p.lines for p in parts), sum(p.skipped for p in parts)) == (30_000, skipped)
    streamed = pd.concat([part.connections.astype({"src": "str"}) for part in parts])
    assert sorted(streamed["src"]) == sorted(whole.connections["src"])


def test_unreadable_json_document_counts_every_line() -> None:
    result = parse_kernlog(["[", "Nov 23 08:05:58 vm kernel: IN=e OUT= SRC=192.0.2.1", "]x"])
    assert (result.lines, result.skipped) == (3, 2)
    assert result.bad_lines[["line", "reason"]].values.tolist() == [[2, "no syslog header or time"]]
