"""The greylogd daemon: wiring only. One selectors loop over the capture fd and a signal wakeup pipe, with
timers for batch flushes, retries, the watchdog and ledger polls; all logic lives in the parts it wires.

Start order (spec 2.1, then greylogd's additions): logging, pidfile, bind the capture (root), sync socket,
drop to grey.user keeping CAP_NET_ADMIN, open the spill journal and greyd's database (lazily: a database that
is down at start only delays writes), metrics, READY=1. Store writes run on one commit thread
(commit_thread.py) so that capture continues while a transaction waits for fsync or a lock; everything
else, including the refresher's bookkeeping, stays on the loop thread.
Signals: TERM/INT/QUIT stop (drain the socket, commit until greylogd.shutdown_timeout, spill the rest, exit
0); HUP reloads greyd.conf without losing a queued event (a bad file is logged and the old settings stay).
Exit status: 0 after a stop, 1 on a fatal capture error (greyd's CRIT `poll: ...`), whose queued events are
committed or spilled first.
"""

from __future__ import annotations

import logging
import os
import selectors
import signal
import time
from ipaddress import ip_address

from greylogd import daemon_parts as parts
from greylogd import logsetup
from greylogd.capture.source import EventSource
from greylogd.commit_thread import ThreadCommits
from greylogd.daemon_settings import CliOptions, DaemonSettings, load
from greylogd.errors import GreylogdError
from greylogd.events import ConnectionEvent, EventBatch
from greylogd.metrics import Histogram
from greylogd.privileges import Account, Pidfile, drop_to
from greylogd.refresher import Clock, Commit, Refresher, SystemClock
from greylogd.sdnotify import Notifier
from greylogd.spill import Spill

log = logging.getLogger("greylogd")
STOP_SIGNALS = (signal.SIGTERM, signal.SIGINT, signal.SIGQUIT)


class Daemon:
    """Construct with the CLI options and the settings they produced, then `run()` once."""

    def __init__(self, cli: CliOptions, settings: DaemonSettings, clock: Clock | None = None) -> None:
        self.cli, self.settings, self.clock = cli, settings, clock or SystemClock()
        self.started_with = settings  # what restart-only settings are in effect
        self.latency, self.store_seconds = Histogram(), Histogram()
        self.notifier = Notifier()
        self._signals: list[int] = []
        self._stop = False

    def run(self) -> int:
        """Start, loop until a stop signal, shut down; returns the exit status."""
        pidfile = Pidfile(self.settings.pidfile)
        try:
            self._start()
            status = self._loop()
            self._shutdown(capture_ok=status == 0)
            return status
        finally:
            pidfile.remove()

    def _start(self) -> None:
        s = self.settings
        account = Account.lookup(s.user) if s.drop_privs and os.geteuid() == 0 else None
        parts.prepare_dir(s.own.spill_journal, account)
        self.source: EventSource = parts.open_source(s, self._keep)
        both = len(s.groups) > 1
        log.info("listening, in both directions" if both else "listening, inbound direction only")
        self.sync = parts.open_sync(s)
        if account is not None:
            parts.preload(s)
            drop_to(account)
        self.spill = Spill(s.own.spill_journal)
        if len(self.spill):
            log.info("replaying %d spilled batches from %s", len(self.spill), self.spill.path)
        self.store = parts.LazyStore(s)
        self.commits = ThreadCommits(self.store)
        self.refresher = Refresher(self.store, self.spill, s.refresher, self.clock, self._on_commit,
                                   commits=self.commits)
        self.ledger = parts.Ledgers(s, self.clock)
        self.stop_metrics = parts.serve_metrics(s, self)
        self.selector = selectors.DefaultSelector()
        self.selector.register(self.source.fileno(), selectors.EVENT_READ, "capture")
        self.selector.register(self.commits.fileno(), selectors.EVENT_READ, "commit")
        self._install_signals()
        self.notifier.notify("READY=1", "STATUS=listening")

    def _install_signals(self) -> None:
        rfd, wfd = os.pipe2(os.O_NONBLOCK | os.O_CLOEXEC)
        signal.set_wakeup_fd(wfd, warn_on_full_buffer=False)
        for sig in (*STOP_SIGNALS, signal.SIGHUP):
            signal.signal(sig, lambda num, _frame: self._signals.append(num))
        self.selector.register(rfd, selectors.EVENT_READ, "signal")

    def _loop(self) -> int:
        next_watchdog = self.clock.monotonic()
        while not self._stop:
            for key, _ in self.selector.select(self._timeout(next_watchdog)):
                if key.data == "capture" and not self._read_capture():
                    return 1
                if key.data == "signal":
                    parts.drain(key.fd)
            self._handle_signals()
            self.refresher.tick(budget_s=0.1)
            self.ledger.poll(self.store)
            if self.notifier.watchdog_interval and self.clock.monotonic() >= next_watchdog:
                self.notifier.notify("WATCHDOG=1")
                next_watchdog = self.clock.monotonic() + self.notifier.watchdog_interval
        return 0

    def _timeout(self, next_watchdog: float) -> float:
        now = self.clock.monotonic()
        deadlines = [self.refresher.next_deadline(), self.ledger.next_poll]
        if self.notifier.watchdog_interval:
            deadlines.append(next_watchdog)
        return max(0.0, min([d for d in deadlines if d is not None], default=now + 10.0) - now)

    def _read_capture(self) -> bool:
        """Hand everything readable to the refresher; False after a fatal socket error (logged CRIT)."""
        try:
            events = self.source.read_batch()
        except (OSError, GreylogdError) as exc:
            log.critical("poll: %s", getattr(exc, "strerror", None) or exc)
            return False
        if log.isEnabledFor(logging.DEBUG):
            for e in events.events():
                log.debug("packet received: direction = %s, saddr = %s, daddr = %s", e.direction.value, e.src,
                          e.dst)
        self.refresher.add(events)
        return True

    def _drain_kernel_queue(self) -> None:
        """Read until no event has arrived for the kernel's NFLOG flush timeout (capped at 5 s more): a
        partial batch the kernel still holds reaches us only when that timer fires, and would be lost if
        the socket closed first."""
        quiet = self.settings.own.nflog_timeout / 100 + 0.05
        now = self.clock.monotonic()
        last_event, cap = now, now + quiet + 5
        while now - last_event < quiet and now < cap:
            before = self.refresher.stats.received
            if not self._read_capture():
                return
            now = self.clock.monotonic()
            if self.refresher.stats.received != before:
                last_event = now
            time.sleep(0.02)

    def _handle_signals(self) -> None:
        while self._signals:
            sig = self._signals.pop(0)
            if sig == signal.SIGHUP:
                self._reload()
            else:
                self._stop = True

    def _reload(self) -> None:
        self.notifier.notify("RELOADING=1")
        try:
            new, cfg = load(self.cli)
        except GreylogdError as exc:
            log.error("reload failed, keeping the previous configuration: %s", exc)
            self.notifier.notify("READY=1")
            return
        parts.log_warnings(new, cfg.warnings)
        self._apply(new)
        self.notifier.notify("READY=1", "STATUS=reloaded")

    def _apply(self, new: DaemonSettings) -> None:
        old, self.settings = self.settings, new
        self.refresher.settings = new.refresher
        self.store.reconfigure(new)
        if self.sync is not None:
            self.sync.close()
        self.sync = parts.open_sync(new)
        if _capture_key(old) != _capture_key(new):
            self._reopen_capture()
        for name in _restart_only(self.started_with, new):
            log.warning("%s changes take effect at the next restart", name)
        log.info("configuration reloaded")

    def _reopen_capture(self) -> None:
        """Swap the capture without losing what the old socket still holds (CAP_NET_ADMIN was kept)."""
        self._drain_kernel_queue()
        self.selector.unregister(self.source.fileno())
        self.source.close()
        self.source = parts.open_source(self.settings, self._keep)
        self.selector.register(self.source.fileno(), selectors.EVENT_READ, "capture")

    def _keep(self, event: ConnectionEvent) -> bool:
        """NFQUEUE's hook: queue the event before the packet is accepted."""
        self.refresher.add(EventBatch.of([event]))
        return True

    def _on_commit(self, commit: Commit) -> None:
        white = commit.result.created + commit.result.refreshed
        logsetup.info_each(log, "whitelisting %s", white)
        for address in commit.result.trapped_kept:
            log.info("not whitelisting trapped %s (greylogd.trapped_to_white = 0)", address)
        if self.sync is not None:
            self.sync.send_white([ip_address(a) for a in white], commit.now,
                                 commit.now + self.settings.white_expiry)
        wall, batch = self.clock.time(), commit.batch
        self.latency.observe_many([wall - ts for ts in batch.event_ts] if batch.event_ts
                                  else [wall - batch.oldest] * batch.events)
        self.store_seconds.observe_many([commit.seconds])

    def _shutdown(self, capture_ok: bool) -> None:
        self.notifier.notify("STOPPING=1")
        if capture_ok:
            self._drain_kernel_queue()
        self.refresher.shutdown(self.settings.own.shutdown_timeout)
        if len(self.spill):
            log.warning("%d batches kept in %s for the next start", len(self.spill), self.spill.path)
        r, c = self.refresher.stats, self.source.stats
        log.info("totals: received %d, refreshed %d, spilled %d, retries %d, kernel drops %d (seq gaps), "
                 "enobufs %d", r.received, r.committed_events, r.spilled_events, r.retries, c.seq_gaps,
                 c.enobufs)
        if self.sync is not None:
            self.sync.close()
        for close in (self.source.close, self.stop_metrics, self.ledger.close, self.commits.close,
                      self.store.close, self.spill.close, self.notifier.close):
            close()
        if logsetup.dropped():
            log.warning("%d log lines were dropped: the log writer fell behind", logsetup.dropped())
        log.info("exiting")


def _capture_key(s: DaemonSettings) -> tuple[object, ...]:
    """The settings whose change needs the capture rebound (a short window without a listener)."""
    own = s.own
    return (s.groups, s.backend, own.queue_num, own.nflog_qthreshold, own.nflog_timeout, own.nflog_nlbufsiz,
            own.rcvbuf_mb, own.rcvbuf_max_mb)


def _restart_only(old: DaemonSettings, new: DaemonSettings) -> list[str]:
    """Changed settings that a reload cannot apply (files and sockets opened once, identity)."""
    keys = [("grey.user", "user"), ("greylogd_pidfile", "pidfile"), ("drop_privs", "drop_privs")]
    own = ["metrics_port", "spill_journal", "ledger", "ledger_interval", "ledger_retention_days"]
    changed = [name for name, attr in keys if getattr(old, attr) != getattr(new, attr)]
    return changed + [f"greylogd.{k}" for k in own if getattr(old.own, k) != getattr(new.own, k)]
