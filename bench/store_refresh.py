"""Refreshes committed per second by Store.refresh_white, for batches of 1, 100 and 1000 addresses, on
SQLite (a file in --dir), PostgreSQL 15 and MariaDB (started on loopback like the tests do).

Each case runs whole batches for about --seconds; half of every batch refreshes existing WHITE rows (drawn
at random from all rows so far, seeded) and half creates new ones, which is what a busy gateway sees. With
--preload N the database first gets N WHITE rows of scattered addresses, untimed: a large greyd database
makes every refresh touch pages all over the file, which costs SQLite far more than a fresh one.
Target: >= 20000/s on SQLite in batches of 1000.

    .venv/bin/python bench/store_refresh.py [--seconds 2] [--drivers sqlite,postgresql,mysql] [--dir /tmp]
                                            [--preload 200000]
"""

from __future__ import annotations

import argparse
import contextlib
import itertools
import random
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # tests.integration.servers

from greylogd.greydb.mysql import MysqlStore
from greylogd.greydb.postgres import PostgresStore
from greylogd.greydb.sqlbase import SqlStore
from greylogd.greydb.sqlite import SqliteStore
from tests.integration.servers import MariadbServer, PostgresServer

BATCHES = (1, 100, 1000)
NOW, WHITE_EXPIRY = 1_800_000_000, 3_110_400


def addresses() -> Iterator[str]:
    """Distinct IPv4 texts in 10.0.0.0/8, scattered (a multiplicative permutation of 2**24), fixed order."""
    for n in itertools.count():
        m = n * 0x9E3779 % (1 << 24)
        yield f"10.{m >> 16}.{m >> 8 & 255}.{m & 255}"


def run_case(store: SqlStore, size: int, seconds: float, preload: int) -> tuple[int, float]:
    """After `preload` untimed new rows, commit batches of `size` (half existing rows, half new) for
    ~`seconds`; returns (refreshes, elapsed s)."""
    fresh, seen, pick = addresses(), [], random.Random(1)
    while len(seen) < preload:
        seen.extend(itertools.islice(fresh, min(5000, preload - len(seen))))
        store.refresh_white(dict.fromkeys(seen[-5000:], 1), NOW, WHITE_EXPIRY)
    done, started = 0, time.perf_counter()
    while time.perf_counter() - started < seconds:
        old = pick.sample(seen, min(size // 2, len(seen))) if size > 1 else []
        new = [next(fresh) for _ in range(size - len(old))]
        store.refresh_white(dict.fromkeys(old + new, 1), NOW, WHITE_EXPIRY)
        seen.extend(new)
        done += size
    return done, time.perf_counter() - started


@contextlib.contextmanager
def open_driver(name: str, directory: str) -> Iterator[Callable[[], SqlStore]]:
    """A factory of empty stores on `name`; servers live for the whole driver run."""
    if name == "sqlite":
        counter = itertools.count()
        yield lambda: SqliteStore(tempfile.mkdtemp(dir=directory), f"bench{next(counter)}.sqlite")
        return
    server_cls, store_cls = (PostgresServer, PostgresStore) if name == "postgresql" else (MariadbServer,
                                                                                          MysqlStore)
    with server_cls() as server:
        def fresh() -> SqlStore:
            server.reset_greyd_schema()
            p = server.params()
            return store_cls(host=p["host"], port=p["port"], user=p["user"], greyd_host="bench")
        yield fresh


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seconds", type=float, default=2.0, help="time per case (default 2)")
    parser.add_argument("--drivers", default="sqlite,postgresql,mysql", help="comma-separated")
    parser.add_argument("--dir", default=tempfile.gettempdir(), help="where SQLite files go (default /tmp)")
    parser.add_argument("--preload", type=int, default=0, help="WHITE rows created before timing (default 0)")
    args = parser.parse_args()
    print(f"{'driver':<11} {'batch':>6} {'refreshes':>10} {'seconds':>8} {'refreshes/s':>12}")
    for name in args.drivers.split(","):
        with open_driver(name, args.dir) as fresh:
            for size in BATCHES:
                store = fresh()
                try:
                    done, elapsed = run_case(store, size, args.seconds, args.preload)
                finally:
                    store.close()
                print(f"{name:<11} {size:>6} {done:>10} {elapsed:>8.2f} {done / elapsed:>12.0f}", flush=True)


if __name__ == "__main__":
    main()
