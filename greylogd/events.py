"""ConnectionEvent: the one thing capture hands to the rest of greylogd.

Addresses are `ipaddress` objects (never text) so that IPv4/IPv6 handling and normalisation happen once,
at the edge; `host` gives the address whose WHITE entry the event refreshes.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass
from ipaddress import IPv4Address, IPv6Address

IPAddress = IPv4Address | IPv6Address


class Direction(enum.Enum):
    """Which side of the connection is the remote mail host."""

    INBOUND = "in"  # the source address is the remote host (NFLOG group 155)
    OUTBOUND = "out"  # the destination address is the remote host (NFLOG group 255)


@dataclass(frozen=True, slots=True)
class ConnectionEvent:
    """One logged packet (normally a TCP SYN) as seen by the kernel.

    ts is Unix seconds (UTC, float) from the kernel's packet timestamp when present, else the receive time.
    seq is the NFLOG per-instance sequence number (None when the kernel did not send one, e.g. NFQUEUE).
    tcp_flags is the raw TCP flags byte (0 for non-TCP packets); ports are 0 for non-TCP/UDP packets.
    """

    ts: float
    group: int
    direction: Direction
    family: int  # socket.AF_INET or socket.AF_INET6
    src: IPAddress
    dst: IPAddress
    sport: int
    dport: int
    tcp_flags: int
    prefix: str
    seq: int | None

    @property
    def host(self) -> IPAddress:
        """The remote host whose whitelist entry this connection refreshes."""
        return self.src if self.direction is Direction.INBOUND else self.dst
