"""Sends SYNC_WHITE updates for refreshed addresses to greyd/spamd peers (spec/greyd-compat.md 4.4, 4.6).

Targets follow greyd's rule: every `sync.hosts` / `-Y` entry that resolves to an IPv4 address is a unicast
peer on `sync.port`; anything else names a multicast interface `ifname[:ttl]` (the last one wins), used
with the group `sync.mcast_address`. greylogd only sends: without multicast the socket binds an ephemeral
port, with multicast it binds INADDR_ANY:port with SO_REUSEADDR as greyd does. One update per datagram,
as greyd sends, with a per-process counter starting at 0. IPv6 addresses are never sent (greyd would send
255.255.255.255, which peers whitelist). Send errors are logged (`sendmsg: ...`) and never stop the daemon.
"""

from __future__ import annotations

import fcntl
import logging
import socket
import struct
from collections.abc import Iterable
from dataclasses import dataclass, field
from ipaddress import IPv4Address

from greylogd import sync
from greylogd.errors import ConfigError
from greylogd.events import IPAddress

log = logging.getLogger("greylogd")
SIOCGIFADDR = 0x8915
DEFAULT_GROUP = IPv4Address("224.0.1.241")


@dataclass(frozen=True)
class SyncTargets:
    """Where updates go: unicast (name, address) pairs and an optional multicast interface."""

    port: int
    unicast: tuple[tuple[str, IPv4Address], ...] = ()
    mcast_if: str | None = None
    mcast_group: IPv4Address = DEFAULT_GROUP
    ttl: int = 1


def _resolve_v4(host: str) -> IPv4Address | None:
    try:
        infos = socket.getaddrinfo(host, None, socket.AF_INET, socket.SOCK_DGRAM)
    except (socket.gaierror, UnicodeError):
        return None
    return IPv4Address(infos[0][4][0]) if infos else None


def _mcast_spec(entry: str, ttl: int) -> tuple[str, int]:
    name, _, ttl_text = entry.partition(":")
    if not ttl_text:
        return name, ttl
    if not ttl_text.isdigit() or not 0 < int(ttl_text) < 256:
        raise ConfigError(f"invalid multicast ttl {ttl_text}", "sync.hosts")
    return name, int(ttl_text)


def resolve_targets(hosts: Iterable[str], port: int, ttl: int = 1,
                    mcast_group: str = "224.0.1.241") -> SyncTargets:
    """Classify hosts the way greyd's Sync_addhost does; raises ConfigError on a bad `:ttl` suffix."""
    unicast: list[tuple[str, IPv4Address]] = []
    mcast_if = None
    for host in hosts:
        address = _resolve_v4(host)
        if address is not None:
            unicast.append((host, address))
        else:
            mcast_if, ttl = _mcast_spec(host, ttl)
    return SyncTargets(port, tuple(unicast), mcast_if, IPv4Address(mcast_group), ttl)


def interface_address(name: str) -> IPv4Address:
    """The IPv4 address of a network interface (SIOCGIFADDR, as greyd); ConfigError when it has none."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
        try:
            reply = fcntl.ioctl(probe.fileno(), SIOCGIFADDR, struct.pack("256s", name.encode()[:15]))
        except OSError as exc:
            raise ConfigError(f"multicast interface {name}: {exc.strerror}", "sync.hosts") from exc
    return IPv4Address(reply[20:24])


@dataclass
class SyncSender:
    """An open sending socket plus the datagram counter; `sent` and `errors` feed the metrics."""

    targets: SyncTargets
    key: bytes
    counter: int = 0
    sent: int = 0
    errors: int = 0
    sock: socket.socket = field(init=False)

    def __post_init__(self) -> None:
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        if self.targets.mcast_if is None:
            self.sock.bind(("0.0.0.0", 0))
            return
        self.sock.bind(("0.0.0.0", self.targets.port))
        local = interface_address(self.targets.mcast_if)
        self.sock.setsockopt(socket.IPPROTO_IP, socket.IP_MULTICAST_IF, local.packed)
        self.sock.setsockopt(socket.IPPROTO_IP, socket.IP_MULTICAST_TTL, self.targets.ttl)

    def _destinations(self) -> list[tuple[str, str]]:
        dests = [(name, str(addr)) for name, addr in self.targets.unicast]
        if self.targets.mcast_if is not None:
            dests.append(("multicast", str(self.targets.mcast_group)))
        return dests

    def send_white(self, addresses: Iterable[IPAddress], now: int, expire: int) -> None:
        """One SYNC_WHITE(now, expire) datagram per IPv4 address to every target; IPv6 is skipped."""
        for address in addresses:
            if isinstance(address, IPv4Address):
                log.debug("sync white %s", address)
                self._send(sync.encode([sync.AddrUpdate(sync.TlvType.WHITE, address, now, expire)],
                                       self.counter, self.key))
                self.counter += 1

    def _send(self, datagram: bytes) -> None:
        for name, address in self._destinations():
            log.debug("sending sync message to %s (%s)", name, address)
            try:
                self.sock.sendto(datagram, (address, self.targets.port))
                self.sent += 1
            except OSError as exc:
                self.errors += 1
                log.warning("sendmsg: %s", exc.strerror)

    def close(self) -> None:
        self.sock.close()
