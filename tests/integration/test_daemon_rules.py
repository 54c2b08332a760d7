"""The rule sets shipped in contrib/, loaded for real next to greyd's own greylisting rules, drive the daemon:
only whitelisted senders are refreshed, each connection counts once (a retransmitted SYN does not count
again), outbound connections count for the remote host.
"""

from __future__ import annotations

import contextlib
import socket
import time
from pathlib import Path

import pytest

from tests.integration.daemon_harness import Site, pcount_total, white_rows
from tests.integration.netns import in_netns, netns_pair, send_raw, syn_packets

pytestmark = [pytest.mark.root, pytest.mark.slow]
CONTRIB = Path(__file__).resolve().parents[2] / "contrib"
WHITELISTED = [f"203.0.113.{i}" for i in range(1, 11)]
GREY = [f"203.0.113.{i}" for i in range(11, 21)]
GREYD_RULES = [  # greyd(8), section 7.1 of the spec: whitelisted senders pass, the rest go to greyd
    ("-t", "nat", "-A", "PREROUTING", "-p", "tcp", "--dport", "25", "-m", "set", "--match-set",
     "greyd-whitelist", "src", "-j", "ACCEPT"),
    ("-t", "nat", "-A", "PREROUTING", "-p", "tcp", "--dport", "25", "-j", "DNAT", "--to-destination",
     "127.0.0.1:8025"),
]


LOSE_REPLIES = """
table inet lose_replies {
  chain out { type filter hook output priority -300; policy accept; tcp flags rst drop; }
}
"""


def _whitelist(ns) -> None:
    """greyd's whitelist set, and replies that never arrive (dropped before conntrack sees them), so that
    the second copy of a SYN is a real retransmission of a still-open connection, not a new one."""
    ns.nft(LOSE_REPLIES)
    ns.run("ipset", "create", "greyd-whitelist", "hash:net")
    for ip in WHITELISTED:
        ns.run("ipset", "add", "greyd-whitelist", ip)


def _connect_out(conn, count: int) -> None:
    for _ in range(count):
        with socket.socket() as s, contextlib.suppress(OSError):
            s.settimeout(2)
            s.connect(("198.51.100.2", 25))
    conn.send(count)


def _traffic(pair, site: Site) -> dict[str, int]:
    """Two connections per sender, the first one's SYN sent twice (a retransmission), and two outbound."""
    first = syn_packets(WHITELISTED + GREY, "198.51.100.1", 25, [45000])
    send_raw(pair.sender, first + first + syn_packets(WHITELISTED + GREY, "198.51.100.1", 25, [45001]))
    with in_netns(pair.gateway, _connect_out, 2) as child:
        assert child.conn.recv() == 2
    deadline = time.monotonic() + 15
    while pcount_total(site.db) < 22 and time.monotonic() < deadline:
        time.sleep(0.1)
    return {ip: row[4] for ip, row in white_rows(site.db).items()}


EXPECTED = {ip: 2 for ip in WHITELISTED} | {"198.51.100.2": 2}


def test_nftables_rules_log_whitelisted_connections_once(pair_with_site):
    pair, site = pair_with_site
    _whitelist(pair.gateway)
    for rule in GREYD_RULES:
        pair.gateway.iptables(*rule)
    pair.gateway.run("nft", "-f", str(CONTRIB / "nftables-greylogd.nft"))
    with site.daemon(pair.gateway) as daemon:
        assert _traffic(pair, site) == EXPECTED
        assert daemon.stop() == 0
    assert pair.gateway.nft_packets("inet", "greylogd", "inbound") == [20]
    assert pair.gateway.nft_packets("inet", "greylogd", "outbound") == [2]


def test_iptables_rules_log_whitelisted_connections_once(pair_with_site):
    pair, site = pair_with_site
    _whitelist(pair.gateway)
    rules = (CONTRIB / "iptables-greylogd.rules").read_text()
    pair.gateway.run("iptables-nft-restore", "--noflush", input=rules)
    with site.daemon(pair.gateway) as daemon:
        assert _traffic(pair, site) == EXPECTED
        assert daemon.stop() == 0
    assert pair.gateway.iptables_packets("nat", "PREROUTING")[:2] == [20, 20]


@pytest.fixture
def pair_with_site():
    site = Site()
    with netns_pair() as pair:
        yield pair, site
    site.cleanup()
