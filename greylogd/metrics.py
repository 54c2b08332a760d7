"""Prometheus text exposition of the daemon's counters (prometheus-client), on an optional loopback port.

The daemon's loop owns every counter (CaptureStats, RefresherStats, the sync sender's); a `Snapshot`
function copies them when a scrape arrives, so the HTTP thread never touches the loop's objects beyond
reading ints. Latencies are histograms in seconds: event-to-commit (kernel timestamp of each event to the
commit of its batch) and store call duration. Metric names start with `greylogd_`; counters are totals
since the daemon started (reset by a restart, never by SIGHUP).
"""

from __future__ import annotations

import bisect
import itertools
import threading
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field

from prometheus_client import start_http_server
from prometheus_client.core import CollectorRegistry, CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.core import HistogramMetricFamily as _Histogram

LATENCY_BOUNDS = (0.005, 0.01, 0.025, 0.05, 0.075, 0.1, 0.15, 0.2, 0.25, 0.3, 0.4, 0.5, 0.75, 1.0, 2.5, 5.0,
                  10.0, 30.0, 60.0, 300.0)


@dataclass
class Histogram:
    """Cumulative-on-export bucket counts for seconds; `observe_many` takes a whole batch at once."""

    bounds: Sequence[float] = LATENCY_BOUNDS
    counts: list[int] = field(default_factory=list)
    total: float = 0.0
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def __post_init__(self) -> None:
        self.counts = [0] * (len(self.bounds) + 1)

    def observe_many(self, values: Iterable[float]) -> None:
        with self._lock:
            for value in values:
                self.counts[bisect.bisect_left(self.bounds, value)] += 1
                self.total += value

    def buckets(self) -> list[tuple[str, float]]:
        """(le, cumulative count) pairs ending with +Inf, as the exposition format wants them."""
        with self._lock:
            cumulative = list(itertools.accumulate(self.counts))
        return [(repr(b), float(c)) for b, c in zip(self.bounds, cumulative, strict=False)] + [
            ("+Inf", float(cumulative[-1]))]

    def quantile(self, q: float) -> float:
        """Upper bound of the bucket holding quantile q (0..1); inf if it lies in the last bucket."""
        total = sum(self.counts)
        rank, seen = q * total, 0
        for bound, count in zip((*self.bounds, float("inf")), self.counts, strict=True):
            seen += count
            if seen >= rank and seen > 0:
                return bound
        return 0.0


@dataclass(frozen=True)
class Snapshot:
    """Counter values at scrape time (events unless the name says otherwise)."""

    received: int
    refreshed: int
    queued: int
    spilled_pending_batches: int
    spilled: int
    retried: int
    malformed: int
    enobufs: int
    seq_gaps: int
    sync_sent: int
    sync_errors: int


COUNTERS = {
    "received": "events read from the capture",
    "refreshed": "events committed to greyd's database (pcount increments)",
    "spilled": "events written to the spill journal",
    "retried": "failed store transactions that were retried",
    "malformed": "captured packets that did not parse",
    "enobufs": "netlink receive-buffer overruns",
    "seq_gaps": "events the kernel numbered but never delivered (lost before greylogd)",
    "sync_sent": "sync datagrams sent",
    "sync_errors": "sync datagrams that could not be sent",
}
GAUGES = {
    "queued": "events received and not committed yet, in memory",
    "spilled_pending_batches": "batches waiting in the spill journal",
}


class Collector:
    """A prometheus-client collector over a snapshot function and the two latency histograms."""

    def __init__(self, snapshot: Callable[[], Snapshot], latency: Histogram,
                 store_seconds: Histogram) -> None:
        self.snapshot, self.latency, self.store_seconds = snapshot, latency, store_seconds

    def collect(self) -> Iterator[Metric]:
        snap = self.snapshot()
        for name, doc in COUNTERS.items():
            yield CounterMetricFamily(f"greylogd_{name}", doc, value=getattr(snap, name))
        for name, doc in GAUGES.items():
            yield GaugeMetricFamily(f"greylogd_{name}", doc, value=getattr(snap, name))
        for name, hist, doc in (("event_commit_latency_seconds", self.latency, "event to commit"),
                                ("store_seconds", self.store_seconds, "duration of one store transaction")):
            yield _Histogram(f"greylogd_{name}", doc, buckets=hist.buckets(), sum_value=hist.total)


def serve(collector: Collector, port: int, address: str = "127.0.0.1") -> Callable[[], None]:
    """Start the exposition server in a daemon thread; returns the function that stops it."""
    registry = CollectorRegistry(auto_describe=False)
    registry.register(collector)
    server, _thread = start_http_server(port, address, registry=registry)
    return server.shutdown
