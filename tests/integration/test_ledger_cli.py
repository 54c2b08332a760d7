"""`greylogd ledger` on a real greyd.conf and a real greyd SQLite database (wall clock: the command reads it).

Outcome timestamps come from the clock at the poll, so they are checked against the interval measured
around the command; everything greyd stored (first, pass, bcount) is checked exactly.
"""

from __future__ import annotations

import signal
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd
import pytest

from greylogd.cli.ledger import main
from greylogd.ledger import Ledger
from tests.greyd_sim import GreydSim, scan_statements

A = ("192.0.2.10", "mail.a.example", "alice@a.example", "bob@local.example")


def write_conf(tmp_path: Path, greylogd: str = "", database: str = "") -> Path:
    conf = tmp_path / "greyd.conf"
    conf.write_text(f"""section firewall {{
    driver = "greyd_netfilter.so"
}}
section database {{
    driver = "greyd_sqlite.so"
    path = "{tmp_path}/greyd"
    db_name = "greyd.sqlite"{database}
}}
section greylogd {{
    ledger = "{tmp_path}/lib/ledger.sqlite"{greylogd}
}}
""")
    return conf


def utc(seconds: float) -> pd.Timestamp:
    return pd.Timestamp(int(seconds), unit="s", tz="UTC")


def test_once_records_a_retry_then_the_promotion(tmp_path: Path) -> None:
    conf, sim, now = write_conf(tmp_path), GreydSim(tmp_path / "greyd"), int(time.time())
    sim.grey(*A, now - 2000)
    sim.grey(*A, now - 100)                       # qualifying retry: pass = now - 100
    assert main(["--once", "-f", str(conf)]) == 0
    sim.scan(now)
    before = time.time()
    assert main(["--once", "-f", str(conf)]) == 0
    after = time.time()
    with Ledger(tmp_path / "lib" / "ledger.sqlite") as ledger:
        frame = ledger.read_tuples(now - 3000, now + 1)
    assert list(frame[["ip", "from", "bcount", "outcome"]].itertuples(index=False, name=None)) == [
        (A[0], A[2], 2, "promoted")]
    assert (frame["first"][0], frame["pass"][0]) == (utc(now - 2000), utc(now - 100))
    assert utc(before) <= frame["outcome_ts"][0] <= utc(after)
    sim.close()


def test_ledger_option_overrides_the_config(tmp_path: Path) -> None:
    conf, sim = write_conf(tmp_path), GreydSim(tmp_path / "greyd")
    sim.grey(*A, int(time.time()) - 10)
    assert main(["--once", "-f", str(conf), "--ledger", str(tmp_path / "other.sqlite")]) == 0
    assert not (tmp_path / "lib" / "ledger.sqlite").exists()
    with Ledger(tmp_path / "other.sqlite") as ledger:
        assert list(ledger.read_tuples(0, 2**40)["outcome"]) == ["pending"]
    sim.close()


@pytest.mark.parametrize(("greylogd", "argv", "kept"), [
    ("\n    ledger_retention_days = 5", [], 0),                     # the daemon's key is the default
    ("\n    ledger_retention_days = 5", ["--retention-days", "0"], 1),  # 0 keeps forever
    ("", ["--retention-days", "20"], 1),
])
def test_retention_comes_from_the_config_unless_given(tmp_path: Path, greylogd: str, argv: list[str],
                                                       kept: int) -> None:
    conf, sim, now = write_conf(tmp_path, greylogd), GreydSim(tmp_path / "greyd"), int(time.time())
    sim.grey(*A, now - 10 * 86400)
    sim.grey(*A, now - 10 * 86400 + 2000)
    assert main(["--once", "-f", str(conf), *argv]) == 0     # seen open
    sim.scan(now)
    assert main(["--once", "-f", str(conf), *argv]) == 0     # closed, then pruned or kept
    with Ledger(tmp_path / "lib" / "ledger.sqlite") as ledger:
        assert len(ledger.read_tuples(0, 2**40)) == kept
    sim.close()


@pytest.mark.parametrize(("line", "message"), [
    ('\n    ledger_interval = "20"',
     "greyd.conf:11:5: greylogd.ledger_interval must be an integer, not '20'"),
    ("\n    ledger_interval = 60",
     "greylogd ledger: greylogd.ledger_interval must be 1..59 s (below greyd's 60 s scan), not 60"),
])
def test_config_errors_are_one_line_and_exit_2(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                               line: str, message: str) -> None:
    conf = write_conf(tmp_path, greylogd=line)
    assert main(["--once", "-f", str(conf)]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith("greylogd ledger: ") and message in err


def test_locked_greyd_database_exits_1_and_the_next_run_catches_up(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    conf = write_conf(tmp_path, database="\n    busy_timeout = 100")
    sim, now = GreydSim(tmp_path / "greyd"), int(time.time())
    sim.grey(*A, now - 20)
    sim.conn.execute("BEGIN EXCLUSIVE")
    sim.conn.execute(*scan_statements(0)[0])  # greyd's scan holds the lock
    assert main(["--once", "-f", str(conf)]) == 1
    assert "database is locked" in capsys.readouterr().err.splitlines()[-1]
    sim.conn.execute("COMMIT")
    assert main(["--once", "-f", str(conf)]) == 0
    with Ledger(tmp_path / "lib" / "ledger.sqlite") as ledger:
        assert list(ledger.read_tuples(now - 20, now)["ip"]) == [A[0]]
    sim.close()


def test_without_once_it_polls_every_interval_until_sigterm(tmp_path: Path) -> None:
    conf = write_conf(tmp_path, greylogd="\n    ledger_interval = 1")
    sim = GreydSim(tmp_path / "greyd")
    sim.grey(*A, int(time.time()) - 10)
    proc = subprocess.Popen([sys.executable, "-c", "import sys; from greylogd.cli.ledger import main; "
                             f"sys.exit(main(['-v', '-f', {str(conf)!r}]))"],
                            stderr=subprocess.PIPE, text=True)
    assert proc.stderr is not None
    lines = [proc.stderr.readline() for _ in range(3)]
    proc.send_signal(signal.SIGTERM)
    assert proc.wait(timeout=10) == 0
    assert lines == ["greylogd ledger: new 1, retried 0, promoted 0, expired 0, trapped 0, pending 1\n",
                     "greylogd ledger: pruned 0 closed tuples first seen more than 90 days ago\n",
                     "greylogd ledger: new 0, retried 0, promoted 0, expired 0, trapped 0, pending 1\n"]
    sim.close()
