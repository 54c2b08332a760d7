"""Pidfile and privilege drop, the two root-only steps of the daemon's start (spec 2.1).

Pidfile: greyd's format (decimal PID followed by one NUL byte, no newline), created 0644 and locked with
fcntl.lockf for the daemon's lifetime. A lock held by another process means greylogd is already running
(greyd's CRIT `it appears greylogd is already running...`); a file left by a dead process (no lock) is stale
and is rewritten.

Privilege drop: after the netlink socket is bound, switch to grey.user (uid, gid, supplementary groups from
the passwd/group databases) and keep only CAP_NET_ADMIN, which the capture needs to grow its receive buffer
(SO_RCVBUFFORCE) and to unbind its groups at exit; the bounding set is cut to CAP_NET_ADMIN too. Done
with prctl(PR_CAPBSET_DROP, PR_SET_KEEPCAPS) and capset(2) through ctypes, so no extra dependency. The
result is visible in /proc/<pid>/status (Uid, CapEff and CapBnd 0000000000001000).
"""

from __future__ import annotations

import ctypes
import fcntl
import logging
import os
import pwd
from dataclasses import dataclass
from pathlib import Path

from greylogd.errors import GreylogdError

PR_SET_KEEPCAPS = 8
PR_CAPBSET_READ = 23
PR_CAPBSET_DROP = 24
CAP_NET_ADMIN = 12
_CAP_VERSION_3 = 0x20080522
log = logging.getLogger("greylogd")


class PrivilegeError(GreylogdError):
    """The pidfile or the privilege drop failed; the daemon logs it as CRIT and exits 1."""


class Pidfile:
    """A locked pidfile; keep the object alive while running, then `remove()`."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self._fd = os.open(self.path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o644)
        except OSError as exc:
            raise PrivilegeError(f"could not write pidfile {self.path}: {exc.strerror}") from exc
        try:
            fcntl.lockf(self._fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            os.close(self._fd)
            raise PrivilegeError("it appears greylogd is already running...") from None
        os.ftruncate(self._fd, 0)
        os.pwrite(self._fd, f"{os.getpid()}\0".encode(), 0)
        os.fsync(self._fd)

    def remove(self) -> None:
        """Unlink (best effort: the directory may not be writable after the drop) and release the lock."""
        try:
            self.path.unlink()
        except OSError:
            os.ftruncate(self._fd, 0)
        os.close(self._fd)


class _CapHeader(ctypes.Structure):
    _fields_ = [("version", ctypes.c_uint32), ("pid", ctypes.c_int)]


class _CapData(ctypes.Structure):
    _fields_ = [("effective", ctypes.c_uint32), ("permitted", ctypes.c_uint32),
                ("inheritable", ctypes.c_uint32)]


_libc = ctypes.CDLL(None, use_errno=True)


def _check(result: int, what: str) -> None:
    if result != 0:
        err = ctypes.get_errno()
        raise PrivilegeError(f"could not drop privileges: {what}: {os.strerror(err)}")


def _keep_only(cap: int) -> None:
    data = (_CapData * 2)()
    data[cap // 32].effective = data[cap // 32].permitted = 1 << (cap % 32)
    _check(_libc.capset(ctypes.byref(_CapHeader(_CAP_VERSION_3, 0)), data), "capset")


def _drop_bounding_set(keep: int) -> None:
    """Remove every capability but `keep` from the bounding set, so nothing exec'd later can regain one.

    Best effort: without CAP_SETPCAP (a unit whose CapabilityBoundingSet leaves it out) the set stays as
    the service manager made it, with a warning; the effective and permitted sets are dropped regardless.
    """
    last = int(Path("/proc/sys/kernel/cap_last_cap").read_text())
    for cap in range(last + 1):
        if cap != keep and _libc.prctl(PR_CAPBSET_READ, cap, 0, 0, 0) == 1 and \
                _libc.prctl(PR_CAPBSET_DROP, cap, 0, 0, 0) != 0:
            log.warning("capability bounding set kept: prctl(PR_CAPBSET_DROP, %d): %s", cap,
                        os.strerror(ctypes.get_errno()))
            return


@dataclass(frozen=True)
class Account:
    """The user to run as; resolved before the drop so a missing user fails early (`getpwnam: ...`)."""

    name: str
    uid: int
    gid: int

    @classmethod
    def lookup(cls, name: str) -> Account:
        try:
            entry = pwd.getpwnam(name)
        except KeyError:
            raise PrivilegeError(f"getpwnam: no such user {name!r}") from None
        return cls(name, entry.pw_uid, entry.pw_gid)

    def chown(self, path: str | Path) -> None:
        """Hand a directory we created as root (spill journal, database) to the account."""
        os.chown(path, self.uid, self.gid)


def drop_to(account: Account) -> None:
    """Become `account` keeping only CAP_NET_ADMIN (effective and permitted); no-op unless root."""
    if os.geteuid() != 0:
        return
    _drop_bounding_set(keep=CAP_NET_ADMIN)
    _check(_libc.prctl(PR_SET_KEEPCAPS, 1, 0, 0, 0), "prctl(PR_SET_KEEPCAPS)")
    try:
        os.initgroups(account.name, account.gid)
        os.setresgid(account.gid, account.gid, account.gid)
        os.setresuid(account.uid, account.uid, account.uid)
    except OSError as exc:
        raise PrivilegeError(f"could not drop privileges: {exc.strerror}") from exc
    _keep_only(CAP_NET_ADMIN)
    _check(_libc.prctl(PR_SET_KEEPCAPS, 0, 0, 0, 0), "prctl(PR_SET_KEEPCAPS, 0)")
