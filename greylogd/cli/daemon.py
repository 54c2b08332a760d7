"""`greylogd`: the command line, flag-compatible with greyd's greylogd(8); `greylogd ledger ...` dispatches
to greylogd.cli.ledger. Exit status: 0 after a clean stop (or --check / --help), 1 on a fatal runtime error
(CRIT logged: pidfile locked, capture cannot be bound, privileges cannot be dropped, netlink failure), 2 for
usage and configuration errors (one line naming file:line:col or the flag).
"""

from __future__ import annotations

import argparse
import dataclasses
import os
import sys
import textwrap

from greylogd import config_describe, logsetup
from greylogd.config import Config
from greylogd.daemon_settings import (
    DEFAULT_CONFIG,
    DEFAULT_PIDFILE,
    CliOptions,
    DaemonSettings,
    OwnSettings,
    load,
)
from greylogd.errors import GreylogdError

HELP_WIDTH = 110  # the project's line length; the epilog's tables are laid out for it
DESCRIPTION = """\
Refresh WHITE entries in greyd's database from NFLOG connection events, like greyd's greylogd, without
ever losing a refresh: events are batched (one transaction per batch, one pcount increment per connection),
kept and retried with backoff while the database is busy or down, spilled to an fsync'd journal when memory
fills, and flushed at shutdown. SYNC_WHITE updates go to greyd/spamd peers (IPv4 only).
"""

EPILOG_TEMPLATE = """\
commands:
  greylogd [options]    run the daemon (the options above)
  greylogd ledger ...   poll greyd's database into the tuple ledger without the daemon, once (--once, from
                        cron) or every greylogd.ledger_interval s; its flags:
{ledger}
                        (`greylogd ledger --help` for details)

configuration (greyd.conf, greyd's syntax; the CLI wins over the file):
  firewall   inbound_group (155), outbound_group (255), track_outbound (1)
  database   driver (sqlite/postgresql/mysql module), path, db_name, host, port, name, user, pass,
             busy_timeout (ms, greylogd's own: longest wait for greyd's SQLite lock per attempt)
  grey       user (account to run as, "greydb"), white_expiry (seconds, 3110400)
  sync       enable (0), hosts [list], port (8025), verify (1), key (/etc/greyd/greyd.key), ttl,
             mcast_address (224.0.1.241)
  globals    debug, syslog_enable, log_to_file, drop_privs, daemonize, greylogd_pidfile, hostname
  section greylogd { ... }, greylogd's own keys:
{own}

logging:
  syslog ident greylogd, facility daemon (journald reads it); with syslog_enable = 0, or outside systemd,
  also stderr as `greylogd[pid]: message` like greyd. INFO `whitelisting <ip>` per refreshed address,
  `listening, in both directions`, `exiting` and a `totals:` line (received, refreshed, spilled, retries,
  kernel drops) at exit; DEBUG (-d) adds greyd's `packet received: ...` per event.

files:
  /etc/greyd/greyd.conf            configuration (greyd's own file; greyd ignores `section greylogd`)
  /etc/greyd/greyd.key             sync HMAC key (sync.key; its hex SHA-1 is the key, as greyd)
  /var/run/greylogd/greylogd.pid   pidfile: decimal PID + NUL, locked while running (-P, greylogd_pidfile)
  /var/lib/greylogd/spill.journal  batches waiting for the database (greylogd.spill_journal)
  /var/lib/greylogd/ledger.sqlite  the tuple ledger, when greylogd.ledger names it (or a postgresql:// URI)

signals:
  SIGTERM, SIGINT, SIGQUIT  drain the capture, commit until shutdown_timeout, spill the rest, exit 0
  SIGHUP                    re-read the configuration; queued events are kept; a bad file is logged and
                            the running configuration stays

exit status:
  0  stopped by a signal, or --check / --help
  1  fatal runtime error (logged at CRIT): pidfile locked, capture or privilege drop failed, netlink error
  2  usage or configuration error

examples:
  greylogd -f /etc/greyd/greyd.conf -P /var/run/greylogd/greylogd.pid
  greylogd --foreground -I -W 744 -Y 192.0.2.20 -Y eth1:2      (systemd: see contrib/greylogd.service)
  greylogd --check -f /etc/greyd/greyd.conf                     (print the settings understood, exit)
  greylogd ledger --help                                        (the tuple ledger's commands)
"""


def _own_help() -> str:
    """One row per OwnSettings key: name, doc and default, the doc wrapped under the name column."""
    width = max(len(f.name) for f in dataclasses.fields(OwnSettings)) + 2
    rows = []
    for f in dataclasses.fields(OwnSettings):
        text = f"{f.metadata['doc']} (default {f.default!r})"
        rows.append(textwrap.fill(text, HELP_WIDTH, initial_indent=f"    {f.name:<{width}}",
                                  subsequent_indent=" " * (4 + width)))
    return "\n".join(rows)


def _ledger_parser() -> argparse.ArgumentParser:
    from greylogd.cli.ledger import _parser as ledger_parser

    return ledger_parser()


def _ledger_help() -> str:
    """The `greylogd ledger` flags, one per line, from that command's own parser (never a stale copy)."""
    rows = []
    for action in _ledger_parser()._actions:
        flags = ", ".join(action.option_strings)
        if action.metavar:
            flags += f" {action.metavar}"
        rows.append(f"{'':24}{flags:<24}{action.help}")
    return "\n".join(rows)


def _hours(text: str) -> int:
    if not text.isdigit() or not 1 <= int(text) <= 2160:
        raise argparse.ArgumentTypeError(f"invalid white expiry {text!r}: hours from 1 to 2160")
    return int(text)


def _port(text: str) -> int:
    if not text.isdigit() or not 1 <= int(text) <= 65535:
        raise argparse.ArgumentTypeError(f"invalid sync port {text!r}")
    return int(text)


def help_formatter(prog: str) -> argparse.HelpFormatter:
    """Help laid out at HELP_WIDTH whatever the terminal, descriptions and epilogs kept as written (their
    tables are aligned by hand); shared by the greylogd commands."""
    return argparse.RawDescriptionHelpFormatter(prog, max_help_position=24, width=HELP_WIDTH)


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="greylogd", description=DESCRIPTION, formatter_class=help_formatter,
        epilog=EPILOG_TEMPLATE.replace("{own}", _own_help()).replace("{ledger}", _ledger_help()))
    p.add_argument("-f", dest="config", metavar="config", default=DEFAULT_CONFIG,
                   help=f"greyd configuration file (default {DEFAULT_CONFIG})")
    p.add_argument("-I", dest="inbound_only", action="store_true",
                   help="track inbound connections only (firewall.track_outbound = 0): the outbound NFLOG "
                        "group is not bound")
    p.add_argument("-W", dest="white_hours", metavar="hours", type=_hours,
                   help="white entry expiry in hours, 1..2160 (grey.white_expiry = hours * 3600)")
    p.add_argument("-Y", dest="sync_targets", metavar="synctarget", action="append", default=[],
                   help="also send SYNC_WHITE updates to this IPv4 host (on sync.port) or, for anything that "
                        "does not resolve to IPv4, by multicast via interface[:ttl]; appended to sync.hosts; "
                        "repeatable; sync.enable = 1 is still required, as in greyd")
    p.add_argument("-P", dest="pidfile", metavar="pidfile",
                   help=f"pidfile (greylogd_pidfile, default {DEFAULT_PIDFILE}): PID and a NUL byte, locked "
                        "while running")
    p.add_argument("-d", dest="debug", action="store_true",
                   help="debug logging (debug = 1): greyd's `packet received: ...` line per event")
    p.add_argument("-p", dest="sync_port", metavar="syncport", type=_port,
                   help="UDP port of every sync target (sync.port, default 8025)")
    p.add_argument("--foreground", action="store_true",
                   help="do not daemonize (as daemonize = 0); under systemd (NOTIFY_SOCKET set) greylogd "
                        "never daemonizes")
    p.add_argument("--check", action="store_true",
                   help="print the configuration as understood (every key with its file:line or `default`, "
                        "warnings) and the settings after the command line, then exit 0 (2 on an error)")
    p.add_argument("--backend", choices=("nflog", "nfqueue"), default="nflog",
                   help="capture backend: nflog (default; the NFLOG groups of section firewall) or nfqueue "
                        "(queue greylogd.queue_num; each packet is accepted after its event is queued)")
    usage = p.format_usage().removeprefix("usage: ")
    ledger = _ledger_parser().format_usage().removeprefix("usage: ")
    p.usage = f"{usage.rstrip()}\n       {ledger.rstrip()}"
    return p


def _describe(settings: DaemonSettings, cfg: Config) -> str:
    """--check: the config as understood, then the merged settings (password hidden), `section greylogd` one
    key per line marked `# default` unless the file sets it."""
    database = dataclasses.replace(settings.database, password=config_describe.shown(
        "password", settings.database.password))
    merged = dataclasses.replace(settings, database=database)
    lines = [cfg.describe().rstrip(), "", "greylogd settings after the command line:"]
    lines += [f"  {f.name} = {getattr(merged, f.name)!r}" for f in dataclasses.fields(merged)
              if f.name != "own"]
    given = cfg.section("greylogd")
    for f in dataclasses.fields(OwnSettings):
        origin = "" if f.name in given else "  # default"
        lines.append(f"  greylogd.{f.name} = {getattr(settings.own, f.name)!r}{origin}")
    return "\n".join(lines)


def _daemonize() -> None:
    """greyd's daemon(1, 0): detach from the terminal; stdio to /dev/null, working directory kept."""
    if os.fork():
        os._exit(0)
    os.setsid()
    if os.fork():
        os._exit(0)
    null = os.open(os.devnull, os.O_RDWR)
    for fd in (0, 1, 2):
        os.dup2(null, fd)
    os.close(null)


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] == ["ledger"]:
        from greylogd.cli.ledger import main as ledger_main

        return ledger_main(argv[1:])
    args = _parser().parse_args(argv)
    cli = CliOptions(args.config, args.inbound_only, args.white_hours, tuple(args.sync_targets), args.pidfile,
                     args.debug, args.sync_port, args.foreground, args.backend)
    try:
        settings, cfg = load(cli)
    except GreylogdError as exc:
        print(f"greylogd: {exc}", file=sys.stderr)
        return 2
    if args.check:
        print(textwrap.dedent(_describe(settings, cfg)))
        return 0
    return _run(cli, settings, cfg)


def _run(cli: CliOptions, settings: DaemonSettings, cfg: Config) -> int:
    from greylogd import daemon_parts
    from greylogd.daemon import Daemon

    if not cli.foreground and "NOTIFY_SOCKET" not in os.environ and _daemonize_wanted(cfg):
        _daemonize()
    log = logsetup.configure(settings.log)
    daemon_parts.log_warnings(settings, cfg.warnings)
    try:
        return Daemon(cli, settings).run()
    except (GreylogdError, OSError) as exc:
        log.critical("%s", exc)
        return 1
    finally:
        logsetup.stop()


def _daemonize_wanted(cfg: Config) -> bool:
    value = cfg.globals.get("daemonize", 1)
    return not isinstance(value, int) or value != 0


if __name__ == "__main__":
    sys.exit(main())
