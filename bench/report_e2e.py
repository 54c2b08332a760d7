"""End-to-end time, CPU and peak memory of greylogd-report on a simulated week.

For each size (kernel-logged connections, approximate: the demo makes about 15% fewer), builds a demo
world once (in a child process, timed separately; kept in --work so reruns skip it), then runs
`greylogd-report -v` in a fresh child process on its kernel log, greyd SQLite file and ledger, with
every output format, once with and/or once without the greyd log (--greyd-log). Per run it prints:
wall time, CPU seconds (user + system of exactly that child, from os.wait4: unlike wall time they do
not depend on what else runs on the machine), peak RSS of that child, the wall time of each phase as
the report logs it (read inputs / weekly tables / render outputs), and the 1-minute load average.

    .venv/bin/python bench/report_e2e.py --sizes 1000000 --work /var/tmp/greylogd-bench
Targets (issue 8): 10M connections under 60 s and 4 GB.
"""

from __future__ import annotations

import argparse
import os
import re
import subprocess
import sys
import time
from pathlib import Path

PHASES = ("inputs", "weekly", "render")
_PHASE = re.compile(r"greylogd-report: phase (\w+) ([0-9.]+) s")


def _world(work: Path, size: int) -> tuple[Path, float]:
    folder = work / f"world-{size}"
    if (folder / "truth.json").exists():
        return folder, 0.0
    started = time.perf_counter()
    # in a child: a fork of a process that built a big world would inherit its peak RSS figure
    code = f"from greylogd.demo import build_world; build_world({str(folder)!r}, seed=1, connections={size})"
    subprocess.run([sys.executable, "-c", code], check=True)
    return folder, time.perf_counter() - started


def _run(folder: Path, out: Path, greyd_log: bool) -> tuple[float, float, float, dict[str, float], str]:
    """(wall s, CPU s, peak RSS MB, phase -> wall s, output if it failed else "") of one report run."""
    argv = [sys.executable, "-m", "greylogd.cli.report", "-v", "--period", "2026-W47", "--log-tz", "UTC",
            "--kernel-log", str(folder / "kern.log"), "--db", str(folder / "greyd.sqlite"),
            "--ledger", str(folder / "ledger.sqlite"), "--out", str(out)]
    if greyd_log:
        argv += ["--greyd-log", str(folder / "greyd.log")]
    log = out.with_suffix(".log")
    out.parent.mkdir(parents=True, exist_ok=True)
    started = time.perf_counter()
    with log.open("wb") as sink:
        child = subprocess.Popen(argv, stdout=sink, stderr=subprocess.STDOUT)
        _, status, usage = os.wait4(child.pid, 0)
    wall = time.perf_counter() - started
    text = log.read_text(errors="replace")
    phases = {name: float(secs) for name, secs in _PHASE.findall(text)}
    failed = os.waitstatus_to_exitcode(status) != 0
    return wall, usage.ru_utime + usage.ru_stime, usage.ru_maxrss / 1024, phases, text if failed else ""


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", default="1000000", help="comma-separated connection counts")
    parser.add_argument("--work", type=Path, default=Path("/var/tmp/greylogd-bench"))
    parser.add_argument("--greyd-log", choices=("both", "with", "without"), default="both",
                        help="runs with and/or without the greyd log (default both)")
    args = parser.parse_args()
    modes = {"both": (False, True), "with": (True,), "without": (False,)}[args.greyd_log]
    print(f"{'connections':>11} {'kern MB':>7} {'greyd MB':>8} {'build s':>7} {'greyd log':>9} {'wall s':>6} "
          f"{'CPU s':>6} {'peak MB':>7} " + " ".join(f"{p + ' s':>8}" for p in PHASES) + f" {'load1':>5}")
    for size in (int(s) for s in args.sizes.split(",")):
        folder, built = _world(args.work, size)
        mb = [(folder / name).stat().st_size / 2**20 for name in ("kern.log", "greyd.log")]
        for greyd_log in modes:
            wall, cpu, rss, phases, failure = _run(folder, args.work / f"out-{size}", greyd_log)
            split = " ".join(f"{phases.get(p, float('nan')):>8.1f}" for p in PHASES)
            print(f"{size:>11} {mb[0]:>7.0f} {mb[1]:>8.0f} {built:>7.1f} {'yes' if greyd_log else 'no':>9} "
                  f"{wall:>6.1f} {cpu:>6.1f} {rss:>7.0f} {split} {os.getloadavg()[0]:>5.1f}", flush=True)
            built = 0.0
            if failure:
                print(failure[-2000:])
                return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
