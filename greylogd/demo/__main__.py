"""`python -m greylogd.demo OUT_DIR [--seed N] [--connections N] ...`: build a simulated week."""

from __future__ import annotations

import argparse
import sys
import time

from greylogd.demo.params import DEFAULT_CONNECTIONS, DEFAULT_START, GreyParams
from greylogd.demo.syslogfmt import FORMATS
from greylogd.demo.world import build_world


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m greylogd.demo",
                                     description="Write a seeded, simulated week of a greyd mail gateway.")
    parser.add_argument("out_dir", metavar="OUT_DIR", help="directory for the logs, databases and truth")
    parser.add_argument("--seed", type=int, default=1, help="random seed (default 1)")
    parser.add_argument("--connections", type=int, default=DEFAULT_CONNECTIONS,
                        help=f"about this many kernel-logged connections (default {DEFAULT_CONNECTIONS})")
    parser.add_argument("--days", type=int, default=7, help="length of the period in days (default 7)")
    parser.add_argument("--start", default=DEFAULT_START.isoformat(),
                        help=f"period start, ISO date-time with zone (default {DEFAULT_START.isoformat()})")
    parser.add_argument("--syslog-format", choices=FORMATS, default="rfc3164")
    defaults = GreyParams()
    for name in ("pass_time", "grey_expiry", "white_expiry", "trap_expiry"):
        parser.add_argument(f"--{name.replace('_', '-')}", type=int, default=getattr(defaults, name),
                            metavar="SECONDS", help=f"greyd's {name} (default {getattr(defaults, name)})")
    parser.add_argument("--no-ledger", action="store_true", help="skip the ledger (for huge benchmarks)")
    return parser


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    started = time.perf_counter()
    try:
        params = GreyParams(args.pass_time, args.grey_expiry, args.white_expiry, args.trap_expiry)
        world = build_world(args.out_dir, seed=args.seed, start=args.start, days=args.days,
                            connections=args.connections, syslog_format=args.syslog_format, params=params,
                            ledger=not args.no_ledger)
    except ValueError as exc:
        print(f"greylogd.demo: {exc}", file=sys.stderr)
        return 2
    elapsed = time.perf_counter() - started
    print(f"{world.connections} connections, {world.start:%Y-%m-%d %H:%M} .. {world.end:%Y-%m-%d %H:%M} UTC,"
          f" seed {world.seed}, {elapsed:.1f} s")
    for path in (world.kern_log, world.greyd_log, world.greyd_db, world.ledger, world.truth):
        if path is not None:
            print(f"  {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
