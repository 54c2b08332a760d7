"""NfqueueSource against a real NFQUEUE rule with --queue-bypass (iptables-nft: this kernel has no nft queue).

The gateway child holds a real listener on port 25 next to the source: while on_event runs, the listener's
accept queue must still be empty (the SYN is held by the kernel); after the verdict the connection completes.
"""

from __future__ import annotations

import select
import socket
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from multiprocessing.connection import Connection

import pytest

from greylogd.capture.nfqueue import NfqueueSource
from greylogd.events import ConnectionEvent, Direction
from tests.integration.netns import Pair, connect, in_netns, netns_pair, send_raw, tcp_syn

pytestmark = pytest.mark.root
QUEUE = 7
HOLD = 0.2  # seconds on_event takes: the client's connect() must take at least this long


@dataclass
class Outcome:
    """What the gateway child saw, shipped back to the test."""

    recorded: list[ConnectionEvent] = field(default_factory=list)
    held: list[bool] = field(default_factory=list)  # listener had no connection yet while on_event ran
    returned: list[ConnectionEvent] = field(default_factory=list)
    peers: list[tuple[str, int]] = field(default_factory=list)  # connections the listener accepted
    received: int = 0
    malformed: int = 0
    unrecorded: int = 0


def _accept_all(listener: socket.socket, out: Outcome) -> None:
    while select.select([listener], [], [], 0)[0]:
        peer, address = listener.accept()
        out.peers.append((address[0].removeprefix("::ffff:"), address[1]))
        peer.close()


def _gateway(conn: Connection, answers: list[str] | None) -> None:
    """answers[i]: what on_event does for the i-th event: "ok" (True), "no" (False) or "raise";
    None: no on_event at all (plain EventSource use)."""
    out = Outcome()
    listener = socket.create_server(("::", 25), family=socket.AF_INET6, dualstack_ipv6=True)

    def on_event(event: ConnectionEvent) -> bool:
        _accept_all(listener, out)  # whatever completed so far; this event's connection must not be there
        out.held.append((str(event.src), event.sport) not in out.peers)
        time.sleep(HOLD)
        _accept_all(listener, out)
        out.held[-1] &= (str(event.src), event.sport) not in out.peers
        answer = (answers or [])[len(out.held) - 1]
        if answer == "raise":
            raise RuntimeError("durable queue unavailable")
        out.recorded += [event] if answer == "ok" else []
        return answer == "ok"

    with NfqueueSource(QUEUE, on_event if answers is not None else None) as source:
        conn.send("ready")
        while not conn.poll(0):
            if select.select([source], [], [], 0.05)[0]:
                out.returned += source.read_batch().events()
            _accept_all(listener, out)
        out.received, out.malformed, out.unrecorded = (source.stats.received, source.stats.malformed,
                                                       source.unrecorded)
    _accept_all(listener, out)
    conn.recv()
    conn.send(out)


def _queue_rules(pair: Pair) -> None:
    """SYNs to port 25 go to the queue; so does anything from 203.0.113.66, first, because the tcp match
    would drop its malformed TCP header ("hotdrop") before it reached the queue."""
    pair.gateway.iptables("-t", "mangle", "-A", "PREROUTING", "-s", "203.0.113.66", "-j", "NFQUEUE",
                          "--queue-num", str(QUEUE), "--queue-bypass")
    for v6 in (False, True):
        pair.gateway.iptables("-t", "mangle", "-A", "PREROUTING", "-p", "tcp", "--syn", "--dport", "25", "-j",
                              "NFQUEUE", "--queue-num", str(QUEUE), "--queue-bypass", v6=v6)
    pair.gateway.iptables("-t", "filter", "-A", "INPUT", "-s", "203.0.113.66", "-j", "ACCEPT")


@pytest.fixture
def pair() -> Iterator[Pair]:
    with netns_pair() as made:
        _queue_rules(made)
        yield made


def _timed_connect(pair: Pair, dst: str) -> tuple[tuple[str, int], float]:
    start = time.monotonic()
    client = connect(pair.sender, dst, 25)
    return client, time.monotonic() - start


def _run(pair: Pair, answers: list[str] | None, extra: list[bytes] | None = None) -> tuple[Outcome, list]:
    with in_netns(pair.gateway, _gateway, answers) as child:
        assert child.conn.recv() == "ready"
        clients = [_timed_connect(pair, str(pair.gateway.v4)), _timed_connect(pair, str(pair.gateway.v6))]
        if extra:
            send_raw(pair.sender, extra)
            time.sleep(0.2)
        child.conn.send("stop")
        outcome: Outcome = child.conn.recv()
    return outcome, clients


def test_connection_reaches_listener_only_after_event_recorded(pair: Pair) -> None:
    outcome, clients = _run(pair, ["ok", "ok"])
    assert outcome.held == [True, True]
    assert all(elapsed >= HOLD for _, elapsed in clients)
    assert outcome.peers == [client for client, _ in clients]
    (src4, sport4), (src6, sport6) = (client for client, _ in clients)
    expected = [(Direction.INBOUND, QUEUE, src4, sport4, str(pair.gateway.v4), 25, 0x02, "", None),
                (Direction.INBOUND, QUEUE, src6, sport6, str(pair.gateway.v6), 25, 0x02, "", None)]
    assert [(e.direction, e.group, str(e.src), e.sport, str(e.dst), e.dport, e.tcp_flags, e.prefix, e.seq)
            for e in outcome.recorded] == expected
    assert (outcome.received, outcome.malformed, outcome.unrecorded, outcome.returned) == (2, 0, 0, [])


def test_refused_or_failing_record_still_accepts_and_malformed_is_accepted(pair: Pair) -> None:
    bad = bytearray(tcp_syn("203.0.113.66", str(pair.gateway.v4), 4444, 25))
    bad[32] = 0x40  # TCP data offset 4: shorter than a TCP header
    outcome, clients = _run(pair, ["no", "raise"], [bytes(bad)])
    assert outcome.peers == [client for client, _ in clients]  # mail was not blocked
    assert [(str(e.src), e.sport) for e in outcome.returned] == [client for client, _ in clients]
    assert (outcome.received, outcome.malformed, outcome.unrecorded, outcome.recorded) == (3, 1, 2, [])
    assert pair.gateway.iptables_packets("filter", "INPUT") == [1]  # the malformed packet went on


def test_without_on_event_read_batch_returns_every_event(pair: Pair) -> None:
    outcome, clients = _run(pair, None)
    assert outcome.peers == [client for client, _ in clients]
    assert [(str(e.src), e.sport, e.group, e.tcp_flags) for e in outcome.returned] == [
        (src, sport, QUEUE, 0x02) for (src, sport), _ in clients]
    assert (outcome.received, outcome.unrecorded, outcome.held) == (2, 0, [])


def test_bypass_lets_mail_through_without_greylogd(pair: Pair) -> None:
    def listen(conn: Connection) -> None:
        with socket.create_server(("", 25)) as listener:
            conn.send("ready")
            listener.settimeout(5)
            peer, address = listener.accept()
            peer.close()
            conn.send(address)

    with in_netns(pair.gateway, listen) as child:
        assert child.conn.recv() == "ready"
        client = connect(pair.sender, str(pair.gateway.v4), 25)
        assert child.conn.recv() == client
