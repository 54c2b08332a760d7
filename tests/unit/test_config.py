"""greyd's shipped sample config and the `--check` dump.

The sample (tests/data/conf/greyd.conf.in) is greyd's etc/greyd.conf.in as reconstructed from spec 3.5; its
expected tables are written out below key by key.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from greylogd.config import load, parse
from greylogd.errors import ConfigError

SAMPLE = Path(__file__).parent.parent / "data" / "conf" / "greyd.conf.in"
DEBIAN = {"@libdir@": "/usr/lib", "@PACKAGE@": "greyd", "@localstatedir@": "/var", "@sysconfdir@": "/etc",
          "@GREYD_PIDFILE@": "/var/run/greyd/greyd.pid", "@CURL@": "/usr/bin/curl",
          "@GREYLOGD_PIDFILE@": "/var/run/greylogd/greylogd.pid"}


def _tables(mapping: object) -> dict:
    return {name: dict(keys) for name, keys in mapping.items()}  # type: ignore[attr-defined]


def test_sample_config_tables() -> None:
    config = load(SAMPLE)
    assert config.warnings == []
    assert _tables(config.sections) == {
        "default": {"debug": 0, "verbose": 0, "daemonize": 1, "user": "greyd", "bind_address": "127.0.0.1",
                    "port": 8025, "enable_ipv6": 0, "bind_address_ipv6": "::1", "stutter": 1,
                    "banner": "greyd IP-based SPAM blocker", "error_code": "450", "chroot": 1,
                    "chroot_dir": "/var/empty/greyd", "greyd_pidfile": "@GREYD_PIDFILE@",
                    "greylogd_pidfile": "@GREYLOGD_PIDFILE@", "setrlimit": 1},
        "firewall": {"driver": "@libdir@/@PACKAGE@/greyd_netfilter.so", "max_elements": 1000000,
                     "hash_size": 1048576, "track_outbound": 1, "inbound_group": 155, "outbound_group": 255},
        "database": {"driver": "@libdir@/@PACKAGE@/greyd_bdb.so", "path": "@localstatedir@/@PACKAGE@",
                     "db_name": "@PACKAGE@.db"},
        "sync": {"enable": 0},
        "spf": {"enable": 1, "whitelist_on_pass": 0, "trap_on_softfail": 1},
        "grey": {"enable": 1, "user": "greydb", "traplist_name": "greyd-greytrap",
                 "traplist_message": "Your address %A has mailed to spamtraps here",
                 "whitelist_name": "greyd-whitelist", "whitelist_name_ipv6": "greyd-whitelist-ipv6",
                 "stutter": 10, "pass_time": 600, "grey_expiry": 14400, "white_expiry": 2678400,
                 "trap_expiry": 86400},
        "setup": {"lists": ["nixspam", "uatraps"], "curl_path": "@CURL@"},
    }
    assert _tables(config.blacklists) == {
        "uatraps": {"message": "Your address %A has sent mail to a ualberta.ca spamtrap\\\\n\n"
                               "               within the last 24 hours",
                    "method": "http", "file": "www.openbsd.org/spamd/traplist.gz"},
        "nixspam": {"message": "Your address %A is in the nixspam list", "method": "http",
                    "file": "www.openbsd.org/spamd/nixspam.gz"},
        "test_file_method": {"method": "file", "file": "/tmp/nixspam-traplist.gz"},
    }
    assert _tables(config.whitelists) == {
        "test_exec_method": {"method": "exec", "file": "cat /tmp/nixspam-traplist.gz"}}


def test_sample_config_settings() -> None:
    config = load(SAMPLE)
    grey, firewall = config.grey_settings(), config.firewall_settings()
    assert (grey.pass_time, grey.grey_expiry, grey.white_expiry, grey.trap_expiry) == (600, 14400, 2678400,
                                                                                       86400)
    assert (firewall.backend, firewall.inbound_group, firewall.outbound_group, firewall.track_outbound) == (
        "netfilter", 155, 255, True)
    assert config.sync_settings().enable is False
    with pytest.raises(ConfigError) as raised:
        config.database_settings()  # the sample's active driver is Berkeley DB
    assert (raised.value.file, raised.value.line, raised.value.col) == (str(SAMPLE), 138, 5)


def test_debian_build_switched_to_sqlite(tmp_path: Path) -> None:
    text = SAMPLE.read_text(encoding="utf-8")
    for placeholder, value in DEBIAN.items():
        text = text.replace(placeholder, value)
    sqlite, bdb = 'driver  = "/usr/lib/greyd/greyd_sqlite.so"', 'driver  = "/usr/lib/greyd/greyd_bdb.so"'
    text = text.replace(f"    #{sqlite}", f"    {sqlite}").replace(f"    {bdb}", f"    #{bdb}")
    path = tmp_path / "greyd.conf"
    path.write_text(text, encoding="utf-8")
    database = load(path).database_settings()
    assert (database.backend, database.path, database.db_name) == ("sqlite", "/var/greyd", "greyd.db")


def test_describe_lists_everything_with_origins() -> None:
    config = parse('hostname = "mx1"\nsection database {\n driver = "greyd_sqlite.so"\n'
                   ' path = "/var/lib/greyd"\n}\nblacklist nixspam { method = "http" }\n'
                   'section grey { pass_time = 600 }\nsection sync { port = "8025" }\nx = -1\n', "g.conf")
    assert config.describe() == """\
# files read, in order:
#   g.conf

[globals]
hostname = 'mx1'  # g.conf:1

[section database]  # g.conf:2
driver = 'greyd_sqlite.so'  # g.conf:3
path = '/var/lib/greyd'  # g.conf:4

[section grey]  # g.conf:7
pass_time = 600  # g.conf:7

[section sync]  # g.conf:8
port = '8025'  # g.conf:8

[blacklist nixspam]  # g.conf:6
method = 'http'  # g.conf:6

# typed settings used by greylogd
database.backend = 'sqlite'  # g.conf:3
database.busy_timeout = 2000  # default
database.db_name = 'greyd.sqlite'  # default
database.driver = 'greyd_sqlite.so'  # g.conf:3
database.greyd_host = 'mx1'  # g.conf:1
database.host = 'localhost'  # default
database.name = 'greyd'  # default
database.password = None  # default
database.path = '/var/lib/greyd'  # g.conf:4
database.port = None  # default
database.socket = None  # default
database.user = None  # default
ERROR g.conf: no firewall.driver configured (greyd refuses to start without one)
grey.db_permitted_domains = False  # default
grey.enable = True  # default
grey.grey_expiry = 14400  # default
grey.pass_time = 600  # g.conf:7
grey.permitted_domains = None  # default
grey.trap_expiry = 86400  # default
grey.traplist_message = 'Your address %A has mailed to spamtraps here'  # default
grey.traplist_name = 'greyd-greytrap'  # default
grey.user = 'greydb'  # default
grey.white_expiry = 3110400  # default
grey.whitelist_name = 'greyd-whitelist'  # default
grey.whitelist_name_ipv6 = 'greyd-whitelist-ipv6'  # default
ERROR g.conf:8:16: sync.port must be an integer, not '8025' (greyd would silently use 8025 instead)

# 1 warning(s)
WARNING g.conf:9:5: greyd stops reading this file at character '-' and ignores the rest; the unfinished \
assignment to 'x' is dropped
"""


def test_describe_without_hostname_says_where_greyd_host_comes_from() -> None:
    lines = parse('section database { driver = "greyd_mysql.so" }\n').describe().splitlines()
    assert [line.split("  # ")[1] for line in lines if line.startswith("database.greyd_host")] == [
        "default (gethostname())"]
