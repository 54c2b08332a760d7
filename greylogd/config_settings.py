"""Typed views of greyd.conf sections with greyd's CODE defaults (spec/greyd-compat.md 3.4, not man pages).

Contract: every builder takes the parsed entries of one section and returns a frozen dataclass. A key
holding the wrong type (a string where greyd reads an int, or the reverse) raises ConfigError naming the
key's file:line:col and the expected type; greyd would silently use its default there, which hides typos
such as `port = "8025"`. Times are seconds, as in greyd.conf. Flags (greyd ints tested for non-zero) are
bools. A missing, unknown or unusable `driver` raises ConfigError.
"""

from __future__ import annotations

import os
import socket
from collections.abc import Collection, Mapping
from dataclasses import dataclass, field, fields
from typing import Any, TypeVar

from greylogd.config_grammar import Entry
from greylogd.errors import ConfigError

#: Module names by section, from the module file's basename (drivers/Makefile.am: greyd_<name>.la/.so).
MODULES = {"database": ("sqlite", "postgresql", "mysql", "bdb", "bdb_sql"),
           "firewall": ("netfilter", "pf", "npf", "dummy")}
#: What greylogd can use: it writes greyd's SQL databases and captures NFLOG on Linux.
SUPPORTED = {"database": ("sqlite", "postgresql", "mysql"), "firewall": ("netfilter", "dummy")}
_KIND_NAMES = {int: "an integer", str: "a string", bool: "an integer (0 or 1)", tuple: "a list of strings"}


def _key(kind: type, default: Any, key: str | None = None) -> Any:
    """A field read from key `key` (default: the field name) that must hold a value of `kind`."""
    return field(default=default, metadata={"kind": kind, "key": key})


@dataclass(frozen=True)
class GreySettings:
    """Section `grey`: greylisting times (seconds) and the account owning greyd's database."""

    SECTION = "grey"
    enable: bool = _key(bool, True)
    user: str = _key(str, "greydb")
    pass_time: int = _key(int, 1500)
    grey_expiry: int = _key(int, 14400)
    white_expiry: int = _key(int, 3110400)
    trap_expiry: int = _key(int, 86400)
    permitted_domains: str | None = _key(str, None)
    db_permitted_domains: bool = _key(bool, False)
    traplist_name: str = _key(str, "greyd-greytrap")
    traplist_message: str = _key(str, "Your address %A has mailed to spamtraps here")
    whitelist_name: str = _key(str, "greyd-whitelist")
    whitelist_name_ipv6: str = _key(str, "greyd-whitelist-ipv6")


@dataclass(frozen=True)
class FirewallSettings:
    """Section `firewall`: the NFLOG groups greylogd listens on; `backend` is the driver's module name."""

    SECTION = "firewall"
    driver: str
    backend: str
    track_outbound: bool = _key(bool, True)
    inbound_group: int = _key(int, 155)
    outbound_group: int = _key(int, 255)
    max_elements: int = _key(int, 200000)
    hash_size: int = _key(int, 1048576)


@dataclass(frozen=True)
class SyncSettings:
    """Section `sync`: spamd v2 sync targets; `hosts` entries are IPv4 hosts or `ifname[:ttl]` multicast."""

    SECTION = "sync"
    enable: bool = _key(bool, False)
    hosts: tuple[str, ...] = _key(tuple, ())
    port: int = _key(int, 8025)
    verify: bool = _key(bool, True)
    key: str = _key(str, "/etc/greyd/greyd.key")
    ttl: int = _key(int, 1)
    mcast_address: str = _key(str, "224.0.1.241")
    bind_address: str | None = _key(str, None)


@dataclass(frozen=True)
class DatabaseSettings:
    """Section `database` plus the global `hostname` written as greyd_host (MySQL/PostgreSQL).

    `port` is an int for MySQL, a string for PostgreSQL and None for SQLite, exactly as greyd hands it
    to the client library. `greyd_host` defaults to this machine's hostname, like greyd's own (spec
    Decisions), so greyd's scan expires the rows greylogd writes. `busy_timeout` (milliseconds) is
    greylogd's own key: the longest one SQLite statement waits for greyd's lock before the write is
    retried later.
    """

    SECTION = "database"
    driver: str
    backend: str
    greyd_host: str
    port: int | str | None
    path: str = _key(str, "/var/db/greyd")
    db_name: str = _key(str, "greyd.sqlite")
    host: str = _key(str, "localhost")
    name: str = _key(str, "greyd")
    user: str | None = _key(str, None)
    password: str | None = _key(str, None, key="pass")
    socket: str | None = _key(str, None)
    busy_timeout: int = _key(int, 2000)


Settings = TypeVar("Settings", GreySettings, FirewallSettings, SyncSettings, DatabaseSettings)


def _fits(value: object, kind: type) -> bool:
    if kind is tuple:
        return isinstance(value, tuple) and all(isinstance(item, str) for item in value)
    return isinstance(value, int if kind is bool else kind)


def where(entry: Entry) -> tuple[str, int | None, int | None]:
    """ConfigError location of an entry; command-line entries (line 0) have no line or column."""
    return entry.file, entry.line or None, entry.col or None


def read(entries: Mapping[str, Entry], section: str, key: str, kind: type, default: Any) -> Any:
    """The value of `key` checked against `kind`, or `default` when absent; flags become bools."""
    entry = entries.get(key)
    if entry is None:
        return default
    if not _fits(entry.value, kind):
        shown = int(default) if kind is bool else default
        raise ConfigError(f"{section}.{key} must be {_KIND_NAMES[kind]}, not {entry.value!r} (greyd "
                          f"would silently use {shown!r} instead)", *where(entry))
    return bool(entry.value) if kind is bool else entry.value


def build(cls: type[Settings], entries: Mapping[str, Entry], **derived: Any) -> Settings:
    """`cls` filled from its section's entries; fields without a key come from `derived`."""
    values = {f.name: read(entries, cls.SECTION, f.metadata["key"] or f.name, f.metadata["kind"], f.default)
              for f in fields(cls) if "kind" in f.metadata}
    return cls(**values, **derived)


def driver_backend(value: str, section: str = "database", supported: Collection[str] | None = None,
                   origin: Entry | None = None) -> str:
    """Module name of a greyd `driver` value by its basename: `/usr/lib/greyd/greyd_sqlite.so` -> sqlite,
    `netfilter.so` -> netfilter, `greyd_fw_dummy.la` -> dummy. ConfigError (located at `origin`) when the
    name is not one of greyd's `section` modules or not in `supported`."""
    name = os.path.basename(value).split(".")[0].removeprefix("greyd_").removeprefix("fw_")
    known = MODULES.get(section, ())
    location = where(origin) if origin else ()
    if name not in known:
        raise ConfigError(f"{section}.driver {value!r} is not a greyd {section} module "
                          f"(known: {', '.join(known)})", *location)
    if supported is not None and name not in supported:
        raise ConfigError(f"{section}.driver {value!r}: greylogd does not support greyd's {name} module "
                          f"(supported: {', '.join(supported)})", *location)
    return name


def _driver(entries: Mapping[str, Entry], section: str, file: str) -> tuple[str, str]:
    entry = entries.get("driver")
    if entry is None:
        raise ConfigError(f"no {section}.driver configured (greyd refuses to start without one)", file)
    driver = read(entries, section, "driver", str, None)
    return driver, driver_backend(driver, section, SUPPORTED[section], entry)


def build_firewall(entries: Mapping[str, Entry], file: str) -> FirewallSettings:
    """FirewallSettings; `file` names the config in the error for a missing driver."""
    driver, backend = _driver(entries, "firewall", file)
    return build(FirewallSettings, entries, driver=driver, backend=backend)


def build_database(entries: Mapping[str, Entry], globals_: Mapping[str, Entry],
                   file: str) -> DatabaseSettings:
    """DatabaseSettings; the port's type depends on the backend (spec 1.3/1.4), SQLite has none."""
    driver, backend = _driver(entries, "database", file)
    port = None
    if backend != "sqlite":
        kind, default = (str, "5432") if backend == "postgresql" else (int, 3306)
        port = read(entries, "database", "port", kind, default)
    host = read(globals_, "default", "hostname", str, None)
    return build(DatabaseSettings, entries, driver=driver, backend=backend, port=port,
                 greyd_host=socket.gethostname() if host is None else host)
