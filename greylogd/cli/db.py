"""greylogd-db: greydb's listing, add and delete on greyd's SQLite, PostgreSQL or MySQL database.

Output and semantics follow greyd's greydb (spec/greyd-compat.md 6), so scripts written for greydb keep
working; --json and --print-schema are greylogd's additions. -a/-d of WHITE and TRAPPED keys are synced to
greyd/spamd peers like greydb's (spec 4.6) when sync.enable = 1 and there are targets (sync.hosts, -Y).
"""

from __future__ import annotations

import argparse
import io
import sys
import time
from collections.abc import Sequence
from ipaddress import ip_address

from greylogd import config, daemon_settings, sync
from greylogd.cli.daemon import help_formatter
from greylogd.errors import GreylogdError
from greylogd.greydb.keys import greydb_entry, greydb_key
from greylogd.greydb.listing import write_listing
from greylogd.greydb.open import open_store
from greylogd.greydb.schema import SCHEMAS
from greylogd.greydb.store import Entry, Kind, Store
from greylogd.syncsender import SyncSender

PROG = "greylogd-db"
DEFAULT_CONFIG = "/etc/greyd/greyd.conf"
_SYNC_KIND = {(True, Kind.WHITE): sync.TlvType.WHITE, (True, Kind.TRAPPED): sync.TlvType.TRAPPED,
              (False, Kind.WHITE): sync.TlvType.DEL_WHITE, (False, Kind.TRAPPED): sync.TlvType.DEL_TRAPPED}

_DESCRIPTION = """\
List, add and delete entries in greyd's database, exactly like greyd's greydb.

Without -a or -d, every row is printed, one per line, `|`-separated, times in Unix seconds:
  GREY|<ip>|<helo>|<from>|<to>|<first>|<pass>|<expire>|<bcount>|<pcount>
  WHITE|<ip>|||<first>|<pass>|<expire>|<bcount>|<pcount>
  TRAPPED|<ip>|<expire>
  SPAMTRAP|<address>
  DOMAIN|<domain>
With -a or -d the remaining arguments are keys (empty ones are skipped): numeric IPv4/IPv6 addresses
for WHITE (default) and TRAPPED (-t), email addresses for SPAMTRAP (-T), domains for DOMAIN (-D).
Addresses and domains are lower-cased and stripped of \\ " < > as greyd does."""

_EPILOG = """\
semantics (greydb's):
  -a WHITE    new: first = pass = now, expire = now + grey.white_expiry, bcount 1, pcount 0;
              existing: pcount + 1, pass = now, expire refreshed (a TRAPPED row becomes WHITE)
  -a -t       new: first = now, pass 0, expire = now + grey.trap_expiry, bcount 1, pcount -1;
              existing: pcount -1, expire refreshed
  -d          deletes the key whatever its kind; a missing key is not an error
  GREY tuples cannot be added or deleted.

sync (greydb's, spec/greyd-compat.md 4.6), after the database commit, one datagram per key and target:
  -a          SYNC_WHITE (-t: SYNC_TRAPPED), timestamp now, expire as stored
  -d          SYNC_DEL_WHITE (-t: SYNC_DEL_TRAPPED), expire 0; greyd-only types, OpenBSD spamd drops them
  targets     sync.hosts plus every -Y (an IPv4 host on sync.port, or a multicast interface[:ttl]);
              nothing is sent unless sync.enable = 1 (else the warning `sync disabled by configuration`)
  never sent  -T and -D keys, IPv6 addresses (greyd would send 255.255.255.255, which peers whitelist)

exit status:
  0    success
  1    configuration or database error (one line on stderr)
  N    with -a/-d: the number of keys that were rejected (like greydb), at most 125
  2    usage error

PostgreSQL/MySQL setup: greyd does not create its tables; load greyd's schema once:
  greylogd-db --print-schema postgresql | psql -U greyd greyd
  greylogd-db --print-schema mysql | mysql -u greyd greyd

examples:
  greylogd-db                          list everything (greydb format)
  greylogd-db --json | jq .            list as JSON Lines
  greylogd-db -a 192.0.2.10 2001:db8::1
  greylogd-db -t -a 198.51.100.7       trap an address
  greylogd-db -T -a spam.trap@example.org
  greylogd-db -D -a @example.org
  greylogd-db -d 192.0.2.10            delete a WHITE or TRAPPED row
  greylogd-db -Y 192.0.2.20 -a 192.0.2.10   whitelist here and on the peer 192.0.2.20"""


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog=PROG, description=_DESCRIPTION, epilog=_EPILOG,
                                     formatter_class=help_formatter)
    parser.add_argument("-f", dest="config", default=DEFAULT_CONFIG, metavar="CONFIG",
                        help=f"greyd.conf with the database and grey sections (default {DEFAULT_CONFIG})")
    action = parser.add_mutually_exclusive_group()
    action.add_argument("-a", dest="add", action="store_true", help="add or update the KEYS")
    action.add_argument("-d", dest="delete", action="store_true", help="delete the KEYS")
    action.add_argument("--print-schema", choices=sorted(SCHEMAS), metavar="{mysql,postgresql}",
                        help="print greyd's schema for that server (to pipe into psql/mysql) and exit")
    kind = parser.add_mutually_exclusive_group()
    kind.add_argument("-t", dest="kind", action="store_const", const=Kind.TRAPPED,
                      help="KEYS are TRAPPED IP addresses")
    kind.add_argument("-T", dest="kind", action="store_const", const=Kind.SPAMTRAP,
                      help="KEYS are SPAMTRAP email addresses (must contain @)")
    kind.add_argument("-D", dest="kind", action="store_const", const=Kind.DOMAIN,
                      help="KEYS are permitted DOMAINs")
    parser.add_argument("-Y", dest="sync_targets", metavar="synctarget", action="append", default=[],
                        help="with -a/-d, also sync WHITE/TRAPPED changes to this IPv4 host (sync.port) or "
                             "multicast via interface[:ttl], added to sync.hosts; needs sync.enable = 1; "
                             "repeatable")
    parser.add_argument("--json", action="store_true",
                        help="list as JSON Lines (kind, ip, helo, from, to, first, pass, expire, bcount, "
                             "pcount, greyd_host) instead of greydb's format")
    parser.add_argument("keys", nargs="*", metavar="KEYS", help="keys for -a/-d")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = _parser()
    args = parser.parse_args(argv)
    if args.print_schema:
        sys.stdout.write(SCHEMAS[args.print_schema])
        return 0
    modify = args.add or args.delete
    if not modify and (args.kind or args.keys):
        parser.error("-t, -T, -D and keys need -a or -d")
    if modify and args.json:
        parser.error("--json only applies to the listing")
    if args.sync_targets and not modify:
        parser.error("-Y needs -a or -d")
    try:
        return _run(args)
    except (GreylogdError, OSError) as exc:
        print(f"{PROG}: {exc}", file=sys.stderr)
        return 1


def _run(args: argparse.Namespace) -> int:
    conf = config.load(args.config)
    for warning in conf.warnings:
        print(f"{PROG}: warning: {warning}", file=sys.stderr)
    store = open_store(conf.database_settings())
    try:
        if not (args.add or args.delete):
            if isinstance(sys.stdout, io.TextIOWrapper):  # raw network bytes back out as greydb prints them
                sys.stdout.reconfigure(errors="surrogateescape")
            write_listing(store.iter_entries(), sys.stdout, as_json=args.json)
            return 0
        return _modify(conf, args, store)
    finally:
        store.close()


def _modify(conf: config.Config, args: argparse.Namespace, store: Store) -> int:
    """-a/-d: change the rows, then sync them; returns how many keys were rejected (at most 125)."""
    grey, now = conf.grey_settings(), int(time.time())
    entries, failed = _entries(args, now, grey.white_expiry, grey.trap_expiry)
    sender = _sender(conf, args)  # before the change: a bad sync setting changes nothing
    try:
        if entries:
            (store.add if args.add else store.delete)(entries)
        if sender is not None:
            _sync(sender, _SYNC_KIND[bool(args.add), args.kind or Kind.WHITE], entries, now)
    finally:
        if sender is not None:
            sender.close()
    return min(failed, 125)


def _sender(conf: config.Config, args: argparse.Namespace) -> SyncSender | None:
    """greydb's sync setup: a sender when WHITE/TRAPPED keys change and sync.hosts (plus -Y) is not
    empty; with sync.enable = 0 greydb's warning instead. -Y appends to sync.hosts as for greylogd."""
    cli = daemon_settings.CliOptions(sync_targets=tuple(args.sync_targets))
    cfg = conf.with_overrides(daemon_settings.overrides(conf, cli)).sync_settings()
    if args.kind not in (None, Kind.TRAPPED) or not cfg.hosts:
        return None
    if not cfg.enable:
        print(f"{PROG}: sync disabled by configuration", file=sys.stderr)
        return None
    return SyncSender.open(cfg)


def _sync(sender: SyncSender, kind: sync.TlvType, entries: list[Entry], now: int) -> None:
    """One update per changed key: timestamp now, expire as stored (0 for deletions); IPv6 is reported."""
    for entry in entries:
        for skipped in sender.send_addresses(kind, [ip_address(entry.ip)], now, entry.expire):
            print(f"{PROG}: not syncing {skipped}: greyd's sync is IPv4-only", file=sys.stderr)


def _entries(args: argparse.Namespace, now: int, white_expiry: int,
             trap_expiry: int) -> tuple[list[Entry], int]:
    """Valid keys as entries (the rows -a creates when new), and how many keys were rejected (reported)."""
    kind = args.kind or Kind.WHITE
    entries, failed = [], 0
    for key in (k for k in args.keys if k):
        try:
            if args.add:
                entries.append(greydb_entry(kind, key, now, white_expiry, trap_expiry))
            else:
                entries.append(Entry(kind, greydb_key(kind, key)))
        except ValueError as exc:
            print(f"{PROG}: {exc}", file=sys.stderr)
            failed += 1
    return entries, failed
