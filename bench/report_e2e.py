"""End-to-end time and peak memory of greylogd-report on a simulated week.

For each size (kernel-logged connections), builds a demo world once (in a child process, timed
separately; kept in --work so reruns skip it), then runs `greylogd-report` in a fresh child process on
its kernel log, greyd log, greyd SQLite file and ledger with every output format, and prints the wall
time and that child's peak RSS (os.wait4 rusage of exactly that child).

    .venv/bin/python bench/report_e2e.py --sizes 1000000 --work /var/tmp/greylogd-bench
Targets (issue 8): 10M connections under 60 s and 4 GB.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import time
from pathlib import Path


def _world(work: Path, size: int) -> tuple[Path, float]:
    folder = work / f"world-{size}"
    if (folder / "truth.json").exists():
        return folder, 0.0
    started = time.perf_counter()
    # in a child: a fork of a process that built a big world would inherit its peak RSS figure
    code = f"from greylogd.demo import build_world; build_world({str(folder)!r}, seed=1, connections={size})"
    subprocess.run([sys.executable, "-c", code], check=True)
    return folder, time.perf_counter() - started


def _run(folder: Path, out: Path, no_greyd_log: bool) -> tuple[float, float, str]:
    """(wall s, peak RSS MB, output if it failed else "") of one report run in a child process."""
    argv = [sys.executable, "-m", "greylogd.cli.report", "--period", "2026-W47", "--log-tz", "UTC",
            "--kernel-log", str(folder / "kern.log"), "--db", str(folder / "greyd.sqlite"),
            "--ledger", str(folder / "ledger.sqlite"), "--out", str(out)]
    if not no_greyd_log:
        argv += ["--greyd-log", str(folder / "greyd.log")]
    log = out.with_suffix(".log")
    out.parent.mkdir(parents=True, exist_ok=True)
    started = time.perf_counter()
    with log.open("wb") as sink:
        child = subprocess.Popen(argv, stdout=sink, stderr=subprocess.STDOUT)
        _, status, usage = os.wait4(child.pid, 0)
    wall = time.perf_counter() - started
    child.returncode = os.waitstatus_to_exitcode(status)
    return wall, usage.ru_maxrss / 1024, log.read_text(errors="replace") if child.returncode else ""


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", default="1000000", help="comma-separated connection counts")
    parser.add_argument("--work", type=Path, default=Path("/var/tmp/greylogd-bench"))
    parser.add_argument("--no-greyd-log", action="store_true", help="leave the greyd log out")
    args = parser.parse_args()
    print(f"{'connections':>12} {'kern.log MB':>11} {'greyd.log MB':>12} {'build s':>8} {'report s':>9} "
          f"{'peak RSS MB':>11}")
    for size in (int(s) for s in args.sizes.split(",")):
        folder, built = _world(args.work, size)
        wall, rss, failure = _run(folder, args.work / f"out-{size}", args.no_greyd_log)
        mb = [(folder / name).stat().st_size / 2**20 for name in ("kern.log", "greyd.log")]
        print(f"{size:>12} {mb[0]:>11.1f} {mb[1]:>12.1f} {built:>8.1f} {wall:>9.1f} {rss:>11.0f}", flush=True)
        if failure:
            print(failure[-2000:])
            return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
