"""Benchmark: read_kernlog / iter_kernlog against grep on generated kernel LOG files of 1M and 10M lines.

Usage: .venv/bin/python bench/parse.py [--lines 1000000 10000000] [--dir /tmp] [--chunk-mb 16 64]

For each size it writes a kern.log in Debian 12's RFC 3339 format (about 260 bytes a line: 91% LOG lines
in five categories, 8% other kernel lines, 1% malformed LOG lines), then prints wall time, CPU seconds
(user + system, all threads: independent of other load) and lines/s of
  - ``grep -c GREYD`` and a ``grep | awk | sort | uniq -c`` top-sources pipeline on the same file,
  - read_kernlog (the whole frame, sorted and deduplicated) and iter_kernlog (streamed parts, counted
    per category), each in a child process, one run per chunk size, with the child's peak RSS.
The 1-minute load average is printed before each size: figures, not assertions; CPU is shared, so run
it on a quiet machine and read the ratios and the CPU seconds.
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

PREFIXES = ["[GREYD WHITED] ", "[GREYD 25 DNAT] ", "[GREYD 25 REDIRECTED] ", "[GREYD FAILED] ",
            "[GREYD 8025 JAILED] "]
MAC = "MAC=52:54:00:aa:bb:cc:52:54:00:11:22:33:08:00"
PIPELINE = ("grep GREYD {path} | awk '{{for (i = 1; i <= NF; i++) if ($i ~ /^SRC=/) print substr($i, 5)}}'"
            " | sort | uniq -c | sort -rn | head -20")


def line(i: int) -> str:
    """The i-th generated line: a LOG line, every 12th a non-LOG kernel line, every 100th malformed."""
    stamp = f"2026-11-{16 + i // 1_500_000 % 7:02d}T{i // 62_500 % 24:02d}:{i // 1042 % 60:02d}:" \
            f"{i // 17 % 60:02d}.{i * 7919 % 1_000_000:06d}+00:00 mx1 kernel: [{i // 10}.{i % 10}00000] "
    if i % 12 == 5:
        return stamp + "e1000e: eth0 NIC Link is Up 1000 Mbps Full Duplex\n"
    src = f"{(i * 37) % 223 + 1}.{(i * 11) % 256}.{(i * 3) % 256}.{i % 250 + 1}"
    if i % 100 == 7:
        src = src + ".300"
    return (f"{stamp}{PREFIXES[i % 5]}IN=eth0 OUT= {MAC} SRC={src} DST=198.51.100.10 LEN=60 TOS=0x00 "
            f"PREC=0x00 TTL=54 ID={i % 65536} DF PROTO=TCP SPT={1024 + i % 60000} DPT=25 WINDOW=65535 "
            "RES=0x00 SYN URGP=0 \n")


def generate(path: Path, lines: int) -> None:
    """Write ``lines`` generated lines to ``path`` unless it already has that many."""
    if path.exists() and path.with_suffix(".done").exists():
        return
    with open(path, "w") as out:
        for start in range(0, lines, 100_000):
            out.write("".join(line(i) for i in range(start, min(start + 100_000, lines))))
    path.with_suffix(".done").touch()


def child(path: str, mode: str, chunk_mb: int) -> None:
    """Run read_kernlog (mode "whole") or iter_kernlog ("stream") once; print its figures as JSON.
    Time, CPU and peak RSS are taken right after reading; the top source count (to check the result
    against the awk pipeline's) is computed afterwards."""
    from greylogd.analysis.kernlog import iter_kernlog, read_kernlog
    start, cpu = time.perf_counter(), time.process_time()
    if mode == "whole":
        result = read_kernlog(path, tz="UTC", chunk_bytes=chunk_mb << 20, progress=False)
        counts = [len(result.connections), len(result.bad_lines), result.skipped]
    else:
        counts, per_category = [0, 0, 0], {}
        for part in iter_kernlog(path, tz="UTC", chunk_bytes=chunk_mb << 20, progress=False):
            counts = [counts[0] + len(part.connections), counts[1] + len(part.bad_lines),
                      counts[2] + part.skipped]
            for name, n in part.connections["category"].value_counts().items():
                per_category[name] = per_category.get(name, 0) + int(n)
    figures = {"seconds": time.perf_counter() - start, "cpu": time.process_time() - cpu,
               "rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}
    top = result.connections["src"].value_counts().iloc[0] if mode == "whole" else max(per_category.values())
    print(json.dumps({**figures, "counts": [*counts, int(top)]}))


def timed(command: str) -> tuple[float, float]:
    """Wall and CPU seconds (of the whole pipeline) of a shell command."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    subprocess.run(["bash", "-c", command], check=True, capture_output=True)  # /dev/null: grep -c stops early
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    return time.perf_counter() - start, after.ru_utime + after.ru_stime - before.ru_utime - before.ru_stime


def bench(path: Path, lines: int, chunk_mbs: list[int]) -> None:
    warm = f"cat {path} > /dev/null"  # before every contender: each reads from the page cache
    timed(warm)
    print(f"\n{lines:,} lines, {path.stat().st_size / 1e6:,.0f} MB, load average {os.getloadavg()[0]:.2f}")
    grep, grep_cpu = timed(f"grep -c GREYD {path}")
    row("grep -c GREYD", lines, grep, grep_cpu, grep)
    _readers(path, lines, chunk_mbs, grep)
    timed(warm)  # last: sort's buffers fill memory, which slows the page faults of whatever runs next
    row("grep|awk|sort|uniq -c", lines, *timed(PIPELINE.format(path=path)), grep)


def _readers(path: Path, lines: int, chunk_mbs: list[int], grep: float) -> None:
    """read_kernlog and iter_kernlog in a child process each, per chunk size."""
    for mode in ("whole", "stream"):
        for chunk_mb in chunk_mbs:
            timed(f"cat {path} > /dev/null")
            out = subprocess.run([sys.executable, __file__, "--child", str(path), mode, str(chunk_mb)],
                                 check=True, capture_output=True, text=True).stdout
            figures = json.loads(out)
            name = f"{'read' if mode == 'whole' else 'iter'}_kernlog {chunk_mb} MB chunks"
            row(name, lines, figures["seconds"], figures["cpu"], grep,
                f"  peak RSS {figures['rss_mb']:6,.0f} MB  (connections, bad, skipped, top src/category: "
                f"{', '.join(f'{n:,}' for n in figures['counts'])})")


def row(name: str, lines: int, seconds: float, cpu: float, grep: float, extra: str = "") -> None:
    print(f"  {name:27s} {seconds:7.2f} s  CPU {cpu:6.2f} s  {lines / seconds:11,.0f} lines/s  "
          f"{seconds / grep:5.1f}x grep -c{extra}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--lines", type=int, nargs="+", default=[1_000_000, 10_000_000])
    parser.add_argument("--dir", type=Path, default=Path("/tmp"))
    parser.add_argument("--chunk-mb", type=int, nargs="+", default=[16, 64])
    parser.add_argument("--child", nargs=3, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:
        child(args.child[0], args.child[1], int(args.child[2]))
        return 0
    for lines in args.lines:
        path = args.dir / f"greylogd-bench-{lines}.log"
        generate(path, lines)
        bench(path, lines, args.chunk_mb)
    return 0


if __name__ == "__main__":
    sys.exit(main())
