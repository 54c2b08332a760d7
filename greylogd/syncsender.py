"""Sends sync updates to greyd/spamd peers (spec/greyd-compat.md 4.4, 4.6): SYNC_WHITE for the addresses the
daemon refreshes, and any update greyd's senders send (WHITE, TRAPPED, GREY, DEL_WHITE, DEL_TRAPPED) for
greylogd-db -a/-d, as greyd's greydb does.

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
from greylogd.config_settings import SyncSettings
from greylogd.errors import ConfigError
from greylogd.events import IPAddress

log = logging.getLogger("greylogd")
SIOCGIFADDR = 0x8915
DEFAULT_GROUP = IPv4Address("224.0.1.241")
_ADDR_DEBUG = {sync.TlvType.WHITE: "sync white %s", sync.TlvType.TRAPPED: "sync trapped %s",
               sync.TlvType.DEL_WHITE: "sync deletion of white %s",
               sync.TlvType.DEL_TRAPPED: "sync deletion of trapped %s"}


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

    @classmethod
    def open(cls, cfg: SyncSettings) -> SyncSender:
        """A sender to cfg.hosts on cfg.port, signed with the key file's hash when cfg.verify (greyd's
        Sync_init + Sync_start); the caller decides whether sync is enabled. ConfigError for a bad
        `:ttl`, a multicast interface without an address or an unreadable key file."""
        key = sync.key_from_file(cfg.key if cfg.verify else None)
        targets = resolve_targets(cfg.hosts, cfg.port, cfg.ttl, cfg.mcast_address)
        for name, address in targets.unicast:
            log.debug("added spam sync host %s (address %s, port %d)", name, address, cfg.port)
        return cls(targets, key)

    def _destinations(self) -> list[tuple[str | None, str]]:
        """(host name, address) of each unicast target, then (None, group) for multicast."""
        dests: list[tuple[str | None, str]] = [(name, str(addr)) for name, addr in self.targets.unicast]
        if self.targets.mcast_if is not None:
            dests.append((None, str(self.targets.mcast_group)))
        return dests

    def send(self, updates: Iterable[sync.Update]) -> None:
        """Each update in its own datagram, as greyd sends them, to every target; the counter grows by one
        per datagram. greyd's DEBUG line per update. Send errors are counted and logged, never raised;
        a GREY update too large for one datagram (1408 bytes) raises ValueError before anything is sent."""
        for update in updates:
            if isinstance(update, sync.GreyUpdate):
                log.debug("sync grey update helo %s ip %s from %s to %s", update.helo, update.ip,
                          update.mail_from, update.rcpt_to)
            else:
                log.debug(_ADDR_DEBUG[update.kind], update.ip)
            self._send(sync.encode([update], self.counter, self.key))
            self.counter += 1

    def send_addresses(self, kind: sync.TlvType, addresses: Iterable[IPAddress], now: int,
                       expire: int) -> list[IPAddress]:
        """One `kind` update (WHITE, TRAPPED, DEL_WHITE or DEL_TRAPPED; timestamp `now`, `expire`, Unix s)
        per IPv4 address; returns the IPv6 addresses, which are never sent (greyd would send them as
        255.255.255.255, which peers whitelist)."""
        v4, v6 = [], []
        for address in addresses:
            (v4 if isinstance(address, IPv4Address) else v6).append(address)
        self.send(sync.AddrUpdate(kind, ip, now, expire) for ip in v4)
        return v6

    def send_white(self, addresses: Iterable[IPAddress], now: int, expire: int) -> None:
        """SYNC_WHITE(now, expire) for each refreshed IPv4 address (the daemon's only update)."""
        self.send_addresses(sync.TlvType.WHITE, addresses, now, expire)

    def _send(self, datagram: bytes) -> None:
        for name, address in self._destinations():
            if name is None:
                log.debug("sending multicast sync message")
            else:
                log.debug("sending sync message to %s (%s)", name, address)
            try:
                self.sock.sendto(datagram, (address, self.targets.port))
                self.sent += 1
            except OSError as exc:
                self.errors += 1
                log.warning("sendmsg: %s", exc.strerror)

    def close(self) -> None:
        self.sock.close()
