"""Logging for the daemon in one place: syslog/journald with ident `greylogd`, or stderr, like greyd.

greyd opens syslog with ident `greylogd`, LOG_PID, facility daemon, and copies each line to stderr (and
`log_to_file`) as `greylogd[<pid>]: <msg>` without a timestamp (spec 5.1). We do the same, except that the
stderr copy is skipped when stderr already goes to the journal (systemd sets JOURNAL_STREAM), so a line
never reaches the journal twice. DEBUG lines are emitted only with `debug = 1` or `-d`. Message texts are
greyd's where greyd has one (`whitelisting <ip>`, `listening, in both directions`, `exiting`).
"""

from __future__ import annotations

import copy
import logging
import logging.handlers
import os
import queue
import sys
from collections.abc import Sequence
from dataclasses import dataclass

LOGGER = "greylogd"
SYSLOG_SOCKET = "/dev/log"
QUEUE_BOUND = 10_000  # log records waiting for the writer thread (about 5 MB)


@dataclass(frozen=True)
class LogSettings:
    """From the global keys debug, syslog_enable and log_to_file, with the CLI's -d over them."""

    debug: bool = False
    syslog: bool = True
    log_file: str | None = None


class _GreydFormatter(logging.Formatter):
    """`greylogd[pid]: msg`, the stderr/file format of greyd's log.c."""

    def format(self, record: logging.LogRecord) -> str:
        return f"{LOGGER}[{os.getpid()}]: {record.getMessage()}"


def _syslog_handler() -> logging.Handler | None:
    if not os.path.exists(SYSLOG_SOCKET):
        return None
    handler = logging.handlers.SysLogHandler(SYSLOG_SOCKET, logging.handlers.SysLogHandler.LOG_DAEMON)
    handler.ident = f"{LOGGER}[{os.getpid()}]: "
    handler.setFormatter(logging.Formatter("%(message)s"))
    return handler


class _DroppingQueueHandler(logging.handlers.QueueHandler):
    """Hands records to the writer thread; when QUEUE_BOUND records are waiting (the journal stalls), new
    ones are counted in `dropped` instead of blocking the daemon's loop or growing memory."""

    dropped = 0

    def enqueue(self, record: logging.LogRecord) -> None:
        try:
            self.queue.put_nowait(record)
        except queue.Full:
            self.dropped += 1


class _SplittingListener(logging.handlers.QueueListener):
    """The writer thread: a record made by `info_each` becomes one line per value, in order."""

    def handle(self, record: logging.LogRecord) -> None:
        lines = getattr(record, "each", None)
        if not lines:
            super().handle(record)
            return
        for handler in self.handlers:
            if isinstance(handler, logging.StreamHandler):  # stderr, log_to_file: one write a record
                _write_lines(handler, record, lines)
            else:  # syslog/journald: one message per line, as greyd sends them
                for line in lines:
                    handler.handle(_single(record, line))


def _single(record: logging.LogRecord, line: str) -> logging.LogRecord:
    single = copy.copy(record)
    single.msg, single.message, single.args, single.each = line, line, None, None
    return single


def _write_lines(handler: logging.StreamHandler, record: logging.LogRecord, lines: Sequence[str]) -> None:
    """All lines of a split record in one write: a line per handle() cost 40% of the daemon's CPU at
    one `whitelisting` line per refreshed address (0.5 CPU-s per 100k lines, 0.01 s written at once)."""
    prefix = handler.format(_single(record, ""))
    text = "".join(f"{prefix}{line}{handler.terminator}" for line in lines)
    handler.acquire()
    try:
        handler.stream.write(text)
        handler.flush()
    finally:
        handler.release()


_listener: logging.handlers.QueueListener | None = None


def info_each(logger: logging.Logger, fmt: str, values: Sequence[object]) -> None:
    """One INFO line `fmt % value` per value (greyd's `whitelisting <ip>` per address), queued as a single
    record that the writer thread splits: a batch of 1000 addresses costs the loop one record, not 1000."""
    if values and logger.isEnabledFor(logging.INFO):
        record = logger.makeRecord(logger.name, logging.INFO, __file__, 0, fmt, (values[0],), None)
        record.each = [fmt % (value,) for value in values]
        logger.handle(record)


def _outputs(settings: LogSettings) -> list[logging.Handler]:
    handlers: list[logging.Handler] = []
    syslog = _syslog_handler() if settings.syslog else None
    if syslog is not None:
        handlers.append(syslog)
    if syslog is None or "JOURNAL_STREAM" not in os.environ:
        handlers.append(logging.StreamHandler(sys.stderr))
    if settings.log_file:
        handlers.append(logging.FileHandler(settings.log_file, encoding="utf-8"))
    for handler in handlers:
        if not isinstance(handler, logging.handlers.SysLogHandler):
            handler.setFormatter(_GreydFormatter())
    return handlers


def configure(settings: LogSettings) -> logging.Logger:
    """(Re)configure the `greylogd` logger; safe to call again on SIGHUP. Returns the logger.

    Lines are written by one background thread (a QueueListener), so a slow journald or disk delays log
    lines, never refreshes. Call after any fork (the thread does not survive one) and `stop()` at exit.
    The record fields greyd's formats never show (caller, thread, process names) are not collected:
    at one `whitelisting` line per refreshed address that bookkeeping cost a third of the daemon's CPU.
    """
    global _listener
    logging._srcfile = None  # type: ignore[attr-defined]  # documented switch: skip findCaller()
    logging.logThreads = logging.logProcesses = logging.logMultiprocessing = False
    stop()
    logger = logging.getLogger(LOGGER)
    records: queue.Queue[logging.LogRecord] = queue.Queue(QUEUE_BOUND)
    logger.addHandler(_DroppingQueueHandler(records))
    _listener = _SplittingListener(records, *_outputs(settings))
    _listener.start()
    logger.setLevel(logging.DEBUG if settings.debug else logging.INFO)
    logger.propagate = False
    return logger


def dropped() -> int:
    """Lines dropped so far because the writer thread fell QUEUE_BOUND records behind."""
    handlers = logging.getLogger(LOGGER).handlers
    return sum(h.dropped for h in handlers if isinstance(h, _DroppingQueueHandler))


def stop() -> None:
    """Write every queued line, stop the writer thread and close the outputs (idempotent)."""
    global _listener
    logger = logging.getLogger(LOGGER)
    for handler in list(logger.handlers):
        logger.removeHandler(handler)
    if _listener is not None:
        _listener.stop()
        for handler in _listener.handlers:
            handler.close()
        _listener = None
