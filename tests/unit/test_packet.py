"""greylogd.capture.packet: real captured packets, generated headers (round trip), hostile and cut bytes."""

from __future__ import annotations

import socket
import struct
from ipaddress import IPv4Address, IPv6Address, ip_address
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from greylogd.capture.packet import MAX_EXT_HEADERS, PacketInfo, parse

SAMPLES = Path(__file__).parent.parent / "data" / "packets" / "real.txt"


def _samples() -> list[tuple[PacketInfo, bytes]]:
    """(expected, packet) pairs from real.txt: an '# expect:' line, then the packet as one hex line."""
    lines = SAMPLES.read_text().splitlines()
    out = []
    for i, line in enumerate(lines):
        if line.startswith("# expect: "):
            fam, src, dst, proto, sport, dport, flags = line.split()[2:]
            expected = PacketInfo(int(fam), ip_address(src), ip_address(dst), int(proto), int(sport),
                                  int(dport), int(flags, 16))
            out.append((expected, bytes.fromhex(lines[i + 1])))
    return out


REAL = _samples()
SYN4, SYN6 = REAL[0][1], REAL[4][1]


def test_sample_file_has_all_kinds() -> None:
    assert len(REAL) == 8
    assert {p.family for p, _ in REAL} == {socket.AF_INET, socket.AF_INET6}


@pytest.mark.parametrize(("expected", "data"), REAL)
def test_real_packets(expected: PacketInfo, data: bytes) -> None:
    assert parse(data) == expected
    assert parse(data, expected.family) == expected


def test_family_mismatch_is_malformed() -> None:
    assert parse(SYN4, socket.AF_INET6) is None
    assert parse(SYN6, socket.AF_INET) is None


@pytest.mark.parametrize(("data", "needed"), [(SYN4, 20 + 20), (SYN6, 40 + 20)])
def test_truncation_at_every_offset(data: bytes, needed: int) -> None:
    """A copy range may cut the TCP options but never the IP header or the 20-byte TCP header."""
    full = parse(data)
    for cut in range(len(data) + 1):
        assert parse(data[:cut]) == (full if cut >= needed else None), cut


def test_declared_lengths_are_checked() -> None:
    assert parse(SYN4[:2] + struct.pack("!H", 19) + SYN4[4:]) is None  # total length below the IHL
    assert parse(SYN4[:2] + struct.pack("!H", 39) + SYN4[4:]) is None  # TCP header past the total length
    assert parse(b"\x44" + SYN4[1:]) is None  # IHL 4
    assert parse(SYN6[:4] + struct.pack("!H", 19) + SYN6[6:]) is None  # payload length < TCP header
    assert parse(SYN4[:32] + b"\x40" + SYN4[33:]) is None  # TCP data offset 4


def test_overlong_extension_chain_is_malformed() -> None:
    def chain(n: int) -> bytes:
        body = b"".join(struct.pack("!BB6x", 60 if i < n - 1 else socket.IPPROTO_TCP, 0) for i in range(n))
        body += SYN6[40:60]
        return struct.pack("!IHBB", 6 << 28, len(body), 60, 64) + SYN6[8:40] + body

    assert parse(chain(MAX_EXT_HEADERS)) is not None
    assert parse(chain(MAX_EXT_HEADERS + 1)) is None


@given(st.binary(max_size=120))
def test_random_bytes_never_raise(data: bytes) -> None:
    parse(data)


@given(st.sampled_from([b"\x45", b"\x4f", b"\x60"]), st.binary(max_size=160))
def test_random_ip_bodies_never_raise(first: bytes, rest: bytes) -> None:
    result = parse(first + rest)
    assert result is None or result.family in (socket.AF_INET, socket.AF_INET6)


def _l4(proto: int, sport: int, dport: int, flags: int, doff: int) -> bytes:
    if proto == socket.IPPROTO_TCP:
        return struct.pack("!HHIIBBHHH", sport, dport, 1, 0, doff << 4, flags, 1024, 0, 0) + bytes(
            4 * doff - 20)
    if proto == socket.IPPROTO_UDP:
        return struct.pack("!HHHH", sport, dport, 8, 0)
    return b"\x08\x00" + bytes(6)  # ICMP echo: no ports


transport = st.tuples(st.sampled_from([socket.IPPROTO_TCP, socket.IPPROTO_UDP, 1]), st.integers(0, 65535),
                      st.integers(0, 65535), st.integers(0, 255), st.integers(5, 15))


def _expected(family: int, src: object, dst: object, t: tuple[int, int, int, int, int],
              fragment_proto: int | None) -> PacketInfo:
    """fragment_proto: the next-header value of a non-first fragment, whose payload cannot be parsed."""
    proto, sport, dport, flags, _ = t
    if fragment_proto is not None:
        return PacketInfo(family, src, dst, fragment_proto, 0, 0, 0)  # type: ignore[arg-type]
    if proto not in (socket.IPPROTO_TCP, socket.IPPROTO_UDP):
        return PacketInfo(family, src, dst, proto, 0, 0, 0)  # type: ignore[arg-type]
    return PacketInfo(family, src, dst, proto, sport, dport,  # type: ignore[arg-type]
                      flags if proto == socket.IPPROTO_TCP else 0)


@given(st.integers(0, 2**32 - 1), st.integers(0, 2**32 - 1), st.integers(5, 15), st.integers(0, 8191),
       transport)
def test_ipv4_round_trip(src: int, dst: int, ihl: int, frag: int, t: tuple[int, int, int, int, int]) -> None:
    body = _l4(t[0], t[1], t[2], t[3], t[4])
    hdr = struct.pack("!BBHHHBBH4s4s", 0x40 | ihl, 0, 4 * ihl + len(body), 7, frag, 64, t[0], 0,
                      IPv4Address(src).packed, IPv4Address(dst).packed) + bytes(4 * ihl - 20)
    expected = _expected(socket.AF_INET, IPv4Address(src), IPv4Address(dst), t, t[0] if frag else None)
    assert parse(hdr + body) == expected


ext = st.lists(st.tuples(st.sampled_from([0, 43, 60, 51, 44]), st.integers(0, 3)), max_size=MAX_EXT_HEADERS)


@given(st.binary(min_size=16, max_size=16), st.binary(min_size=16, max_size=16), ext, st.booleans(),
       transport)
def test_ipv6_round_trip(src: bytes, dst: bytes, chain: list[tuple[int, int]], tail: bool,
                         t: tuple[int, int, int, int, int]) -> None:
    body, nxt, fragment_proto = _l4(t[0], t[1], t[2], t[3], t[4]), t[0], None
    for kind, units in reversed(chain):  # built inside out: the outermost non-first fragment stops the walk
        if kind == 44:
            fragment_proto = nxt if tail else fragment_proto
            body = struct.pack("!BxHI", nxt, 8 if tail else 0, 1) + body
        elif kind == 51:
            body = struct.pack("!BB", nxt, 2 * units) + bytes(8 * units + 6) + body
        else:
            body = struct.pack("!BB", nxt, units) + bytes(8 * units + 6) + body
        nxt = kind
    packet = struct.pack("!IHBB16s16s", 6 << 28, len(body), nxt, 64, src, dst) + body
    expected = _expected(socket.AF_INET6, IPv6Address(src), IPv6Address(dst), t, fragment_proto)
    assert parse(packet) == expected
