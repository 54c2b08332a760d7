"""The sync codec against greyd's own datagrams (spec/greyd-compat.md 4.8) and greyd's receive rules."""

from __future__ import annotations

import hashlib
import hmac
import socket
from ipaddress import IPv4Address, IPv6Address

import pytest

from greylogd import sync
from greylogd.errors import ConfigError
from greylogd.syncsender import SyncSender, SyncTargets, interface_address, resolve_targets

KEY = b"4624a84a9220abb0b901246ff5b8f37b8ecbab67"
WHITE = ("0202003400000007001800b9c91e06ac04240a101fc492056ba6488400000000"
         "000200106553f10065836700c000020a00000004")
DEL_TRAPPED = ("020200340000000848213fed244ed1b69deb5c0bd42b3060a4469c1e00000000"
               "000500106553f10165554281c633640700000004")
GREY = ("020200740000000923131cf24258de29746be0c946bdb8d3bffc491a00000000000100506553f102cb007105"
        "001200100011616c696365406578616d706c652e6f726700626f62406578616d706c652e6e6574006d61696c2e"
        "6578616d706c652e6f726700000000000000000000000000000004")
WHITE_V6_AS_GREYD = ("020200340000000a1bf95d21067d87104c5b96539272be363ec834bb00000000"
                     "000200106553f1036553f104ffffffff00000004")


def white(ip: str, ts: int, expire: int) -> sync.AddrUpdate:
    return sync.AddrUpdate(sync.TlvType.WHITE, IPv4Address(ip), ts, expire)


def test_key_is_hex_sha1_of_the_file_bytes(tmp_path):
    keyfile = tmp_path / "greyd.key"
    keyfile.write_bytes(b"secret key material\n")
    assert sync.key_from_file(keyfile) == KEY


def test_missing_key_file_or_no_verify_gives_the_empty_key(tmp_path):
    assert sync.key_from_file(tmp_path / "absent.key") == b""
    assert sync.key_from_file(None) == b""


def test_unreadable_key_file_is_a_config_error(tmp_path):
    with pytest.raises(ConfigError, match="failed to read in sync key"):
        sync.key_from_file(tmp_path)  # a directory: EISDIR


def test_white_vector():
    assert sync.encode([white("192.0.2.10", 1700000000, 1703110400)], 7, KEY).hex() == WHITE


def test_del_trapped_vector():
    update = sync.AddrUpdate(sync.TlvType.DEL_TRAPPED, IPv4Address("198.51.100.7"), 1700000001, 1700086401)
    assert sync.encode([update], 8, KEY).hex() == DEL_TRAPPED


def test_grey_vector_pads_the_tlv_to_16():
    update = sync.GreyUpdate(IPv4Address("203.0.113.5"), "mail.example.org", "alice@example.org",
                             "bob@example.net", 1700000002)
    datagram = sync.encode([update], 9, KEY)
    assert (len(datagram), datagram.hex()) == (116, GREY)
    assert sync.decode(datagram, KEY) == [update]


def test_greyd_ipv6_white_decodes_as_broadcast_address():
    assert sync.decode(bytes.fromhex(WHITE_V6_AS_GREYD), KEY) == [
        white("255.255.255.255", 1700000003, 1700000004)]


def test_times_are_truncated_to_32_bits():
    datagram = sync.encode([white("192.0.2.10", 2**32 + 5, 2**32 + 6)], 2**32 + 1, KEY)
    assert sync.decode(datagram, KEY) == [white("192.0.2.10", 5, 6)]
    assert datagram[4:8] == b"\0\0\0\1"


@pytest.mark.parametrize("mangle, reason", [
    (lambda d: d[:31], "shorter than the header"),
    (lambda d: b"\1" + d[1:], "bad header"),
    (lambda d: d[:1] + b"\x18" + d[2:], "bad header"),
    (lambda d: d[:40], "bad header"),
    (lambda d: d[:49] + b"\1" + d[50:], "HMAC mismatch"),
])
def test_decode_rejects_what_greyd_drops(mangle, reason):
    with pytest.raises(sync.SyncDecodeError, match=reason):
        sync.decode(mangle(bytes.fromhex(WHITE)), KEY)


def _signed(body: bytes, key: bytes) -> bytes:
    unsigned = sync.HEADER.pack(2, 2, 32 + len(body), 0, bytes(20)) + body
    mac = hmac.new(key, unsigned, hashlib.sha1).digest()
    return unsigned[:8] + mac + unsigned[28:]


def test_decode_rejects_unknown_type_bad_tlv_length_and_wrong_key():
    with pytest.raises(sync.SyncDecodeError, match="unknown type: 9"):
        sync.decode(_signed(b"\0\x09\0\x04\0\0\0\x04", KEY), KEY)
    with pytest.raises(sync.SyncDecodeError, match="exceeds the datagram"):
        sync.decode(_signed(b"\0\x02\0\x10\0\0\0\x04", KEY), KEY)
    with pytest.raises(sync.SyncDecodeError, match="address TLV of 8 bytes"):
        sync.decode(_signed(b"\0\x02\0\x08\0\0\0\x00\0\0\0\x04", KEY), KEY)
    assert sync.decode(_signed(b"\0\0\0\x04", KEY), KEY) == []
    with pytest.raises(sync.SyncDecodeError, match="HMAC"):
        sync.decode(bytes.fromhex(WHITE), b"")


def test_delete_flag_sticks_for_later_tlvs():
    dele = sync.AddrUpdate(sync.TlvType.DEL_WHITE, IPv4Address("192.0.2.1"), 1, 0)
    datagram = sync.encode([dele, white("192.0.2.2", 3, 4)], 0, b"")
    assert [u.kind for u in sync.decode(datagram, b"")] == [sync.TlvType.DEL_WHITE, sync.TlvType.DEL_WHITE]


def test_oversized_datagram_is_refused():
    with pytest.raises(ValueError, match="exceeds 1408"):
        sync.encode([white("192.0.2.1", 1, 2)] * 88, 0, b"")


def test_targets_split_unicast_and_multicast_interface():
    targets = resolve_targets(["127.0.0.1", "192.0.2.7", "eth9:3"], 8025, ttl=1)
    assert targets.unicast == (("127.0.0.1", IPv4Address("127.0.0.1")),
                               ("192.0.2.7", IPv4Address("192.0.2.7")))
    assert (targets.mcast_if, targets.ttl, targets.mcast_group) == ("eth9", 3, IPv4Address("224.0.1.241"))
    with pytest.raises(ConfigError, match="invalid multicast ttl x"):
        resolve_targets(["eth9:x"], 8025)


def test_sender_sends_greyd_bytes_and_never_ipv6():
    receiver = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    receiver.bind(("127.0.0.1", 0))
    receiver.settimeout(5)
    port = receiver.getsockname()[1]
    sender = SyncSender(SyncTargets(port, (("127.0.0.1", IPv4Address("127.0.0.1")),)), KEY, counter=7)
    try:
        sender.send_white([IPv6Address("2001:db8::1"), IPv4Address("192.0.2.10")], 1700000000, 1703110400)
        assert receiver.recvfrom(2048)[0].hex() == WHITE
        receiver.setblocking(False)
        with pytest.raises(BlockingIOError):
            receiver.recvfrom(2048)
        assert (sender.counter, sender.sent, sender.errors) == (8, 1, 0)
    finally:
        sender.close()
        receiver.close()


def test_interface_address_for_multicast_targets():
    assert interface_address("lo") == IPv4Address("127.0.0.1")
    with pytest.raises(ConfigError, match="multicast interface nosuchif0: No such device"):
        interface_address("nosuchif0")
