"""Time, CPU and memory of the report's weekly phase (analysis.weekly.build_report) alone, per size.

The inputs of a demo world (bench/report_e2e.py builds them in --work/world-N) are read once as
greylogd-report reads them (report.inputs.load_inputs with weekly.EVENT_COLUMNS, period 2026-W47) and
pickled to --work/weekly-inputs-N.pkl, so that reruns skip the minute that reading 10M connections
takes (--reload reads them again, e.g. after a reader changed its dtypes). Then build_report runs
--repeat times on them. Per run it prints: wall time, CPU seconds of this process (load-independent,
unlike wall time on 2 shared cores), the peak RSS on top of the inputs (VmHWM, reset before each run
through /proc/self/clear_refs, minus VmRSS before the run) and the 1-minute load average.

    .venv/bin/python bench/weekly.py --sizes 1000000,10000000 --work /var/tmp/greylogd-bench
Target (issue 8): 10M connections in at most 6 s, with as little memory on top of the inputs as can be.
"""

from __future__ import annotations

import argparse
import os
import pickle
import sys
import time
from pathlib import Path

from greylogd.analysis.period import parse_period
from greylogd.analysis.weekly import EVENT_COLUMNS, Inputs, build_report
from greylogd.memory import release_memory
from greylogd.report.inputs import Sources, load_inputs

PERIOD = "2026-W47"  # the demo worlds' week (bench/report_e2e.py reports on the same one)


def _status_mb(field: str) -> float:
    """A /proc/self/status memory figure (VmRSS, VmHWM) in MB."""
    with open("/proc/self/status") as status:
        line = next(line for line in status if line.startswith(field + ":"))
    return int(line.split()[1]) / 1024


def _inputs(work: Path, size: int, reload: bool) -> Inputs:
    """The world's report inputs, from the pickle when there is one (and not --reload)."""
    cached = work / f"weekly-inputs-{size}.pkl"
    if cached.exists() and not reload:
        with cached.open("rb") as source:
            return pickle.load(source)  # a file this script wrote
    world = work / f"world-{size}"
    if not (world / "truth.json").exists():
        sys.exit(f"{world}: no demo world; build it with bench/report_e2e.py --sizes {size}")
    sources = Sources(kernel_logs=(world / "kern.log",), greyd_logs=(world / "greyd.log",),
                      db=world / "greyd.sqlite", ledger=world / "ledger.sqlite", log_tz="UTC")
    inputs = load_inputs(sources, parse_period(PERIOD, "UTC"), EVENT_COLUMNS)
    with cached.open("wb") as sink:
        pickle.dump(inputs, sink, protocol=5)
    return inputs


def _run(inputs: Inputs) -> tuple[float, float, float, float]:
    """(wall s, CPU s, peak MB above the RSS before, that RSS in MB) of one build_report."""
    release_memory()
    before = _status_mb("VmRSS")
    Path("/proc/self/clear_refs").write_text("5")  # VmHWM := VmRSS
    wall, cpu = time.perf_counter(), time.process_time()
    build_report(inputs, parse_period(PERIOD, "UTC"))
    wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
    return wall, cpu, _status_mb("VmHWM") - before, before


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", default="1000000", help="comma-separated connection counts")
    parser.add_argument("--work", type=Path, default=Path("/var/tmp/greylogd-bench"))
    parser.add_argument("--repeat", type=int, default=3, help="runs per size (default 3)")
    parser.add_argument("--reload", action="store_true", help="read the worlds' inputs again")
    args = parser.parse_args()
    print(f"{'connections':>11} {'conn rows':>9} {'event rows':>10} {'tuple rows':>10} {'run':>3} "
          f"{'wall s':>6} {'CPU s':>6} {'peak+ MB':>8} {'inputs MB':>9} {'load1':>5}")
    for size in (int(s) for s in args.sizes.split(",")):
        inputs = _inputs(args.work, size, args.reload)
        rows = [0 if frame is None else len(frame)
                for frame in (inputs.connections, inputs.greyd_events, inputs.tuples)]
        for run in range(1, args.repeat + 1):
            wall, cpu, peak, base = _run(inputs)
            print(f"{size:>11} {rows[0]:>9} {rows[1]:>10} {rows[2]:>10} {run:>3} {wall:>6.2f} {cpu:>6.2f} "
                  f"{peak:>8.0f} {base:>9.0f} {os.getloadavg()[0]:>5.1f}", flush=True)
        del inputs
    return 0


if __name__ == "__main__":
    sys.exit(main())
