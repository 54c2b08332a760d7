"""The simulated week's files: determinism, exact log formats, parse-back with zero bad lines, the CLI.

Line formats are checked twice: against regexes written here from the spec (greyd-compat.md 5.3-5.5,
logformats.md 3.1), and by parsing the files back with greylogd's own readers.
"""

from __future__ import annotations

import hashlib
import ipaddress
import os
import re
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

from greylogd.analysis.greydlog import read_greydlog
from greylogd.analysis.headers import SourceOptions
from greylogd.analysis.kernlog import read_kernlog
from greylogd.demo import GreyParams, World, build_world, open_world, syslogfmt
from greylogd.demo.__main__ import main

SMALL = {"connections": 2000, "days": 2}
HEADER = {"rfc3164": r"[A-Z][a-z]{2} [ 123][0-9] [0-2][0-9]:[0-5][0-9]:[0-5][0-9] mx1 ",
          "rfc3339": r"2026-11-1[678]T[0-2][0-9]:[0-5][0-9]:[0-5][0-9]\.[0-9]{6}\+00:00 mx1 "}
V4 = r"(?:[0-9]{1,3}\.){3}[0-9]{1,3}"
V6_FULL = r"(?:[0-9a-f]{4}:){7}[0-9a-f]{4}"
KERNEL = re.compile(
    r"kernel: \[[ 0-9]{5,}\.[0-9]{6}\] \[GREYD (?:WHITED|25 DNAT|FAILED|8025 JAILED)\] IN=eth0 OUT= "
    r"MAC=52:54:00:12:34:56:00:00:5e:00:01:01:(?:08:00|86:dd) "
    rf"(?:SRC={V4} DST=198\.51\.100\.10 LEN=(?:40|44|52|60) TOS=0x00 PREC=0x00 TTL=[0-9]+ ID=[0-9]+ (?:DF )?"
    rf"|SRC={V6_FULL} DST=2001:0db8:0001:0000:0000:0000:0000:0010 LEN=80 TC=0 HOPLIMIT=[0-9]+ "
    r"FLOWLBL=[0-9]+ )"
    r"PROTO=TCP SPT=[0-9]+ DPT=(?:25|8025) WINDOW=[0-9]+ RES=0x00 SYN URGP=0 $")
ADDR = r"[0-9a-f.:]+"
GREYD = re.compile("(?:" + "|".join((
    rf"greyd\[4079\]: {ADDR}: connected \([0-9]+/[0-9]+\)(?:, lists: [a-z -]+)?",
    rf"greyd\[4079\]: {ADDR}: disconnected after [0-9]+ seconds\.(?: lists: [a-z -]+)?",
    rf"greyd\[4079\]: \((?:GREY|BLACK)\) {ADDR}: [^ ]+@[^ ]+ -> [^ ]+@example\.org",
    rf"greyd\[4080\]: (?:new|updated)(?: greytrap)? entry {ADDR} from [^ ]+ to [^ ]+, helo [^ ]+",
    rf"greylogd\[4093\]: packet received: direction = in, saddr = {ADDR}, daddr = {ADDR}",
    rf"greylogd\[4093\]: whitelisting {ADDR}")) + ")$")
FILES = ("kern.log", "greyd.log", "greyd.sqlite", "truth.json", "truth-tuples.parquet",
         "truth-senders.parquet")


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> World:
    return build_world(tmp_path_factory.mktemp("world"), seed=7, **SMALL)


def _digests(out: Path) -> dict[str, str]:
    return {name: hashlib.sha256((out / name).read_bytes()).hexdigest() for name in FILES}


def _options(world: World) -> SourceOptions:
    return SourceOptions(tz="UTC", reference=world.end.to_pydatetime())


def test_same_seed_same_bytes_and_other_seed_differs(world: World, tmp_path: Path) -> None:
    again = build_world(tmp_path / "again", seed=7, ledger=False, **SMALL)
    other = build_world(tmp_path / "other", seed=8, ledger=False, **SMALL)
    assert _digests(again.kern_log.parent) == _digests(world.kern_log.parent)
    mine, theirs = _digests(world.kern_log.parent), _digests(other.kern_log.parent)
    assert {name for name in FILES if mine[name] != theirs[name]} == set(FILES)


def test_bytes_do_not_depend_on_the_interpreters_hash_seed(tmp_path: Path) -> None:
    """Separate processes with different PYTHONHASHSEED (set/dict order of str) write the same files."""
    for seed in ("0", "1"):
        env = {**os.environ, "PYTHONHASHSEED": seed}
        subprocess.run([sys.executable, "-m", "greylogd.demo", str(tmp_path / seed), "--connections", "600",
                        "--days", "1"], check=True, env=env, capture_output=True)
    for name in (*FILES, "ledger.sqlite"):
        assert (tmp_path / "0" / name).read_bytes() == (tmp_path / "1" / name).read_bytes(), name


def test_chunked_writing_keeps_order_and_text(world: World, tmp_path: Path,
                                              monkeypatch: pytest.MonkeyPatch) -> None:
    """Files are rendered a chunk at a time; small chunks must give the same greyd.log (no random fields)
    and the same kernel lines up to the packet fields drawn per chunk."""
    monkeypatch.setattr(syslogfmt, "CHUNK_LINES", 97)
    small = build_world(tmp_path, seed=7, ledger=False, **SMALL)
    assert small.greyd_log.read_bytes() == world.greyd_log.read_bytes()
    def upto_ports(text: str) -> list[str]:
        return [re.sub(r" (LEN|TTL|ID|HOPLIMIT|FLOWLBL|SPT|WINDOW)=[0-9]+| DF", "", line)
                for line in text.splitlines()]
    assert upto_ports(small.kern_log.read_text()) == upto_ports(world.kern_log.read_text())


def test_world_paths_and_period(world: World) -> None:
    assert world.start == pd.Timestamp("2026-11-16T00:00Z") and world.end == pd.Timestamp("2026-11-18T00:00Z")
    assert world.period.start == world.start and world.period.end == world.end
    assert world.ledger is not None and world.ledger.exists()
    for path in (world.kern_log, world.greyd_log, world.greyd_db):  # the week's end, when it last wrote them
        assert path.stat().st_mtime == world.end.timestamp()
    assert world.connections == len(world.kern_log.read_text().splitlines())
    assert 1600 <= world.connections <= 2800  # 'about' the request: see population.py


def test_open_world_reads_back_what_build_world_returned(world: World, tmp_path: Path) -> None:
    assert open_world(world.kern_log.parent) == world
    with pytest.raises(FileNotFoundError):
        open_world(tmp_path)


@pytest.mark.parametrize("fmt", ["rfc3164", "rfc3339"])
def test_every_line_matches_the_spec_formats(world: World, tmp_path: Path, fmt: str) -> None:
    w = world if fmt == "rfc3164" else build_world(tmp_path, seed=7, syslog_format=fmt, ledger=False, **SMALL)
    kern = w.kern_log.read_text().splitlines()
    greyd = w.greyd_log.read_text().splitlines()
    assert [n for n, line in enumerate(kern) if not re.fullmatch(HEADER[fmt] + KERNEL.pattern, line)] == []
    assert [n for n, line in enumerate(greyd) if not re.fullmatch(HEADER[fmt] + GREYD.pattern, line)] == []
    assert any("86:dd" in line for line in kern) and any("8025 JAILED" in line for line in kern)


def test_greyd_addresses_are_compressed_kernel_ones_expanded(world: World) -> None:
    kern_v6 = re.findall(r"SRC=([0-9a-f:]+) ", world.kern_log.read_text())
    greyd_ips = re.findall(r"whitelisting (\S+)", world.greyd_log.read_text())
    assert all(ipaddress.ip_address(a).exploded == a for a in kern_v6)
    assert all(str(ipaddress.ip_address(a)) == a for a in greyd_ips)


@pytest.mark.parametrize("fmt", ["rfc3164", "rfc3339"])
def test_logs_parse_back_with_zero_bad_lines(world: World, tmp_path: Path, fmt: str) -> None:
    w = world if fmt == "rfc3164" else build_world(tmp_path, seed=7, syslog_format=fmt, ledger=False, **SMALL)
    kern = read_kernlog(w.kern_log, options=_options(w), progress=False)
    assert (kern.lines, len(kern.bad_lines), kern.skipped, len(kern.connections)) == (w.connections, 0, 0,
                                                                                      w.connections)
    assert kern.connections["ts"].between(w.start, w.end, inclusive="left").all()
    greyd = read_greydlog(w.greyd_log, options=_options(w), progress=False)
    lines = len(w.greyd_log.read_text().splitlines())
    assert (greyd.lines, len(greyd.bad_lines), greyd.skipped, len(greyd.events)) == (lines, 0, 0, lines)


def test_cli_builds_a_world_and_rejects_bad_sizes(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main([str(tmp_path), "--connections", "400", "--days", "1", "--no-ledger", "--seed", "3"]) == 0
    printed = capsys.readouterr().out
    assert printed.startswith(f"{len((tmp_path / 'kern.log').read_text().splitlines())} connections, ")
    assert not (tmp_path / "ledger.sqlite").exists()
    assert main([str(tmp_path), "--connections", "10"]) == 2
    assert "connections >= 100" in capsys.readouterr().err


def test_bad_arguments_raise_value_error(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="syslog_format 'json'"):
        build_world(tmp_path, syslog_format="json")
    with pytest.raises(ValueError, match="pass_time must be a positive"):
        GreyParams(pass_time=0)
    with pytest.raises(ValueError, match="tz-aware"):
        build_world(tmp_path, start="2026-11-16T00:00")


def test_the_ledger_goes_to_ram_only_when_it_fits(tmp_path: Path) -> None:
    from greylogd.demo.world import _ram_dir

    free = os.statvfs(tmp_path).f_bavail * os.statvfs(tmp_path).f_frsize
    assert _ram_dir(1000, str(tmp_path)) == str(tmp_path)
    assert _ram_dir(free // 50, str(tmp_path)) is None       # 100 bytes an attempt would not fit
    assert _ram_dir(1000, str(tmp_path / "absent")) is None  # no /dev/shm: the default temp directory
