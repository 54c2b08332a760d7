"""The EventSource protocol: what the daemon's selectors loop needs from any capture backend."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

from greylogd.events import ConnectionEvent


@dataclass
class CaptureStats:
    """Counters since the source was opened; monotonic, never reset (Prometheus counters read them).

    seq_gaps counts events the kernel numbered but never delivered (NFLOG sequence holes), enobufs counts
    receive-buffer overruns reported by netlink; together they account for every event the kernel dropped.
    """

    received: int = 0
    malformed: int = 0
    enobufs: int = 0
    seq_gaps: int = 0
    rcvbuf: int = 0


class EventSource(Protocol):
    """A non-blocking source of ConnectionEvents; the caller owns the loop and polls fileno()."""

    def fileno(self) -> int: ...

    def read_batch(self) -> list[ConnectionEvent]:
        """Drain everything readable now (until EAGAIN) and return it; never blocks."""
        ...

    @property
    def stats(self) -> CaptureStats: ...

    def close(self) -> None: ...
