"""read_greydlog's C paths against the envelope path (parse_chunk of sources.chunk_envelopes): the C
scanner (greydlog.parse_raw) and the C header split it leaves lines to (greydlog.parse_split) give
identical events, bad lines and counts on the tests/data/greydlog corpus, in whole and in tiny
chunks, and on generated near-miss and fuzzed lines."""

from __future__ import annotations

from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pandas.testing import assert_frame_equal

from greylogd.analysis.greydlog import KEEP, PROGRAMS, parse_chunk, parse_raw, parse_split
from greylogd.analysis.greydlog_rules import RULES, _head, _match, _without
from greylogd.analysis.greydscan import FORMATS, split_frame
from greylogd.analysis.sources import RawChunk, chunk_envelopes, map_chunks
from tests.unit.test_greydlog import OPTIONS, SAMPLES, split_sample

FUZZ = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
ALL = ("ts", "host", "program", "pid", "kind", "ip", "from", "to", "helo", "duration_s", "lists", "clients",
       "black_clients", "message")
REPORT = ("ts", "kind", "ip", "duration_s", "lists")  # weekly.EVENT_COLUMNS: no host, pid, message


def assert_same(raw: RawChunk, columns: tuple[str, ...]) -> None:
    """The C paths give the envelope path's events (values, dtypes, order, line numbers), bad lines,
    lines and skipped."""
    slow = parse_chunk(chunk_envelopes(raw, OPTIONS, KEEP), columns)
    split = [parse_split(raw, OPTIONS, columns)] if raw.fmt in FORMATS else []
    for fast in (parse_raw(raw, OPTIONS, columns), *split):
        assert_frame_equal(fast.events, slow.events)
        assert_frame_equal(fast.bad, slow.bad)
        assert (fast.lines, fast.skipped) == (slow.lines, slow.skipped)
        assert fast.line.tolist() == slow.line.tolist()


@pytest.mark.parametrize("sample", SAMPLES, ids=lambda p: p.name)
@pytest.mark.parametrize("chunk_bytes", [1 << 20, 307])
@pytest.mark.parametrize("columns", [ALL, REPORT], ids=["all", "report"])
def test_corpus_parses_the_same_on_both_paths(sample: Path, chunk_bytes: int, columns: tuple[str, ...],
                                              tmp_path: Path) -> None:
    split_sample(sample, tmp_path / sample.name)
    for raw in map_chunks(lambda raw: raw, tmp_path / sample.name, chunk_bytes, progress=False):
        assert_same(raw, columns)


def test_usual_lines_are_split_in_c_and_other_programs_skipped() -> None:
    """Every usual line is split by the C splitter (none left to envelopes), other programs count as
    skipped, and the message, pid and host are the text after the header."""
    lines = ["Nov 23 08:00:01 mx1 greyd[4079]: 192.0.2.1: connected (3/1), lists: nixspam\n",
             "Nov 23 08:00:02 mx1 sshd[9]: greylisting is not mine\n",
             "Nov 23 08:00:03 mx-2 GreyLogd: whitelisting 2001:DB8::1\n",
             "Nov 23 08:00:04 mx1 spamd[4294967296]: (GREY) 192.0.2.2: <a@b> -> <c@d>"]
    raw = RawChunk("x", "rfc3164", pa.array(lines, pa.large_string()), 1, OPTIONS.reference)
    assert split_frame(raw, OPTIONS, True, PROGRAMS)[1].tolist() == [True] * 4
    result = parse_split(raw, OPTIONS, ALL)
    assert (result.lines, result.skipped, len(result.bad)) == (4, 1, 0)
    events = result.events.astype({"host": "str", "program": "str", "ip": "str", "kind": "str"})
    assert events[["host", "program", "kind", "ip"]].values.tolist() == [
        ["mx1", "greyd", "connected", "192.0.2.1"], ["mx-2", "GreyLogd", "whitelisting", "2001:db8::1"],
        ["mx1", "spamd", "grey", "192.0.2.2"]]
    assert events["pid"].tolist()[0] == 4079 and events["pid"].isna().tolist()[1:] == [True, True]
    assert events["message"].tolist() == ["192.0.2.1: connected (3/1), lists: nixspam",
                                          "whitelisting 2001:DB8::1", "(GREY) 192.0.2.2: <a@b> -> <c@d>"]


def _messages() -> list[str]:
    """The message of every data line of the syslog sample (text after ``]: ``)."""
    text = (SAMPLES[0].parent / "greyd-syslog.log").read_text().splitlines()
    return sorted({line.split("]: ", 1)[-1] for line in text if "]: " in line and not line.startswith("#")})


def usually(good: list[str], odd: list[str]) -> st.SearchStrategy[str]:
    """A well-formed value four times in five, else a near miss."""
    return st.integers(0, 4).flatmap(lambda k: st.sampled_from(odd if k == 0 else good))


_STAMPS = {"rfc3164": usually(["Nov 23 08:05:58", "Nov  3 08:05:58", "Dec 31 23:59:59"],
                              ["Feb 30 10:00:00", "Nov 00 08:05:58", "Nov 23 25:05:58", "Foo 23 08:05:58",
                               "Nov 23 08:05"]),
           "rfc3339": usually(["2026-11-23T08:05:58.652063+00:00", "2026-11-23T08:05:58Z",
                               "2026-11-23T08:05:58.5-0130"],
                              ["2026-02-29T08:05:58Z", "2026-11-23T24:00:00Z", "2026-11-23T08:05Z",
                               "2026-11-23T08:05:58.1234567890Z"])}
_HOSTS = usually(["mx1", "mx-2.example.org"], ["", "a:b", "x[1]"])
_PROGRAMS = usually(["greyd[4079]: ", "greyd: ", "spamd[1]: ", "greylogd[7]: ", "GREYD[2]: ", "spamlogd[3]: ",
                     "greydb[9]: ", "greyd-setup: ", "sshd[2]: "],
                    ["greyd[x]: ", "greyd[12345678901]: ", "greyd[2147483649]: ", "greyd ", "-: ",
                     "greyd[]: ", "grey d[1]: ", "greyd:", ""])
_MESSAGES = usually(_messages(), ["", " ", "connected", "(GREY) ", "new entry x from", "\u00e9\u00e8 greyd"])


@st.composite
def greyd_lines(draw: st.DrawFn, fmt: str) -> str:
    """A greyd line of ``fmt`` near the edge of what the header patterns and rules accept."""
    line = f"{draw(_STAMPS[fmt])} {draw(_HOSTS)} {draw(_PROGRAMS)}{draw(_MESSAGES)}"
    if draw(st.integers(0, 3)):
        return line
    cut = draw(st.integers(0, len(line)))
    return line[:cut] + draw(st.text(max_size=3)) + line[cut:]


_CHUNKS = st.sampled_from(["rfc3164", "rfc3339"]).flatmap(
    lambda fmt: st.tuples(st.just(fmt), st.lists(greyd_lines(fmt) | st.text(max_size=60), min_size=1,
                                                 max_size=16)))


@FUZZ
@given(chunk=_CHUNKS, newline=st.booleans(), columns=st.sampled_from([ALL, REPORT]))
def test_near_miss_and_fuzzed_lines_parse_the_same_on_both_paths(chunk: tuple[str, list[str]], newline: bool,
                                                                 columns: tuple[str, ...]) -> None:
    fmt, lines = chunk
    text = [line.replace("\n", " ") + ("\n" if newline else "") for line in lines]
    assert_same(RawChunk("x", fmt, pa.array(text, pa.large_string()), 5, OPTIONS.reference), columns)


_WANTED = [("ip",), ("ip", "duration_s", "lists"), ("ip", "helo"), ("ip", "from", "to", "helo")]
_HEADED = [(pattern, wanted) for _, pattern in RULES for wanted in _WANTED
           if _head(pattern, [name for name in wanted if f"<{name}>" in pattern])]
_NEAR_MISSES = st.text(alphabet=" :,()->GREYnewtryspaclkdg1.9\u00e9", max_size=40)


def test_the_big_anchored_rules_have_a_head() -> None:
    """The report's rules that take most lines are read by their head (else the speed-up is gone)."""
    headed = {pattern.split(" ")[0] for pattern, wanted in _HEADED if wanted == ("ip",)}
    assert {r"^\(GREY\)", r"^\(BLACK\)", "^new", "^updated"} <= headed
    assert _head(RULES[0][1], ["ip"]) is None  # unanchored: the leftmost match need not start the line


@FUZZ
@given(messages=st.lists(_MESSAGES | _NEAR_MISSES | st.text(max_size=30), min_size=1, max_size=12),
       glue=st.lists(st.sampled_from(["", " ", ": ", " from ", " to ", ", helo ", " ip "]), min_size=3,
                     max_size=3))
def test_a_head_captures_what_its_whole_rule_captures(messages: list[str], glue: list[str]) -> None:
    """On every message a rule matches, its head's captures equal the rule's own (fuzzed messages with
    spaces and separators moved around)."""
    text = pa.array([*messages, glue[0].join(messages), glue[1].join(messages[::-1]), glue[2] + messages[0]],
                    pa.large_string())
    for pattern, wanted in _HEADED:
        groups = [name for name in wanted if f"<{name}>" in pattern]
        hit, parts = _match(text, pattern, set(wanted))
        whole = pc.extract_regex(text, _without(pattern, groups))
        assert hit.tolist() == whole.is_valid().to_numpy(zero_copy_only=False).tolist()
        assert {name: values.to_pylist() for name, values in parts.items()} == {
            name: whole.field(name).filter(whole.is_valid()).to_pylist() for name in groups}
