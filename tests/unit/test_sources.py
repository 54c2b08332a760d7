"""Inputs: missing files, gzip, rotated sets, stdin, RFC 3164 years and zones, uptime-based formats."""

from __future__ import annotations

import gzip
import io
import os
import re
import sys
from datetime import UTC, datetime
from pathlib import Path

import pandas as pd
import pytest

from greylogd.analysis.headers import SourceOptions
from greylogd.analysis.kernlog import read_kernlog
from greylogd.analysis.logfiles import rotated_set, rotation_order
from greylogd.analysis.sources import iter_envelopes
from greylogd.errors import InputError

LOG = ("{stamp} mx1 kernel: [GREYD WHITED] IN=eth0 OUT= SRC=192.0.2.{n} DST=198.51.100.10 LEN=60 TOS=0x00 "
       "PREC=0x00 TTL=64 ID=1 DF PROTO=TCP SPT=4000 DPT=25 WINDOW=1 RES=0x00 SYN URGP=0 \n")


def stamps(path: Path | str, **options: object) -> list[pd.Timestamp]:
    frame = pd.concat([c.frame for c in iter_envelopes(path, SourceOptions(**options))])
    return frame["ts"].tolist()


def test_missing_input_is_one_line_error_naming_it(tmp_path: Path) -> None:
    with pytest.raises(InputError) as error:
        read_kernlog([tmp_path / "kern.log"])
    assert str(error.value) == f"{tmp_path / 'kern.log'}: cannot read: No such file or directory"


def test_directory_is_an_input_error(tmp_path: Path) -> None:
    with pytest.raises(InputError, match=f"^{re.escape(str(tmp_path))}: "):
        read_kernlog(tmp_path)


def test_truncated_gzip_is_an_input_error(tmp_path: Path) -> None:
    data = gzip.compress(LOG.format(stamp="Nov 23 08:00:00", n=1).encode() * 100)
    (tmp_path / "kern.log.1.gz").write_bytes(data[: len(data) // 2])
    with pytest.raises(InputError, match=r"kern\.log\.1\.gz: read failed"):
        read_kernlog(tmp_path / "kern.log.1.gz")


def test_rotation_order_is_oldest_first() -> None:
    names = ["syslog", "kern.log", "kern.log.1", "kern.log.10.gz", "kern.log.2.gz", "syslog.1"]
    assert rotation_order(names) == ["syslog.1", "syslog", "kern.log.10.gz", "kern.log.2.gz", "kern.log.1",
                                     "kern.log"]


def test_rotated_set_reads_gz_and_plain_in_time_order(tmp_path: Path) -> None:
    (tmp_path / "kern.log").write_text(LOG.format(stamp="Nov 23 08:00:03", n=3))
    (tmp_path / "kern.log.1").write_text(LOG.format(stamp="Nov 23 08:00:02", n=2))
    (tmp_path / "kern.log.2.gz").write_bytes(gzip.compress(LOG.format(stamp="Nov 23 08:00:01", n=1).encode()))
    (tmp_path / "kern.log.old").write_text("not a rotation\n")
    paths = rotated_set(tmp_path / "kern.log")
    assert [Path(p).name for p in paths] == ["kern.log.2.gz", "kern.log.1", "kern.log"]
    result = read_kernlog(paths, tz="UTC")
    assert result.connections["src"].tolist() == ["192.0.2.1", "192.0.2.2", "192.0.2.3"]


def test_stdin_is_read_for_dash(monkeypatch: pytest.MonkeyPatch) -> None:
    stdin = io.TextIOWrapper(io.BytesIO(LOG.format(stamp="2026-11-23T08:00:00Z", n=7).encode()))
    monkeypatch.setattr(sys, "stdin", stdin)
    result = read_kernlog("-")
    assert result.connections["src"].tolist() == ["192.0.2.7"]
    assert result.connections["ts"].tolist() == [pd.Timestamp("2026-11-23T08:00:00Z")]


def test_rfc3164_year_rolls_over_at_new_year(tmp_path: Path) -> None:
    (tmp_path / "kern.log").write_text(LOG.format(stamp="Dec 31 23:59:59", n=1)
                                       + LOG.format(stamp="Jan  1 00:00:01", n=2))
    got = stamps(tmp_path / "kern.log", tz="UTC", reference=datetime(2027, 1, 1, 1, tzinfo=UTC))
    assert got == [pd.Timestamp("2026-12-31T23:59:59Z"), pd.Timestamp("2027-01-01T00:00:01Z")]


def test_rfc3164_year_comes_from_file_mtime(tmp_path: Path) -> None:
    (tmp_path / "kern.log").write_text(LOG.format(stamp="Dec 31 23:59:59", n=1))
    os.utime(tmp_path / "kern.log", (1735693200, 1735693200))  # 2025-01-01T01:00:00Z
    assert stamps(tmp_path / "kern.log", tz="UTC") == [pd.Timestamp("2024-12-31T23:59:59Z")]


def test_rfc3164_zone_and_dst_fall_back(tmp_path: Path) -> None:
    (tmp_path / "kern.log").write_text(LOG.format(stamp="Jul  1 10:00:00", n=1)
                                       + LOG.format(stamp="Oct 25 02:30:00", n=2))
    got = stamps(tmp_path / "kern.log", tz="Europe/Berlin", reference=datetime(2026, 11, 1, tzinfo=UTC))
    assert got == [pd.Timestamp("2026-07-01T08:00:00Z"), pd.Timestamp("2026-10-25T00:30:00Z")]


def test_machine_zone_is_the_default(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TZ", "America/New_York")
    (tmp_path / "kern.log").write_text(LOG.format(stamp="Nov 23 08:00:00", n=1))
    got = stamps(tmp_path / "kern.log", reference=datetime(2026, 11, 24, tzinfo=UTC))
    assert got == [pd.Timestamp("2026-11-23T13:00:00Z")]


def test_kmsg_uptime_counts_from_boot_time(tmp_path: Path) -> None:
    (tmp_path / "kmsg").write_text("4,1,1500000,-;hello\n6,2,86400000001,-;world\n")
    got = stamps(tmp_path / "kmsg", boot_time=datetime(2026, 11, 23, tzinfo=UTC))
    assert got == [pd.Timestamp("2026-11-23T00:00:01.5Z"), pd.Timestamp("2026-11-24T00:00:00.000001Z")]


def test_progress_bar_counts_bytes_without_a_terminal(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    (tmp_path / "kern.log").write_text(LOG.format(stamp="Nov 23 08:00:00", n=1))
    read_kernlog(tmp_path / "kern.log", progress=True)
    assert "B/s" in capsys.readouterr().err
    read_kernlog(tmp_path / "kern.log")
    assert capsys.readouterr().err == ""
