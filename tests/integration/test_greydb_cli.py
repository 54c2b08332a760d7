"""greylogd-db end to end: greyd.conf -> open_store -> greyd's database -> greydb's output and exit codes."""

from __future__ import annotations

import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest

from greylogd.cli.db import main
from greylogd.greydb.sqlite import SqliteStore
from greylogd.greydb.store import Entry, Kind
from tests.integration.servers import PostgresServer, postgres_server  # noqa: F401  (session fixture)
from tests.integration.test_greydb_stores import _closing

# The rows and greydb's byte-exact listing of them (spec 6.2), shared with the listing unit test.
from tests.unit.test_greydb_listing import ENTRIES as SPEC_ENTRIES
from tests.unit.test_greydb_listing import EXPECTED

GREY = "section grey {\n  white_expiry = 1000\n  trap_expiry = 500\n}\n"


@pytest.fixture
def sqlite_conf(tmp_path: Path) -> Path:
    conf = tmp_path / "greyd.conf"
    conf.write_text(GREY + 'section database {\n  driver = "greyd_sqlite.so"\n'
                    f'  path = "{tmp_path}/db"\n}}\n')
    return conf


def _store(conf: Path) -> SqliteStore:
    return SqliteStore(str(conf.parent / "db"))


def test_listing_is_greydbs_output(sqlite_conf: Path, capsys: pytest.CaptureFixture[str]) -> None:
    with _closing(_store(sqlite_conf)) as store:
        store.add(reversed(SPEC_ENTRIES))
    assert main(["-f", str(sqlite_conf)]) == 0
    assert capsys.readouterr() == (EXPECTED, "")
    assert main(["-f", str(sqlite_conf), "--json"]) == 0
    assert capsys.readouterr().out.splitlines()[1] == (
        '{"kind": "TRAPPED", "ip": "198.51.100.7", "helo": "", "from": "", "to": "", "first": 1795420921, '
        '"pass": 0, "expire": 1795507321, "bcount": 1, "pcount": -1, "greyd_host": null}')


def test_add_trap_and_delete_with_greydbs_semantics(sqlite_conf: Path,
                                                     capsys: pytest.CaptureFixture[str]) -> None:
    conf = str(sqlite_conf)
    before = int(time.time())
    assert main(["-f", conf, "-a", "192.0.2.20", "bad", "", "2001:db8::20"]) == 1
    after = int(time.time())
    assert capsys.readouterr().err == "greylogd-db: 'bad' is not a numeric IPv4 or IPv6 address\n"
    with _closing(_store(sqlite_conf)) as store:
        rows = store.snapshot()
    first = rows[0].first
    assert before <= first <= after
    assert rows == [Entry(Kind.WHITE, ip, first=first, pass_=first, expire=first + 1000, bcount=1)
                    for ip in ("192.0.2.20", "2001:db8::20")]
    assert main(["-f", conf, "-t", "-a", "192.0.2.20"]) == 0
    assert main(["-f", conf, "-T", "-a", "<Spam@Example.ORG>", "nobody", "x"]) == 2
    assert main(["-f", conf, "-D", "-a", "@Example.org"]) == 0
    assert main(["-f", conf, "-d", "2001:db8::20", "192.0.2.99"]) == 0
    capsys.readouterr()
    assert main(["-f", conf]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[1:] == ["DOMAIN|@example.org", "SPAMTRAP|spam@example.org"]
    kind, ip, expire = lines[0].split("|")
    assert (kind, ip) == ("TRAPPED", "192.0.2.20")
    assert before + 500 <= int(expire) <= int(time.time()) + 500


@pytest.mark.parametrize(("argv", "err"), [
    (["-f", "/nonexistent/greyd.conf"],
     "greylogd-db: /nonexistent/greyd.conf: cannot read config file: No such file or directory\n"),
])
def test_errors_are_one_line_with_status_1(argv: list[str], err: str,
                                           capsys: pytest.CaptureFixture[str]) -> None:
    assert main(argv) == 1
    assert capsys.readouterr() == ("", err)


@pytest.mark.parametrize("argv", [["-t"], ["192.0.2.1"], ["-a", "-d", "x"], ["-a", "--json", "x"]])
def test_usage_errors_exit_2(argv: list[str], capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as caught:
        main(argv)
    assert caught.value.code == 2
    assert capsys.readouterr().err.splitlines()[-1].startswith("greylogd-db: error: ")


@pytest.mark.server
def test_postgresql_from_greyd_conf(postgres_server: PostgresServer, tmp_path: Path,  # noqa: F811
                                    capsys: pytest.CaptureFixture[str]) -> None:
    postgres_server.reset_greyd_schema()
    conf = tmp_path / "greyd.conf"
    conf.write_text('hostname = "mx1.test.example"\n' + GREY + 'section database {\n'
                    '  driver = "/usr/lib/greyd/greyd_postgresql.so"\n  host = "127.0.0.1"\n'
                    f'  port = "{postgres_server.port}"\n  user = "postgres"\n  name = "greyd"\n}}\n')
    assert main(["-f", str(conf), "-T", "-a", "trap@example.org"]) == 0
    assert main(["-f", str(conf), "-a", "192.0.2.30"]) == 0
    capsys.readouterr()
    assert main(["-f", str(conf), "--json"]) == 0
    out = capsys.readouterr().out
    assert '"ip": "192.0.2.30"' in out and '"greyd_host": "mx1.test.example"' in out
    postgres_server.execute("ALTER TABLE entries DROP COLUMN greyd_host")
    assert main(["-f", str(conf)]) == 1
    assert capsys.readouterr().err == (
        f"greylogd-db: postgresql://127.0.0.1:{postgres_server.port}/greyd: table entries has no column "
        "greyd_host; load greyd's schema: greylogd-db --print-schema postgresql | psql <database>\n")


def test_listing_prints_a_non_utf8_helo_byte_for_byte(sqlite_conf: Path) -> None:
    _store(sqlite_conf).close()  # creates greyd's tables
    conn = sqlite3.connect(sqlite_conf.parent / "db" / "greyd.sqlite")
    with conn:  # what greyd's C reader stores for `HELO mx\xff|x`: the raw bytes
        conn.execute("INSERT INTO entries VALUES (?, ?, 'a@x.org', 'b@y.org', 1, 2, 3, 1, 0)",
                     ("192.0.2.1", b"mx\xff|x"))
        conn.execute("UPDATE entries SET helo = CAST(helo AS TEXT)")
    conn.close()
    listing = subprocess.run([sys.executable, "-c", "import sys; from greylogd.cli.db import main; "
                              "sys.exit(main())", "-f", str(sqlite_conf)], capture_output=True, check=True)
    assert listing.stdout == b"GREY|192.0.2.1|mx\xff|x|a@x.org|b@y.org|1|2|3|1|0\n"
    assert listing.stderr == b""
