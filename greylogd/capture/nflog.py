"""NflogSource: lossless-accounted NFLOG capture through greylogd._nflog.

Contract: every packet the kernel logs to one of our groups is either returned in an EventBatch, counted
in stats.malformed (its payload does not parse), or counted in stats.seq_gaps (the kernel numbered it with
NFULNL_CFG_F_SEQ but it never reached us: an ENOBUFS overrun, or a message libnfnetlink could not parse). So
`rule packet counter == stats.received + stats.seq_gaps`, where received includes malformed. A loss at the
tail of a burst is only visible, as a gap, when the group's next packet arrives. stats.enobufs counts overrun
reports (not packets); each one doubles the socket receive buffer up to rcvbuf_max. NETLINK_NO_ENOBUFS is
never set, because it would hide losses. nflog_bind_pf is not called (see cffi_build.py).

Per packet no Python runs: the C callback (capture.c) parses it and appends a fixed-size record to one
preallocated sink; read_batch() then counts and converts the whole read with numpy. A read stops after
READ_EVENTS packets (or at EAGAIN), so one call holds a bounded number of events; the sink has room for
that plus one full datagram, which is why it can never overflow.

Errors: setup failures raise OSError(errno, "<call>: <strerror>"); read_batch raises only for socket
errors other than EAGAIN/ENOBUFS (EINTR is retried by Python). Times are Unix seconds (UTC): the kernel's
packet timestamp, which it only sends for received packets (PREROUTING/INPUT/FORWARD), else the time
read_batch read the packet.
"""

from __future__ import annotations

import errno
import os
import socket
import time
from collections.abc import Mapping
from types import MappingProxyType
from typing import Any, TypeVar

import numpy as np

from greylogd._nflog import ffi, lib
from greylogd.capture.source import CaptureStats
from greylogd.errors import CaptureError
from greylogd.events import EVENT_DTYPE, Direction, EventBatch

DEFAULT_GROUPS: Mapping[int, Direction] = MappingProxyType({155: Direction.INBOUND, 255: Direction.OUTBOUND})
COPY_RANGE = 192  # bytes: IPv6 header + a few extension headers + a TCP header with options
_RECV_BUF = 1 << 18  # bigger than the kernel's 128 KiB cap on nlbufsiz, so a batch is never truncated
_SEQ_MOD = 1 << 32
READ_EVENTS = 4096  # packets one read_batch() returns at most (it stops reading at this many)
_MIN_MESSAGE = 20  # bytes: the smallest netlink message (header + nfgenmsg)
_SINK_CAPACITY = READ_EVENTS + _RECV_BUF // _MIN_MESSAGE  # + the most packets one datagram can hold
_RECORD = "struct greylogd_record"
_FIELDS = {"ts": "f8", "seq": "u4", "group": "u2", "sport": "u2", "dport": "u2", "inbound": "u1",
           "has_seq": "u1", "has_ts": "u1", "parsed": "u1", "family": "u1", "proto": "u1", "tcp_flags": "u1",
           "src": "S46", "dst": "S46", "prefix": "S128"}
RECORD_DTYPE = np.dtype({"names": list(_FIELDS), "formats": list(_FIELDS.values()),
                         "offsets": [ffi.offsetof(_RECORD, name) for name in _FIELDS],
                         "itemsize": ffi.sizeof(_RECORD)})  # the C record's exact layout
_COPIED = ("group", "family", "tcp_flags", "sport", "dport", "src", "dst", "prefix")
_uncleared = ffi.new_allocator(should_clear_after_alloc=False)  # the sink's pages stay untouched until used
_BIND_HINT = "the kernel says EPERM both without CAP_NET_ADMIN and when another process (greyd's greylogd, " \
    "ulogd) already listens on the group"
T = TypeVar("T")


def check(result: T, what: str, hint: str = "") -> T:
    """Return result unless it is a C failure (negative int or NULL pointer): then raise OSError(errno)
    with the message "<what>: <strerror>[ (<hint>)]"."""
    failed = result == ffi.NULL if isinstance(result, ffi.CData) else result < 0  # type: ignore[operator]
    if failed:
        err = ffi.errno
        raise OSError(err, f"{what}: {os.strerror(err)}" + (f" ({hint})" if hint else ""))
    return result


class _Group:
    """One bound NFLOG group and the C struct its callback receives (kept alive here)."""

    def __init__(self, num: int, direction: Direction, sink: Any) -> None:
        self.num = num
        self.c = ffi.new("struct greylogd_group *", {"sink": sink, "num": num,
                                                      "inbound": direction is Direction.INBOUND})
        self.gh: Any = None


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
        self._records = _uncleared(f"{_RECORD}[]", _SINK_CAPACITY)
        self._sink = ffi.new("struct greylogd_sink *", {"records": self._records, "capacity": _SINK_CAPACITY})
        self._last_seq: dict[int, int] = {}
        self._groups: list[_Group] = []
        self._sock: socket.socket | None = None
        self._rcvbuf, self._rcvbuf_max = rcvbuf, max(rcvbuf, rcvbuf_max)
        self._buf = bytearray(_RECV_BUF)
        self._cbuf = ffi.from_buffer(self._buf)
        self._h: Any = check(lib.nflog_open(), "nflog_open")
        try:
            for num, direction in groups.items():
                self._bind(_Group(num, direction, self._sink), copy_range, nlbufsiz, qthreshold, timeout)
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
        check(lib.nflog_callback_register(group.gh, lib.greylogd_on_packet, group.c),
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

    def read_batch(self) -> EventBatch:
        """Read until EAGAIN or READ_EVENTS packets and return the parsed events; never blocks."""
        sink = self._sink
        sink.count = 0
        while sink.count < READ_EVENTS:
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
        if sink.overflow:
            raise CaptureError(f"NFLOG record sink overflowed by {sink.overflow} packets (a bug)")
        count = sink.count
        records = np.frombuffer(ffi.buffer(self._records, count * RECORD_DTYPE.itemsize), RECORD_DTYPE)
        return self._events(records)

    def _handle(self, size: int) -> None:
        """Dispatch one datagram to the C callback.

        nflog_handle_packet's result is not checked: libnfnetlink returns -1 (errno untouched) for the
        NLMSG_DONE trailer that ends every multi-message batch, after dispatching all the messages before it.
        A message it really could not dispatch is a lost event, and the sequence numbers count it as a gap.
        """
        lib.nflog_handle_packet(self._h, self._cbuf, size)

    def _on_enobufs(self) -> None:
        """The kernel dropped a batch: count it and grow the buffer; the lost packets surface as seq gaps."""
        self._stats.enobufs += 1
        if self._rcvbuf < self._rcvbuf_max:
            self._set_rcvbuf(min(self._rcvbuf * 2, self._rcvbuf_max))

    def _events(self, records: np.ndarray) -> EventBatch:
        """Count the read (received, malformed, seq gaps) and copy its parsed packets out of the sink."""
        self._stats.received += len(records)
        self._count_seq(records)
        good = records[records["parsed"] != 0]
        self._stats.malformed += len(records) - len(good)
        rows = np.empty(len(good), EVENT_DTYPE)
        rows["ts"] = np.where(good["has_ts"] != 0, good["ts"], time.time())
        rows["seq"] = np.where(good["has_seq"] != 0, good["seq"], -1)
        rows["inbound"] = good["inbound"] != 0
        for name in _COPIED:
            rows[name] = good[name]
        return EventBatch(rows)

    def _count_seq(self, records: np.ndarray) -> None:
        """Per-group sequence numbers start at 0 when the group is bound and grow by one per logged packet;
        every hole (modulo 2**32) between consecutive numbers of a group is a lost packet."""
        numbered = records[records["has_seq"] != 0]
        for group in np.unique(numbered["group"]).tolist():
            seqs = numbered["seq"][numbered["group"] == group].astype(np.int64)
            previous = np.concatenate(([self._last_seq.get(group, -1)], seqs[:-1]))
            self._stats.seq_gaps += int(((seqs - previous - 1) % _SEQ_MOD).sum())
            self._last_seq[group] = int(seqs[-1])

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
