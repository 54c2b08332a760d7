"""SyncSender's public API on a loopback UDP socket: every update greyd's senders send, byte for byte.

WHITE, DEL_TRAPPED and GREY are the spec's vectors (greyd's own datagrams, spec/greyd-compat.md 4.8);
TRAPPED and DEL_WHITE have no vector there, so they are built here from the spec's wire table (4.1, 4.2)
with the HMAC computed by hand.
"""

from __future__ import annotations

import logging
import socket
from ipaddress import IPv4Address, IPv6Address

import pytest

from greylogd import sync
from greylogd.config_settings import SyncSettings
from greylogd.syncsender import SyncSender, SyncTargets
from tests.unit.test_sync import DEL_TRAPPED, GREY, KEY, WHITE, _signed


def received(sock: socket.socket) -> list[bytes]:
    """Every datagram waiting on the socket (the sender has returned: they are all there)."""
    datagrams = [sock.recv(2048)]
    sock.setblocking(False)
    try:
        while True:
            datagrams.append(sock.recv(2048))
    except BlockingIOError:
        return datagrams
    finally:
        sock.settimeout(5)


def loopback(sock: socket.socket, key: bytes = KEY, counter: int = 0) -> SyncSender:
    port = sock.getsockname()[1]
    return SyncSender(SyncTargets(port, (("127.0.0.1", IPv4Address("127.0.0.1")),)), key, counter=counter)


def test_send_puts_each_update_in_its_own_datagram_byte_exact(sync_peer, caplog):
    caplog.set_level(logging.DEBUG, logger="greylogd")
    sender = loopback(sync_peer, counter=7)
    updates = [sync.AddrUpdate(sync.TlvType.WHITE, IPv4Address("192.0.2.10"), 1700000000, 1703110400),
               sync.AddrUpdate(sync.TlvType.DEL_TRAPPED, IPv4Address("198.51.100.7"), 1700000001, 1700086401),
               sync.GreyUpdate(IPv4Address("203.0.113.5"), "mail.example.org", "alice@example.org",
                               "bob@example.net", 1700000002)]
    sender.send(updates)
    sender.close()
    assert [d.hex() for d in received(sync_peer)] == [WHITE, DEL_TRAPPED, GREY]
    assert (sender.counter, sender.sent, sender.errors) == (10, 3, 0)
    assert [r.getMessage() for r in caplog.records if r.getMessage().startswith("sync ")] == [
        "sync white 192.0.2.10", "sync deletion of trapped 198.51.100.7",
        "sync grey update helo mail.example.org ip 203.0.113.5 from alice@example.org to bob@example.net"]


@pytest.mark.parametrize(("kind", "type_hex"), [(sync.TlvType.TRAPPED, "0003"),
                                                (sync.TlvType.DEL_WHITE, "0004")])
def test_send_addresses_skips_and_returns_ipv6(sync_peer, kind, type_hex):
    sender = loopback(sync_peer)
    skipped = sender.send_addresses(kind, [IPv6Address("2001:db8::1"), IPv4Address("192.0.2.10")],
                                    1700000000, 1700086400)
    sender.close()
    tlv = bytes.fromhex(type_hex + "0010" + "6553f100" + "65554280" + "c000020a" + "00000004")
    assert skipped == [IPv6Address("2001:db8::1")]
    assert received(sync_peer) == [_signed(tlv, KEY)]


def test_open_reads_the_key_file_and_resolves_targets(sync_peer, tmp_path):
    keyfile = tmp_path / "greyd.key"
    keyfile.write_bytes(b"secret key material\n")
    port = sync_peer.getsockname()[1]
    sender = SyncSender.open(SyncSettings(enable=True, hosts=("127.0.0.1",), port=port, key=str(keyfile)))
    sender.send_white([IPv4Address("192.0.2.10")], 1700000000, 1703110400)
    sender.close()
    (datagram,) = received(sync_peer)
    assert sync.decode(datagram, KEY) == [
        sync.AddrUpdate(sync.TlvType.WHITE, IPv4Address("192.0.2.10"), 1700000000, 1703110400)]
    assert datagram[4:8] == bytes(4)  # a new sender's counter starts at 0
    unverified = SyncSender.open(SyncSettings(hosts=("127.0.0.1",), port=port, verify=False,
                                              key=str(keyfile)))
    assert unverified.key == b""
    unverified.close()
