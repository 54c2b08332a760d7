"""greyd's schemas as greylogd ships them, against the files reconstructed from greyd (tests/data/schema),
and the one-line SchemaError for a database that lacks them."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from greylogd.cli.db import main
from greylogd.errors import SchemaError
from greylogd.greydb.schema import SQLITE_CREATE, check_columns, expected_columns

DATA = Path(__file__).parent.parent / "data" / "schema"


@pytest.mark.parametrize("server", ["postgresql", "mysql"])
def test_print_schema_is_greyds_file(server: str, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--print-schema", server]) == 0
    assert capsys.readouterr().out == (DATA / f"{server}_schema.sql").read_text()


def test_sqlite_create_makes_greyds_tables() -> None:
    conn = sqlite3.connect(":memory:")
    conn.executescript(SQLITE_CREATE)
    columns = {t: [(r[1], r[2], r[5]) for r in conn.execute(f"PRAGMA table_info({t})")]
               for t in ("spamtraps", "domains", "entries")}
    assert columns == {
        "spamtraps": [("address", "VARCHAR(1024)", 1)],
        "domains": [("domain", "VARCHAR(1024)", 1)],
        "entries": [("ip", "VARCHAR(46)", 1), ("helo", "VARCHAR(1024)", 2), ("from", "VARCHAR(1024)", 3),
                    ("to", "VARCHAR(1024)", 4), ("first", "UNSIGNED BIGINT", 0),
                    ("pass", "UNSIGNED BIGINT", 0), ("expire", "UNSIGNED BIGINT", 0),
                    ("bcount", "INTEGER", 0), ("pcount", "INTEGER", 0)],
    }
    assert conn.execute("PRAGMA journal_mode").fetchone() == ("memory",)


@pytest.mark.parametrize(("found", "message"), [
    ({}, "db: table spamtraps is missing; hint"),
    ({"spamtraps": {"address": "varchar"}, "domains": {"domain": "text"},
      "entries": {c: "bigint" for c in ("ip", "helo", "from", "to")}},
     "db: column entries.ip is bigint, greyd needs text; hint"),
])
def test_check_columns_names_the_first_problem(found: dict[str, dict[str, str]], message: str) -> None:
    with pytest.raises(SchemaError) as caught:
        check_columns(found, expected_columns(with_host=True), "db", "hint")
    assert str(caught.value) == message


def test_check_columns_needs_greyd_host_on_servers_only() -> None:
    sqlite_like = {"spamtraps": {"address": "VARCHAR(1024)"}, "domains": {"domain": "VARCHAR(1024)"},
                   "entries": {c: ("INTEGER" if c in ("bcount", "pcount") else "UNSIGNED BIGINT")
                               for c in ("first", "pass", "expire", "bcount", "pcount")}
                   | {c: "VARCHAR(1024)" for c in ("ip", "helo", "from", "to")}}
    check_columns(sqlite_like, expected_columns(with_host=False), "db", "hint")
    with pytest.raises(SchemaError) as caught:
        check_columns(sqlite_like, expected_columns(with_host=True), "db", "hint")
    assert str(caught.value) == "db: table entries has no column greyd_host; hint"
