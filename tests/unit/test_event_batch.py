"""EventBatch: the columns capture hands to the refresher, and the way back to ConnectionEvents."""

from __future__ import annotations

import socket
from ipaddress import ip_address

from greylogd.events import ConnectionEvent, Direction, EventBatch

EVENTS = [
    ConnectionEvent(1_700_000_000.25, 155, Direction.INBOUND, socket.AF_INET, ip_address("203.0.113.7"),
                    ip_address("198.51.100.1"), 40000, 25, 0x02, "", 0),
    ConnectionEvent(1_700_000_001.5, 255, Direction.OUTBOUND, socket.AF_INET6, ip_address("2001:db8:1::1"),
                    ip_address("2001:db8:2::5"), 40001, 25, 0x02, "greylogd-out é", None),
    ConnectionEvent(1_700_000_002.0, 155, Direction.INBOUND, socket.AF_INET, ip_address("203.0.113.7"),
                    ip_address("198.51.100.1"), 40002, 25, 0x12, "", 4_294_967_295),
]


def test_round_trip_keeps_every_field():
    batch = EventBatch.of(EVENTS)
    assert len(batch) == 3 and batch.events() == EVENTS
    assert batch[1:].events() == EVENTS[1:] and len(batch[3:]) == 0


def test_host_is_the_source_inbound_and_the_destination_outbound():
    batch = EventBatch.of(EVENTS)
    assert batch.host_counts() == {"203.0.113.7": 2, "2001:db8:2::5": 1}
    assert batch[:1].host_counts() == {"203.0.113.7": 1}
    assert batch.timestamps() == [1_700_000_000.25, 1_700_000_001.5, 1_700_000_002.0]


def test_empty_batch():
    empty = EventBatch.of([])
    assert (len(empty), empty.host_counts(), empty.timestamps(), empty.events()) == (0, {}, [], [])
