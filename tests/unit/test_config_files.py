"""Reading greyd.conf from disk: missing files, includes as greyd's src/config.c queues them, encodings."""

from __future__ import annotations

from pathlib import Path

import pytest

from greylogd.config import load, parse
from greylogd.errors import ConfigError


def _write(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    return path


def test_missing_file_is_named(tmp_path: Path) -> None:
    missing = tmp_path / "greyd.conf"
    with pytest.raises(ConfigError) as raised:
        load(missing)
    assert str(raised.value) == f"{missing}: cannot read config file: No such file or directory"


def test_include_is_applied_after_the_including_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    _write(tmp_path / "conf.d" / "local.conf", "a = 2\nsection grey {\n pass_time = 60\n}\n")
    main = _write(tmp_path / "greyd.conf",
                  'include "conf.d/*.conf"\na = 1\nb = 1\nsection grey {\n white_expiry = 5\n}\n')
    config = load(main)
    assert dict(config.globals) == {"a": 2, "b": 1}
    assert dict(config.section("grey")) == {"pass_time": 60}  # the included section replaces it whole
    assert config.files == (str(main), "conf.d/local.conf")
    assert config.entry("default", "a") is not None
    assert (config.entry("default", "a").file, config.entry("default", "a").line) == ("conf.d/local.conf", 1)


def test_relative_include_is_relative_to_the_working_directory(tmp_path: Path,
                                                                monkeypatch: pytest.MonkeyPatch) -> None:
    _write(tmp_path / "etc" / "extra.conf", "from_etc = 1\n")
    _write(tmp_path / "cwd" / "extra.conf", "from_cwd = 1\n")
    main = _write(tmp_path / "etc" / "greyd.conf", 'include "extra.conf"\n')
    monkeypatch.chdir(tmp_path / "cwd")
    assert dict(load(main).globals) == {"from_cwd": 1}


def test_include_order_is_first_in_first_out(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    _write(tmp_path / "b.conf", 'include "d.conf"\nx = "b"\n')
    _write(tmp_path / "c.conf", 'x = "c"\n')
    _write(tmp_path / "d.conf", 'x = "d"\n')
    config = parse('include "b.conf"\ninclude "c.conf"\nx = "main"\n', "main")
    assert config.files == ("main", "b.conf", "c.conf", "d.conf")
    assert config.globals["x"] == "d"


def test_glob_matches_are_read_sorted(tmp_path: Path) -> None:
    for name in ("20-b.conf", "10-a.conf", "30-c.conf"):
        _write(tmp_path / "conf.d" / name, f'last = "{name}"\n')
    _write(tmp_path / "conf.d" / ".hidden.conf", 'last = "hidden"\n')
    config = parse(f'include "{tmp_path}/conf.d/*.conf"\n')
    assert config.files == ("<string>", *(f"{tmp_path}/conf.d/{n}" for n in ("10-a.conf", "20-b.conf",
                                                                               "30-c.conf")))
    assert config.globals["last"] == "30-c.conf"


def test_include_expands_tilde(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HOME", str(tmp_path))
    _write(tmp_path / "greyd-extra.conf", "home = 1\n")
    assert dict(parse('include "~/greyd-extra.conf"\n').globals) == {"home": 1}


def test_include_loop_reads_each_file_once_with_a_warning(tmp_path: Path,
                                                          monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    _write(tmp_path / "a.conf", 'include "b.conf"\na = 1\n')
    _write(tmp_path / "b.conf", 'include "a.conf"\ninclude "b.conf"\nb = 1\n')
    config = load("a.conf")
    assert config.files == ("a.conf", "b.conf")
    assert dict(config.globals) == {"a": 1, "b": 1}
    assert [str(w) for w in config.warnings] == [
        "b.conf:1:9: include 'a.conf' is already read or queued; greyd reads each file once",
        "b.conf:2:9: include 'b.conf' is already read or queued; greyd reads each file once"]


def test_include_without_match(tmp_path: Path) -> None:
    config = parse(f'include "{tmp_path}/none.conf"\ninclude "{tmp_path}/conf.d/*.conf"\n', "g.conf")
    assert config.files == ("g.conf",)
    assert [str(w) for w in config.warnings] == [
        f"g.conf:1:9: include '{tmp_path}/none.conf' names no existing file; greyd ignores it"]


def test_unreadable_include_is_an_error(tmp_path: Path) -> None:
    (tmp_path / "dir.conf").mkdir()
    with pytest.raises(ConfigError) as raised:
        parse(f'include "{tmp_path}/*.conf"\n')
    assert str(raised.value) == f"{tmp_path}/dir.conf: cannot read config file: Is a directory"


def test_syntax_error_in_an_include_names_the_include(tmp_path: Path) -> None:
    bad = _write(tmp_path / "bad.conf", "ok = 1\nl = []\n")
    with pytest.raises(ConfigError) as raised:
        parse(f'include "{bad}"\n')
    assert (raised.value.file, raised.value.line, raised.value.col) == (str(bad), 2, 6)


def test_stray_character_stops_only_its_own_file(tmp_path: Path) -> None:
    extra = _write(tmp_path / "extra.conf", "x = 1\n-\ny = 2\n")
    config = parse(f'include "{extra}"\nz = 3\n', "main.conf")
    assert dict(config.globals) == {"z": 3, "x": 1}
    assert [(w.file, w.line, w.col) for w in config.warnings] == [(str(extra), 2, 1)]


def test_bytes_that_are_not_utf8(tmp_path: Path) -> None:
    path = tmp_path / "latin1.conf"
    path.write_bytes('a = 1\nbanner = "caf\xe9"\n'.encode("latin-1"))
    config = load(path)
    assert config.globals["banner"] == "caf\ufffd"
    assert [str(w) for w in config.warnings] == [f"{path}:2:14: bytes that are not UTF-8 are read as U+FFFD"]
