"""NfqueueSource: the same ConnectionEvents from an NFQUEUE queue, verdicts issued after the event is kept.

Every queued packet is held by the kernel until we answer. For each packet we build the event, call
on_event(event) (the daemon's durable queue) and only then issue the verdict, so a packet is never let
through before greylogd has recorded it. The verdict is ALWAYS ACCEPT: greylogd observes mail, it must
never block it. If on_event returns False or raises, the packet is still accepted at once (holding it would
stall the SMTP handshake and, once the queue is full, drop SYNs); the event is counted in `unrecorded` and
handed back by read_batch() so the caller can still keep it. Malformed packets are accepted and counted.
Without on_event, read_batch() returns every event like NflogSource does, and the verdict waits for nothing.

Firewall rules must use the bypass flag, so mail flows while greylogd is down or restarting:
iptables `-j NFQUEUE --queue-num N --queue-bypass`, nft `queue num N bypass` (needs CONFIG_NFT_QUEUE).
Bypass only covers "no listener": while greylogd runs, a full queue (max_len) or a netlink overrun (ENOBUFS,
counted in stats.enobufs) drops the SYN and the client retransmits it about a second later.
"""

from __future__ import annotations

import errno
import logging
import os
import socket
import time
from collections.abc import Callable

from netfilterqueue import COPY_PACKET, NetfilterQueue, Packet

from greylogd.capture.nflog import COPY_RANGE
from greylogd.capture.packet import parse
from greylogd.capture.source import CaptureStats
from greylogd.events import ConnectionEvent, Direction, EventBatch

log = logging.getLogger(__name__)


def _refuse(event: ConnectionEvent) -> bool:
    return False


class _CountingSocket:
    """What NetfilterQueue.run_socket reads from: counts ENOBUFS (which NetfilterQueue would swallow)."""

    def __init__(self, sock: socket.socket, stats: CaptureStats) -> None:
        self._sock, self._stats = sock, stats

    def recv(self, size: int) -> bytes:
        while True:
            try:
                return self._sock.recv(size)
            except OSError as exc:
                if exc.errno != errno.ENOBUFS:
                    raise  # EAGAIN ends run_socket's loop; anything else is the caller's
                self._stats.enobufs += 1


class NfqueueSource:
    """EventSource over NFQUEUE queue_num; group in the events is the queue number, seq is None."""

    def __init__(self, queue_num: int, on_event: Callable[[ConnectionEvent], bool] | None = None, *,
                 direction: Direction = Direction.INBOUND, max_len: int = 1024, copy_range: int = COPY_RANGE,
                 rcvbuf: int = 4 << 20) -> None:
        self.queue_num, self.direction, self._on_event = queue_num, direction, on_event
        self._stats = CaptureStats()
        self.unrecorded = 0
        self._returned: list[ConnectionEvent] = []
        self._nfq = NetfilterQueue()
        self._nfq.bind(queue_num, self._on_packet, max_len=max_len, mode=COPY_PACKET, range=copy_range,
                       sock_len=rcvbuf)
        self._sock = socket.socket(fileno=os.dup(self._nfq.get_fd()))
        self._sock.setblocking(False)
        self._stats.rcvbuf = self._sock.getsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF)
        self._reader = _CountingSocket(self._sock, self._stats)

    def fileno(self) -> int:
        return self._sock.fileno()

    @property
    def stats(self) -> CaptureStats:
        return self._stats

    def read_batch(self) -> EventBatch:
        """Handle every queued packet now (on_event, then ACCEPT); returns the events on_event refused."""
        self._nfq.run_socket(self._reader)
        returned, self._returned = self._returned, []
        return EventBatch.of(returned)

    def _on_packet(self, packet: Packet) -> None:
        try:
            self._stats.received += 1
            event = self._event(packet)
            if event is None:
                self._stats.malformed += 1
            elif self._on_event is None:
                self._returned.append(event)
            elif not self._record(event):
                self.unrecorded += 1
                self._returned.append(event)
        finally:
            packet.accept()

    def _record(self, event: ConnectionEvent) -> bool:
        try:
            return self._on_event is not None and self._on_event(event) is True
        except Exception:
            log.exception("recording %s failed; the packet is accepted anyway", event.host)
            return False

    def _event(self, packet: Packet) -> ConnectionEvent | None:
        info = parse(packet.get_payload())
        if info is None:
            return None
        ts = packet.get_timestamp() or time.time()
        return ConnectionEvent(ts, self.queue_num, self.direction, info.family, info.src, info.dst,
                               info.sport, info.dport, info.tcp_flags, "", None)

    def close(self) -> None:
        """Accept what is still queued (the kernel would drop it at unbind), unbind and close the socket.

        Call read_batch() first to record those packets: here they are only accepted and counted unrecorded.
        """
        self._on_event = _refuse
        self._nfq.run_socket(self._reader)
        self._nfq.unbind()
        self._sock.close()

    def __enter__(self) -> NfqueueSource:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
