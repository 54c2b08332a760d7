"""Build time and peak memory of the demo world (greylogd.demo.build_world) per size.

Each size is built in a fresh child process (the same call bench/report_e2e.py makes: seed 1, the
ledger on), and the figures are that child's: wall time, CPU seconds (user + system of the builder and
its ledger process: load-independent), peak RSS (os.wait4: the larger of the builder and its ledger
process; the ledger process itself stays at a few hundred MB), the connections actually made, and the
1-minute load average at the start (2 shared cores: wall time is noisy). The ledger file grows in
/dev/shm while it is polled (about 2.5 GB at 10M), which is memory too but not RSS.

    .venv/bin/python bench/demo_world.py --sizes 10000,100000,1000000 --work /var/tmp/greylogd-bench/demo
Target: 10M connections in about 10 minutes and under 8 GB.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

CODE = ("import sys; from greylogd.demo import build_world; "
        "print(build_world(sys.argv[1], seed=1, connections=int(sys.argv[2]), ledger=sys.argv[3] == '1')"
        ".connections)")


def _build(folder: Path, size: int, ledger: bool) -> dict[str, float]:
    """Figures of one build in a child process."""
    shutil.rmtree(folder, ignore_errors=True)
    load = os.getloadavg()[0]
    started = time.perf_counter()
    child = subprocess.Popen([sys.executable, "-c", CODE, str(folder), str(size), str(int(ledger))],
                             stdout=subprocess.PIPE, text=True)
    _, status, usage = os.wait4(child.pid, 0)
    wall = time.perf_counter() - started
    out = child.stdout.read() if child.stdout else ""
    if os.waitstatus_to_exitcode(status) != 0:
        raise SystemExit(f"build of {size} failed")
    return {"wall_s": wall, "cpu_s": usage.ru_utime + usage.ru_stime, "rss_mb": usage.ru_maxrss / 1024,
            "made": int(out), "load1": load}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", default="10000,100000,1000000", help="comma-separated connection counts")
    parser.add_argument("--work", type=Path, default=Path("/var/tmp/greylogd-bench/demo"))
    parser.add_argument("--no-ledger", action="store_true", help="build without the ledger")
    parser.add_argument("--keep", action="store_true", help="keep the worlds (default: delete after)")
    args = parser.parse_args()
    header = ("requested", "made", "diff %", "wall s", "CPU s", "RSS MB", "load1")
    print(" ".join(f"{h:>{w}}" for h, w in zip(header, (10, 10, 7, 8, 8, 8, 6), strict=True)), flush=True)
    for size in (int(s) for s in args.sizes.split(",")):
        folder = args.work / f"world-{size}"
        f = _build(folder, size, not args.no_ledger)
        print(f"{size:>10} {f['made']:>10} {100 * (f['made'] / size - 1):>7.1f} {f['wall_s']:>8.1f} "
              f"{f['cpu_s']:>8.1f} {f['rss_mb']:>8.0f} {f['load1']:>6.2f}",
              flush=True)
        print(json.dumps({"size": size, **f}), file=sys.stderr)
        if not args.keep:
            shutil.rmtree(folder, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
