"""Parsing of the layer-3 packets NFLOG/NFQUEUE hand over: IPv4 or IPv6, then TCP/UDP ports, TCP flags.

The parser itself is C (greylogd/capture/capture.c, compiled into greylogd._nflog): the NFLOG callback runs
it on every logged packet without entering Python, and parse() here is the same code for NFQUEUE and the
tests, so there is exactly one implementation. Its error policy: the bytes come from the network and may be
cut short by the capture's copy range, so every length is checked against both the bytes we have and the
lengths the headers declare; anything that does not add up returns None (the caller counts it as
malformed). parse() never raises on any input. A non-first fragment, ESP or "no next header" carries no
transport header: ports and flags are then 0, which is not malformed. IPv6 extension headers (hop-by-hop,
routing, fragment, destination options, AH) are walked, at most MAX_EXT_HEADERS of them (a longer chain is
treated as malformed, to bound the work per packet).
"""

from __future__ import annotations

import socket
from dataclasses import dataclass
from ipaddress import IPv4Address, IPv6Address

from greylogd._nflog import ffi, lib
from greylogd.events import IPAddress

TCP, UDP = lib.GREYLOGD_TCP, lib.GREYLOGD_UDP
MAX_EXT_HEADERS = lib.GREYLOGD_MAX_EXT_HEADERS


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
    out = ffi.new("struct greylogd_packet *")
    want = lib.GREYLOGD_ANY_FAMILY if family is None else family
    if not lib.greylogd_parse_packet(ffi.from_buffer("uint8_t[]", data), len(data), want, out):
        return None
    src, dst = ffi.buffer(out.src)[:], ffi.buffer(out.dst)[:]
    if out.family == socket.AF_INET:
        return PacketInfo(out.family, IPv4Address(src[:4]), IPv4Address(dst[:4]), out.proto, out.sport,
                          out.dport, out.tcp_flags)
    return PacketInfo(out.family, IPv6Address(src), IPv6Address(dst), out.proto, out.sport, out.dport,
                      out.tcp_flags)
    return PacketInfo(out.family, src, dst, out.proto, out.sport, out.dport, out.tcp_flags)
