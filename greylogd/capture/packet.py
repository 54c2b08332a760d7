"""Pure parsing of the layer-3 packets NFLOG/NFQUEUE hand over: IPv4 or IPv6, then TCP/UDP ports, TCP flags.

Error policy: the bytes come from the network and may be cut short by the capture's copy range, so every
length is checked against both the bytes we have and the lengths the headers declare; anything that does not
add up returns None (the caller counts it as malformed). parse() never raises on any input.
A non-first fragment, ESP or "no next header" carries no transport header: ports and flags are then 0, which
is not malformed. IPv6 extension headers (hop-by-hop, routing, fragment, destination options, AH) are walked,
at most MAX_EXT_HEADERS of them (a longer chain is treated as malformed, to bound the work per packet).
"""

from __future__ import annotations

import socket
from dataclasses import dataclass
from ipaddress import IPv4Address, IPv6Address
from struct import unpack_from

from greylogd.events import IPAddress

TCP, UDP = 6, 17
_HOPOPT, _ROUTING, _FRAGMENT, _AH, _DSTOPTS = 0, 43, 44, 51, 60
MAX_EXT_HEADERS = 8
_L4_MIN = {TCP: 20, UDP: 8}
_MALFORMED = (-1, -1)


@dataclass(frozen=True, slots=True)
class PacketInfo:
    """What greylogd needs from one packet; ports/tcp_flags are 0 when the packet carries no such header."""

    family: int  # socket.AF_INET or socket.AF_INET6
    src: IPAddress
    dst: IPAddress
    proto: int  # upper-layer protocol number after any IPv6 extension headers
    sport: int
    dport: int
    tcp_flags: int


def parse(data: bytes, family: int | None = None) -> PacketInfo | None:
    """Parse a packet starting at its IP header; None when malformed or its version differs from family."""
    if not data:
        return None
    version = data[0] >> 4
    if version == 4 and family in (None, socket.AF_INET):
        return _parse_v4(data)
    if version == 6 and family in (None, socket.AF_INET6):
        return _parse_v6(data)
    return None


def _parse_v4(data: bytes) -> PacketInfo | None:
    if len(data) < 20:
        return None
    ver_ihl, total, frag, proto, src, dst = unpack_from("!B1xH2xH1xB2x4s4s", data)
    hlen = (ver_ihl & 0x0F) * 4
    if hlen < 20 or hlen > len(data) or total < hlen:
        return None
    if frag & 0x1FFF:  # not the first fragment: no transport header here
        return _info(socket.AF_INET, IPv4Address(src), IPv4Address(dst), proto)
    return _with_ports(socket.AF_INET, IPv4Address(src), IPv4Address(dst), proto, data, hlen, total)


def _parse_v6(data: bytes) -> PacketInfo | None:
    if len(data) < 40:
        return None
    plen, nxt = unpack_from("!4xHB", data)
    src, dst = IPv6Address(data[8:24]), IPv6Address(data[24:40])
    end, off = 40 + plen, 40
    for _ in range(MAX_EXT_HEADERS + 1):
        step = _ext_header(data, nxt, off, end)
        if step is None:
            return _with_ports(socket.AF_INET6, src, dst, nxt, data, off, end)
        if step == _MALFORMED:
            return None
        nxt, length = step
        if length == 0:  # non-first fragment
            return _info(socket.AF_INET6, src, dst, nxt)
        off += length
    return None


def _ext_header(data: bytes, nxt: int, off: int, end: int) -> tuple[int, int] | None:
    """(next header, length) of the extension header at off; None if nxt is not one; _MALFORMED if cut short.

    A non-first fragment header returns length 0: nothing after it can be parsed.
    """
    if nxt not in (_HOPOPT, _ROUTING, _FRAGMENT, _AH, _DSTOPTS):
        return None
    if off + 8 > min(len(data), end):  # every extension header is at least 8 bytes
        return _MALFORMED
    following, raw_len = data[off], data[off + 1]
    if nxt == _FRAGMENT:
        return following, 0 if unpack_from("!H", data, off + 2)[0] & 0xFFF8 else 8
    length = (raw_len + 2) * 4 if nxt == _AH else (raw_len + 1) * 8
    return (following, length) if off + length <= end else _MALFORMED


def _with_ports(family: int, src: IPAddress, dst: IPAddress, proto: int, data: bytes, off: int,
                end: int) -> PacketInfo | None:
    need = _L4_MIN.get(proto)
    if need is None:
        return _info(family, src, dst, proto)
    if off + need > min(len(data), end):
        return None
    sport, dport = unpack_from("!HH", data, off)
    if proto == UDP:
        return PacketInfo(family, src, dst, proto, sport, dport, 0)
    if data[off + 12] >> 4 < 5:  # TCP data offset below the 20-byte minimum
        return None
    return PacketInfo(family, src, dst, proto, sport, dport, data[off + 13])


def _info(family: int, src: IPAddress, dst: IPAddress, proto: int) -> PacketInfo:
    return PacketInfo(family, src, dst, proto, 0, 0, 0)
