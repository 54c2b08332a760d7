"""The EventSource protocol: what the daemon's selectors loop needs from any capture backend."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

from greylogd.events import EventBatch


@dataclass
class CaptureStats:
    """Counters since the source was opened; monotonic, never reset (Prometheus counters read them).

    received counts every packet delivered to us, malformed ones included (malformed is a subset).
    seq_gaps counts packets the kernel numbered but never delivered (NFLOG sequence holes), so for NFLOG
    `rule packet counter == received + seq_gaps`. enobufs counts netlink receive-buffer overrun reports, not
    packets: the packets one overrun loses show up in seq_gaps once the group's next packet arrives.
    rcvbuf is the socket receive buffer in bytes as the kernel reports it (twice the size requested).
    """

    received: int = 0
    malformed: int = 0
    enobufs: int = 0
    seq_gaps: int = 0
    rcvbuf: int = 0


class EventSource(Protocol):
    """A non-blocking source of connection events; the caller owns the loop and polls fileno()."""

    def fileno(self) -> int: ...

    def read_batch(self) -> EventBatch:
        """Read what is readable now, until EAGAIN or a bounded number of events (the fd then stays
        readable, so a level-triggered loop comes back); never blocks."""
        ...

    @property
    def stats(self) -> CaptureStats: ...

    def close(self) -> None: ...
