"""End to end: the real greylogd process in a gateway namespace, real nftables NFLOG rules, real SYNs from a
sender namespace (IPv4 and IPv6, inbound and outbound), a real SQLite greyd database, sync on loopback.

Every assertion compares the database with the kernel's rule counters: each counted connection is one
pcount increment (greyd's greylogd semantics: new row first = pass = now, bcount 0, expire = now + W).
"""

from __future__ import annotations

import contextlib
import socket
import sqlite3
import subprocess
import time
import urllib.request

import pytest

from greylogd import sync
from greylogd.ledger import Ledger
from tests.integration.daemon_harness import (
    GREYLOGD,
    V4,
    V6,
    Site,
    burst,
    pcount_total,
    rule_counts,
    white_rows,
)
from tests.integration.netns import in_netns

pytestmark = [pytest.mark.root, pytest.mark.slow]
W = 86400


@pytest.fixture
def site():
    s = Site(white_expiry=W)
    yield s
    s.cleanup()


def _connect_out(conn, address: str, count: int) -> None:
    """From the gateway: `count` outbound SMTP connection attempts (refused by the sender: one SYN each)."""
    for _ in range(count):
        with socket.socket() as s:
            s.settimeout(2)
            with contextlib.suppress(OSError):
                s.connect((address, 25))
    conn.send(count)


def _wait_for_pcount(site: Site, total: int, timeout: float = 15) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if pcount_total(site.db) >= total:
            return
        time.sleep(0.1)


def _scrape(conn, port: int) -> None:
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=10) as reply:
        conn.send(reply.read().decode())


def test_inbound_outbound_ipv4_ipv6_refresh_with_greyd_semantics(pair, site):
    site.write(extra="metrics_port = 9189")
    t0 = int(time.time())
    with site.daemon(pair.gateway, env={"WATCHDOG_USEC": "400000"}) as daemon:
        daemon.wait_for("WATCHDOG=1", 5)
        status = daemon.status()
        assert status["Uid"].split() == ["65534"] * 4
        assert status["CapEff"] == status["CapPrm"] == status["CapBnd"] == "0000000000001000"
        assert site.pidfile.read_bytes() == f"{daemon.pid}\0".encode()
        assert burst(pair, range(40000, 40003)) == 90
        with in_netns(pair.gateway, _connect_out, "198.51.100.2", 2) as child:
            assert child.conn.recv() == 2
        _wait_for_pcount(site, 92)
        with in_netns(pair.gateway, _scrape, 9189) as child:
            metrics = set(child.conn.recv().splitlines())
        daemon.notices.clear()
        daemon.wait_for("WATCHDOG=1", 5)  # still alive, and its queued notices are read
        assert daemon.stop() == 0
        daemon.wait_for("STOPPING=1", 1)
    t1 = int(time.time())
    assert rule_counts(pair.gateway) == (90, 2)
    rows = white_rows(site.db)
    assert sorted(rows) == sorted([*V4, *V6, "198.51.100.2"])
    for ip, (first, pass_, expire, bcount, pcount) in rows.items():
        assert (pcount, bcount, pass_) == (2 if ip == "198.51.100.2" else 3, 0, first), ip
        assert t0 <= first <= expire - W <= t1, ip
    assert {"greylogd_received_total 92.0", "greylogd_refreshed_total 92.0", "greylogd_queued 0.0",
            "greylogd_seq_gaps_total 0.0", "greylogd_event_commit_latency_seconds_count 92.0"} <= metrics
    lines = site.log_lines()
    assert lines[0] == "listening, in both directions" and lines[-1] == "exiting"
    assert {f"whitelisting {ip}" for ip in rows} <= set(lines)
    assert ("totals: received 92, refreshed 92, spilled 0, retries 0, kernel drops 0 (seq gaps), "
            "enobufs 0") in lines
    assert site.pidfile.read_bytes() == b""  # unlinking needs a writable directory: emptied instead


def test_second_instance_refuses_a_locked_pidfile(pair, site):
    with site.daemon(pair.gateway):
        result = subprocess.run(["ip", "netns", "exec", pair.gateway.name, GREYLOGD, "--foreground", "-f",
                                 str(site.conf), "-P", str(site.pidfile)], capture_output=True, text=True,
                                timeout=30)
    assert result.returncode == 1
    assert "it appears greylogd is already running..." in result.stderr


def _receive(conn, port: int) -> None:
    """In the gateway namespace: collect sync datagrams on 127.0.0.1:port until the parent says stop."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.bind(("127.0.0.1", port))
        s.settimeout(0.2)
        conn.send("bound")
        got: list[bytes] = []
        while not conn.poll():
            with contextlib.suppress(TimeoutError):
                got.append(s.recv(2048))
        conn.recv()
        conn.send(got)


def _received_during_a_burst(pair, site, sport: int, ns, receive, *args) -> list:
    """What `receive` (run in namespace `ns`, replying "bound" once listening) got while the daemon refreshed
    one burst from port `sport` and stopped."""
    with in_netns(ns, receive, *args) as receiver:
        assert receiver.conn.recv() == "bound"
        with site.daemon(pair.gateway) as daemon:
            burst(pair, range(sport, sport + 1))
            _wait_for_pcount(site, 30)
            time.sleep(0.3)  # the last datagrams in flight
            assert daemon.stop() == 0
        receiver.conn.send("stop")
        return receiver.conn.recv()


def test_sync_white_datagrams_on_loopback(pair, site):
    keyfile = site.root / "greyd.key"
    keyfile.write_bytes(b"secret key material\n")
    key = b"4624a84a9220abb0b901246ff5b8f37b8ecbab67"
    port = 18025
    site.write(sync=f'enable = 1\n  hosts = [ "127.0.0.1" ]\n  port = {port}\n  key = "{keyfile}"')
    datagrams = _received_during_a_burst(pair, site, 41000, pair.gateway, _receive, port)
    updates = [sync.decode(d, key) for d in datagrams]
    assert all(len(d) == 52 and len(u) == 1 for d, u in zip(datagrams, updates, strict=True))
    assert sorted(str(u[0].ip) for u in updates) == sorted(V4)  # IPv6 is never sent
    assert [int.from_bytes(d[4:8], "big") for d in datagrams] == list(range(len(V4)))
    rows = white_rows(site.db)
    for datagram, (update,) in zip(datagrams, updates, strict=True):
        assert update.kind is sync.TlvType.WHITE
        assert update.expire == rows[str(update.ip)][2] == update.timestamp + W
        counter = int.from_bytes(datagram[4:8], "big")
        assert sync.encode([update], counter, key) == datagram


NFQUEUE_RULE = ("-t", "mangle", "-A", "PREROUTING", "-i", "veth-g", "-p", "tcp", "--dport", "25", "--syn",
                "-m", "conntrack", "--ctstate", "NEW", "-j", "NFQUEUE", "--queue-num", "3", "--queue-bypass")


def test_nfqueue_backend_refreshes_every_queued_connection(pair, site):
    for v6 in (False, True):  # xt_NFQUEUE: this kernel's nftables has no `queue` expression
        pair.gateway.iptables(*NFQUEUE_RULE, v6=v6)
    site.write(extra="queue_num = 3")
    with site.daemon(pair.gateway, "--backend", "nfqueue") as daemon:
        assert burst(pair, range(44000, 44002)) == 60
        _wait_for_pcount(site, 60)
        assert daemon.stop() == 0
    counted = [pair.gateway.iptables_packets("mangle", "PREROUTING", v6=v6) for v6 in (False, True)]
    assert counted == [[40], [20]]
    assert {ip: row[4] for ip, row in white_rows(site.db).items()} == {ip: 2 for ip in V4 + V6}
    assert "totals: received 60, refreshed 60, spilled 0, retries 0, kernel drops 0 (seq gaps), enobufs 0" \
        in site.log_lines()


def test_ledger_polling_records_greyd_grey_tuples(pair, site):
    ledger = site.root / "db" / "ledger.sqlite"  # the directory grey.user owns
    site.write(extra=f'ledger = "{ledger}"\n  ledger_interval = 1')
    with site.daemon(pair.gateway) as daemon:
        burst(pair, range(45000, 45001))  # greyd's tables now exist
        _wait_for_pcount(site, 30)
        now = int(time.time())
        with sqlite3.connect(site.db, timeout=30) as conn:  # greyd's reader writing a new GREY tuple
            conn.execute("INSERT INTO entries VALUES ('198.51.100.77', 'mx.example.org', 'a@example.org', "
                         "'b@example.net', ?, ?, ?, 1, 0)", (now, now + 14400, now + 14400))
        deadline = time.monotonic() + 15
        while time.monotonic() < deadline and not _ledger_ips(ledger, now):
            time.sleep(0.2)
        assert daemon.stop() == 0
    assert _ledger_ips(ledger, now) == ["198.51.100.77"]


def _ledger_ips(path, now: int) -> list[str]:
    if not path.exists():
        return []
    with Ledger(path) as ledger:
        return [str(ip) for ip in ledger.read_tuples(now - 10, now + 10)["ip"]]


def _receive_multicast(conn, port: int, group: str, local: str) -> None:
    """In the sender namespace: join `group` on the veth address, collect until the parent says stop."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        s.bind(("0.0.0.0", port))
        s.setsockopt(socket.IPPROTO_IP, socket.IP_ADD_MEMBERSHIP,
                     socket.inet_aton(group) + socket.inet_aton(local))
        s.settimeout(0.2)
        conn.send("bound")
        got: list[tuple[bytes, str]] = []
        while not conn.poll():
            with contextlib.suppress(TimeoutError):
                data, source = s.recvfrom(2048)
                got.append((data, source[0]))
        conn.recv()
        conn.send(got)


def test_sync_white_datagrams_by_multicast(pair, site):
    port = 18026
    site.write(sync=f'enable = 1\n  hosts = [ "veth-g:2" ]\n  port = {port}\n  verify = 0')
    got = _received_during_a_burst(pair, site, 46000, pair.sender, _receive_multicast, port, "224.0.1.241",
                                   "198.51.100.2")
    assert {source for _data, source in got} == {"198.51.100.1"}
    assert sorted(str(sync.decode(data, b"")[0].ip) for data, _source in got) == sorted(V4)
