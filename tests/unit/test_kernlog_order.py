"""kernlog_order: parts of connections into one frame in (ts, input, line) order, each line kept once.

The reference is pandas itself: every row with its input and line number, stable-sorted by
(ts, input, line), duplicates (SAME_LINE) dropped keeping the first, categories as astype("category")
makes them. Parts are made nearly in order (the slices path), in random order (the gather path), with
duplicates across inputs and ties in time, and handed over in shuffled order (as batched leftovers are).
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pyarrow as pa
import pytest
from pandas.testing import assert_frame_equal

from greylogd.analysis import frames
from greylogd.analysis.kernlog_lines import Parsed
from greylogd.analysis.kernlog_order import SAME_LINE, in_time_order, time_sorted

BASE = pd.Timestamp("2026-11-16", tz="UTC")


def rows(rng: np.random.Generator, n: int, jitter_s: int) -> pd.DataFrame:
    """n connections about a second apart (each moved by up to ``jitter_s`` seconds), few distinct
    values per column so that ties and repeats happen; one frames.CONNECTIONS frame, lines in order."""
    seconds = np.arange(n) + rng.integers(-jitter_s, jitter_s + 1, n)
    frame = pd.DataFrame({
        "ts": BASE + pd.to_timedelta(seconds, unit="s"),
        "host": rng.choice(["mx1", "mx2"], n), "prefix": rng.choice(["[GREYD WHITED]", "[GREYD FAILED]"], n),
        "category": rng.choice(["trusted", "fallthrough", "outbound"], n),
        "src": rng.choice(["192.0.2.1", "2001:db8::1", "198.51.100.7"], n), "dst": "203.0.113.25",
        "spt": rng.choice([1025, 40000], n), "dpt": 25, "proto": rng.choice(["TCP", "UDP"], n),
        "ip_version": 4, "in_if": rng.choice(["eth0", ""], n)})
    return frames.typed(frame, frames.CONNECTIONS)


def split(frame: pd.DataFrame, source: int, size: int) -> list[Parsed]:
    """``frame`` (lines 1..n of input ``source``) as parts of ``size`` rows, each sorted by time."""
    parts = []
    for start in range(0, len(frame), size):
        chunk = frame.iloc[start:start + size]
        for name in chunk.select_dtypes("category"):  # each part's own categories, as a chunk's are
            chunk[name] = chunk[name].astype(str).astype("category")
        lines = np.arange(start + 1, start + len(chunk) + 1)
        part = Parsed("x", chunk.reset_index(drop=True), lines, frames.empty(frames.BAD_LINES), len(chunk), 0,
                      input=source)
        parts.append(time_sorted(part))
    return parts


def reference(inputs: list[pd.DataFrame]) -> tuple[pd.DataFrame, int]:
    """What in_time_order must return, by plain pandas."""
    every = pd.concat([frame.astype({n: str for n in frame.select_dtypes("category")})
                       .assign(input=k, line=np.arange(1, len(frame) + 1)) for k, frame in enumerate(inputs)],
                      ignore_index=True)
    ordered = every.sort_values(["ts", "input", "line"], kind="stable")
    kept = ordered.drop_duplicates(SAME_LINE).drop(columns=["input", "line"])
    return frames.typed(kept, frames.CONNECTIONS), len(every) - len(kept)


def chunks_of(column: pd.Series) -> int:
    text = pa.array(column.array)
    return text.num_chunks if isinstance(text, pa.ChunkedArray) else 1


@pytest.mark.parametrize("jitter_s", [0, 3, 100_000])
def test_parts_come_out_in_time_order_each_line_once(jitter_s: int) -> None:
    rng = np.random.default_rng(jitter_s)
    kern = rows(rng, 6000, jitter_s)
    syslog = pd.concat([kern.iloc[::7], rows(rng, 500, jitter_s)])  # kern.log's lines again, and others
    syslog = frames.typed(syslog.sort_values("ts", kind="stable"), frames.CONNECTIONS)
    parts = split(kern, 0, 700) + split(syslog, 1, 300)
    rng.shuffle(parts)
    got, dropped = in_time_order(parts)
    expected, expected_dropped = reference([kern, syslog])
    assert dropped == expected_dropped >= len(kern.iloc[::7]) - 1
    assert_frame_equal(got, expected)
    assert parts == []


@pytest.mark.parametrize("jitter_s", [0, 3])
def test_a_nearly_sorted_log_is_rebuilt_from_slices(jitter_s: int) -> None:
    """Parts overlapping in time only at their edges, a few lines repeated (a SYN seen twice within one
    second): the text stays in the parts' arrays (chunked), and the result is still exact."""
    kern = rows(np.random.default_rng(jitter_s), 6000, jitter_s)
    kern["spt"] = pd.array(np.arange(6000) + 1024, dtype="UInt16")  # no two lines the same by chance
    repeated = pd.concat([kern, kern.iloc[100:6000:500]]).sort_index(kind="stable")
    kern = frames.typed(repeated, frames.CONNECTIONS)
    got, dropped = in_time_order(split(kern, 0, 700))
    expected, expected_dropped = reference([kern])
    assert dropped == expected_dropped == 12
    assert_frame_equal(got, expected)
    assert chunks_of(got["src"]) > 1


def test_a_sorted_log_is_returned_without_reordering() -> None:
    kern = rows(np.random.default_rng(1), 3000, 0).drop_duplicates(SAME_LINE)
    kern = frames.typed(kern, frames.CONNECTIONS)
    got, dropped = in_time_order(split(kern, 0, 1000))
    assert dropped == 0
    assert_frame_equal(got, kern)


def test_ties_in_time_keep_input_then_line_order() -> None:
    frame = rows(np.random.default_rng(2), 40, 0)
    frame["ts"] = BASE  # every row in the same second
    frame["spt"] = pd.array(np.arange(40) + 1000, dtype="UInt16")  # and none the same line
    late, early = split(frame, 3, 25), split(frame.iloc[:10].reset_index(drop=True), 1, 25)
    got, dropped = in_time_order(late + early)  # the earlier input's part handed over last
    assert dropped == 10
    assert got["spt"].tolist() == list(range(1000, 1040))


def test_no_rows() -> None:
    got, dropped = in_time_order([Parsed("x", frames.empty(frames.CONNECTIONS), np.zeros(0, np.int64),
                                         frames.empty(frames.BAD_LINES), 3, 3)])
    assert (len(got), dropped, list(got.dtypes.astype(str))) == (0, 0, list(frames.CONNECTIONS.values()))
