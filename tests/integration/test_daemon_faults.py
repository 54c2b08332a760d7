"""Fault tests: the real daemon under a locked SQLite database, a PostgreSQL restart, SIGTERM and SIGHUP, each
during a burst of real SYNs. After recovery the database must hold exactly one pcount increment per packet the
firewall rule counted (the daemon's exit line reports kernel drops, which must be 0 at these sizes): nothing
lost, nothing refreshed twice.

The lock is held for 6 s (greyd's own busy loop would wait up to 100 s; 6 s keeps CI fast and still spans
many retries of the daemon's 300 ms busy timeout and 500 ms backoff cap).
"""

from __future__ import annotations

import contextlib
import os
import re
import signal
import socket
import subprocess
import sys
import threading
import time

import pytest

from tests.integration.daemon_harness import (
    V4,
    V6,
    Site,
    burst,
    pcount_total,
    rule_counts,
    white_rows,
)
from tests.integration.netns import send_raw, syn_packets
from tests.integration.servers import PostgresServer, postgres_server  # noqa: F401 (fixture)

pytestmark = [pytest.mark.root, pytest.mark.slow]
TOTALS = re.compile(r"totals: received (\d+), refreshed (\d+), spilled (\d+), retries (\d+), "
                    r"kernel drops (\d+) \(seq gaps\), enobufs (\d+)")


@pytest.fixture
def site():
    s = Site()
    s.write(batch_events=20, extra="queue_bound = 40")
    yield s
    s.cleanup()


def warm_up(pair, site: Site) -> None:
    """One SYN from 203.0.113.250, committed, so that greyd's tables exist before a lock is taken."""
    send_raw(pair.sender, syn_packets(["203.0.113.250"], "198.51.100.1", 25, [39999]))
    wait_total(lambda: pcount_total(site.db), 1)


def wait_total(total_of, expected: int, timeout: float = 30) -> int:
    deadline, total = time.monotonic() + timeout, 0
    while time.monotonic() < deadline:
        total = total_of()
        if total >= expected:
            break
        time.sleep(0.1)
    return total


@contextlib.contextmanager
def sqlite_lock(db, seconds: float):
    """Another process holding greyd's SQLite write lock (BEGIN IMMEDIATE) for `seconds`."""
    code = ("import sqlite3, sys, time; c = sqlite3.connect(sys.argv[1], isolation_level=None); "
            "c.execute('BEGIN IMMEDIATE'); print('locked', flush=True); time.sleep(float(sys.argv[2])); "
            "c.execute('COMMIT')")
    holder = subprocess.Popen([sys.executable, "-c", code, str(db), str(seconds)], stdout=subprocess.PIPE,
                              text=True)
    assert holder.stdout.readline() == "locked\n"
    try:
        yield holder
    finally:
        holder.wait(seconds + 10)


def assert_exact(site: Site, pair, sports: range) -> None:
    rows = white_rows(site.db)
    assert rule_counts(pair.gateway)[0] == 1 + len(sports) * 30
    assert {ip: r[4] for ip, r in rows.items()} == {"203.0.113.250": 1} | {ip: len(sports) for ip in V4 + V6}
    assert all(r[3] == 0 and r[0] == r[1] for r in rows.values())


def totals(site: Site) -> list[tuple[int, ...]]:
    return [tuple(map(int, m.groups())) for line in site.log_lines() if (m := TOTALS.fullmatch(line))]


def test_sqlite_locked_by_another_process_during_a_burst(pair, site):
    sports = range(40000, 40020)  # 600 SYNs: 30 batches of 20, two fit in memory, the rest spill
    with site.daemon(pair.gateway) as daemon:
        warm_up(pair, site)
        with sqlite_lock(site.db, 6):
            assert burst(pair, sports) == 600
            time.sleep(1)
            assert white_rows_total_or_none(site) is None  # still locked: nothing readable was committed
        wait_total(lambda: pcount_total(site.db), 601)
        assert daemon.stop() == 0
    assert_exact(site, pair, sports)
    (received, refreshed, spilled, retries, drops, _enobufs), = totals(site)
    assert (received, refreshed, drops) == (601, 601, 0)
    assert 0 < spilled < 600 and retries >= 3  # most batches spilled: only 40 addresses fit in memory
    assert any(line.startswith("database write delayed, will retry: ") for line in site.log_lines())


def white_rows_total_or_none(site: Site) -> int | None:
    """None while another process holds the lock (a reader then sees SQLITE_BUSY within 0.2 s)."""
    import sqlite3

    try:
        with contextlib.closing(sqlite3.connect(site.db, timeout=0.2)) as conn:
            conn.execute("BEGIN IMMEDIATE")
    except sqlite3.OperationalError:
        return None
    return 0


def test_sigterm_during_a_burst_spills_and_the_next_start_replays(pair, site):
    site.write(batch_events=20, extra="queue_bound = 40", shutdown_timeout=1)
    sports = range(41000, 41100)  # 3000 SYNs
    with site.daemon(pair.gateway) as daemon:
        warm_up(pair, site)
        with sqlite_lock(site.db, 6):
            sender = threading.Thread(target=burst, args=(pair, sports))
            sender.start()
            time.sleep(0.05)
            assert daemon.stop() == 0  # SIGTERM while the burst is being sent and the database is locked
            sender.join()
    (received, refreshed, spilled, _retries, drops, _), = totals(site)
    assert (received, drops) == (3001, 0) and refreshed + spilled == 3001 and spilled > 0
    journal = site.root / "spill" / "journal"
    assert journal.stat().st_size > 0
    with site.daemon(pair.gateway) as daemon:
        wait_total(lambda: pcount_total(site.db), 3001)
        assert daemon.stop() == 0
    assert_exact(site, pair, sports)
    assert journal.stat().st_size == 0
    assert totals(site)[1][:3] == (0, spilled, 0)  # replayed from the journal, not received again


def test_sighup_during_a_burst_reloads_without_losing_events(pair, site):
    sports = range(42000, 42060)  # 1800 SYNs
    with site.daemon(pair.gateway) as daemon:
        sender = threading.Thread(target=burst, args=(pair, sports))
        sender.start()
        site.write(batch_events=50, extra="queue_bound = 40\n  metrics_port = 9190")
        for n in range(1, 4):  # one at a time: signals sent during one long system call would merge
            daemon.send_signal(signal.SIGHUP)
            wait_total(lambda n=n: site.log_lines().count("configuration reloaded"), n, timeout=10)
        sender.join()
        site.conf.write_text(site.conf.read_text().replace("batch_events = 50", 'batch_events = "x"'))
        daemon.send_signal(signal.SIGHUP)
        send_raw(pair.sender, syn_packets(["203.0.113.250"], "198.51.100.1", 25, [39999]))
        wait_total(lambda: pcount_total(site.db), 1801)
        assert daemon.proc.poll() is None
        assert daemon.stop() == 0
    assert_exact(site, pair, sports)
    lines = site.log_lines()
    assert lines.count("configuration reloaded") == 3, site.log.read_text()
    assert lines.count("greylogd.metrics_port changes take effect at the next restart") == 3
    assert any(line.startswith("reload failed, keeping the previous configuration: ") and
               "greylogd.batch_events must be an integer" in line for line in lines)
    (received, refreshed, _spilled, _retries, drops, _), = totals(site)
    assert (received, refreshed, drops) == (1801, 1801, 0)


def test_database_unusable_at_start_delays_writes_until_it_is_fixed(pair, site):
    os.chown(site.root / "db", 0, 0)
    os.chmod(site.root / "db", 0o700)  # grey.user cannot open greyd's database yet
    sports = range(47000, 47010)
    with site.daemon(pair.gateway) as daemon:
        assert burst(pair, sports) == 300
        time.sleep(2)
        os.chown(site.root / "db", 65534, 65534)
        assert wait_total(lambda: pcount_total(site.db), 300) == 300
        assert daemon.stop() == 0
    assert {ip: r[4] for ip, r in white_rows(site.db).items()} == {ip: 10 for ip in V4 + V6}
    lines = site.log_lines()
    assert any(line.startswith("could not obtain database handle: ") for line in lines)
    (received, refreshed, _spilled, retries, drops, _), = totals(site)
    assert (received, refreshed, drops) == (300, 300, 0) and retries >= 1


def pg_rows(server: PostgresServer) -> dict[str, tuple[int, int, str]]:
    with server.connect() as conn:
        rows = conn.execute("SELECT ip, bcount, pcount, greyd_host FROM entries "
                            "WHERE \"from\" = '' AND \"to\" = ''").fetchall()
    return {ip: (bcount, pcount, host) for ip, bcount, pcount, host in rows}


@pytest.mark.server
def test_postgresql_stopped_and_restarted_during_a_burst(pair, postgres_server):  # noqa: F811
    postgres_server.reset_greyd_schema()
    site = Site()
    site.write(batch_events=20, globals_="drop_privs = 0",  # the server's socket directory is private
               database=f'driver = "postgresql.so"\n  socket = "{postgres_server.dir}"\n'
                        f'  port = "{postgres_server.port}"\n  name = "greyd"\n  user = "postgres"')
    sports = range(43000, 43020)
    pg_total = lambda: sum(r[1] for r in pg_rows(postgres_server).values())  # noqa: E731
    stopped = False
    try:
        with site.daemon(pair.gateway) as daemon:
            send_raw(pair.sender, syn_packets(["203.0.113.250"], "198.51.100.1", 25, [39999]))
            assert wait_total(pg_total, 1) == 1
            postgres_server.stop()
            stopped = True
            assert burst(pair, sports) == 600
            time.sleep(2)
            postgres_server.start()
            stopped = False
            assert wait_total(pg_total, 601) == 601
            assert daemon.stop() == 0
        rows = pg_rows(postgres_server)
        assert rows == {"203.0.113.250": (0, 1, socket.gethostname())} | {
            ip: (0, 20, socket.gethostname()) for ip in V4 + V6}
        assert rule_counts(pair.gateway)[0] == 601
        (received, refreshed, _spilled, retries, drops, _), = totals(site)
        assert (received, refreshed, drops) == (601, 601, 0) and retries >= 1
    finally:
        site.cleanup()
        if stopped:  # the session fixture's server must outlive a failure here
            postgres_server.start()
