"""The simulated Internet's hosts: addresses, HELO names and blacklist memberships, indexed by host id.

Every sender behaviour allocates its hosts here, so that the simulator, the log writer and the ground truth
refer to a host by one integer id. Address text is greyd's form (inet_ntop, i.e. `ipaddress` compressed);
the kernel's uncompressed IPv6 form is derived by the log writer.
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass, field

import numpy as np


@dataclass(slots=True)
class Hosts:
    """Append-only host table. ip/helo/lists are parallel lists; `lists` is greyd's blacklist-name string
    ('' for a host on no external blacklist). An address is one host: adding it again returns its id and
    keeps its first HELO and lists, so greyd's per-IP state (WHITE, TRAPPED) is per host."""

    ip: list[str] = field(default_factory=list)
    helo: list[str] = field(default_factory=list)
    lists: list[str] = field(default_factory=list)
    index: dict[str, int] = field(default_factory=dict)

    def add(self, ips: list[str], helos: list[str], lists: list[str] | None = None) -> np.ndarray:
        """Ids (int64) of the given hosts, appending those not seen before."""
        names = lists if lists is not None else [""] * len(ips)
        ids = np.empty(len(ips), dtype=np.int64)
        for n, (ip, helo, listed) in enumerate(zip(ips, helos, names, strict=True)):
            known = self.index.get(ip)
            if known is None:
                known = self.index[ip] = len(self.ip)
                self.ip.append(ip)
                self.helo.append(helo)
                self.lists.append(listed)
            ids[n] = known
        return ids

    def __len__(self) -> int:
        return len(self.ip)


def v4_range(network: str, first: int, count: int) -> list[str]:
    """`count` consecutive IPv4 addresses of `network` starting at offset `first` (no wrap-around)."""
    net = ipaddress.IPv4Network(network)
    if first + count > net.num_addresses:
        raise ValueError(f"{network} has no room for {count} hosts from offset {first}")
    base = int(net.network_address) + first
    return [str(ipaddress.IPv4Address(base + i)) for i in range(count)]


def v6_range(network: str, first: int, count: int) -> list[str]:
    """`count` consecutive IPv6 addresses of `network` starting at offset `first`, compressed form."""
    net = ipaddress.IPv6Network(network)
    base = int(net.network_address) + first
    return [str(ipaddress.IPv6Address(base + i)) for i in range(count)]


def v4_from_ints(values: np.ndarray) -> list[str]:
    """Dotted quads of uint32 addresses, vectorised by octet (millions of spam bots in benchmarks)."""
    octets = [(values >> shift) & 255 for shift in (24, 16, 8, 0)]
    parts = [o.astype(str).astype(object) for o in octets]
    return list(parts[0] + "." + parts[1] + "." + parts[2] + "." + parts[3])


def bot_addresses(rng: np.random.Generator, n: int, dirty_nets: int) -> np.ndarray:
    """uint32 addresses of `n` spam bots in 198.19.0.0/16: 70 % packed into `dirty_nets` /24s (the spam
    networks the report should rank), the rest scattered over 198.19.64.0-198.19.199.255."""
    base = int(ipaddress.IPv4Address("198.19.0.0"))
    dirty = rng.random(n) < 0.7
    third = np.where(dirty, rng.integers(0, dirty_nets, n), rng.integers(64, 200, n))
    return (base + (third << 8) + rng.integers(1, 255, n)).astype(np.int64)


BOT_HELO_WORDS = np.array(["localhost", "user-pc", "admin", "win-server", "mail", "smtp", "hello",
                           "ylmf-pc", "desktop-4f7a", "example.com"], dtype=object)


def bot_helos(rng: np.random.Generator, ips: list[str]) -> list[str]:
    """HELO strings bots send: junk names, or the bracketed address literal."""
    words = BOT_HELO_WORDS[rng.integers(0, len(BOT_HELO_WORDS), len(ips))]
    literal = rng.random(len(ips)) < 0.3
    return [f"[{ip}]" if lit else str(w) for ip, w, lit in zip(ips, words, literal, strict=True)]
