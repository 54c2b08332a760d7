"""Network-namespace helpers for root integration tests (capture, daemon): real veth, real rules, no mocks.

API (all context managers remove what they created, even when the test fails):

- ``netns_pair() -> Pair``: two namespaces joined by a veth pair, names unique per run (``gl<pid><n>s`` /
  ``gl<pid><n>g``). ``pair.sender`` has 198.51.100.2/24 and 2001:db8:1::2/64, ``pair.gateway`` has
  198.51.100.1/24 and 2001:db8:1::1/64 (no DAD, so v6 is usable at once). The gateway routes
  203.0.113.0/24 and 2001:db8:2::/64 back to the sender, so SYNs spoofed from there (``syn_packets``)
  pass rp_filter.
- ``Netns.run(*args)``: run a command inside (list args, check=True); failure raises ``NetnsError`` with the
  command and its stderr. ``Netns.nft(ruleset)`` loads an nft ruleset; ``Netns.iptables(*args, v6=False)``
  runs iptables-nft / ip6tables-nft.
- ``Netns.nft_packets(family, table, chain)`` / ``Netns.iptables_packets(table, chain, v6=False)``: packet
  counters of the chain's rules, in rule order (nft: rules holding a ``counter`` statement only).
- ``in_netns(ns, fn, *args) -> Child``: fork a child, move it into ``ns`` (setns) and run ``fn(conn, *args)``;
  ``conn`` is the child's end of a duplex Pipe, the parent uses ``child.conn``. Objects cross pickled.
  Leaving the context joins the child (terminating it after ``timeout`` s) and raises if it failed.
- ``syn_packets(srcs, dst, dport, sports)`` builds raw IPv4/IPv6+TCP SYNs with valid checksums;
  ``send_raw(ns, packets)`` sends them as fast as a raw socket can from inside ``ns``.
- ``nflog_capture(ns, groups, delay=0, **source_kwargs) -> Capture``: an NflogSource opened inside ``ns`` in a
  child (ready when the context is entered); ``capture.drain() -> stats`` reads everything queued now,
  ``capture.stop() -> (events, stats)`` ends it. ``delay`` (s) sleeps before each read: a slow reader.
- ``syn_burst(pair, capture, count, counter) -> (events, stats, packets counted)``: ``count`` spoofed SYNs
  to the gateway's port 25 (v4 and v6 interleaved, distinct address/port pairs, count a multiple of 500),
  then a drain and one SENTINEL SYN, so every loss ends up before a delivered event, i.e. visible as a gap.
- ``connect(ns, dst, port)``: one real TCP connect() from inside ``ns`` (refused or not); returns the
  client's (address, port).
"""

from __future__ import annotations

import ctypes
import itertools
import json
import multiprocessing
import os
import select
import socket
import struct
import subprocess
import time
import traceback
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from ipaddress import IPv4Address, IPv6Address, ip_address
from multiprocessing.connection import Connection
from typing import Any

from greylogd.capture.nflog import NflogSource
from greylogd.capture.source import CaptureStats
from greylogd.events import ConnectionEvent, Direction, EventBatch

_CLONE_NEWNET = 0x40000000
_counter = itertools.count()


class NetnsError(RuntimeError):
    """A command inside a namespace failed; the message names the command and quotes its stderr."""


def run(*args: str, input: str | None = None, timeout: float = 30) -> subprocess.CompletedProcess[str]:
    """Run a command (no shell), raising NetnsError with the command line and stderr on failure."""
    try:
        return subprocess.run(args, input=input, capture_output=True, text=True, check=True, timeout=timeout)
    except subprocess.CalledProcessError as exc:
        raise NetnsError(f"{' '.join(args)!r} exited {exc.returncode}: {exc.stderr.strip()}") from None


@dataclass(frozen=True)
class Netns:
    """A named network namespace (``ip netns``) with one veth end, ``dev``."""

    name: str
    dev: str
    v4: IPv4Address
    v6: IPv6Address

    def run(self, *args: str, input: str | None = None,
            timeout: float = 30) -> subprocess.CompletedProcess[str]:
        return run("ip", "netns", "exec", self.name, *args, input=input, timeout=timeout)

    def nft(self, ruleset: str) -> None:
        self.run("nft", "-f", "-", input=ruleset)

    def iptables(self, *args: str, v6: bool = False) -> None:
        self.run("ip6tables-nft" if v6 else "iptables-nft", *args)

    def nft_packets(self, family: str, table: str, chain: str) -> list[int]:
        out = json.loads(self.run("nft", "-j", "list", "chain", family, table, chain).stdout)
        rules = [item["rule"] for item in out["nftables"] if "rule" in item]
        return [stmt["counter"]["packets"] for rule in rules for stmt in rule["expr"] if "counter" in stmt]

    def iptables_packets(self, table: str, chain: str, v6: bool = False) -> list[int]:
        save = self.run("ip6tables-nft-save" if v6 else "iptables-nft-save", "-c", "-t", table).stdout
        prefix = f"-A {chain} "
        return [int(line[1:].split(":")[0]) for line in save.splitlines()
                if line.startswith("[") and line.split("] ", 1)[1].startswith(prefix)]


@dataclass(frozen=True)
class Pair:
    sender: Netns
    gateway: Netns


@contextmanager
def netns_pair() -> Iterator[Pair]:
    """Create sender and gateway namespaces joined by veth; delete both on exit whatever happened."""
    base = f"gl{os.getpid()}{next(_counter)}"
    sender = Netns(base + "s", "veth-s", IPv4Address("198.51.100.2"), IPv6Address("2001:db8:1::2"))
    gateway = Netns(base + "g", "veth-g", IPv4Address("198.51.100.1"), IPv6Address("2001:db8:1::1"))
    created: list[str] = []
    try:
        for ns in (sender, gateway):
            run("ip", "netns", "add", ns.name)
            created.append(ns.name)
        run("ip", "-n", sender.name, "link", "add", sender.dev, "type", "veth", "peer", "name", gateway.dev,
            "netns", gateway.name)
        for ns in (sender, gateway):
            _configure(ns)
        _pin_neighbours(sender, gateway)
        _pin_neighbours(gateway, sender)
        _route_spoofed(gateway, sender)
        yield Pair(sender, gateway)
    finally:
        for name in created:
            subprocess.run(["ip", "netns", "del", name], capture_output=True, check=False)


def _configure(ns: Netns) -> None:
    ns.run("ip", "link", "set", "lo", "up")
    ns.run("ip", "addr", "add", f"{ns.v4}/24", "dev", ns.dev)
    ns.run("ip", "addr", "add", f"{ns.v6}/64", "dev", ns.dev, "nodad")
    ns.run("ip", "link", "set", ns.dev, "up")


def _pin_neighbours(ns: Netns, peer: Netns) -> None:
    """Permanent ARP/NDP entries for the peer's addresses: neighbour discovery otherwise holds the first
    packets of a burst for up to ~2 s under load and drops those beyond its small queue, which made event
    timings (SIGTERM during a burst, latency benchmarks) depend on the machine's load."""
    mac = json.loads(peer.run("ip", "-j", "link", "show", peer.dev).stdout)[0]["address"]
    for address in (peer.v4, peer.v6):
        ns.run("ip", "neigh", "replace", str(address), "lladdr", mac, "dev", ns.dev, "nud", "permanent")


def _route_spoofed(gateway: Netns, sender: Netns) -> None:
    gateway.run("ip", "route", "add", "203.0.113.0/24", "via", str(sender.v4))
    gateway.run("ip", "route", "add", "2001:db8:2::/64", "via", str(sender.v6))


def enter(ns_name: str) -> None:
    """Move the calling (single-threaded) process into the named network namespace."""
    libc = ctypes.CDLL(None, use_errno=True)
    fd = os.open(f"/run/netns/{ns_name}", os.O_RDONLY)
    try:
        if libc.setns(fd, _CLONE_NEWNET) != 0:
            err = ctypes.get_errno()
            raise OSError(err, f"setns({ns_name}): {os.strerror(err)}")
    finally:
        os.close(fd)


@dataclass
class Child:
    """A forked child running in a namespace; ``conn`` is the parent's end of the pipe."""

    process: multiprocessing.process.BaseProcess
    conn: Connection


def _child_main(ns_name: str, conn: Connection, fn: Callable[..., Any], args: tuple[Any, ...]) -> None:
    try:
        enter(ns_name)
        fn(conn, *args)
    except BaseException:
        conn.send(("child-error", traceback.format_exc()))
        raise


@contextmanager
def in_netns(ns: Netns, fn: Callable[..., Any], *args: Any, timeout: float = 60) -> Iterator[Child]:
    """Run ``fn(conn, *args)`` in a forked child inside ``ns``; on exit join it and raise if it failed."""
    ctx = multiprocessing.get_context("fork")
    parent, child_end = ctx.Pipe()
    process = ctx.Process(target=_child_main, args=(ns.name, child_end, fn, args), daemon=True)
    process.start()
    try:
        yield Child(process, parent)
    finally:
        process.join(timeout)
        if process.is_alive():
            process.terminate()
            process.join()
            raise NetnsError(f"child {fn.__name__} in {ns.name} still running after {timeout} s")
    if process.exitcode != 0:
        raise NetnsError(f"child {fn.__name__} in {ns.name} exited {process.exitcode}")


def _checksum(data: bytes) -> int:
    if len(data) % 2:
        data += b"\0"
    total = sum(struct.unpack(f"!{len(data) // 2}H", data))
    while total >> 16:
        total = (total & 0xFFFF) + (total >> 16)
    return ~total & 0xFFFF


def tcp_syn(src: str, dst: str, sport: int, dport: int, seq: int = 1, flags: int = 0x02) -> bytes:
    """One IPv4 or IPv6 packet carrying a 20-byte TCP header (SYN by default) with correct checksums."""
    s, d = ip_address(src), ip_address(dst)
    tcp = struct.pack("!HHIIBBHHH", sport, dport, seq, 0, 5 << 4, flags, 64240, 0, 0)
    if s.version == 4:
        pseudo = s.packed + d.packed + struct.pack("!BBH", 0, socket.IPPROTO_TCP, len(tcp))
        tcp = tcp[:16] + struct.pack("!H", _checksum(pseudo + tcp)) + tcp[18:]
        hdr = struct.pack("!BBHHHBBH4s4s", 0x45, 0, 20 + len(tcp), seq & 0xFFFF, 0, 64, socket.IPPROTO_TCP,
                          0, s.packed, d.packed)
        return hdr[:10] + struct.pack("!H", _checksum(hdr)) + hdr[12:] + tcp
    pseudo = s.packed + d.packed + struct.pack("!I3xB", len(tcp), socket.IPPROTO_TCP)
    tcp = tcp[:16] + struct.pack("!H", _checksum(pseudo + tcp)) + tcp[18:]
    return struct.pack("!IHBB16s16s", 6 << 28, len(tcp), socket.IPPROTO_TCP, 64, s.packed, d.packed) + tcp


def syn_packets(srcs: Sequence[str], dst: str, dport: int, sports: Iterable[int]) -> list[bytes]:
    """SYNs to dst:dport from every (source address, source port) combination, addresses varying fastest."""
    return [tcp_syn(src, dst, sport, dport) for sport in sports for src in srcs]


def _send(conn: Connection, packets: list[bytes]) -> None:
    v4 = socket.socket(socket.AF_INET, socket.SOCK_RAW, socket.IPPROTO_RAW)
    v6 = socket.socket(socket.AF_INET6, socket.SOCK_RAW, socket.IPPROTO_RAW)
    for pkt in packets:
        if pkt[0] >> 4 == 4:
            v4.sendto(pkt, (socket.inet_ntop(socket.AF_INET, pkt[16:20]), 0))
        else:
            v6.sendto(pkt, (socket.inet_ntop(socket.AF_INET6, pkt[24:40]), 0))
    conn.send(len(packets))


def send_raw(ns: Netns, packets: list[bytes]) -> int:
    """Send prepared IP packets from inside ``ns`` through raw sockets; returns how many were sent."""
    with in_netns(ns, _send, packets) as child:
        if not child.conn.poll(60):
            raise NetnsError(f"raw sender in {ns.name} gave no answer within 60 s")
        sent = child.conn.recv()
    if not isinstance(sent, int):
        raise NetnsError(f"raw sender in {ns.name} failed: {sent}")
    return sent


def _connect(conn: Connection, dst: str, port: int) -> None:
    family = socket.AF_INET6 if ":" in dst else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as sock:
        sock.settimeout(5)
        with suppress(ConnectionRefusedError):
            sock.connect((dst, port))
        conn.send(sock.getsockname()[:2])


def connect(ns: Netns, dst: str, port: int) -> tuple[str, int]:
    """One TCP connect() from inside ns; a refused connection is fine (the SYN was sent)."""
    with in_netns(ns, _connect, dst, port) as child:
        return child.conn.recv()


def _capture_main(conn: Connection, groups: dict[int, Direction], delay: float,
                  kwargs: dict[str, Any]) -> None:
    """Reads whenever the socket is readable; batches become ConnectionEvents only at "stop", so the
    (slow, per-event) conversion never delays a read."""
    with NflogSource(groups, **kwargs) as source:
        batches: list[EventBatch] = []
        cpu = 0.0  # CPU seconds spent inside read_batch (receive, dispatch, parse)
        conn.send("ready")
        while True:
            ready, _, _ = select.select([source.fileno(), conn.fileno()], [], [], 1.0)
            if source.fileno() in ready:
                time.sleep(delay)
                start = time.process_time()
                batches.append(source.read_batch())
                cpu += time.process_time() - start
            if conn.fileno() in ready:
                command = conn.recv()
                batches.append(source.read_batch())
                if command != "stop":
                    conn.send(source.stats)
                    continue
                conn.send(([e for batch in batches for e in batch.events()], source.stats, cpu))
                return


class Capture:
    """Parent-side handle of nflog_capture's child; after stop(), read_cpu is the child's CPU seconds
    spent in read_batch (the figure bench/capture_burst.py reports)."""

    def __init__(self, child: Child) -> None:
        self._child = child
        self.read_cpu = 0.0

    def _ask(self, command: str) -> Any:
        self._child.conn.send(command)
        if not self._child.conn.poll(60):
            raise NetnsError(f"capture child did not answer {command!r} within 60 s")
        answer = self._child.conn.recv()
        if isinstance(answer, tuple) and answer[0] == "child-error":
            raise NetnsError(f"capture child failed:\n{answer[1]}")
        return answer

    def drain(self) -> CaptureStats:
        """Read everything the kernel has delivered so far; returns the counters after it."""
        return self._ask("drain")

    def stop(self) -> tuple[list[ConnectionEvent], CaptureStats]:
        events, stats, self.read_cpu = self._ask("stop")
        return events, stats


@contextmanager
def nflog_capture(ns: Netns, groups: dict[int, Direction], delay: float = 0.0,
                  **source_kwargs: Any) -> Iterator[Capture]:
    """NflogSource(groups, **source_kwargs) living in ns; stop() must be called before leaving."""
    with in_netns(ns, _capture_main, groups, delay, source_kwargs) as child:
        ready = child.conn.recv() if child.conn.poll(30) else "no answer within 30 s"
        if ready != "ready":
            raise NetnsError(f"capture child in {ns.name} did not start: {ready}")
        yield Capture(child)


SENTINEL = ("203.0.113.251", 40000)


def syn_burst(pair: Pair, capture: Capture, count: int,
              counter: Callable[[], int]) -> tuple[list[ConnectionEvent], CaptureStats, int]:
    """Send count spoofed SYNs at full speed, drain, send SENTINEL; counter() reads the rule's packets."""
    v4 = [f"203.0.113.{i}" for i in range(1, 251)]
    v6 = [f"2001:db8:2::{i:x}" for i in range(1, 251)]
    ports = range(10000, 10000 + count // 500)
    interleaved = zip(syn_packets(v4, str(pair.gateway.v4), 25, ports),
                      syn_packets(v6, str(pair.gateway.v6), 25, ports), strict=True)
    packets = [packet for two in interleaved for packet in two]
    if send_raw(pair.sender, packets) != count:
        raise NetnsError(f"raw sender did not send all {count} SYNs")
    time.sleep(0.3)
    capture.drain()
    send_raw(pair.sender, [tcp_syn(SENTINEL[0], str(pair.gateway.v4), SENTINEL[1], 25)])
    _wait_accounted(capture, counter())
    events, stats = capture.stop()
    return events, stats, counter()


def _wait_accounted(capture: Capture, counted: int, limit: float = 10.0) -> None:
    """Wait until the reader has received or seen as gaps all counted packets (the kernel flushes a
    partial batch only after the source's timeout); returns quietly at the limit, for the caller to assert."""
    deadline = time.monotonic() + limit
    while time.monotonic() < deadline:
        stats = capture.drain()
        if stats.received + stats.seq_gaps >= counted:
            return
        time.sleep(0.05)
