"""Benchmark: read_greydlog(columns=weekly.EVENT_COLUMNS) on the demo worlds' greyd logs.

Usage: .venv/bin/python bench/greydlog.py [--sizes 1000000 10000000] [--root /var/tmp/greylogd-bench]

For each size it reads ``<root>/world-<size>/greyd.log`` (built by bench/demo_world.py) once in a child
process and prints wall seconds, CPU seconds (user + system of every thread: independent of what else
runs on the machine), lines/s, CPU microseconds per line, the child's peak RSS, and the counts it
found (events, bad lines, skipped) so runs can be compared. The 1-minute load average is printed
before each run: figures, not assertions; on a shared machine read the CPU seconds.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import time
from pathlib import Path


def child(path: str) -> None:
    """One read_greydlog of ``path``; its figures as one JSON line."""
    from greylogd.analysis.greydlog import read_greydlog
    from greylogd.analysis.weekly import EVENT_COLUMNS
    start, cpu = time.perf_counter(), time.process_time()
    result = read_greydlog(path, tz="UTC", progress=False, columns=EVENT_COLUMNS)
    figures = {"seconds": time.perf_counter() - start, "cpu": time.process_time() - cpu,
               "rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, "lines": result.lines,
               "counts": [len(result.events), len(result.bad_lines), result.skipped]}
    print(json.dumps(figures))


def bench(path: Path) -> None:
    """Read ``path`` in a child process (its own peak RSS) and print one line of figures."""
    subprocess.run(["cat", str(path)], check=True, stdout=subprocess.DEVNULL)  # from the page cache
    load = os.getloadavg()[0]
    out = subprocess.run([sys.executable, __file__, "--child", str(path)], check=True, stdout=subprocess.PIPE,
                         text=True).stdout
    f = json.loads(out)
    counts = ", ".join(f"{n:,}" for n in f["counts"])
    print(f"{path}: {f['lines']:,} lines, {path.stat().st_size / 1e6:,.0f} MB, load {load:.2f}\n"
          f"  read_greydlog  {f['seconds']:6.2f} s  CPU {f['cpu']:6.2f} s  "
          f"{f['lines'] / f['seconds']:11,.0f} lines/s  {f['cpu'] / f['lines'] * 1e6:.3f} CPU us/line  "
          f"peak RSS {f['rss_mb']:6,.0f} MB  (events, bad, skipped: {counts})", flush=True)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[1_000_000, 10_000_000])
    parser.add_argument("--root", type=Path, default=Path("/var/tmp/greylogd-bench"))
    parser.add_argument("--child", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:
        child(args.child)
        return 0
    for size in args.sizes:
        bench(args.root / f"world-{size}" / "greyd.log")
    return 0


if __name__ == "__main__":
    sys.exit(main())
