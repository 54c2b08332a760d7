"""greylogd-report's command line: help, usage errors, and reports from partial inputs.

A small demo world supplies real input files; each partial report must be written and must say what it
could not compute (the JSON summary's notes), never fail.
"""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest

from greylogd.cli import report as cli
from greylogd.demo import build_world
from greylogd.demo.world import World


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> World:
    return build_world(tmp_path_factory.mktemp("world"), seed=2, connections=1000)


def _summary(out: Path) -> dict:
    return json.loads((out / "2026-W47" / "summary.json").read_text())


def test_help_is_a_manual(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as done:
        cli.main(["--help"])
    text = capsys.readouterr().out
    assert done.value.code == 0
    for needle in ("examples:", "greylogd-report --demo", "section report {", "password_file",
                   "--period", "last-week", "exit status"):
        assert needle in text


@pytest.mark.parametrize(("argv", "message"), [
    ([], "no input: give --kernel-log"),
    (["--db", "x", "--format", "pdf,docx"], "--format: unknown format(s) docx"),
])
def test_usage_errors(argv: list[str], message: str, capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as done:
        cli.main(argv)
    assert done.value.code == 2 and message in capsys.readouterr().err


def test_bad_period_and_missing_file_are_one_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.main(["--db", str(tmp_path / "none.txt"), "--period", "2026-W99"]) == 1
    assert capsys.readouterr().err == "greylogd-report: error: --period: '2026-W99' is not an ISO week\n"
    assert cli.main(["--db", str(tmp_path / "none.txt"), "--out", str(tmp_path)]) == 1
    err = capsys.readouterr().err
    assert err.startswith("greylogd-report: error: ") and "none.txt" in err and err.count("\n") == 1


def test_mail_needs_a_config(world, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    argv = ["--db", str(world.greyd_db), "--period", "2026-W47", "--out", str(tmp_path), "--mail",
            "--format", "json"]
    assert cli.main(argv) == 1
    assert "--mail needs -f greyd.conf" in capsys.readouterr().err


def test_only_kernel_logs(world, tmp_path: Path) -> None:
    argv = ["--kernel-log", str(world.kern_log), "--log-tz", "UTC", "--period", "2026-W47", "--out",
            str(tmp_path), "--format", "json,csv"]
    assert cli.main(argv) == 0
    summary = _summary(tmp_path)
    truth = json.loads(world.truth.read_text())
    assert summary["figures"]["connections"]["value"] == sum(truth["connections_by_prefix"].values())
    assert type(summary["figures"]["connections"]["value"]) is int
    assert summary["figures"]["promoted"]["value"] is None
    assert any(n.startswith("No ledger or DB snapshot") for n in summary["notes"])
    assert (tmp_path / "2026-W47" / "spam_sources.csv").exists()
    assert not (tmp_path / "2026-W47" / "deferred.csv").exists()


def test_only_the_ledger(world, tmp_path: Path) -> None:
    argv = ["--ledger", str(world.ledger), "--period", "2026-W47", "--out", str(tmp_path), "--format", "json"]
    assert cli.main(argv) == 0
    summary = _summary(tmp_path)
    truth = json.loads(world.truth.read_text())
    assert summary["figures"]["promoted"]["value"] == truth["tuples_by_status"]["promoted"]
    assert summary["figures"]["connections"]["value"] is None
    assert any(n.startswith("No kernel log given") for n in summary["notes"])


def test_only_a_db_snapshot_says_what_it_covers(world, tmp_path: Path) -> None:
    argv = ["--db", str(world.greyd_db), "--period", "2026-W47", "--out", str(tmp_path), "--format",
            "json,html"]
    assert cli.main(argv) == 0
    notes = _summary(tmp_path)["notes"]
    assert any(n.startswith("Domain tables come from greyd db snapshot only: they cover tuples first seen")
               for n in notes)
    assert "Whitelist health" in (tmp_path / "2026-W47" / "report.html").read_text()


def test_demo_quick_start_says_where_the_report_is(tmp_path: Path,
                                                   capsys: pytest.CaptureFixture[str]) -> None:
    argv = ["--demo", "--demo-connections", "1000", "--out", str(tmp_path), "--format", "pdf,json,csv"]
    assert cli.main(argv) == 0
    printed = capsys.readouterr().out.splitlines()
    assert printed[0] == f"demo world built in {tmp_path / 'demo'}"
    week = tmp_path / "2026-W47"
    assert printed[1:] == [f"report written to {week}/", f"  {week / 'report.pdf'}",
                           f"  {week / 'summary.json'}", f"  17 tables as CSV ({week}/*.csv)"]
    assert _summary(tmp_path)["figures"]["greylisted_tuples"]["value"] > 0
    coverage = pd.read_csv(week / "coverage.csv").set_index("source")
    assert coverage.loc["greyd db snapshot", "first"] == "2026-11-23 00:00:00+00:00"  # the week's end


def test_database_from_greyd_conf(world, tmp_path: Path) -> None:
    conf = tmp_path / "greyd.conf"
    conf.write_text(f'section database {{\n driver = "greyd_sqlite.so"\n path = "{world.greyd_db.parent}"\n'
                    f' db_name = "{world.greyd_db.name}"\n}}\nsection grey {{\n grey_expiry = 14400\n}}\n')
    argv = ["-f", str(conf), "--ledger", str(world.ledger), "--period", "2026-W47", "--out", str(tmp_path),
            "--format", "json,csv"]
    assert cli.main(argv) == 0
    health = (tmp_path / "2026-W47" / "white_summary.csv").read_text().splitlines()
    assert health[0] == "figure,value" and health[1].startswith("white_at_end,")
    assert int(health[1].split(",")[1]) > 0
