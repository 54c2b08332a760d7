"""Pidfile (greyd's format, lock, stale files), sd_notify datagrams, greyd-style log lines."""

from __future__ import annotations

import logging
import multiprocessing
import os
import socket

import pytest

from greylogd import logsetup
from greylogd.privileges import Account, Pidfile, PrivilegeError
from greylogd.sdnotify import Notifier


def test_pidfile_holds_pid_and_nul_and_is_emptied_or_removed(tmp_path):
    path = tmp_path / "run" / "greylogd.pid"
    pidfile = Pidfile(path)
    assert path.read_bytes() == f"{os.getpid()}\0".encode()
    pidfile.remove()
    assert not path.exists()


def test_stale_pidfile_of_a_dead_process_is_rewritten(tmp_path):
    path = tmp_path / "greylogd.pid"
    path.write_bytes(b"999999999\0trailing junk from an older, longer pid")
    pidfile = Pidfile(path)
    assert path.read_bytes() == f"{os.getpid()}\0".encode()
    pidfile.remove()


def _hold(path: str, ready, done) -> None:
    pidfile = Pidfile(path)
    ready.set()
    done.wait(10)
    pidfile.remove()


def test_pidfile_locked_by_a_running_process_is_refused(tmp_path):
    path = str(tmp_path / "greylogd.pid")
    ctx = multiprocessing.get_context("fork")
    ready, done = ctx.Event(), ctx.Event()
    holder = ctx.Process(target=_hold, args=(path, ready, done))
    holder.start()
    try:
        assert ready.wait(10)
        with pytest.raises(PrivilegeError, match=r"^it appears greylogd is already running\.\.\.$"):
            Pidfile(path)
    finally:
        done.set()
        holder.join(10)


def test_unwritable_pidfile_directory_is_reported_with_the_path(tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("")
    with pytest.raises(PrivilegeError, match=f"could not write pidfile {blocker}/x.pid: "):
        Pidfile(blocker / "x.pid")


def test_unknown_account_is_a_getpwnam_error():
    with pytest.raises(PrivilegeError, match="getpwnam: no such user 'no-such-greylogd-user'"):
        Account.lookup("no-such-greylogd-user")
    assert Account.lookup("nobody").uid == 65534


def test_notifier_sends_states_to_the_notify_socket(tmp_path):
    path = tmp_path / "notify"
    server = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    server.bind(str(path))
    notifier = Notifier({"NOTIFY_SOCKET": str(path), "WATCHDOG_USEC": "30000000"})
    try:
        notifier.notify("READY=1", "STATUS=listening")
        assert server.recv(100) == b"READY=1\nSTATUS=listening"
        assert notifier.watchdog_interval == 15.0
    finally:
        notifier.close()
        server.close()


def test_notifier_is_silent_outside_systemd_and_honours_watchdog_pid():
    assert Notifier({}).watchdog_interval is None
    Notifier({}).notify("READY=1")  # no socket: nothing to send, nothing raised
    other = {"NOTIFY_SOCKET": "@x", "WATCHDOG_USEC": "1000000", "WATCHDOG_PID": str(os.getpid() + 1)}
    assert Notifier(other).watchdog_interval is None


def test_stderr_and_file_lines_use_greyds_format(tmp_path, capsys, monkeypatch):
    monkeypatch.delenv("JOURNAL_STREAM", raising=False)
    log_file = tmp_path / "greylogd.log"
    logger = logsetup.configure(logsetup.LogSettings(debug=False, syslog=False, log_file=str(log_file)))
    try:
        logger.info("listening, in both directions")
        logger.debug("packet received: direction = in, saddr = 203.0.113.7, daddr = 192.0.2.1")
        logsetup.info_each(logger, "whitelisting %s", ["203.0.113.7", "2001:db8::1"])
        logger.info("exiting")
    finally:
        logsetup.stop()  # the writer thread has written every queued line when this returns
    pid = os.getpid()
    lines = "".join(f"greylogd[{pid}]: {text}\n" for text in (
        "listening, in both directions", "whitelisting 203.0.113.7", "whitelisting 2001:db8::1", "exiting"))
    assert capsys.readouterr().err == lines
    assert log_file.read_text() == lines
    logging.getLogger("greylogd").setLevel(logging.NOTSET)


def test_syslog_gets_one_datagram_per_line_with_greyds_ident(tmp_path, monkeypatch):
    path = str(tmp_path / "log")
    with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as server:
        server.bind(path)
        server.settimeout(5)
        monkeypatch.setattr(logsetup, "SYSLOG_SOCKET", path)
        monkeypatch.setenv("JOURNAL_STREAM", "8:1")  # stderr is the journal: no second copy there
        logger = logsetup.configure(logsetup.LogSettings(syslog=True))
        try:
            logsetup.info_each(logger, "whitelisting %s", ["203.0.113.7", "2001:db8::1"])
        finally:
            logsetup.stop()
        received = [server.recv(4096) for _ in range(2)]
    pid = os.getpid()
    assert received == [f"<30>greylogd[{pid}]: whitelisting {ip}\x00".encode()
                        for ip in ("203.0.113.7", "2001:db8::1")]
    logging.getLogger("greylogd").setLevel(logging.NOTSET)


def test_a_stalled_log_writer_drops_lines_instead_of_blocking(monkeypatch):
    monkeypatch.setattr(logsetup, "QUEUE_BOUND", 3)
    logger = logsetup.configure(logsetup.LogSettings(syslog=False))
    handler = logger.handlers[0]
    logsetup._listener.stop()  # the writer stalls: nothing leaves the queue any more
    try:
        for n in range(10):
            logger.info("line %d", n)
        assert handler.dropped == logsetup.dropped() == 7
    finally:
        logsetup._listener = None
        logsetup.stop()
        logging.getLogger("greylogd").setLevel(logging.NOTSET)


def test_notifier_never_blocks_when_the_reader_stalls(tmp_path):
    path = tmp_path / "notify"
    server = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    server.bind(str(path))
    notifier = Notifier({"NOTIFY_SOCKET": str(path)})
    try:
        for _ in range(1000):  # far more than net.unix.max_dgram_qlen datagrams, none read
            notifier.notify("WATCHDOG=1")
        assert server.recv(100) == b"WATCHDOG=1"
    finally:
        notifier.close()
        server.close()
