"""NflogSource: lossless-accounted NFLOG capture through greylogd._nflog (the only importer of that module).

Contract: every packet the kernel logs to one of our groups is either returned as a ConnectionEvent, counted
in stats.malformed (its payload does not parse), or counted in stats.seq_gaps (the kernel numbered it with
NFULNL_CFG_F_SEQ but it never reached us: an ENOBUFS overrun, or a message libnfnetlink could not parse). So
`rule packet counter == stats.received + stats.seq_gaps`, where received includes malformed. A loss at the
tail of a burst is only visible, as a gap, when the group's next packet arrives. stats.enobufs counts overrun
reports (not packets); each one doubles the socket receive buffer up to rcvbuf_max. NETLINK_NO_ENOBUFS is
never set, because it would hide losses. nflog_bind_pf is not called (see cffi_build.py).

Errors: setup failures raise OSError(errno, "<call>: <strerror>"); read_batch raises only for socket
errors other than EAGAIN/ENOBUFS (EINTR is retried by Python), or for a bug in the callback, re-raised
after nflog_handle_packet returns. Times are Unix seconds (UTC): the kernel's packet timestamp, which it
only sends for received packets (PREROUTING/INPUT/FORWARD), else the time read_batch read the packet.
"""

from __future__ import annotations

import errno
import os
import socket
import time
from collections.abc import Mapping
from types import MappingProxyType, TracebackType
from typing import Any, NamedTuple, TypeVar

from greylogd._nflog import ffi, lib
from greylogd.capture.packet import parse
from greylogd.capture.source import CaptureStats
from greylogd.events import ConnectionEvent, Direction

DEFAULT_GROUPS: Mapping[int, Direction] = MappingProxyType({155: Direction.INBOUND, 255: Direction.OUTBOUND})
COPY_RANGE = 192  # bytes: IPv6 header + a few extension headers + a TCP header with options
_RECV_BUF = 1 << 18  # bigger than the kernel's 128 KiB cap on nlbufsiz, so a batch is never truncated
_SEQ_MOD = 1 << 32
_BIND_HINT = "the kernel says EPERM both without CAP_NET_ADMIN and when another process (greyd's greylogd, " \
    "ulogd) already listens on the group"
_callback_errors: list[BaseException] = []
T = TypeVar("T")


def check(result: T, what: str, hint: str = "") -> T:
    """Return result unless it is a C failure (negative int or NULL pointer): then raise OSError(errno)
    with the message "<what>: <strerror>[ (<hint>)]"."""
    failed = result == ffi.NULL if isinstance(result, ffi.CData) else result < 0  # type: ignore[operator]
    if failed:
        err = ffi.errno
        raise OSError(err, f"{what}: {os.strerror(err)}" + (f" ({hint})" if hint else ""))
    return result


def _store_callback_error(exc_type: type[BaseException], exc: BaseException, tb: TracebackType) -> None:
    _callback_errors.append(exc)


@ffi.def_extern(error=-1, onerror=_store_callback_error)
def _greylogd_on_packet(gh: Any, nfmsg: Any, nfd: Any, data: Any) -> int:
    """Runs inside nflog_handle_packet: copy what we need out of C memory, nothing else."""
    ffi.from_handle(data).copy(nfmsg.nfgen_family, nfd)
    return 0


class _Raw(NamedTuple):
    group: _Group
    family: int
    payload: bytes
    prefix: bytes
    seq: int | None
    ts: float | None


class _Group:
    """One bound NFLOG group; owns the cffi handle the callback receives and reusable out-parameters."""

    def __init__(self, num: int, direction: Direction, sink: list[_Raw]) -> None:
        self.num, self.direction, self.sink = num, direction, sink
        self.handle = ffi.new_handle(self)
        self.gh: Any = None
        self._payload = ffi.new("char **")
        self._seq = ffi.new("uint32_t *")
        self._tv = ffi.new("struct timeval *")

    def copy(self, family: int, nfd: Any) -> None:
        size = lib.nflog_get_payload(nfd, self._payload)
        payload = ffi.buffer(self._payload[0], size)[:] if size > 0 else b""
        prefix = lib.nflog_get_prefix(nfd)
        seq = self._seq[0] if lib.nflog_get_seq(nfd, self._seq) == 0 else None
        tv = self._tv
        ts = tv.tv_sec + tv.tv_usec / 1e6 if lib.nflog_get_timestamp(nfd, tv) == 0 else None
        self.sink.append(_Raw(self, family, payload, ffi.string(prefix) if prefix else b"", seq, ts))


class NflogSource:
    """EventSource over one NFLOG netlink socket serving all configured groups.

    nlbufsiz (bytes, kernel range 4..128 KiB), qthreshold (packets) and timeout (1/100 s) set how the kernel
    batches messages; rcvbuf/rcvbuf_max are socket receive buffer sizes in bytes (SO_RCVBUFFORCE when we have
    CAP_NET_ADMIN, else SO_RCVBUF, which the kernel caps at net.core.rmem_max).
    """

    def __init__(self, groups: Mapping[int, Direction] = DEFAULT_GROUPS, *, copy_range: int = COPY_RANGE,
                 nlbufsiz: int = 65536, qthreshold: int = 64, timeout: int = 100,
                 rcvbuf: int = 4 << 20, rcvbuf_max: int = 64 << 20) -> None:
        self._stats = CaptureStats()
        self._raw: list[_Raw] = []
        self._last_seq: dict[int, int] = {}
        self._groups: list[_Group] = []
        self._sock: socket.socket | None = None
        self._rcvbuf, self._rcvbuf_max = rcvbuf, max(rcvbuf, rcvbuf_max)
        self._buf = bytearray(_RECV_BUF)
        self._cbuf = ffi.from_buffer(self._buf)
        self._h: Any = check(lib.nflog_open(), "nflog_open")
        try:
            for num, direction in groups.items():
                self._bind(_Group(num, direction, self._raw), copy_range, nlbufsiz, qthreshold, timeout)
            self._sock = sock = socket.socket(fileno=os.dup(lib.nflog_fd(self._h)))
            self._set_rcvbuf(rcvbuf)
            sock.setblocking(False)
        except BaseException:
            self.close()
            raise

    def _bind(self, group: _Group, copy_range: int, nlbufsiz: int, qthreshold: int, timeout: int) -> None:
        """Bind and configure one group; the sequence flag first, so no packet goes unnumbered."""
        group.gh = check(lib.nflog_bind_group(self._h, group.num), f"nflog_bind_group({group.num})",
                         _BIND_HINT)
        self._groups.append(group)
        check(lib.nflog_callback_register(group.gh, lib._greylogd_on_packet, group.handle),
              "nflog_callback_register")
        check(lib.nflog_set_flags(group.gh, lib.NFULNL_CFG_F_SEQ), "nflog_set_flags")
        check(lib.nflog_set_mode(group.gh, lib.NFULNL_COPY_PACKET, copy_range), "nflog_set_mode")
        check(lib.nflog_set_nlbufsiz(group.gh, nlbufsiz), "nflog_set_nlbufsiz")  # also sets rcvbuf to 10x
        check(lib.nflog_set_qthresh(group.gh, qthreshold), "nflog_set_qthresh")
        check(lib.nflog_set_timeout(group.gh, timeout), "nflog_set_timeout")

    def _set_rcvbuf(self, size: int) -> None:
        try:
            self._sock.setsockopt(socket.SOL_SOCKET, lib.SO_RCVBUFFORCE, size)
        except PermissionError:
            self._sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, size)
        self._rcvbuf = size
        self._stats.rcvbuf = self._sock.getsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF)

    def fileno(self) -> int:
        return self._sock.fileno()

    @property
    def stats(self) -> CaptureStats:
        return self._stats

    def read_batch(self) -> list[ConnectionEvent]:
        """Drain the socket until EAGAIN and return the parsed events; never blocks."""
        while True:
            try:
                size = self._sock.recv_into(self._buf)
            except BlockingIOError:
                break
            except OSError as exc:
                if exc.errno != errno.ENOBUFS:
                    raise
                self._on_enobufs()
                continue
            self._handle(size)
        return self._events()

    def _handle(self, size: int) -> None:
        """Dispatch one datagram to the callbacks, then re-raise anything a callback raised.

        nflog_handle_packet's result is not checked: libnfnetlink returns -1 (errno untouched) for the
        NLMSG_DONE trailer that ends every multi-message batch, after dispatching all the messages before it.
        A message it really could not dispatch is a lost event, and the sequence numbers count it as a gap.
        """
        lib.nflog_handle_packet(self._h, self._cbuf, size)
        if _callback_errors:
            error = _callback_errors.pop()
            _callback_errors.clear()
            raise error

    def _on_enobufs(self) -> None:
        """The kernel dropped a batch: count it and grow the buffer; the lost packets surface as seq gaps."""
        self._stats.enobufs += 1
        if self._rcvbuf < self._rcvbuf_max:
            self._set_rcvbuf(min(self._rcvbuf * 2, self._rcvbuf_max))

    def _events(self) -> list[ConnectionEvent]:
        raw = self._raw.copy()
        self._raw.clear()
        now = time.time()
        events = []
        for item in raw:
            self._count_seq(item.group.num, item.seq)
            info = parse(item.payload, item.family)
            if info is None:
                self._stats.malformed += 1
                continue
            events.append(ConnectionEvent(
                item.ts if item.ts is not None else now, item.group.num, item.group.direction, info.family,
                info.src, info.dst, info.sport, info.dport, info.tcp_flags,
                item.prefix.decode("utf-8", "replace"), item.seq))
        self._stats.received += len(raw)
        return events

    def _count_seq(self, group: int, seq: int | None) -> None:
        """Per-group sequence numbers start at 0 when the group is bound and grow by one per logged packet."""
        if seq is None:
            return
        self._stats.seq_gaps += (seq - self._last_seq.get(group, -1) - 1) % _SEQ_MOD
        self._last_seq[group] = seq

    def close(self) -> None:
        """Unbind the groups and close the handle; idempotent.

        A failed unbind is not raised: closing the socket makes the kernel destroy our instances anyway.
        """
        if self._h is None:
            return
        for group in self._groups:
            lib.nflog_unbind_group(group.gh)
        if self._sock is not None:
            self._sock.close()
        lib.nflog_close(self._h)
        self._h = None

    def __enter__(self) -> NflogSource:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
