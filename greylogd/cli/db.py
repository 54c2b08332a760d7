"""greylogd-db: greydb's listing, add and delete on greyd's SQLite, PostgreSQL or MySQL database.

Output and semantics follow greyd's greydb (spec/greyd-compat.md 6), so scripts written for greydb keep
working; --json and --print-schema are greylogd's additions.
"""

from __future__ import annotations

import argparse
import io
import sys
import time
from collections.abc import Sequence

from greylogd import config
from greylogd.errors import GreylogdError
from greylogd.greydb.keys import greydb_entry, greydb_key
from greylogd.greydb.listing import write_listing
from greylogd.greydb.open import open_store
from greylogd.greydb.schema import SCHEMAS
from greylogd.greydb.store import Entry, Kind

PROG = "greylogd-db"
DEFAULT_CONFIG = "/etc/greyd/greyd.conf"

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
  greylogd-db -d 192.0.2.10            delete a WHITE or TRAPPED row"""


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog=PROG, description=_DESCRIPTION, epilog=_EPILOG,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
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
        grey = conf.grey_settings()
        entries, failed = _entries(args, int(time.time()), grey.white_expiry, grey.trap_expiry)
        if entries:
            (store.add if args.add else store.delete)(entries)
        return min(failed, 125)
    finally:
        store.close()


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
