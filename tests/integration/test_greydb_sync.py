"""greylogd-db -a/-d with sync (greydb -Y, spec/greyd-compat.md 4.6): a real SQLite greyd database, the
datagrams captured on a loopback UDP socket, decoded and their HMAC checked with the key file's hash.
"""

from __future__ import annotations

import socket
import time
from ipaddress import IPv4Address
from pathlib import Path

import pytest

from greylogd import sync
from greylogd.cli.db import main
from greylogd.greydb.store import Kind
from tests.integration.test_greydb_cli import GREY, _store
from tests.integration.test_greydb_stores import _closing
from tests.unit.test_sync import KEY
from tests.unit.test_syncsender import received


def write_conf(tmp_path: Path, peer: socket.socket, sync_keys: str) -> str:
    (tmp_path / "greyd.key").write_bytes(b"secret key material\n")
    conf = tmp_path / "greyd.conf"
    conf.write_text(GREY + 'section database {\n  driver = "greyd_sqlite.so"\n'
                    f'  path = "{tmp_path}/db"\n}}\n'
                    f'section sync {{\n  port = {peer.getsockname()[1]}\n  key = "{tmp_path}/greyd.key"\n'
                    f'  {sync_keys}\n}}\n')
    return str(conf)


def nothing_sent(sock: socket.socket) -> bool:
    sock.setblocking(False)
    try:
        sock.recv(2048)
        return False
    except BlockingIOError:
        return True
    finally:
        sock.settimeout(5)


def addr(kind: sync.TlvType, ip: str, ts: int, expire: int) -> sync.AddrUpdate:
    return sync.AddrUpdate(kind, IPv4Address(ip), ts, expire)


def test_add_and_delete_are_synced_like_greydb(tmp_path, sync_peer, capsys):
    conf = write_conf(tmp_path, sync_peer, "enable = 1")
    before = int(time.time())
    assert main(["-f", conf, "-Y", "127.0.0.1", "-a", "192.0.2.10", "2001:db8::1", "192.0.2.11"]) == 0
    datagrams = received(sync_peer)
    now = sync.decode(datagrams[0], KEY)[0].timestamp
    assert before <= now <= int(time.time())
    assert [(len(d), d[4:8], sync.decode(d, KEY)) for d in datagrams] == [
        (52, bytes.fromhex("00000000"), [addr(sync.TlvType.WHITE, "192.0.2.10", now, now + 1000)]),
        (52, bytes.fromhex("00000001"), [addr(sync.TlvType.WHITE, "192.0.2.11", now, now + 1000)])]
    assert capsys.readouterr().err == "greylogd-db: not syncing 2001:db8::1: greyd's sync is IPv4-only\n"
    with _closing(_store(Path(conf))) as store:
        assert {(e.kind, e.ip, e.expire) for e in store.snapshot()} == {
            (Kind.WHITE, ip, now + 1000) for ip in ("192.0.2.10", "2001:db8::1", "192.0.2.11")}
    assert main(["-f", conf, "-Y", "127.0.0.1", "-t", "-a", "198.51.100.7"]) == 0
    (trapped,) = [sync.decode(d, KEY)[0] for d in received(sync_peer)]
    assert trapped == addr(sync.TlvType.TRAPPED, "198.51.100.7", trapped.timestamp, trapped.timestamp + 500)
    assert main(["-f", conf, "-Y", "127.0.0.1", "-d", "192.0.2.10"]) == 0
    assert main(["-f", conf, "-Y", "127.0.0.1", "-t", "-d", "198.51.100.7"]) == 0
    deletions = [sync.decode(d, KEY)[0] for d in received(sync_peer)]
    assert [(u.kind, str(u.ip), u.expire) for u in deletions] == [
        (sync.TlvType.DEL_WHITE, "192.0.2.10", 0), (sync.TlvType.DEL_TRAPPED, "198.51.100.7", 0)]
    with _closing(_store(Path(conf))) as store:
        assert sorted(e.ip for e in store.snapshot()) == ["192.0.2.11", "2001:db8::1"]


def test_config_hosts_alone_are_targets_and_spamtraps_domains_are_not_synced(tmp_path, sync_peer, capsys):
    conf = write_conf(tmp_path, sync_peer, 'enable = 1\n  hosts = [ "127.0.0.1" ]')
    assert main(["-f", conf, "-T", "-a", "trap@example.org"]) == 0
    assert main(["-f", conf, "-D", "-a", "example.org"]) == 0
    assert nothing_sent(sync_peer)
    assert main(["-f", conf, "-a", "203.0.113.9"]) == 0
    (white,) = [sync.decode(d, KEY)[0] for d in received(sync_peer)]
    assert (white.kind, str(white.ip), white.expire - white.timestamp) == (sync.TlvType.WHITE, "203.0.113.9",
                                                                          1000)
    assert capsys.readouterr().err == ""


def test_sync_disabled_by_configuration_changes_the_database_and_sends_nothing(tmp_path, sync_peer, capsys):
    conf = write_conf(tmp_path, sync_peer, "enable = 0")
    assert main(["-f", conf, "-Y", "127.0.0.1", "-a", "192.0.2.10"]) == 0
    assert capsys.readouterr().err == "greylogd-db: sync disabled by configuration\n"
    assert nothing_sent(sync_peer)
    with _closing(_store(Path(conf))) as store:
        assert [e.ip for e in store.snapshot()] == ["192.0.2.10"]


def test_a_bad_sync_target_changes_nothing(tmp_path, sync_peer, capsys):
    conf = write_conf(tmp_path, sync_peer, "enable = 1")
    assert main(["-f", conf, "-Y", "eth0:x", "-a", "192.0.2.10"]) == 1
    assert capsys.readouterr().err == "greylogd-db: sync.hosts: invalid multicast ttl x\n"
    with _closing(_store(Path(conf))) as store:
        assert store.snapshot() == []


def test_y_without_a_or_d_is_a_usage_error(capsys):
    with pytest.raises(SystemExit) as caught:
        main(["-Y", "127.0.0.1"])
    assert caught.value.code == 2
    assert capsys.readouterr().err.splitlines()[-1] == "greylogd-db: error: -Y needs -a or -d"
