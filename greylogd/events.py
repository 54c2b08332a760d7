"""ConnectionEvent and EventBatch: what capture hands to the rest of greylogd.

A ConnectionEvent is one packet with `ipaddress` objects (NFQUEUE's per-packet hook, tests, debug logs);
`host` gives the address whose WHITE entry the event refreshes. An EventBatch is a whole read as columns
(one numpy structured array), so that a burst of 50k packets/s costs Python a few array operations per read
instead of an object per packet; `EventBatch.events()` turns it back into ConnectionEvents when needed.
"""

from __future__ import annotations

import enum
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from ipaddress import IPv4Address, IPv6Address, ip_address

import numpy as np

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


EVENT_DTYPE = np.dtype([("ts", "f8"), ("seq", "i8"), ("group", "u2"), ("inbound", "?"), ("family", "u1"),
                        ("tcp_flags", "u1"), ("sport", "u2"), ("dport", "u2"), ("src", "S46"), ("dst", "S46"),
                        ("prefix", "S128")])


@dataclass(frozen=True)
class EventBatch:
    """Connection events in arrival order, one row of `rows` (dtype EVENT_DTYPE) per event.

    Columns: ts (Unix seconds, UTC), seq (NFLOG sequence number, -1 when none), group (NFLOG group or queue
    number), inbound (True: the source address is the remote host), family (AF_INET/AF_INET6), tcp_flags,
    sport, dport, src and dst (address text in inet_ntop's ASCII spelling), prefix (NFLOG prefix, UTF-8).
    """

    rows: np.ndarray

    def __len__(self) -> int:
        return len(self.rows)

    def __getitem__(self, part: slice) -> EventBatch:
        return EventBatch(self.rows[part])

    def host_counts(self) -> dict[str, int]:
        """Connections per remote host, keyed by the address text greyd's rows use (str() of the address)."""
        rows = self.rows
        hosts = np.where(rows["inbound"], rows["src"], rows["dst"])
        return {_spelling(raw): n for raw, n in Counter(hosts.tolist()).items()}

    def timestamps(self) -> list[float]:
        return self.rows["ts"].tolist()

    def events(self) -> list[ConnectionEvent]:
        """One ConnectionEvent per row (for tests and debug logging: this is the slow path)."""
        r = self.rows
        columns = zip(r["ts"].tolist(), r["group"].tolist(), r["inbound"].tolist(), r["family"].tolist(),
                      r["src"].tolist(), r["dst"].tolist(), r["sport"].tolist(), r["dport"].tolist(),
                      r["tcp_flags"].tolist(), r["prefix"].tolist(), r["seq"].tolist(), strict=True)
        return [ConnectionEvent(ts, group, Direction.INBOUND if inbound else Direction.OUTBOUND, family,
                                ip_address(src.decode()), ip_address(dst.decode()), sport, dport, flags,
                                prefix.decode("utf-8", "replace"), None if seq < 0 else seq)
                for ts, group, inbound, family, src, dst, sport, dport, flags, prefix, seq in columns]

    @classmethod
    def of(cls, events: Sequence[ConnectionEvent]) -> EventBatch:
        """The batch of the given events (NFQUEUE hands them over one at a time)."""
        rows = np.zeros(len(events), EVENT_DTYPE)
        for i, e in enumerate(events):
            rows[i] = (e.ts, -1 if e.seq is None else e.seq, e.group, e.direction is Direction.INBOUND,
                       e.family, e.tcp_flags, e.sport, e.dport, str(e.src).encode(), str(e.dst).encode(),
                       e.prefix.encode())
        return cls(rows)


def _spelling(raw: bytes) -> str:
    """str() of the address from its inet_ntop text; they differ only for IPv4-mapped or -compatible IPv6
    addresses, which inet_ntop writes in dotted form (those take the slow path)."""
    text = raw.decode("ascii")
    return str(ip_address(text)) if "." in text and ":" in text else text
