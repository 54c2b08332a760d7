"""Every row of the spec's greyd.conf grammar and edge-case tables, from tests/data/conf/grammar.corpus.

Each corpus case states the exact section table greyd keeps (or the error position) and the positions of
the warnings greylogd adds where greyd silently drops configuration.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from pathlib import Path

import pytest

from greylogd.config import parse
from greylogd.errors import ConfigError

CORPUS = Path(__file__).parent.parent / "data" / "conf" / "grammar.corpus"
_CASE_RE = re.compile(r"^### case: ([^\n]+)\n((?:### (?!end)[^\n]*\n)*)(.*?)^### end([^\n]*)$", re.M | re.S)


@dataclass(frozen=True)
class Case:
    """One corpus case: expected tables (or error position) and the file text."""

    name: str
    meta: dict[str, str]
    text: str


def _cases() -> list[Case]:
    cases = []
    for match in _CASE_RE.finditer(CORPUS.read_text(encoding="utf-8")):
        meta = dict(line[4:].split(": ", 1) for line in match.group(2).splitlines())
        text = match.group(3)[:-1] if match.group(4) else match.group(3)
        cases.append(Case(match.group(1), meta, text))
    return cases


CASES = _cases()


def _positions(items: list) -> list[str]:
    return [f"{item.line}:{item.col}" for item in items]


def test_corpus_is_complete() -> None:
    assert len(CASES) == CORPUS.read_text(encoding="utf-8").count("\n### case: ")
    spec_rows = [case for case in CASES if case.name.startswith("spec: ")]
    assert len(spec_rows) == 14  # the ten table rows of spec 3.3, split where a row lists several inputs


@pytest.mark.parametrize("case", CASES, ids=[case.name for case in CASES])
def test_corpus_case(case: Case) -> None:
    if "error" in case.meta:
        with pytest.raises(ConfigError) as raised:
            parse(case.text, "case.conf")
        where = f"{raised.value.file}:{raised.value.line}:{raised.value.col}"
        assert where == f"case.conf:{case.meta['error']}"
        return
    config = parse(case.text, "case.conf")
    assert {name: dict(keys) for name, keys in config.sections.items()} == json.loads(case.meta["expect"])
    assert {name: dict(keys) for name, keys in config.blacklists.items()} == json.loads(
        case.meta.get("blacklists", "{}"))
    assert {name: dict(keys) for name, keys in config.whitelists.items()} == json.loads(
        case.meta.get("whitelists", "{}"))
    assert _positions(config.warnings) == case.meta.get("warnings", "").split()
    assert {warning.file for warning in config.warnings} <= {"case.conf"}


def test_error_message_is_one_line_with_position() -> None:
    with pytest.raises(ConfigError) as raised:
        parse('l = [ "x"\n "y" ]\n', "/etc/greyd/greyd.conf")
    assert str(raised.value) == "/etc/greyd/greyd.conf:2:2: syntax error: unexpected string 'y', expected ']'"


def test_error_names_what_was_expected_after_a_section() -> None:
    with pytest.raises(ConfigError) as raised:
        parse("section a { x = 1 } section b { y = 2 }\n", "g.conf")
    assert str(raised.value) == "g.conf:1:21: syntax error: unexpected 'section', expected end of line"


def test_error_after_an_overlong_string_says_so() -> None:
    with pytest.raises(ConfigError) as raised:
        parse('x = "' + "a" * 258 + '"\n', "g.conf")
    assert str(raised.value) == ("g.conf:1:263: syntax error: unexpected name 'a', expected end of line "
                                 "(a name or string before it is longer than greyd's 257 bytes)")


def test_stray_warning_text_names_what_is_lost() -> None:
    config = parse("section grey {\n  pass_time = 600\n  white_expiry = -1\n}\n", "g.conf")
    assert [str(w) for w in config.warnings] == [
        "g.conf:3:18: greyd stops reading this file at character '-' and ignores the rest; the unfinished "
        "assignment to 'white_expiry' is dropped; section 'grey' keeps only the keys read before this point "
        "and replaces any earlier one"]
    assert dict(config.section("grey")) == {"pass_time": 600}


def test_stray_warning_between_statements() -> None:
    config = parse("a = 1\n% end of message\n", "pipe")
    assert [str(w) for w in config.warnings] == [
        "pipe:2:1: greyd stops reading this file at character '%' and ignores the rest"]


def test_wrap_and_cut_warning_texts() -> None:
    config = parse('x = 4294967297\ny = "' + "b" * 257 + "/tail\"\n", "g.conf")
    assert [str(w) for w in config.warnings] == [
        "g.conf:1:5: integer 4294967297 does not fit greyd's 32-bit int; greyd reads 1",
        "g.conf:2:263: string longer than 257 bytes: greyd cuts it here and reads the rest as configuration "
        "text",
        "g.conf:2:263: greyd stops reading this file at character '/' and ignores the rest"]


def test_escaped_quote_as_the_257th_byte() -> None:
    config = parse('x = "' + "c" * 256 + '\\""\ny = 2\n', "g.conf")
    assert dict(config.globals) == {"x": "c" * 256 + '"', "y": 2}
    assert config.warnings == []


def test_include_after_a_broken_section_is_still_an_include() -> None:
    # greyd tries `include` on the token where the section failed: the include parses, the `}` does not.
    with pytest.raises(ConfigError) as raised:
        parse('section a {\n x = 1\n include "f"\n}\n', "g.conf")
    assert (raised.value.line, raised.value.col) == (4, 1)


def test_values_are_copies() -> None:
    config = parse("l = [1, 2]\n")
    config.globals["l"].append(3)  # type: ignore[union-attr]
    assert config.globals["l"] == [1, 2]


def test_integer_of_thousands_of_digits_wraps_like_c() -> None:
    config = parse("x = " + "9" * 5000 + "\ny = 007\n", "g.conf")
    assert dict(config.globals) == {"x": -1, "y": 7}  # (10**5000 - 1) mod 2**32 = 2**32 - 1
    assert [str(w) for w in config.warnings] == [
        "g.conf:1:5: integer 99999999999999999999...(5000 digits) does not fit greyd's 32-bit int; "
        "greyd reads -1"]


def test_low_prio_mx_in_section_grey_is_ignored_by_greyd() -> None:
    config = parse('low_prio_mx = "192.0.2.2"\nsection grey {\n  low_prio_mx = "192.0.2.3"\n}\n', "g.conf")
    assert [str(w) for w in config.warnings] == [
        "g.conf:3:3: greyd ignores low_prio_mx in section grey; only a top-level low_prio_mx takes effect"]
