"""`greylogd --help`, `greylogd-db --help` and `greylogd --check` document everything they accept."""

from __future__ import annotations

from dataclasses import fields

import pytest

from greylogd.cli import daemon as daemon_cli
from greylogd.cli import db as db_cli
from greylogd.cli import ledger as ledger_cli
from greylogd.daemon_settings import OwnSettings


def help_text(main, capsys) -> str:
    with pytest.raises(SystemExit) as caught:
        main(["--help"])
    assert caught.value.code == 0
    return capsys.readouterr().out


def option_strings(parser) -> list[str]:
    return [s for action in parser._actions for s in action.option_strings]


def test_greylogd_help_lists_every_flag_the_ledger_command_and_every_own_key(capsys):
    text = help_text(daemon_cli.main, capsys)
    lines = text.splitlines()
    flags = [line.split()[0].rstrip(",") for line in lines if line.startswith("  -")]
    assert flags == ["-h", "-f", "-I", "-W", "-Y", "-P", "-d", "-p", "--foreground", "--check", "--backend"]
    assert flags == [s for s in option_strings(daemon_cli._parser()) if s != "--help"]
    assert lines[2].startswith("       greylogd ledger [-h] [--once] [-f CONFIG] [--ledger PATH]")
    commands = lines[lines.index("commands:"):lines.index("configuration (greyd.conf, greyd's syntax; "
                                                         "the CLI wins over the file):")]
    listed = [line.split()[0].rstrip(",") for line in commands if line.startswith(" " * 24 + "-")]
    assert listed == [action.option_strings[0] for action in ledger_cli._parser()._actions]
    assert "                        --retention-days DAYS   keep closed tuples DAYS days, 0 = forever " \
           "(default greyd.conf)" in commands
    keys = [line.split()[0] for line in lines if line.startswith("    ") and not line.startswith("     ")]
    assert keys == [f.name for f in fields(OwnSettings)]
    assert ("    ledger_retention_days  days closed ledger tuples are kept, pruned once a day (0 = forever; "
            "90 allows") in lines
    assert all(len(line) <= daemon_cli.HELP_WIDTH for line in lines)


def test_greylogd_db_help_documents_sync(capsys):
    text = help_text(db_cli.main, capsys)
    assert "[-Y synctarget]" in text.splitlines()[1]
    assert "  -Y synctarget         with -a/-d, also sync WHITE/TRAPPED changes to this IPv4 host" in text
    assert ("  -d          SYNC_DEL_WHITE (-t: SYNC_DEL_TRAPPED), expire 0; greyd-only types, OpenBSD spamd "
            "drops them") in text.splitlines()
    assert "  greylogd-db -Y 192.0.2.20 -a 192.0.2.10   whitelist here and on the peer 192.0.2.20" in text


def test_check_shows_own_keys_with_origin_and_hides_the_password(tmp_path, capsys):
    conf = tmp_path / "greyd.conf"
    conf.write_text('section firewall { driver = "greyd_netfilter.so" }\n'
                    'section database { driver = "greyd_mysql.so"; user = "greyd"; pass = "s3cret" }\n'
                    "section greylogd { ledger_retention_days = 30 }\n")
    assert daemon_cli.main(["--check", "-f", str(conf)]) == 0
    out = capsys.readouterr().out
    assert "s3cret" not in out
    lines = out.splitlines()
    assert f"pass = '<hidden>'  # {conf}:2" in lines
    assert f"database.password = '<hidden>'  # {conf}:2" in lines
    assert "password='<hidden>'" in next(line for line in lines if line.startswith("  database = "))
    assert "  greylogd.ledger_retention_days = 30" in lines
    assert "  greylogd.ledger_interval = 20  # default" in lines
    assert "database.user = 'greyd'  # " + f"{conf}:2" in lines
