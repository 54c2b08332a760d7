"""The real greylogd command as a subprocess inside a gateway namespace, for the test_daemon_* tests.

- ``Site``: a world-readable work directory (the daemon drops to ``nobody``) holding greyd.conf, the SQLite
  database directory (owned by nobody), the pidfile, the spill journal and a systemd-style notify socket.
- ``Site.daemon(ns)``: starts ``ip netns exec <gw> greylogd --foreground -f greyd.conf`` with NOTIFY_SOCKET,
  waits for READY=1 (sent after the capture is bound and privileges are dropped) and yields the process.
- ``install_rules(ns)``: nftables rules of the kind contrib/nftables-greylogd.nft documents, each with a
  counter: inbound SYNs to port 25 (``ct state new``) -> group 155, outbound new connections -> group 255.
- ``burst(pair, sports)``: SYNs from ``V4`` and ``V6`` (203.0.113.0/24 and 2001:db8:2::/64, routed to the
  sender) to every port in ``sports``; the ``pair`` fixture (tests/integration/conftest.py) has the rules.
- ``white_rows(path)``: greyd's IP rows read with plain sqlite3, as ``{ip: (first, pass, expire, bcount,
  pcount)}``.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import socket
import sqlite3
import subprocess
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

from tests.integration.netns import Netns, Pair, send_raw, syn_packets

V4 = [f"203.0.113.{i}" for i in range(1, 21)]
V6 = [f"2001:db8:2::{i:x}" for i in range(1, 11)]
GREYLOGD = str(Path(__file__).resolve().parents[2] / ".venv" / "bin" / "greylogd")
NOBODY = 65534
RULES = """
table inet greylogd_test {
  chain pre {
    type filter hook prerouting priority -150; policy accept;
    iifname "veth-g" tcp dport 25 tcp flags & (syn | ack) == syn ct state new counter log group 155
  }
  chain out {
    type filter hook output priority 0; policy accept;
    oifname "veth-g" tcp dport 25 ct state new counter log group 255
  }
}
"""


def install_rules(ns: Netns) -> None:
    ns.nft(RULES)


def burst(pair: Pair, sports: range) -> int:
    """One SYN from each of V4 and V6 to each port in `sports` (30 a port); returns how many were sent."""
    packets = syn_packets(V4, "198.51.100.1", 25, sports) + syn_packets(V6, "2001:db8:1::1", 25, sports)
    return send_raw(pair.sender, packets)


def rule_counts(ns: Netns) -> tuple[int, int]:
    """Packets counted by the inbound and the outbound rule: the kernel's truth."""
    return (ns.nft_packets("inet", "greylogd_test", "pre")[0],
            ns.nft_packets("inet", "greylogd_test", "out")[0])


def white_rows(db: Path) -> dict[str, tuple[int, int, int, int, int]]:
    with contextlib.closing(sqlite3.connect(db, timeout=30)) as conn:
        rows = conn.execute("SELECT ip, first, pass, expire, bcount, pcount FROM entries "
                            "WHERE `from` = '' AND `to` = ''").fetchall()
    return {ip: tuple(rest) for ip, *rest in rows}


def pcount_total(db: Path) -> int:
    """Sum of pcount over IP rows; 0 while the daemon has not created greyd's tables yet."""
    if not db.exists():
        return 0
    try:
        with contextlib.closing(sqlite3.connect(db, timeout=30)) as conn:
            query = "SELECT sum(pcount) FROM entries WHERE `from` = '' AND `to` = ''"
            total = conn.execute(query).fetchone()[0]
        return total or 0
    except sqlite3.OperationalError as exc:
        if "no such table" in str(exc):
            return 0
        raise


CONF = """\
section firewall {{
  driver = "/usr/lib/greyd/greyd_netfilter.so"
  track_outbound = 1
}}
section database {{
  {database}
}}
section grey {{
  user = "nobody"
  white_expiry = {white_expiry}
}}
section sync {{
  {sync}
}}
section greylogd {{
  batch_events = {batch_events}
  flush_ms = 50
  max_backoff_ms = 500
  spill_journal = "{root}/spill/journal"
  shutdown_timeout = {shutdown_timeout}
  {extra}
}}
{globals}
"""


@dataclass
class Site:
    """Paths and config of one test's greylogd installation; see the module docstring."""

    root: Path = field(default_factory=lambda: Path(tempfile.mkdtemp(prefix="greylogd-e2e-")))
    white_expiry: int = 86400

    def __post_init__(self) -> None:
        os.chmod(self.root, 0o755)
        (self.root / "db").mkdir()
        os.chown(self.root / "db", NOBODY, NOBODY)
        self.conf, self.pidfile = self.root / "greyd.conf", self.root / "greylogd.pid"
        self.log = self.root / "log"
        self.db = self.root / "db" / "greyd.sqlite"
        self.write()

    def write(self, database: str = "", sync: str = "enable = 0", batch_events: int = 200,
              shutdown_timeout: int = 5, extra: str = "", globals_: str = "") -> None:
        database = database or f'driver = "sqlite.so"\n  path = "{self.root}/db"\n  busy_timeout = 300'
        self.conf.write_text(CONF.format(database=database, sync=sync, white_expiry=self.white_expiry,
                                         batch_events=batch_events, root=self.root, extra=extra,
                                         shutdown_timeout=shutdown_timeout, globals=globals_))

    def cleanup(self) -> None:
        shutil.rmtree(self.root, ignore_errors=True)

    @contextlib.contextmanager
    def daemon(self, ns: Netns, *flags: str, timeout: float = 20,
               env: dict[str, str] | None = None) -> Iterator[Daemon]:
        """The running daemon (extra environment `env`); on exit it is stopped with SIGTERM if running."""
        notify = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        path = self.root / f"notify{time.monotonic_ns()}"
        notify.bind(str(path))
        os.chmod(path, 0o777)
        env = {**os.environ, "NOTIFY_SOCKET": str(path), "PYTHONUNBUFFERED": "1", **(env or {})}
        env.pop("JOURNAL_STREAM", None)
        with open(self.log, "ab") as log:
            proc = subprocess.Popen(["ip", "netns", "exec", ns.name, GREYLOGD, "--foreground", "-f",
                                     str(self.conf), "-P", str(self.pidfile), *flags],
                                    stdout=log, stderr=subprocess.STDOUT, env=env)
        daemon = Daemon(proc, notify, self)
        try:
            daemon.wait_for("READY=1", timeout)
            yield daemon
        finally:
            if proc.poll() is None:
                daemon.stop()
            notify.close()

    def log_lines(self) -> list[str]:
        return [line.split(": ", 1)[1] for line in self.log.read_text().splitlines() if ": " in line]


@dataclass
class Daemon:
    """A running greylogd subprocess and the notify socket it reports to."""

    proc: subprocess.Popen[bytes]
    notify: socket.socket
    site: Site
    notices: list[str] = field(default_factory=list)

    def wait_for(self, state: str, timeout: float) -> None:
        """Wait for a sd_notify datagram containing `state` (e.g. READY=1)."""
        deadline = time.monotonic() + timeout
        while state not in self.notices:
            left = deadline - time.monotonic()
            if left <= 0 or (self.proc.poll() is not None and not self._pending()):
                raise AssertionError(f"greylogd sent no {state} within {timeout} s (exit "
                                     f"{self.proc.poll()}); log:\n{self.site.log.read_text()}")
            self.notify.settimeout(min(left, 0.5))
            with contextlib.suppress(TimeoutError):
                self.notices += self.notify.recv(4096).decode().split("\n")

    def _pending(self) -> bool:
        self.notify.setblocking(False)
        try:
            self.notices += self.notify.recv(4096).decode().split("\n")
            return True
        except BlockingIOError:
            return False

    @property
    def pid(self) -> int:
        """The daemon's own PID (ip netns exec execs it, so the Popen PID is the daemon's)."""
        return self.proc.pid

    def status(self) -> dict[str, str]:
        lines = Path(f"/proc/{self.pid}/status").read_text().splitlines()
        return dict(line.split(":\t", 1) for line in lines if ":\t" in line)

    def send_signal(self, sig: int) -> None:
        os.kill(self.pid, sig)

    def stop(self, sig: int = signal.SIGTERM, timeout: float = 30) -> int:
        self.send_signal(sig)
        return self.proc.wait(timeout)
