"""Typed settings: greyd's code defaults (spec 3.4), overrides, strict types, driver names."""

from __future__ import annotations

import socket

import pytest

from greylogd.config import (
    DatabaseSettings,
    FirewallSettings,
    GreySettings,
    SyncSettings,
    driver_backend,
    parse,
)
from greylogd.errors import ConfigError

DRIVERS = ('section database { driver = "/usr/lib/greyd/greyd_sqlite.so" }\n'
           'section firewall { driver = "netfilter.so" }\n')


def test_code_defaults() -> None:
    config = parse(DRIVERS + 'hostname = "mx1.example.org"\n')
    assert config.grey_settings() == GreySettings(
        enable=True, user="greydb", pass_time=1500, grey_expiry=14400, white_expiry=3110400,
        trap_expiry=86400, permitted_domains=None, db_permitted_domains=False,
        traplist_name="greyd-greytrap", traplist_message="Your address %A has mailed to spamtraps here",
        whitelist_name="greyd-whitelist", whitelist_name_ipv6="greyd-whitelist-ipv6")
    assert config.firewall_settings() == FirewallSettings(
        driver="netfilter.so", backend="netfilter", track_outbound=True, inbound_group=155,
        outbound_group=255, max_elements=200000, hash_size=1048576)
    assert config.sync_settings() == SyncSettings(
        enable=False, hosts=(), port=8025, verify=True, key="/etc/greyd/greyd.key", ttl=1,
        mcast_address="224.0.1.241", bind_address=None)
    assert config.database_settings() == DatabaseSettings(
        driver="/usr/lib/greyd/greyd_sqlite.so", backend="sqlite", greyd_host="mx1.example.org", port=None,
        path="/var/db/greyd", db_name="greyd.sqlite", host="localhost", name="greyd", user=None,
        password=None, socket=None, busy_timeout=2000)


def test_overrides() -> None:
    config = parse(DRIVERS + 'section grey {\n pass_time = 600\n enable = 0\n'
                   ' permitted_domains = "/etc/d"\n}\n'
                   'section sync {\n enable = 1; hosts = [ "eth0:2", "192.0.2.7" ]; port = 8026\n'
                   ' verify = 0; key = "/k"\n}\n'
                   'section firewall {\n driver = "greyd_fw_dummy.la"; track_outbound = 0\n'
                   ' inbound_group = 5\n}\n')
    grey, sync, firewall = config.grey_settings(), config.sync_settings(), config.firewall_settings()
    assert (grey.pass_time, grey.enable, grey.permitted_domains, grey.white_expiry) == (600, False, "/etc/d",
                                                                                      3110400)
    assert (sync.enable, sync.hosts, sync.port, sync.verify, sync.key) == (True, ("eth0:2", "192.0.2.7"),
                                                                           8026, False, "/k")
    assert (firewall.backend, firewall.track_outbound, firewall.inbound_group, firewall.outbound_group) == (
        "dummy", False, 5, 255)


def test_hostname_defaults_to_this_machine() -> None:
    assert parse(DRIVERS).database_settings().greyd_host == socket.gethostname()
    assert parse(DRIVERS + 'hostname = ""\n').database_settings().greyd_host == ""


def test_mysql_port_is_an_int_postgresql_port_a_string() -> None:
    mysql = parse('section database {\n driver = "greyd_mysql.so"\n user = "g"\n pass = "pw"\n}\n')
    assert (mysql.database_settings().port, mysql.database_settings().password) == (3306, "pw")
    pg = parse('section database {\n driver = "greyd_postgresql.so"\n port = "5433"\n}\n')
    assert pg.database_settings().port == "5433"
    assert parse('section database { driver = "greyd_postgresql.so" }\n').database_settings().port == "5432"
    with pytest.raises(ConfigError) as raised:
        parse('section database {\n driver = "greyd_postgresql.so"\n port = 5432\n}\n',
              "g.conf").database_settings()
    assert str(raised.value) == ("g.conf:3:2: database.port must be a string, not 5432 (greyd would silently "
                                 "use '5432' instead)")


@pytest.mark.parametrize(("text", "build", "message"), [
    ('section sync { port = "8025" }', "sync_settings",
     "g.conf:1:16: sync.port must be an integer, not '8025' (greyd would silently use 8025 instead)"),
    ("section grey { pass_time = [ 1 ] }", "grey_settings",
     "g.conf:1:16: grey.pass_time must be an integer, not (1,) (greyd would silently use 1500 instead)"),
    ("section grey { user = 602 }", "grey_settings",
     "g.conf:1:16: grey.user must be a string, not 602 (greyd would silently use 'greydb' instead)"),
    ("section grey { enable = \"no\" }", "grey_settings",
     "g.conf:1:16: grey.enable must be an integer (0 or 1), not 'no' (greyd would silently use 1 instead)"),
    ('section sync { hosts = "eth0" }', "sync_settings",
     "g.conf:1:16: sync.hosts must be a list of strings, not 'eth0' (greyd would silently use () instead)"),
    ('section sync { hosts = [ "a", 2 ] }', "sync_settings",
     "g.conf:1:16: sync.hosts must be a list of strings, not ('a', 2) (greyd would silently use () instead)"),
    ("hostname = 1\n" + DRIVERS, "database_settings",
     "g.conf:1:1: default.hostname must be a string, not 1 (greyd would silently use None instead)"),
])
def test_wrong_types_are_errors(text: str, build: str, message: str) -> None:
    config = parse(text + "\n", "g.conf")
    with pytest.raises(ConfigError) as raised:
        getattr(config, build)()
    assert str(raised.value) == message


def test_missing_and_unsupported_drivers() -> None:
    with pytest.raises(ConfigError) as raised:
        parse("a = 1\n", "g.conf").database_settings()
    assert str(raised.value) == "g.conf: no database.driver configured (greyd refuses to start without one)"
    with pytest.raises(ConfigError) as raised:
        parse('section database {\n driver = "/usr/lib/greyd/greyd_bdb.so"\n}\n',
              "g.conf").database_settings()
    assert str(raised.value) == ("g.conf:2:2: database.driver '/usr/lib/greyd/greyd_bdb.so': greylogd does "
                                 "not support greyd's bdb module (supported: sqlite, postgresql, mysql)")
    with pytest.raises(ConfigError) as raised:
        parse('section firewall { driver = "greyd_pf.so" }\n', "g.conf").firewall_settings()
    assert str(raised.value) == ("g.conf:1:20: firewall.driver 'greyd_pf.so': greylogd does not support "
                                 "greyd's pf module (supported: netfilter, dummy)")


@pytest.mark.parametrize(("value", "section", "name"), [
    ("/usr/lib/greyd/greyd_sqlite.so", "database", "sqlite"),
    ("/usr/lib64/greyd/greyd_postgresql.so", "database", "postgresql"),
    ("greyd_mysql.la", "database", "mysql"),
    ("/usr/lib/greyd/greyd_bdb_sql.so", "database", "bdb_sql"),
    ("@libdir@/@PACKAGE@/greyd_bdb.so", "database", "bdb"),
    ("/usr/lib/greyd/greyd_netfilter.so", "firewall", "netfilter"),
    ("netfilter.so", "firewall", "netfilter"),
    ("greyd_fw_dummy.la", "firewall", "dummy"),
    ("greyd_npf.so", "firewall", "npf"),
    ("pf.so", "firewall", "pf"),
])
def test_driver_backend_by_basename(value: str, section: str, name: str) -> None:
    assert driver_backend(value, section) == name


def test_driver_backend_rejects_unknown_modules() -> None:
    with pytest.raises(ConfigError) as raised:
        driver_backend("/usr/lib/greyd/greyd_redis.so")
    assert str(raised.value) == ("database.driver '/usr/lib/greyd/greyd_redis.so' is not a greyd database "
                                 "module (known: sqlite, postgresql, mysql, bdb, bdb_sql)")
    with pytest.raises(ConfigError):
        driver_backend("greyd_netfilter.so", "database")
    with pytest.raises(ConfigError):
        driver_backend("greyd_sqlite.so", "firewall", ("netfilter",))


def test_command_line_overrides_replace_single_keys() -> None:
    config = parse(DRIVERS + "section grey {\n pass_time = 600\n white_expiry = 5\n}\n"
                   'section sync { hosts = [ "a", "b" ] }\n')
    merged = config.with_overrides({"grey": {"white_expiry": 7200}, "sync": {"hosts": ["c"]},
                                    "firewall": {"track_outbound": 0}})
    assert (merged.grey_settings().pass_time, merged.grey_settings().white_expiry) == (600, 7200)
    assert merged.sync_settings().hosts == ("c",)
    assert merged.firewall_settings().track_outbound is False
    assert config.grey_settings().white_expiry == 5  # the original is unchanged
    lines = merged.describe().splitlines()
    assert [line for line in lines if "white_expiry" in line] == [
        "white_expiry = 7200  # command line", "grey.white_expiry = 7200  # command line"]
    with pytest.raises(ConfigError) as raised:
        config.with_overrides({"sync": {"port": "x"}}).sync_settings()
    assert str(raised.value) == ("command line: sync.port must be an integer, not 'x' (greyd would silently "
                                 "use 8025 instead)")


def test_strict_get_for_greylogds_own_sections() -> None:
    config = parse("section greylogd {\n batch_ms = 200\n metrics = \"127.0.0.1:9\"\n}\n", "g.conf")
    assert config.get("greylogd", "batch_ms", int, 100) == 200
    assert config.get("greylogd", "absent", str, "x") == "x"
    assert config.get("report", "absent", int, 7) == 7
    with pytest.raises(ConfigError) as raised:
        config.get("greylogd", "metrics", int, 0)
    assert (raised.value.line, raised.value.col) == (3, 2)
