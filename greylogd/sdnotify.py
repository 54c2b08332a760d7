"""systemd's sd_notify protocol over $NOTIFY_SOCKET with a plain socket (no libsystemd dependency).

Used for Type=notify readiness (READY=1 after the capture is bound and privileges are dropped), reload and
stop notices, and the watchdog (WATCHDOG=1 every WATCHDOG_USEC / 2, only when WATCHDOG_PID is unset or ours).
Outside systemd every call is a no-op. The socket is non-blocking and send errors are ignored: a reader
that does not keep up loses notices (systemd's own timeouts report that) instead of stopping the daemon.
"""

from __future__ import annotations

import contextlib
import os
import socket


class Notifier:
    """One datagram socket to systemd; `watchdog_interval` is in seconds, None without a watchdog."""

    def __init__(self, environ: dict[str, str] | None = None) -> None:
        env = os.environ if environ is None else environ
        address = env.get("NOTIFY_SOCKET", "")
        self._address = "\0" + address[1:] if address.startswith("@") else address
        self._sock: socket.socket | None = None
        if self._address:
            self._sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM | socket.SOCK_CLOEXEC)
            self._sock.setblocking(False)  # a stalled reader must never stall the daemon's loop
        self.watchdog_interval = _watchdog_interval(env)

    def notify(self, *states: str) -> None:
        """Send `KEY=value` lines, e.g. notify("READY=1", "STATUS=listening")."""
        if self._sock is None:
            return
        with contextlib.suppress(OSError):
            self._sock.sendto("\n".join(states).encode(), self._address)

    def close(self) -> None:
        if self._sock is not None:
            self._sock.close()
            self._sock = None


def _watchdog_interval(env: dict[str, str] | os._Environ[str]) -> float | None:
    usec, pid = env.get("WATCHDOG_USEC", ""), env.get("WATCHDOG_PID", "")
    if not usec.isdigit() or int(usec) == 0 or (pid and pid != str(os.getpid())):
        return None
    return int(usec) / 2e6
