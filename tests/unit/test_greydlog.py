"""read_greydlog against annotated samples of every greyd/greylogd/spamd/spamlogd message (spec section 5).

Annotations (``# failJSON: {...}`` above a line) give the expected greyd_events row, where "message"
defaults to the text after ``]: `` of the line; {"bad": reason} and {"skipped": true} as in
test_kernlog.
"""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime
from pathlib import Path

import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pandas.testing import assert_frame_equal

from greylogd.analysis import frames
from greylogd.analysis.greydlog import parse_greydlog, read_greydlog
from greylogd.analysis.greydlog_rules import RULES
from greylogd.analysis.headers import SourceOptions

DATA = Path(__file__).parents[1] / "data" / "greydlog"
OPTIONS = SourceOptions(tz="UTC", reference=datetime(2026, 11, 23, 12, tzinfo=UTC))
SAMPLES = sorted(DATA.iterdir())
ANNOTATION = "# failJSON: "


def split_sample(path: Path, out: Path) -> dict:
    """Data lines to ``out``; expected rows (message filled in), bad (line, reason), skipped count."""
    rows, bad, skipped, data, note = [], [], 0, [], None
    for line in path.read_text().splitlines():
        if line.startswith(ANNOTATION):
            note = json.loads(line[len(ANNOTATION):])
        elif not line.startswith("# "):
            data.append(line)
            if "ts" in note:
                rows.append({"message": line.split("]: ", 1)[-1], **note})
            bad += [(len(data), note["bad"])] if "bad" in note else []
            skipped += "skipped" in note
    out.write_text("\n".join(data) + "\n")
    return {"rows": rows, "bad": bad, "skipped": skipped}


def expected_events(rows: list[dict]) -> pd.DataFrame:
    frame = pd.DataFrame(rows, columns=frames.GREYD_EVENTS_COLUMNS)
    frame["ts"] = pd.to_datetime(frame["ts"], format="ISO8601", utc=True)
    frame = frame.astype({name: "str" for name in ("host", "program", "ip", "lists")})  # str categories
    return frames.typed(frame, frames.GREYD_EVENTS).sort_values("ts", kind="stable", ignore_index=True)


@pytest.mark.parametrize("sample", SAMPLES, ids=lambda p: p.name)
def test_sample_parses_as_annotated(sample: Path, tmp_path: Path) -> None:
    expected = split_sample(sample, tmp_path / sample.name)
    result = read_greydlog(tmp_path / sample.name, options=OPTIONS)
    assert_frame_equal(result.events, expected_events(expected["rows"]))
    assert list(result.bad_lines[["line", "reason"]].itertuples(index=False, name=None)) == expected["bad"]
    assert result.skipped == expected["skipped"]
    assert len(result.events) + len(result.bad_lines) + result.skipped == result.lines


@pytest.mark.parametrize("sample", SAMPLES, ids=lambda p: p.name)
def test_pruned_columns_keep_rows_kinds_and_bad_lines(sample: Path, tmp_path: Path) -> None:
    split_sample(sample, tmp_path / sample.name)
    full = read_greydlog(tmp_path / sample.name, options=OPTIONS)
    lean = read_greydlog(tmp_path / sample.name, options=OPTIONS, columns=["lists", "ip", "duration_s"])
    assert list(lean.events.columns) == ["ts", "kind", "ip", "duration_s", "lists"]
    assert_frame_equal(lean.events, full.events[list(lean.events.columns)])
    assert_frame_equal(lean.bad_lines, full.bad_lines)
    assert (lean.lines, lean.skipped) == (full.lines, full.skipped)


def test_every_rule_has_a_sample(tmp_path: Path) -> None:
    messages = pd.concat([read_greydlog(tmp_path / s.name, options=OPTIONS).events["message"]
                          for s in SAMPLES if split_sample(s, tmp_path / s.name)])
    unmatched = [pattern for _, pattern in RULES if not any(re.search(pattern, m) for m in messages)]
    assert unmatched == []


def test_tz_option_places_rfc3164_stamps() -> None:
    result = parse_greydlog(["Nov 23 08:00:00 mx1 greylogd[1]: whitelisting 192.0.2.1"],
                            options=SourceOptions(tz="Europe/Berlin",
                                                  reference=datetime(2026, 11, 23, 12, tzinfo=UTC)))
    assert result.events["ts"].tolist() == [pd.Timestamp("2026-11-23T07:00:00Z")]


@settings(max_examples=60, deadline=None)
@given(st.lists(st.text(max_size=200).map(lambda t: "Nov 23 08:00:00 mx1 greyd[7]: " + t)
                | st.text(max_size=200), max_size=20))
def test_fuzzed_lines_never_raise_and_are_accounted(lines: list[str]) -> None:
    result = parse_greydlog([line.replace("\n", " ").replace("\r", " ") for line in lines], options=OPTIONS)
    assert len(result.events) + len(result.bad_lines) + result.skipped == result.lines == len(lines)


def test_kernel_only_inputs_are_skipped_whole(tmp_path: Path) -> None:
    (tmp_path / "dmesg").write_text("<4>[ 5.5] [GREYD WHITED] IN=vB OUT= SRC=198.51.100.1\n[ 6.000001] x\n")
    (tmp_path / "dmesg.json").write_text('[{"pri": 4, "time": 1.5, "msg": "eth0 up"}]\n')
    for name in ("dmesg", "dmesg.json"):
        result = read_greydlog(tmp_path / name, options=OPTIONS)
        assert (len(result.events), len(result.bad_lines), result.skipped) == (0, 0, result.lines)
    assert read_greydlog(tmp_path / "dmesg", options=OPTIONS).lines == 2
