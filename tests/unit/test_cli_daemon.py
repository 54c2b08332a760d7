"""The greylogd command line: greyd's flags merged over greyd.conf, --check, usage and config errors."""

from __future__ import annotations

import dataclasses
import subprocess
import sys

import pytest

from greylogd.cli.daemon import main
from greylogd.daemon_settings import CliOptions, load
from greylogd.events import Direction

CONF = """\
debug = 0
greylogd_pidfile = "/run/gl/test.pid"
section firewall {
  driver = "/usr/lib/greyd/greyd_netfilter.so"
  inbound_group = 10
  outbound_group = 11
}
section database {
  driver = "/usr/lib/greyd/greyd_sqlite.so"
  path = "/var/db/greyd"
}
section grey {
  user = "nobody"
  white_expiry = 2678400
}
section sync {
  enable = 1
  hosts = [ "192.0.2.20" ]
}
section greylogd {
  batch_events = 50
  flush_ms = 20
  spill_journal = "/var/lib/gl/spill"
}
"""


@pytest.fixture
def conf(tmp_path):
    path = tmp_path / "greyd.conf"
    path.write_text(CONF)
    return path


def test_config_alone(conf):
    settings, _cfg = load(CliOptions(str(conf)))
    assert settings.groups == {10: Direction.INBOUND, 11: Direction.OUTBOUND}
    assert (settings.white_expiry, settings.user, settings.pidfile) == (2678400, "nobody", "/run/gl/test.pid")
    assert (settings.log.debug, settings.sync.hosts, settings.sync.port) == (False, ("192.0.2.20",), 8025)
    assert (settings.refresher.batch_events, settings.refresher.flush_ms) == (50, 20)
    assert settings.refresher.white_expiry == 2678400 and settings.own.spill_journal == "/var/lib/gl/spill"
    assert settings.database.backend == "sqlite" and settings.sync_active


def test_flags_override_like_greyd(conf):
    cli = CliOptions(str(conf), inbound_only=True, white_hours=744, sync_targets=("192.0.2.21", "eth1:2"),
                     pidfile="/tmp/x/p.pid", debug=True, sync_port=9025)
    settings, cfg = load(cli)
    assert settings.groups == {10: Direction.INBOUND}
    assert settings.white_expiry == settings.refresher.white_expiry == 744 * 3600
    assert settings.sync.hosts == ("192.0.2.20", "192.0.2.21", "eth1:2") and settings.sync.port == 9025
    assert (settings.pidfile, settings.log.debug) == ("/tmp/x/p.pid", True)
    assert "white_expiry = 2678400  # command line" in cfg.describe()


def test_check_prints_merged_settings_and_exits_0(conf, capsys):
    assert main(["--check", "-f", str(conf), "-W", "2"]) == 0
    out = capsys.readouterr().out
    assert "  white_expiry = 7200" in out.splitlines()
    assert "  groups = {10: <Direction.INBOUND: 'in'>, 11: <Direction.OUTBOUND: 'out'>}" in out.splitlines()


@pytest.mark.parametrize("hours", ["0", "2161", "x"])
def test_white_hours_are_bounded_like_spamlogd(conf, hours, capsys):
    with pytest.raises(SystemExit) as exit_info:
        main(["--check", "-f", str(conf), "-W", hours])
    assert exit_info.value.code == 2
    assert f"invalid white expiry '{hours}': hours from 1 to 2160" in capsys.readouterr().err


def test_config_errors_name_file_line_col_and_exit_2(tmp_path, capsys):
    bad = tmp_path / "bad.conf"
    bad.write_text(CONF.replace("  flush_ms = 20\n", "  flush_ms = 20\n  batch_size = 3\n"))
    assert main(["--check", "-f", str(bad)]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith(f"greylogd: {bad}:23:3: unknown key greylogd.batch_size")
    assert "unknown key greylogd.batch_size" in err


def test_wrong_type_in_own_section(tmp_path, capsys):
    bad = tmp_path / "bad.conf"
    bad.write_text(CONF.replace("batch_events = 50", 'batch_events = "50"'))
    assert main(["--check", "-f", str(bad)]) == 2
    assert "greylogd.batch_events must be an integer" in capsys.readouterr().err


def test_equal_groups_are_refused(tmp_path, capsys):
    bad = tmp_path / "bad.conf"
    bad.write_text(CONF.replace("outbound_group = 11", "outbound_group = 10"))
    assert main(["--check", "-f", str(bad)]) == 2
    assert "inbound and outbound NFLOG groups must not be the same" in capsys.readouterr().err
    assert main(["--check", "-I", "-f", str(bad)]) == 0


def test_missing_config_file(tmp_path, capsys):
    assert main(["--check", "-f", str(tmp_path / "none.conf")]) == 2
    assert f"{tmp_path / 'none.conf'}" in capsys.readouterr().err


def test_help_documents_flags_keys_signals_and_exit_codes(capsys):
    with pytest.raises(SystemExit) as exit_info:
        main(["--help"])
    out = capsys.readouterr().out
    assert exit_info.value.code == 0
    for text in ("-W hours", "-Y synctarget", "-P pidfile", "-p syncport", "--backend", "spill_journal",
                 "SIGHUP", "exit status:", "greylogd ledger --help", "shutdown_timeout"):
        assert text in out, text


def test_ledger_subcommand_dispatches_to_the_ledger_cli(capsys):
    with pytest.raises(SystemExit) as exit_info:
        main(["ledger", "--help"])
    assert exit_info.value.code == 0
    assert capsys.readouterr().out.startswith("usage: greylogd ledger ")


def test_the_daemon_path_never_imports_pandas():
    """pandas and pyarrow cost the daemon ~70 MB of its 80 MB budget; only `greylogd ledger` needs them."""
    code = ("import sys; from greylogd.cli import daemon as cli; from greylogd import daemon, daemon_parts; "
            "cli._parser(); print(sorted(m for m in ('pandas', 'pyarrow') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out == "[]\n"


@pytest.mark.parametrize(("key", "value"), [("ledger_retention_days", 7), ("ledger_interval", 5),
                                            ("metrics_port", 9100), ("spill_journal", "/var/lib/gl/other")])
def test_a_reload_names_own_keys_it_cannot_apply(conf, key, value):
    from greylogd.daemon import _restart_only

    old, _ = load(CliOptions(config=str(conf)))
    new = dataclasses.replace(old, own=dataclasses.replace(old.own, **{key: value}))
    assert _restart_only(old, new) == [f"greylogd.{key}"]
    applied = dataclasses.replace(old, own=dataclasses.replace(old.own, batch_events=9))
    assert _restart_only(old, applied) == []
