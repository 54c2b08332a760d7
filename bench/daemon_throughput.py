"""Daemon throughput: SYN bursts from distinct sources through the whole greylogd process into SQLite.

Run as root from the checkout: `PYTHONPATH=. .venv/bin/python bench/daemon_throughput.py [--sizes 10000
100000] [--rate 50000]`. For each burst size and each send rate (full speed, and --rate events/s paced in 10
ms slices) it builds a fresh namespace pair (tests/integration/netns.py), installs the test rule set
(tests/integration/daemon_harness.py: `ct state new` SYNs to port 25 -> NFLOG group 155, with a counter),
starts the real `greylogd --foreground` in the gateway namespace against a fresh greyd SQLite database
(batch_events 1000, flush_ms 50 as in the test harness; the default nflog_timeout of 0.1 s bounds how long the
last packets of a burst wait in the kernel's partial NFLOG batch; the pair's neighbour entries are pinned, so
no packet waits for neighbour discovery), sends one SYN from each of N distinct IPv6 sources
(2001:db8:2::/64: the IPv4 documentation ranges hold too few addresses) and waits until the daemon has
committed as many events as the rule counted. It prints:
- committed/s: rule-counted events / seconds from the first SYN sent to the commit of the last one (seen
  by scraping the daemon's metrics every 50 ms), so a paced run cannot show more than its send rate;
- latency p50/p99: event (kernel timestamp, else receive time) to commit, from the daemon's Prometheus
  histogram (scraped inside the namespace), reported as the histogram bucket bound holding the quantile;
- lost: rule counter - pcount sum in the database (must be 0); kernel drops: NFLOG sequence gaps;
- store transaction p50/p99 (one commit on the writer thread: a batch of up to 1000 addresses, or up to 16
  of them merged when a backlog formed; fsync'd by SQLite), and the machine's 1-minute load average, which
  explains most of the spread between runs;
- peak RSS: VmHWM of the daemon process, and its RSS at READY (what imports and setup cost before any
  event); daemon CPU: its user+system seconds from READY to the last commit, a figure that does not depend
  on how busy the rest of the machine is (committed/s does: the sender shares the CPUs).
"""

from __future__ import annotations

import argparse
import os
import re
import time
import urllib.request
from multiprocessing.connection import Connection

from greylogd.metrics import LATENCY_BOUNDS, Histogram
from tests.integration.daemon_harness import Site, install_rules, pcount_total, rule_counts
from tests.integration.netns import Netns, in_netns, netns_pair, syn_packets

METRICS_PORT = 9188
BUCKET = r'greylogd_{}_bucket\{{le="([^"]+)"\}} (\S+)'
REFRESHED = re.compile(r"^greylogd_refreshed_total (\S+)$", re.M)
TOTALS = re.compile(r"totals: received (\d+), refreshed (\d+), spilled (\d+), retries (\d+), "
                    r"kernel drops (\d+)")


def _send_paced(conn: Connection, packets: list[bytes], rate: int | None) -> None:
    """In the sender namespace: raw IPv6 sends, `rate` packets/s in 10 ms slices (None = full speed)."""
    import socket

    sock = socket.socket(socket.AF_INET6, socket.SOCK_RAW, socket.IPPROTO_RAW)
    step = len(packets) if rate is None else max(1, rate // 100)
    start = time.monotonic()  # CLOCK_MONOTONIC: comparable with the parent's readings
    for n, first in enumerate(range(0, len(packets), step)):
        if rate is not None:
            time.sleep(max(0.0, start + n * 0.01 - time.monotonic()))
        for pkt in packets[first:first + step]:
            sock.sendto(pkt, (socket.inet_ntop(socket.AF_INET6, pkt[24:40]), 0))
    conn.send((start, time.monotonic() - start))


def _metrics() -> str:
    return urllib.request.urlopen(f"http://127.0.0.1:{METRICS_PORT}/metrics", timeout=10).read().decode()


def _scrape(conn: Connection) -> None:
    conn.send(_metrics())


def _watch(conn: Connection, limit: float) -> None:
    """In the gateway namespace, from before the burst: scrape the daemon's committed count every 50 ms;
    once the parent has sent the rule's final count, send back the monotonic time of the first scrape that
    showed that many (None at the limit). Unlike polling the database, a scrape takes no SQLite lock, so it
    never delays the commits it is timing."""
    deadline, target, seen = time.monotonic() + limit, None, []
    while time.monotonic() < deadline:
        seen.append((float(REFRESHED.search(_metrics()).group(1)), time.monotonic()))
        if target is None and conn.poll():
            target = conn.recv()
        if target is not None and seen[-1][0] >= target:
            conn.send(next(at for committed, at in seen if committed >= target))
            return
        time.sleep(0.05)
    conn.send(None)


def quantiles(text: str, name: str) -> tuple[float, float]:
    """p50 and p99 (bucket upper bounds, seconds) of histogram `name` from the exposition's buckets."""
    cumulative = [float(count) for _le, count in re.findall(BUCKET.format(name), text)]
    hist = Histogram(LATENCY_BOUNDS)
    hist.counts = [int(b - a) for a, b in zip([0.0, *cumulative[:-1]], cumulative, strict=True)]
    return hist.quantile(0.5), hist.quantile(0.99)


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process so far (/proc/<pid>/stat fields 14 and 15)."""
    with open(f"/proc/{pid}/stat") as stat:
        fields = stat.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def wait_committed(watcher: Connection, gateway: Netns) -> float:
    """Monotonic time at which the daemon had committed every rule-counted event (or the watch's limit)."""
    time.sleep(0.05)  # the last packets the sender wrote are through netfilter by now
    watcher.send(rule_counts(gateway)[0])
    done = watcher.recv()
    return time.monotonic() if done is None else done


def run(count: int, rate: int | None) -> None:
    sources = [f"2001:db8:2::{i // 65536:x}:{i % 65536:x}" for i in range(1, count + 1)]
    site = Site()
    site.write(batch_events=1000, extra=f"metrics_port = {METRICS_PORT}")
    try:
        with netns_pair() as pair:
            install_rules(pair.gateway)
            packets = syn_packets(sources, str(pair.gateway.v6), 25, [40000])
            with site.daemon(pair.gateway) as daemon:
                cpu_at_ready, ready_kb = cpu_seconds(daemon.pid), int(daemon.status()["VmRSS"].split()[0])
                with in_netns(pair.gateway, _watch, 120.0, timeout=130) as watcher:
                    with in_netns(pair.sender, _send_paced, packets, rate, timeout=300) as child:
                        start, send_seconds = child.conn.recv()
                    done = wait_committed(watcher.conn, pair.gateway)
                with in_netns(pair.gateway, _scrape) as child:
                    text = child.conn.recv()
                p50, p99 = quantiles(text, "event_commit_latency_seconds")
                store50, store99 = quantiles(text, "store_seconds")
                peak_kb = int(daemon.status()["VmHWM"].split()[0])
                cpu = cpu_seconds(daemon.pid) - cpu_at_ready
                daemon.stop()
            counted = rule_counts(pair.gateway)[0]
        committed = pcount_total(site.db)
        drops = int(TOTALS.search(site.log.read_text()).group(5))
        label = "full speed" if rate is None else f"{rate:,}/s paced"
        print(f"{count:>7} SYNs, {label:>15} (sent in {send_seconds:.2f} s): "
              f"{committed / (done - start):>8,.0f} committed/s | latency p50 <= {p50 * 1000:g} ms, "
              f"p99 <= {p99 * 1000:g} ms | counted {counted} committed {committed} "
              f"lost {counted - committed} kernel drops {drops} | peak RSS {peak_kb / 1024:.1f} MB "
              f"({ready_kb / 1024:.1f} MB at READY) | "
              f"daemon CPU {cpu:.2f} s after READY ({committed / cpu:,.0f} events/CPU-s) | store transaction "
              f"p50 <= {store50 * 1000:g} ms p99 <= {store99 * 1000:g} ms | "
              f"load average {os.getloadavg()[0]:.1f}")
    finally:
        site.cleanup()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[10_000, 100_000])
    parser.add_argument("--rate", type=int, default=50_000, help="paced send rate, events/s")
    args = parser.parse_args()
    for size in args.sizes:
        for rate in (None, args.rate):
            run(size, rate)


if __name__ == "__main__":
    main()
