"""The spamd/greyd sync protocol version 2 codec (spec/greyd-compat.md section 4), byte-exact with greyd.

Wire layout: a 32-byte header (version 2, af 2, total length, counter, HMAC-SHA1, pad), one or more TLVs,
then an END TLV; everything big-endian. The HMAC covers exactly `length` bytes with the HMAC field zeroed;
its key is the lower-case hex SHA-1 of the key file (an empty key when the file is missing or verify = 0).
Times are truncated to 32 bits like greyd's htonl(time_t). IPv4 only: callers must not encode IPv6 (greyd
sends 255.255.255.255 for them, which peers whitelist; greylogd never sends them at all).
"""

from __future__ import annotations

import enum
import hashlib
import hmac
import struct
from dataclasses import dataclass
from ipaddress import IPv4Address
from pathlib import Path

from greylogd.errors import ConfigError

VERSION = 2
AF_INET = 2
MAX_SIZE = 1408  # SYNC_MAXSIZE
HEADER = struct.Struct("!BBHI20s4x")
TLV_HEAD = struct.Struct("!HH")
ADDR_TLV = struct.Struct("!HHIII")  # type, length 16, timestamp, expire, ip
GREY_HEAD = struct.Struct("!HHIIHHH")  # type, length, timestamp, ip, from_len, to_len, helo_len
HMAC_OFFSET, HMAC_LEN = 8, 20


class TlvType(enum.IntEnum):
    """TLV type codes; DEL_WHITE and DEL_TRAPPED are greyd-only (OpenBSD spamd drops such datagrams)."""

    END = 0
    GREY = 1
    WHITE = 2
    TRAPPED = 3
    DEL_WHITE = 4
    DEL_TRAPPED = 5


@dataclass(frozen=True, slots=True)
class AddrUpdate:
    """A WHITE/TRAPPED/DEL_* entry: times are Unix seconds (UTC), truncated to 32 bits on the wire."""

    kind: TlvType
    ip: IPv4Address
    timestamp: int
    expire: int


@dataclass(frozen=True, slots=True)
class GreyUpdate:
    """A GREY tuple as greyd's reader syncs it (strings are sent NUL-terminated, in from, to, helo order)."""

    ip: IPv4Address
    helo: str
    mail_from: str
    rcpt_to: str
    timestamp: int


Update = AddrUpdate | GreyUpdate


def key_from_file(path: str | Path | None) -> bytes:
    """The HMAC key for a key file: its hex SHA-1 as ASCII; b"" when path is None or the file is missing.

    Other read errors raise ConfigError, as greyd's Sync_init fails on them.
    """
    if path is None:
        return b""
    try:
        data = Path(path).read_bytes()
    except FileNotFoundError:
        return b""
    except OSError as exc:
        raise ConfigError(f"failed to read in sync key: {exc.strerror}", str(path)) from exc
    return hashlib.sha1(data).hexdigest().encode("ascii")


def _u32(value: int) -> int:
    return value & 0xFFFFFFFF


def _tlv(update: Update) -> bytes:
    if isinstance(update, AddrUpdate):
        return ADDR_TLV.pack(update.kind, ADDR_TLV.size, _u32(update.timestamp), _u32(update.expire),
                             int(update.ip))
    strings = [s.encode("utf-8", "surrogateescape") + b"\0"
               for s in (update.mail_from, update.rcpt_to, update.helo)]
    raw = GREY_HEAD.size + sum(len(s) for s in strings)
    length = (raw + 15) // 16 * 16
    head = GREY_HEAD.pack(TlvType.GREY, length, _u32(update.timestamp), int(update.ip),
                          *(len(s) for s in strings))
    return head + b"".join(strings) + bytes(length - raw)


def encode(updates: list[Update], counter: int, key: bytes) -> bytes:
    """One datagram carrying `updates` then END, signed with `key`; raises ValueError above MAX_SIZE."""
    body = b"".join(_tlv(u) for u in updates) + TLV_HEAD.pack(TlvType.END, TLV_HEAD.size)
    length = HEADER.size + len(body)
    if length > MAX_SIZE:
        raise ValueError(f"sync datagram of {length} bytes exceeds {MAX_SIZE}")
    unsigned = HEADER.pack(VERSION, AF_INET, length, _u32(counter), bytes(HMAC_LEN)) + body
    digest = hmac.new(key, unsigned, hashlib.sha1).digest()
    return unsigned[:HMAC_OFFSET] + digest + unsigned[HMAC_OFFSET + HMAC_LEN:]


class SyncDecodeError(ValueError):
    """A datagram greyd's Sync_recv would drop as `truncated or invalid packet` (or `unknown type`)."""


def _check_header(data: bytes, key: bytes) -> int:
    if len(data) < HEADER.size:
        raise SyncDecodeError(f"datagram of {len(data)} bytes is shorter than the header")
    version, af, length, _counter, mac = HEADER.unpack_from(data)
    if version != VERSION or af != AF_INET or len(data) < length or length < HEADER.size:
        raise SyncDecodeError(f"bad header: version {version}, af {af}, length {length}")
    zeroed = data[:HMAC_OFFSET] + bytes(HMAC_LEN) + data[HMAC_OFFSET + HMAC_LEN:length]
    if not hmac.compare_digest(mac, hmac.new(key, zeroed, hashlib.sha1).digest()):
        raise SyncDecodeError("HMAC mismatch")
    return length


def _decode_grey(tlv: bytes) -> GreyUpdate:
    _t, length, ts, ip, fl, tl, hl = GREY_HEAD.unpack_from(tlv)
    if GREY_HEAD.size + fl + tl + hl > length:
        raise SyncDecodeError("GREY string lengths exceed the TLV")
    raw = tlv[GREY_HEAD.size:]
    texts = [raw[a:a + n].rstrip(b"\0").decode("utf-8", "surrogateescape")
             for a, n in ((0, fl), (fl, tl), (fl + tl, hl))]
    return GreyUpdate(IPv4Address(ip), helo=texts[2], mail_from=texts[0], rcpt_to=texts[1], timestamp=ts)


def _decode_tlv(kind: int, tlv: bytes, deleting: bool) -> Update:
    if kind == TlvType.GREY:
        return _decode_grey(tlv)
    if kind not in (TlvType.WHITE, TlvType.TRAPPED, TlvType.DEL_WHITE, TlvType.DEL_TRAPPED):
        raise SyncDecodeError(f"unknown type: {kind}")
    if len(tlv) != ADDR_TLV.size:
        raise SyncDecodeError(f"address TLV of {len(tlv)} bytes")
    _t, _l, ts, expire, ip = ADDR_TLV.unpack(tlv)
    if deleting and kind in (TlvType.WHITE, TlvType.TRAPPED):
        kind += 2  # greyd's delete flag sticks for later TLVs of the same datagram
    return AddrUpdate(TlvType(kind), IPv4Address(ip), ts, expire)


def decode(data: bytes, key: bytes) -> list[Update]:
    """Every update in a datagram, with greyd's Sync_recv checks; raises SyncDecodeError on any failure."""
    length, offset, deleting, updates = _check_header(data, key), HEADER.size, False, []
    while offset + TLV_HEAD.size <= length:
        kind, tlv_len = TLV_HEAD.unpack_from(data, offset)
        if tlv_len < TLV_HEAD.size or offset + tlv_len > length:
            raise SyncDecodeError(f"TLV length {tlv_len} at offset {offset} exceeds the datagram")
        if kind == TlvType.END:
            break
        update = _decode_tlv(kind, data[offset:offset + tlv_len], deleting)
        deleting = deleting or kind in (TlvType.DEL_WHITE, TlvType.DEL_TRAPPED)
        updates.append(update)
        offset += tlv_len
    return updates
