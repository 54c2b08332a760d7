"""NflogSource against real NFLOG rules (nftables and iptables-nft) in a namespace pair, real SYNs.

Accounting checked everywhere: rule packet counter == stats.received + stats.seq_gaps. A burst (syn_burst)
ends with a sentinel SYN sent after the reader drained, so a loss at the end of the burst shows as a gap too.
"""

from __future__ import annotations

import errno
import socket
import time
from collections.abc import Callable, Iterator
from multiprocessing.connection import Connection

import pytest

from greylogd.capture.nflog import READ_EVENTS, NflogSource
from greylogd.capture.source import CaptureStats
from greylogd.events import ConnectionEvent, Direction
from tests.integration.netns import (
    SENTINEL,
    Pair,
    connect,
    in_netns,
    netns_pair,
    nflog_capture,
    send_raw,
    syn_burst,
    syn_packets,
    tcp_syn,
)

pytestmark = pytest.mark.root
GROUPS = {155: Direction.INBOUND, 255: Direction.OUTBOUND}
FAST = {"timeout": 1, "qthreshold": 1}  # flush every message at once: exact-event tests need no waiting

NFT_RULES = """
table inet greylogd_test {
    chain pre {
        type filter hook prerouting priority -150; policy accept;
        ct state new tcp dport 25 counter log group 155
    }
    chain out {
        type filter hook output priority 0; policy accept;
        ct state new tcp dport 25 counter log prefix "greylogd-out" group 255
    }
}
"""


@pytest.fixture
def pair() -> Iterator[Pair]:
    with netns_pair() as made:
        yield made


def _syns(pair: Pair) -> list[tuple[Direction, tuple[str, int], str]]:
    """Real connect()s to port 25: inbound v4 and v6 to the gateway, outbound v4 and v6 from it."""
    gw, snd = pair.gateway, pair.sender
    return [(Direction.INBOUND, connect(snd, str(gw.v4), 25), str(gw.v4)),
            (Direction.INBOUND, connect(snd, str(gw.v6), 25), str(gw.v6)),
            (Direction.OUTBOUND, connect(gw, str(snd.v4), 25), str(snd.v4)),
            (Direction.OUTBOUND, connect(gw, str(snd.v6), 25), str(snd.v6))]


def _check_exact(events: list[ConnectionEvent], syns: list[tuple[Direction, tuple[str, int], str]],
                 prefixes: dict[int, str], t0: float, t1: float) -> None:
    got = sorted(events, key=lambda e: (e.group, e.seq or 0))
    assert len(got) == 4
    for (direction, (src, sport), dst), event in zip(syns, got, strict=True):
        group = 155 if direction is Direction.INBOUND else 255
        family = socket.AF_INET6 if ":" in src else socket.AF_INET
        assert (event.group, event.direction, event.family) == (group, direction, family)
        assert (str(event.src), event.sport, str(event.dst), event.dport) == (src, sport, dst, 25)
        assert (event.tcp_flags, event.prefix) == (0x02, prefixes[group])
        assert event.seq == (0 if family == socket.AF_INET else 1)
        assert t0 <= event.ts <= t1


def _run_syns(pair: Pair) -> tuple[list[ConnectionEvent], CaptureStats, list, float, float]:
    with nflog_capture(pair.gateway, GROUPS, **FAST) as capture:
        t0 = time.time()
        syns = _syns(pair)
        time.sleep(0.1)
        events, stats = capture.stop()
        t1 = time.time()  # outbound packets carry no kernel timestamp: theirs is the time they were read
    return events, stats, syns, t0, t1


def test_nftables_log_group_exact_events(pair: Pair) -> None:
    pair.gateway.nft(NFT_RULES)
    events, stats, syns, t0, t1 = _run_syns(pair)
    _check_exact(events, syns, {155: "", 255: "greylogd-out"}, t0, t1)
    assert (stats.received, stats.malformed, stats.seq_gaps, stats.enobufs) == (4, 0, 0, 0)
    assert pair.gateway.nft_packets("inet", "greylogd_test", "pre") == [2]
    assert pair.gateway.nft_packets("inet", "greylogd_test", "out") == [2]


def test_iptables_nflog_rules_as_in_greyd_docs(pair: Pair) -> None:
    for v6 in (False, True):
        pair.gateway.iptables("-t", "nat", "-A", "PREROUTING", "-p", "tcp", "--dport", "25", "-j", "NFLOG",
                              "--nflog-group", "155", v6=v6)
        pair.gateway.iptables("-t", "filter", "-A", "OUTPUT", "-m", "conntrack", "--ctstate", "NEW", "-p",
                              "tcp", "--dport", "25", "-j", "NFLOG", "--nflog-group", "255", v6=v6)
    events, stats, syns, t0, t1 = _run_syns(pair)
    _check_exact(events, syns, {155: "", 255: ""}, t0, t1)
    assert (stats.received, stats.seq_gaps) == (4, 0)
    for v6 in (False, True):
        assert pair.gateway.iptables_packets("nat", "PREROUTING", v6=v6) == [1]
        assert pair.gateway.iptables_packets("filter", "OUTPUT", v6=v6) == [1]


def _counter(pair: Pair) -> Callable[[], int]:
    return lambda: pair.gateway.nft_packets("inet", "greylogd_test", "pre")[0]


def _check_accounted(events: list[ConnectionEvent], stats: CaptureStats, counter: int) -> None:
    assert stats.malformed == 0
    assert stats.received == len(events)
    assert stats.received + stats.seq_gaps == counter  # 0 unaccounted
    assert (str(events[-1].src), events[-1].sport) == SENTINEL  # no loss can hide after it
    assert len({(e.src, e.sport) for e in events}) == len(events)


@pytest.mark.slow
def test_burst_of_20000_syns_fully_accounted(pair: Pair) -> None:
    pair.gateway.nft(NFT_RULES)
    with nflog_capture(pair.gateway, GROUPS, timeout=1) as capture:
        events, stats, counter = syn_burst(pair, capture, 20_000, _counter(pair))
    _check_accounted(events, stats, counter)
    assert counter > 10_000  # the veth backlog may drop some before netfilter, never most


def test_enobufs_with_tiny_buffer_and_slow_reader(pair: Pair) -> None:
    pair.gateway.nft(NFT_RULES)
    with nflog_capture(pair.gateway, GROUPS, delay=0.02, timeout=1, nlbufsiz=4096, rcvbuf=4096,
                       rcvbuf_max=1 << 20) as capture:
        events, stats, counter = syn_burst(pair, capture, 5_000, _counter(pair))
    _check_accounted(events, stats, counter)
    assert stats.enobufs > 0 and stats.seq_gaps > 0
    assert stats.rcvbuf > 2 * 4096  # grew by doubling (the kernel reports twice the size set)


def test_group_taken_by_another_listener_fails_clearly(pair: Pair) -> None:
    """A second NflogSource on a bound group fails naming the call and the likely causes (the kernel
    answers EPERM, not EBUSY); close() frees the group."""
    def bind_twice(conn: Connection) -> None:
        with NflogSource({155: Direction.INBOUND}):
            try:
                NflogSource({155: Direction.INBOUND})
            except OSError as exc:
                conn.send((exc.errno, str(exc)))
        with NflogSource({155: Direction.INBOUND}) as again:
            conn.send(again.stats.received)

    with in_netns(pair.gateway, bind_twice) as child:
        assert child.conn.recv() == (errno.EPERM, "[Errno 1] nflog_bind_group(155): Operation not permitted"
                                     " (the kernel says EPERM both without CAP_NET_ADMIN and when another"
                                     " process (greyd's greylogd, ulogd) already listens on the group)")
        assert child.conn.recv() == 0


def test_a_backlog_is_returned_in_reads_of_at_most_read_events(pair: Pair) -> None:
    """6000 SYNs queued before the first read: read_batch stops after READ_EVENTS packets (plus the rest of
    the datagram it was dispatching), so the daemon's loop regains control with a bounded batch; every
    counted packet is still returned exactly once, in order."""
    pair.gateway.nft(NFT_RULES)

    def read_later(conn: Connection) -> None:
        with NflogSource({155: Direction.INBOUND}, timeout=1) as source:
            conn.send("ready")
            conn.recv()  # the burst has been sent
            time.sleep(0.5)  # longer than the kernel's flush timeout (1/100 s)
            batches = []
            while len(batch := source.read_batch()):
                batches.append(batch)
            conn.send(([len(b) for b in batches], [int(p) for b in batches for p in b.rows["sport"]],
                       source.stats))

    ports = range(20000, 26000)
    with in_netns(pair.gateway, read_later) as child:
        assert child.conn.recv() == "ready"
        send_raw(pair.sender, syn_packets(["203.0.113.9"], str(pair.gateway.v4), 25, ports))
        child.conn.send("sent")
        sizes, sports, stats = child.conn.recv()
    counted = _counter(pair)()  # the veth backlog may drop a few before netfilter, never many
    assert counted > READ_EVENTS + 1000
    assert len(sizes) >= 2 and READ_EVENTS <= sizes[0] < counted
    assert len(sports) == counted and sports == sorted(set(sports))  # each once, in order
    assert (stats.received, stats.seq_gaps, stats.malformed) == (counted, 0, 0)


def test_malformed_payloads_are_counted_in_c_and_not_returned(pair: Pair) -> None:
    """The C callback's parser rejects a TCP header with data offset 4; the packet is counted (received and
    malformed, its sequence number consumed) and the good SYNs around it come back with their ports."""
    pair.gateway.nft("""
table inet greylogd_test {
    chain pre {
        type filter hook prerouting priority -150; policy accept;
        ip saddr 203.0.113.66 counter log group 155
    }
}
""")
    bad = bytearray(tcp_syn("203.0.113.66", str(pair.gateway.v4), 4444, 25))
    bad[32] = 0x40  # TCP data offset 4: shorter than a TCP header
    good = [tcp_syn("203.0.113.66", str(pair.gateway.v4), port, 25) for port in (4443, 4445)]
    with nflog_capture(pair.gateway, GROUPS, **FAST) as capture:
        send_raw(pair.sender, [good[0], bytes(bad), good[1]])
        time.sleep(0.2)
        events, stats = capture.stop()
    assert [(str(e.src), e.sport, e.seq) for e in events] == [("203.0.113.66", 4443, 0),
                                                              ("203.0.113.66", 4445, 2)]
    assert (stats.received, stats.malformed, stats.seq_gaps) == (3, 1, 0)
    assert pair.gateway.nft_packets("inet", "greylogd_test", "pre") == [3]
