"""Prometheus exposition of the daemon's counters, scraped over real HTTP on loopback."""

from __future__ import annotations

import urllib.request

from greylogd.metrics import Collector, Histogram, Snapshot, serve


def snapshot() -> Snapshot:
    return Snapshot(received=120, refreshed=100, queued=20, spilled_pending_batches=2, spilled=40, retried=3,
                    malformed=1, enobufs=0, seq_gaps=5, sync_sent=7, sync_errors=1)


def test_histogram_buckets_are_cumulative_and_quantiles_are_bucket_bounds():
    hist = Histogram((0.01, 0.1, 1.0))
    hist.observe_many([0.005, 0.01, 0.05, 0.05, 0.5, 7.0])
    assert hist.buckets() == [("0.01", 2.0), ("0.1", 4.0), ("1.0", 5.0), ("+Inf", 6.0)]
    assert round(hist.total, 6) == 7.615
    assert (hist.quantile(0.5), hist.quantile(0.8), hist.quantile(0.99)) == (0.1, 1.0, float("inf"))
    assert Histogram().quantile(0.5) == 0.0


def test_scrape_over_loopback_shows_every_counter():
    latency, store = Histogram((0.1, 0.25)), Histogram((0.1, 0.25))
    latency.observe_many([0.05, 0.2, 0.3])
    stop = serve(Collector(snapshot, latency, store), 0)
    try:
        port = stop.__self__.server_address[1]
        text = urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5).read().decode()
    finally:
        stop()
    lines = set(text.splitlines())
    for expected in ("greylogd_received_total 120.0", "greylogd_refreshed_total 100.0",
                     "greylogd_queued 20.0", "greylogd_spilled_total 40.0", "greylogd_retried_total 3.0",
                     "greylogd_enobufs_total 0.0", "greylogd_seq_gaps_total 5.0",
                     "greylogd_spilled_pending_batches 2.0", "greylogd_sync_sent_total 7.0",
                     'greylogd_event_commit_latency_seconds_bucket{le="0.1"} 1.0',
                     'greylogd_event_commit_latency_seconds_bucket{le="0.25"} 2.0',
                     'greylogd_event_commit_latency_seconds_bucket{le="+Inf"} 3.0',
                     "greylogd_event_commit_latency_seconds_count 3.0",
                     "greylogd_store_seconds_count 0.0"):
        assert expected in lines, expected
