"""`greylogd ledger`: poll greyd's database into greylogd's tuple ledger, once (cron) or every interval.

The daemon polls by itself when `section greylogd { ledger = "..." }` is set; this command is for sites
that run greyd's own C greylogd, or want the ledger without the daemon. Settings come from the same
greyd.conf through daemon_settings (one parser, one set of keys). Exit status: 0 success, 1 a database
or ledger error (one line on stderr; the next run catches up, nothing is lost), 2 usage or config error.
"""

from __future__ import annotations

import argparse
import logging
import signal
import sys
import threading
import time
from collections.abc import Sequence
from typing import TYPE_CHECKING

from greylogd import daemon_settings
from greylogd.daemon_parts import LazyStore
from greylogd.errors import ConfigError, GreylogdError
from greylogd.greydb.store import Store

if TYPE_CHECKING:  # imported in main(): `greylogd --help` lists our flags; pandas costs the daemon 70 MB
    from greylogd.ledger import Ledger, PollResult

PROG = "greylogd ledger"
DEFAULT_LEDGER = "/var/lib/greylogd/ledger.sqlite"
GREYD_SCAN_S = 60
PRUNE_EVERY_S = 86400
log = logging.getLogger("greylogd.ledger")

_EPILOG = f"""\
The ledger records every GREY tuple of greyd's database with its retries and outcome (promoted, expired,
trapped, pending), so the weekly report can name sender domains. Polls must come faster than greyd's
{GREYD_SCAN_S} s scan for exact timestamps; a missed poll loses no tuple.

keys (greyd.conf, section greylogd):
  ledger           the ledger file (default here: {DEFAULT_LEDGER}; --ledger wins)
  ledger_interval  seconds between polls without --once (default 20, 1..{GREYD_SCAN_S - 1})

examples:
  greylogd ledger --once -f /etc/greyd/greyd.conf          (from cron: * * * * *)
  greylogd ledger -f /etc/greyd/greyd.conf --ledger /var/lib/greylogd/ledger.sqlite"""


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog=PROG, description=__doc__.splitlines()[0], epilog=_EPILOG,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--once", action="store_true", help="poll once, prune, and exit (for cron)")
    parser.add_argument("-f", dest="config", default=daemon_settings.DEFAULT_CONFIG, metavar="CONFIG",
                        help=f"greyd.conf (default {daemon_settings.DEFAULT_CONFIG})")
    parser.add_argument("--ledger", metavar="PATH", help="ledger file (overrides greylogd.ledger)")
    parser.add_argument("--retention-days", type=int, metavar="DAYS",
                        help="keep closed tuples DAYS days, 0 = forever (default greyd.conf)")
    parser.add_argument("-v", "--verbose", action="store_true", help="print each poll's counts")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = _parser()
    args = parser.parse_args(argv)
    level = logging.INFO if args.verbose else logging.WARNING
    logging.basicConfig(level=level, format=f"{PROG}: %(message)s")
    if args.retention_days is not None and args.retention_days < 0:
        parser.error(f"--retention-days must be 0 (forever) or more, not {args.retention_days}")
    try:
        settings, _ = daemon_settings.load(daemon_settings.CliOptions(config=args.config))
        interval = _interval(settings.own.ledger_interval)
        retention = settings.own.ledger_retention_days if args.retention_days is None else args.retention_days
    except GreylogdError as exc:
        print(f"{PROG}: {exc}", file=sys.stderr)
        return 2
    store = LazyStore(settings)
    path = args.ledger or settings.own.ledger or DEFAULT_LEDGER
    from greylogd.ledger import Ledger

    try:
        with Ledger(path, retention_days=retention, white_expiry=settings.white_expiry) as ledger:
            return _once(ledger, store) if args.once else _loop(ledger, store, interval)
    except GreylogdError as exc:
        print(f"{PROG}: {exc}", file=sys.stderr)
        return 1
    finally:
        store.close()


def _interval(seconds: int) -> int:
    if not 1 <= seconds < GREYD_SCAN_S:
        raise ConfigError(f"greylogd.ledger_interval must be 1..{GREYD_SCAN_S - 1} s (below greyd's "
                          f"{GREYD_SCAN_S} s scan), not {seconds}")
    return seconds


def _report(result: PollResult) -> None:
    log.info("new %d, retried %d, promoted %d, expired %d, trapped %d, pending %d", result.new,
             result.retried, result.promoted, result.expired, result.trapped, result.pending)


def _once(ledger: Ledger, store: Store) -> int:
    """One poll and a prune; errors propagate as GreylogdError (exit 1)."""
    now = int(time.time())
    _report(ledger.poll(store, now))
    _prune(ledger, now)
    return 0


def _prune(ledger: Ledger, now: int) -> None:
    """Prune unless the retention is 0 (keep forever), logging what went."""
    if ledger.retention_days > 0:
        log.info("pruned %d closed tuples first seen more than %d days ago", ledger.prune(now),
                 ledger.retention_days)


def _loop(ledger: Ledger, store: Store, interval: int) -> int:
    """Poll every `interval` s until SIGTERM/SIGINT; a failed poll is logged and retried next time."""
    stop = threading.Event()
    for signum in (signal.SIGTERM, signal.SIGINT):
        signal.signal(signum, lambda *_: stop.set())
    next_prune = 0.0
    while not stop.is_set():
        started = time.monotonic()
        try:
            _report(ledger.poll(store, int(time.time())))
            if started >= next_prune:
                _prune(ledger, int(time.time()))
                next_prune = started + PRUNE_EVERY_S
        except GreylogdError as exc:
            log.warning("poll failed, retrying in %d s: %s", interval, exc)
        stop.wait(max(0.0, interval - (time.monotonic() - started)))
    return 0
