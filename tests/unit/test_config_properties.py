"""Property tests: random text never raises anything but ConfigError; random valid configs parse to the
tables greyd keeps from them (last key and last section of a name win, names lower-cased)."""

from __future__ import annotations

from hypothesis import assume, given, settings
from hypothesis import strategies as st

from greylogd.config import parse
from greylogd.errors import ConfigError

PIECES = st.sampled_from([*"aZ9_ \t\r\n;#\"\\=,{}[]-.%'/é\x00", "section", "blacklist", "whitelist", "x = 1",
                          "[ 1, \"s\" ]", "4294967297", "\"" + "y" * 300,
                          "9" * 5000])


@settings(max_examples=400, deadline=None)
@given(st.one_of(st.lists(PIECES, max_size=40).map("".join), st.text(max_size=200)))
def test_random_text_raises_nothing_but_config_error(text: str) -> None:
    assume("include" not in text.lower())  # includes would read whatever the pattern matches on this machine
    try:
        config = parse(text, "r.conf")
    except ConfigError as error:
        assert "\n" not in str(error)
        assert error.file == "r.conf"
        assert 1 <= error.line <= text.count("\n") + 1  # type: ignore[operator]
        return
    assert all(w.file == "r.conf" and "\n" not in w.message for w in config.warnings)
    assert config.describe().startswith("# files read, in order:\n#   r.conf\n")


NAMES = st.from_regex(r"[a-z][a-z0-9_]{0,6}", fullmatch=True).filter(
    lambda name: name not in ("section", "include", "blacklist", "whitelist"))
SCALARS = st.one_of(st.integers(0, 2**31 - 1), st.text(st.characters(codec="utf-8"), max_size=30))
VALUES = st.one_of(SCALARS, st.lists(SCALARS, min_size=1, max_size=4))
ASSIGNMENTS = st.lists(st.tuples(NAMES, VALUES), min_size=1, max_size=4)
STATEMENTS = st.lists(st.one_of(st.tuples(st.just("="), NAMES, VALUES),
                                st.tuples(st.just("section"), NAMES, ASSIGNMENTS)), max_size=6)


def _render(value: object, draw: st.DrawFn) -> str:
    if isinstance(value, int):
        return str(value)
    if isinstance(value, str):
        return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'
    items = [_render(item, draw) for item in value]  # type: ignore[attr-defined]
    after_comma = [draw(st.sampled_from([", ", ",\n", ",;\n\n"])) for _ in items]
    body = "".join(item + sep for item, sep in zip(items[:-1], after_comma, strict=False)) + items[-1]
    opening, closing = draw(st.sampled_from(["", "\n", " "])), draw(st.sampled_from(["", ",", ",\n", "\n"]))
    return f"[{opening}{body}{closing}]"


def _name(name: str, draw: st.DrawFn) -> str:
    return name.upper() if draw(st.booleans()) else name


@st.composite
def configs(draw: st.DrawFn) -> tuple[str, dict[str, dict[str, object]]]:
    """A random valid greyd.conf and the tables greyd keeps from it (last key and last section win)."""
    text, model = [draw(st.sampled_from(["", "\n", "# c\n", ";"]))], {"default": {}}
    for kind, name, payload in draw(STATEMENTS):
        if kind == "=":
            text.append(f"{_name(name, draw)} = {_render(payload, draw)}")
            model["default"][name] = payload
        else:
            body = "".join(f"{_name(k, draw)} = {_render(v, draw)}" + draw(st.sampled_from(
                ["\n", ";", ",\n", ", # note\n"])) for k, v in payload)
            brace = draw(st.sampled_from([" {\n", "\n{\n", "\n\n{ "]))
            text.append(f"section {_name(name, draw)}{brace}{body}}}")
            model[name] = dict(payload)
        text.append(draw(st.sampled_from(["\n", ";", "\n\n", " # c\n", "\r\n"])))
    return "".join(text), model


@settings(max_examples=300, deadline=None)
@given(configs())
def test_valid_configs_parse_to_their_model(case: tuple[str, dict[str, dict[str, object]]]) -> None:
    text, model = case
    config = parse(text, "m.conf")
    assert config.warnings == []
    assert {name: dict(keys) for name, keys in config.sections.items()} == model
