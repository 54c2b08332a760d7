"""Kernel LOG lines for every simulated connection, in the kernel's exact field order.

nf_log_syslog prints (spec/logformats.md 3.1): prefix, `IN= OUT= MAC=`, then for IPv4 `SRC DST LEN TOS PREC
TTL ID [DF]`, for IPv6 `SRC DST LEN TC HOPLIMIT FLOWLBL` with uncompressed addresses, then `PROTO=TCP SPT DPT
WINDOW RES=0x00 SYN URGP=0 ` with its trailing space; rsyslog's imklog keeps the `[ uptime]` stamp. Packet
fields are drawn per connection: mail servers send 60-byte SYNs with DF and a TTL below 64, bots smaller,
higher-TTL SYNs. `connections` is a DataFrame with columns ts_us (int64 µs since the epoch), host (host id),
prefix (categorical text with its trailing space), dpt (int), server (bool: a real MTA rather than a bot).
"""

from __future__ import annotations

import ipaddress
from pathlib import Path

import numpy as np
import pandas as pd

from greylogd.demo.hosts import Hosts
from greylogd.demo.params import BOOT_OFFSET_S, HOSTNAME, MX_IPV4, MX_IPV6
from greylogd.demo.syslogfmt import Render, write_sorted

_MAC = "52:54:00:12:34:56:00:00:5e:00:01:01"
_MX6 = ipaddress.IPv6Address(MX_IPV6).exploded


def _kernel_text(ips: list[str]) -> tuple[np.ndarray, np.ndarray]:
    """(address as the kernel prints it, is-IPv6) per host: %pI4, or %pI6 fully expanded."""
    parsed = [ipaddress.ip_address(ip) for ip in ips]
    text = np.array([a.exploded for a in parsed], dtype=object)
    return text, np.array([a.version == 6 for a in parsed], dtype=bool)


def _ip_part(rng: np.random.Generator, src: np.ndarray, v6: np.ndarray, server: np.ndarray) -> np.ndarray:
    n = len(src)
    ttl = np.where(server, rng.integers(40, 64, n), rng.integers(100, 250, n)).astype(str).astype(object)
    sizes = np.array([40, 44, 52, 60])[rng.integers(0, 4, n)]
    length = np.where(server, 60, sizes).astype(str).astype(object)
    ident = rng.integers(0, 65536, n).astype(str).astype(object)
    df = np.where(server | (rng.random(n) < 0.5), "DF ", "").astype(object)
    v4 = ("SRC=" + src + f" DST={MX_IPV4} LEN=" + length + " TOS=0x00 PREC=0x00 TTL=" + ttl + " ID=" + ident
          + " " + df)
    flow = rng.integers(0, 1 << 20, n).astype(str).astype(object)
    v6_text = "SRC=" + src + f" DST={_MX6} LEN=80 TC=0 HOPLIMIT=" + ttl + " FLOWLBL=" + flow + " "
    return np.where(v6, v6_text, v4)


def _tcp_part(rng: np.random.Generator, dpt: np.ndarray, server: np.ndarray) -> np.ndarray:
    n = len(dpt)
    spt = rng.integers(1024, 65536, n).astype(str).astype(object)
    windows = np.where(server, np.array([64240, 65535, 29200])[rng.integers(0, 3, n)],
                       np.array([1024, 8192, 14600, 65535])[rng.integers(0, 4, n)])
    return ("PROTO=TCP SPT=" + spt + " DPT=" + dpt.astype(str).astype(object) + " WINDOW="
            + windows.astype(str).astype(object) + " RES=0x00 SYN URGP=0 ")


def kernel_render(rng: np.random.Generator, conns: pd.DataFrame, hosts: Hosts, epoch: int) -> Render:
    """render(rows) -> the kern.log messages (`kernel: [uptime] prefix IN=...`) of those connections."""
    text, is_v6 = _kernel_text(hosts.ip)
    host = conns["host"].to_numpy()
    ts = conns["ts_us"].to_numpy()
    server = conns["server"].to_numpy()
    prefix = conns["prefix"].to_numpy(dtype=object)
    dpt = conns["dpt"].to_numpy()

    def render(rows: np.ndarray) -> np.ndarray:
        uptime_us = ts[rows] - epoch * 1_000_000 + BOOT_OFFSET_S * 1_000_000
        up_s, up_frac = np.divmod(uptime_us, 1_000_000)
        stamp = np.array([f"[{s:5d}.{f:06d}] " for s, f in zip(up_s.tolist(), up_frac.tolist(), strict=True)],
                         dtype=object)
        h = host[rows]
        mac = np.where(is_v6[h], f"IN=eth0 OUT= MAC={_MAC}:86:dd ", f"IN=eth0 OUT= MAC={_MAC}:08:00 ")
        return ("kernel: " + stamp + prefix[rows] + mac.astype(object)
                + _ip_part(rng, text[h], is_v6[h], server[rows]) + _tcp_part(rng, dpt[rows], server[rows]))

    return render


def write_kernlog(path: Path, rng: np.random.Generator, conns: pd.DataFrame, hosts: Hosts, epoch: int,
                  fmt: str) -> int:
    """Write kern.log in time order; returns the number of lines."""
    parts = [(conns["ts_us"].to_numpy(), kernel_render(rng, conns, hosts, epoch))]
    return write_sorted(path, parts, fmt, HOSTNAME)
