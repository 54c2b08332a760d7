"""The daemon's collaborators built from DaemonSettings: capture, sync sender, lazily opened store, ledger
poller and metrics server. Kept apart from daemon.py so the loop reads as a loop.
"""

from __future__ import annotations

import logging
import os
import threading
from pathlib import Path
from typing import TYPE_CHECKING

from greylogd.capture.source import EventSource
from greylogd.config import ConfigWarning
from greylogd.daemon_settings import DaemonSettings
from greylogd.errors import GreylogdError, StoreError
from greylogd.greydb.open import open_store
from greylogd.greydb.store import Entry, RefreshResult, Store
from greylogd.metrics import Collector, Snapshot, serve
from greylogd.privileges import Account
from greylogd.refresher import Clock
from greylogd.syncsender import SyncSender

if TYPE_CHECKING:
    from collections.abc import Callable

    from greylogd.daemon import Daemon
    from greylogd.events import ConnectionEvent

log = logging.getLogger("greylogd")
SNAPSHOT_WAIT_S = 1.0  # longest a ledger poll waits for a refresh running on the commit thread


def prepare_dir(path: str, account: Account | None) -> None:
    """Create the directory of `path` (as root, before the drop) and give it, and `path` if it exists,
    to `account`, so the spill journal stays writable after the drop."""
    directory = os.path.dirname(os.path.abspath(path))
    Path(directory).mkdir(parents=True, exist_ok=True, mode=0o750)
    if account is not None:
        account.chown(directory)
        if os.path.exists(path):
            account.chown(path)


def preload(settings: DaemonSettings) -> None:
    """Import, before the privilege drop, what is otherwise imported lazily later: the interpreter's own
    files may be unreadable to grey.user (e.g. a Python installed under /root)."""
    import encodings.idna  # noqa: F401 - getaddrinfo() of text host names (metrics server, sync targets)

    if settings.own.ledger:
        import greylogd.ledger
    if settings.backend == "nfqueue":
        import greylogd.capture.nfqueue  # noqa: F401


def open_source(settings: DaemonSettings, keep: Callable[[ConnectionEvent], bool]) -> EventSource:
    """Bind the configured capture backend (needs CAP_NET_ADMIN).

    NFQUEUE holds each packet until `keep(event)` has queued its event, then accepts it; it serves one
    queue (greylogd.queue_num) and reports its events as inbound.
    """
    if settings.backend == "nfqueue":
        from greylogd.capture.nfqueue import NfqueueSource

        return NfqueueSource(settings.own.queue_num, keep)
    from greylogd.capture.nflog import NflogSource

    own = settings.own
    return NflogSource(settings.groups, nlbufsiz=own.nflog_nlbufsiz, qthreshold=own.nflog_qthreshold,
                       timeout=own.nflog_timeout, rcvbuf=own.rcvbuf_mb << 20,
                       rcvbuf_max=own.rcvbuf_max_mb << 20)


def open_sync(settings: DaemonSettings) -> SyncSender | None:
    """The WHITE sender when sync is enabled with targets, else None (greyd's WARNING)."""
    if not settings.sync_active:
        log.warning("sync disabled by configuration")
        return None
    return SyncSender.open(settings.sync)


class LazyStore:
    """Store opened on first use and reopened after a reload, so a database that is unreachable at start
    (or whose settings change) delays writes instead of stopping the daemon. Every failure is StoreError.

    Thread-safe: refreshes run on the daemon's commit thread, ledger polls and reloads on its loop thread;
    one lock serialises them (a driver connection is never used by two threads at once).
    """

    def __init__(self, settings: DaemonSettings) -> None:
        self._settings, self._store = settings, None
        self._lock = threading.Lock()

    def _get(self) -> Store:
        if self._store is None:
            try:
                self._store = open_store(self._settings.database,
                                         trapped_to_white=self._settings.own.trapped_to_white)
            except GreylogdError as exc:
                log.warning("could not obtain database handle: %s", exc)
                raise StoreError(str(exc)) from exc
        return self._store

    def refresh_white(self, counts: dict[str, int], now: int, white_expiry: int) -> RefreshResult:
        try:
            with self._lock:
                return self._get().refresh_white(counts, now, white_expiry)
        except StoreError as exc:
            log.warning("database write delayed, will retry: %s", exc)
            raise

    def snapshot(self) -> list[Entry]:
        """For the ledger poller, on the loop thread: it waits at most SNAPSHOT_WAIT_S for a running refresh
        (StoreError after that, so the poll is retried later), because the loop must keep reading the
        capture while a commit waits out a locked database."""
        if not self._lock.acquire(timeout=SNAPSHOT_WAIT_S):
            raise StoreError(f"a refresh has held the database for over {SNAPSHOT_WAIT_S:g} s")
        try:
            return self._get().snapshot()
        finally:
            self._lock.release()

    def reconfigure(self, settings: DaemonSettings) -> None:
        """Take new settings; the connection is reopened only if the database section changed."""
        changed = (settings.database, settings.own.trapped_to_white) != (
            self._settings.database, self._settings.own.trapped_to_white)
        self._settings = settings
        if changed:
            self.close()

    def close(self) -> None:
        with self._lock:
            if self._store is not None:
                self._store.close()
                self._store = None


class Ledgers:
    """Polls greyd's database into the ledger every greylogd.ledger_interval s (off when no path is set),
    and prunes it right after a successful poll at most once per PRUNE_EVERY_S (monotonic seconds; the
    first prune follows the first poll) when greylogd.ledger_retention_days > 0.

    A failing poll or prune is logged and retried at the next interval; it never affects refreshes. A prune
    is one DELETE of the closed tuples older than the retention (measured on SQLite: ~180k tuples with
    their retries per second), so a daily prune, one day's tuples, holds the loop for milliseconds; only
    the first prune after the retention is lowered deletes more (the capture socket buffers meanwhile).
    """

    PRUNE_EVERY_S = 86400

    def __init__(self, settings: DaemonSettings, clock: Clock) -> None:
        own = settings.own
        self.clock, self.interval = clock, own.ledger_interval
        self.ledger = None
        if own.ledger:
            from greylogd.ledger import Ledger

            self.ledger = Ledger(own.ledger, retention_days=own.ledger_retention_days,
                                 white_expiry=settings.white_expiry)
        self.next_poll: float | None = clock.monotonic() if self.ledger else None
        self.next_prune: float | None = clock.monotonic() if own.ledger_retention_days > 0 else None

    def poll(self, store: LazyStore) -> None:
        if self.ledger is None or self.next_poll is None or self.clock.monotonic() < self.next_poll:
            return
        self.next_poll = self.clock.monotonic() + self.interval
        try:
            self.ledger.poll(store, int(self.clock.time()))
        except GreylogdError as exc:
            log.warning("ledger poll failed, retrying in %d s: %s", self.interval, exc)
            return
        self._prune()

    def _prune(self) -> None:
        if self.ledger is None or self.next_prune is None or self.clock.monotonic() < self.next_prune:
            return
        started = self.clock.monotonic()
        try:
            pruned = self.ledger.prune(int(self.clock.time()))
        except GreylogdError as exc:
            log.warning("ledger prune failed, retrying after the next poll: %s", exc)
            return
        self.next_prune = started + self.PRUNE_EVERY_S
        log.info("ledger: pruned %d closed tuples first seen more than %d days ago (%.3f s)", pruned,
                 self.ledger.retention_days, self.clock.monotonic() - started)

    def close(self) -> None:
        if self.ledger is not None:
            self.ledger.close()


def snapshot_of(daemon: Daemon) -> Snapshot:
    """The daemon's counters for a scrape (read from the HTTP thread: ints only)."""
    r, c = daemon.refresher.stats, daemon.source.stats
    sender = daemon.sync
    return Snapshot(received=r.received, refreshed=r.committed_events, queued=daemon.refresher.pending_events,
                    spilled_pending_batches=len(daemon.spill), spilled=r.spilled_events, retried=r.retries,
                    malformed=c.malformed, enobufs=c.enobufs, seq_gaps=c.seq_gaps,
                    sync_sent=sender.sent if sender else 0, sync_errors=sender.errors if sender else 0)


def serve_metrics(settings: DaemonSettings, daemon: Daemon) -> Callable[[], None]:
    """Start the loopback exposition server when greylogd.metrics_port is set; returns its stop function."""
    if not settings.own.metrics_port:
        return lambda: None
    collector = Collector(lambda: snapshot_of(daemon), daemon.latency, daemon.store_seconds)
    return serve(collector, settings.own.metrics_port)


def drain(fd: int) -> None:
    """Empty the signal wakeup pipe (the signals themselves were recorded by the handlers)."""
    try:
        while os.read(fd, 512):
            pass
    except BlockingIOError:
        pass


def log_warnings(settings: DaemonSettings, warnings: list[ConfigWarning]) -> None:
    """Config warnings (greyd would silently ignore part of the file) at WARNING level."""
    for warning in warnings:
        log.warning("%s", warning)
    if settings.white_expiry <= 0:
        log.warning("grey.white_expiry is %d: refreshed entries expire at once", settings.white_expiry)
