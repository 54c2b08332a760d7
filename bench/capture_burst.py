"""Capture throughput: SYN bursts through real NFLOG rules, and the pure header parser.

Run as root from the checkout: `PYTHONPATH=. .venv/bin/python bench/capture_burst.py [--sizes 10000 100000]`.
For each burst size it builds a fresh namespace pair (tests/integration/netns.py), installs `ct state new tcp
dport 25 counter log group 155`, sends the spoofed SYNs from a raw socket, and prints: events read+parsed per
CPU second of the capturing process (time inside read_batch: recv, libnetfilter_log dispatch, the C callback's
parse into records, the numpy EventBatch), the rule counter, received, seq gaps, ENOBUFS reports, the final
receive buffer, and unaccounted = counter - received - seq_gaps (must be 0). Then it times
greylogd.capture.packet.parse (the C parser plus a PacketInfo, NFQUEUE's per-packet path) on the captured
samples in tests/data/packets/real.txt.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

from greylogd.capture.packet import parse
from greylogd.events import Direction
from tests.integration.netns import netns_pair, nflog_capture, syn_burst

RULES = """
table inet bench {
    chain pre {
        type filter hook prerouting priority -150; policy accept;
        ct state new tcp dport 25 counter log group 155
    }
}
"""
SAMPLES = Path(__file__).resolve().parent.parent / "tests" / "data" / "packets" / "real.txt"


def burst(count: int) -> None:
    """One burst in a fresh namespace pair; prints one line of figures."""
    with netns_pair() as pair:
        pair.gateway.nft(RULES)
        with nflog_capture(pair.gateway, {155: Direction.INBOUND}) as capture:
            start = time.perf_counter()
            events, stats, counter = syn_burst(
                pair, capture, count, lambda: pair.gateway.nft_packets("inet", "bench", "pre")[0])
            wall = time.perf_counter() - start
        unaccounted = counter - stats.received - stats.seq_gaps
        print(f"burst {count:>7}: {len(events) / capture.read_cpu:>9,.0f} events/s read+parsed "
              f"({capture.read_cpu:.2f} CPU s, {wall:.1f} s wall incl. packet building) | counter {counter}"
              f" received {stats.received} seq_gaps {stats.seq_gaps} enobufs {stats.enobufs}"
              f" rcvbuf {stats.rcvbuf} malformed {stats.malformed} | unaccounted {unaccounted}")


def parse_bench(rounds: int = 50_000) -> None:
    """packet.parse on the real samples (IPv4/IPv6 SYNs and fragments), best of three runs."""
    lines = SAMPLES.read_text().splitlines()
    packets = [bytes.fromhex(line) for line in lines if line and not line.startswith("#")]
    best = float("inf")
    for _ in range(3):
        start = time.perf_counter()
        for _ in range(rounds):
            for data in packets:
                parse(data)
        best = min(best, time.perf_counter() - start)
    print(f"parse: {rounds * len(packets) / best:,.0f} packets/s ({len(packets)} real samples x {rounds})")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[10_000, 100_000],
                        help="burst sizes (multiples of 500)")
    args = parser.parse_args()
    for size in args.sizes:
        burst(size)
    parse_bench()


if __name__ == "__main__":
    main()
