"""DaemonSettings: greyd.conf (sections firewall/database/grey/sync, globals, `section greylogd`) with the
command-line flags merged over it, built once at start and again on SIGHUP; nothing else reads argv.

Merge rules follow greyd's main_greylogd.c: -I sets firewall.track_outbound = 0, -W hours sets
grey.white_expiry = hours * 3600 (bounded 1..2160 h like spamlogd, spec Decisions), each -Y is appended to
sync.hosts, -P replaces greylogd_pidfile, -d sets debug, -p replaces sync.port. Keys of `section greylogd`
are greylogd's own (see OwnSettings); an unknown key or a wrongly typed value is a ConfigError naming file,
line and column, so a typo is never silently ignored. Times are seconds unless a key's name says ms.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass, field, fields
from typing import Any

from greylogd import config
from greylogd.config_settings import DatabaseSettings, SyncSettings
from greylogd.errors import ConfigError
from greylogd.events import Direction
from greylogd.logsetup import LogSettings
from greylogd.refresher import RefresherSettings

DEFAULT_CONFIG = "/etc/greyd/greyd.conf"
DEFAULT_PIDFILE = "/var/run/greylogd/greylogd.pid"


def _own(kind: type, default: Any, doc: str) -> Any:
    return field(default=default, metadata={"kind": kind, "doc": doc})


@dataclass(frozen=True)
class OwnSettings:
    """`section greylogd { }`: greylogd's own keys (greyd ignores the section). --help prints the docs."""

    batch_events: int = _own(int, 1000, "events per database transaction at most")
    flush_ms: int = _own(int, 100, "longest wait (ms) before a partial batch is written")
    queue_bound: int = _own(int, 100000, "addresses held in memory before batches spill to the journal")
    max_backoff_ms: int = _own(int, 10000, "cap of the exponential retry delay (ms) while the database fails")
    spill_journal: str = _own(str, "/var/lib/greylogd/spill.journal", "durable queue file (fsync'd)")
    shutdown_timeout: int = _own(int, 5, "seconds spent committing at SIGTERM before the rest is spilled")
    trapped_to_white: bool = _own(bool, False, "1 = greyd's behaviour: a connection whitens a TRAPPED row")
    metrics_port: int = _own(int, 0, "Prometheus exposition on 127.0.0.1:<port> (0 = off)")
    ledger: str = _own(str, "", "ledger database path (empty = no ledger polling)")
    ledger_interval: int = _own(int, 20, "seconds between ledger polls of greyd's database")
    ledger_retention_days: int = _own(int, 90, "days closed ledger tuples are kept, pruned once a day "
                                      "(0 = forever; 90 allows month-over-month comparisons)")
    queue_num: int = _own(int, 0, "NFQUEUE number for --backend nfqueue")
    nflog_qthreshold: int = _own(int, 64, "kernel NFLOG queue threshold (packets per netlink message)")
    nflog_timeout: int = _own(int, 10, "kernel NFLOG flush timeout (1/100 s): how long a partial batch waits")
    nflog_nlbufsiz: int = _own(int, 16384, "kernel NFLOG message buffer (bytes) per netlink message")
    rcvbuf_mb: int = _own(int, 32, "netlink receive buffer (MiB) a burst may fill ahead of greylogd")
    rcvbuf_max_mb: int = _own(int, 256, "limit (MiB) to which the buffer doubles after each overrun")


@dataclass(frozen=True)
class CliOptions:
    """The flags as parsed by greylogd.cli.daemon; None means "not given, use the config"."""

    config: str = DEFAULT_CONFIG
    inbound_only: bool = False
    white_hours: int | None = None
    sync_targets: tuple[str, ...] = ()
    pidfile: str | None = None
    debug: bool = False
    sync_port: int | None = None
    foreground: bool = False
    backend: str = "nflog"


@dataclass(frozen=True)
class DaemonSettings:
    """Everything the daemon needs; see the module docstring for where each value comes from."""

    groups: Mapping[int, Direction]
    white_expiry: int
    user: str
    drop_privs: bool
    pidfile: str
    backend: str
    log: LogSettings
    database: DatabaseSettings
    sync: SyncSettings
    refresher: RefresherSettings
    own: OwnSettings = field(default_factory=OwnSettings)

    @property
    def sync_active(self) -> bool:
        return self.sync.enable and bool(self.sync.hosts)


def _own_settings(cfg: config.Config) -> OwnSettings:
    known = {f.name: f for f in fields(OwnSettings)}
    for key in cfg.section("greylogd"):
        if key not in known:
            entry = cfg.entry("greylogd", key)
            raise ConfigError(f"unknown key greylogd.{key} (known: {', '.join(known)})",
                              *((entry.file, entry.line, entry.col) if entry else ()))
    return OwnSettings(**{name: cfg.get("greylogd", name, f.metadata["kind"], f.default)
                          for name, f in known.items()})


def _groups(cfg: config.Config) -> dict[int, Direction]:
    fw = cfg.firewall_settings()
    if not fw.track_outbound:
        return {fw.inbound_group: Direction.INBOUND}
    if fw.inbound_group == fw.outbound_group:
        raise ConfigError("inbound and outbound NFLOG groups must not be the same", cfg.files[0])
    return {fw.inbound_group: Direction.INBOUND, fw.outbound_group: Direction.OUTBOUND}


def _refresher(own: OwnSettings, white_expiry: int) -> RefresherSettings:
    for key in ("batch_events", "flush_ms", "queue_bound", "max_backoff_ms"):
        if getattr(own, key) < 1:
            raise ConfigError(f"greylogd.{key} must be at least 1, not {getattr(own, key)}")
    return RefresherSettings(own.batch_events, own.flush_ms, own.queue_bound,
                             max_backoff_s=own.max_backoff_ms / 1000, white_expiry=white_expiry)


def overrides(cfg: config.Config, cli: CliOptions) -> dict[str, dict[str, config.Value]]:
    """The CLI flags as greyd's per-key config overrides (main_greylogd.c); -Y appends to sync.hosts."""
    out: dict[str, dict[str, config.Value]] = {"default": {}, "firewall": {}, "grey": {}, "sync": {}}
    if cli.inbound_only:
        out["firewall"]["track_outbound"] = 0
    if cli.white_hours is not None:
        out["grey"]["white_expiry"] = cli.white_hours * 3600
    if cli.sync_targets:
        out["sync"]["hosts"] = [*cfg.sync_settings().hosts, *cli.sync_targets]
    if cli.sync_port is not None:
        out["sync"]["port"] = cli.sync_port
    if cli.pidfile:
        out["default"]["greylogd_pidfile"] = cli.pidfile
    if cli.debug:
        out["default"]["debug"] = 1
    return {name: keys for name, keys in out.items() if keys}


def build(cfg: config.Config, cli: CliOptions) -> DaemonSettings:
    """Settings from a config that already carries the CLI overrides; ConfigError for anything unusable.

    greylogd only sends sync updates, so sync.bind_address is dropped as greyd does.
    """
    own, grey = _own_settings(cfg), cfg.grey_settings()
    log = LogSettings(bool(cfg.get("default", "debug", int, 0)),
                      bool(cfg.get("default", "syslog_enable", int, 1)),
                      cfg.get("default", "log_to_file", str, None))
    return DaemonSettings(
        groups=_groups(cfg), white_expiry=grey.white_expiry, user=grey.user,
        drop_privs=bool(cfg.get("default", "drop_privs", int, 1)),
        pidfile=cfg.get("default", "greylogd_pidfile", str, DEFAULT_PIDFILE), backend=cli.backend, log=log,
        database=cfg.database_settings(), sync=dataclasses.replace(cfg.sync_settings(), bind_address=None),
        refresher=_refresher(own, grey.white_expiry), own=own)


def load(cli: CliOptions) -> tuple[DaemonSettings, config.Config]:
    """Read cli.config, merge the CLI over it and build the settings; the merged Config is returned for
    its warnings and for --check."""
    cfg = config.load(cli.config)
    cfg = cfg.with_overrides(overrides(cfg, cli))
    return build(cfg, cli), cfg
