"""Legitimate senders, with retry habits from published greylisting measurements.

- retry_same_ip (Hotmail/Outlook.com): every 1-4 min from the same IP until accepted.
- pool_rotation (Gmail): retries at ~6, 29, 57 min, then every 1-2 h, each from a random member of a
  7-address pool; promotion needs one member to come back after pass_time.
- new_server (Office 365): every retry from another server of a large pool; rarely promoted.
- gives_up_31min (AOL): same IP at ~5, 12, 22, 31 min, then gives up.
- gives_up_early: small servers that retry 4 times within ~20 min and give up (never promoted).
- newsletter: ESP campaigns; one pool address per campaign, retries after 10-20 min, then 20-40, 60, 120 min.
- regular: partners already WHITE at the start; Postfix-like backoff should they ever be greylisted.
Provider names (gmail.com, hotmail.com, outlook.com, aol.com) are used only as domain strings; every other
domain is made up under .test. Addresses: see params.
"""

from __future__ import annotations

import numpy as np

from greylogd.demo.hosts import v4_range, v6_range
from greylogd.demo.messages import Context, Messages, addresses, gaps, local_parts, marks, pick, same_host

MIN = 60.0
TENANTS = ("contoso.test", "fabrikam.test", "tailspin.test", "adatum.test", "litware.test",
           "proseware.test", "wingtip.test", "woodgrove.test")
SHOPS = ("bakery-news.test", "bikeshop.test", "bookclub.test", "citytheatre.test", "coffeeroasters.test",
         "gardencentre.test", "hardware-store.test", "musicstore.test", "petsupplies.test", "travelclub.test")
SMALL = ("oldbank.test", "cityhall.test", "parish.test", "sportsclub.test", "printshop.test")
PARTNERS = tuple(f"partner{i:02d}.test" for i in range(40))
POSTFIX = [(300, 300), (600, 600), (1200, 1200), (2400, 2400), (4000, 4000)]


def retry_same_ip(ctx: Context, n: int) -> Messages:
    pool = ctx.hosts.add(v4_range("203.0.113.0/24", 10, 40),
                         [f"dub{i}-omc1.hotmail.com" for i in range(40)])
    host = pool[ctx.rng.integers(0, len(pool), n)]
    frm = addresses(local_parts(ctx.rng, n, "u", 400), pick(ctx.rng, ("hotmail.com", "outlook.com"), n))
    offsets = gaps(ctx.rng, n, [(MIN, 4 * MIN)] * 48)
    return Messages("retry_same_ip", ctx.arrivals(n), frm, ctx.users(n), offsets, same_host(host, 49))


def pool_rotation(ctx: Context, n: int) -> Messages:
    v4 = v4_range("192.0.2.0/24", 20, 35)
    v6 = v6_range("2001:db8:4860:4864::/64", 0x1A, 14)
    pool = ctx.hosts.add(v4 + v6, [f"mail-wr1-f{i}.google.com" for i in range(49)])
    cluster = ctx.rng.integers(0, 7, n)  # clusters 0-4 IPv4, 5-6 IPv6; 7 addresses each
    at = [0, 6 * MIN, 29 * MIN, 57 * MIN, 130 * MIN, 220 * MIN, 330 * MIN, 460 * MIN, 600 * MIN]
    member = ctx.rng.integers(0, 7, (n, len(at)))
    frm = addresses(local_parts(ctx.rng, n, "g", 600), np.full(n, "gmail.com", dtype=object))
    return Messages("pool_rotation", ctx.arrivals(n), frm, ctx.users(n), marks(ctx.rng, n, at, 0.1),
                    pool[cluster[:, None] * 7 + member])


def new_server(ctx: Context, n: int) -> Messages:
    v4 = v4_range("198.18.0.0/22", 1, 1000)
    v6 = v6_range("2001:db8:a01::/64", 1, 200)
    pool = ctx.hosts.add(v4 + v6, [f"nam{i % 12:02d}-obe.outbound.protection.outlook.com"
                                   for i in range(1200)])
    at = [0, 1 * MIN, 5 * MIN, 15 * MIN, 30 * MIN, 60 * MIN] + [h * 60 * MIN for h in range(2, 12)]
    ipv6 = ctx.rng.random(n) < 0.25
    member = np.where(ipv6[:, None], 1000 + ctx.rng.integers(0, 200, (n, len(at))),
                      ctx.rng.integers(0, 1000, (n, len(at))))
    frm = addresses(local_parts(ctx.rng, n, "staff", 300), pick(ctx.rng, TENANTS, n))
    return Messages("new_server", ctx.arrivals(n), frm, ctx.users(n), marks(ctx.rng, n, at, 0.1),
                    pool[member])


def gives_up_31min(ctx: Context, n: int) -> Messages:
    pool = ctx.hosts.add(v4_range("203.0.113.0/24", 130, 10),
                         [f"omr-m{i:03d}.mx.aol.com" for i in range(10)])
    host = pool[ctx.rng.integers(0, len(pool), n)]
    frm = addresses(local_parts(ctx.rng, n, "a", 150), np.full(n, "aol.com", dtype=object))
    at = [0, 5 * MIN, 12 * MIN, 22 * MIN, 31 * MIN]
    return Messages("gives_up_31min", ctx.arrivals(n), frm, ctx.users(n), marks(ctx.rng, n, at, 0.05),
                    same_host(host, len(at)))


def gives_up_early(ctx: Context, n: int) -> Messages:
    pool = ctx.hosts.add(v4_range("198.18.8.0/24", 10, len(SMALL)), [f"mail.{d}" for d in SMALL])
    which = ctx.rng.integers(0, len(SMALL), n)
    frm = addresses(local_parts(ctx.rng, n, "clerk", 20), np.asarray(SMALL, dtype=object)[which])
    offsets = gaps(ctx.rng, n, [(90, 150), (150, 240), (240, 400), (400, 600)])
    return Messages("gives_up_early", ctx.arrivals(n), frm, ctx.users(n), offsets, same_host(pool[which], 5))


def newsletter(ctx: Context, n: int) -> Messages:
    """Campaigns of ~4 recipients: each campaign has one shop, one ESP address and one send time."""
    pool = ctx.hosts.add(v4_range("198.18.16.0/22", 1, 48), [f"o{i}.esp{i // 16 + 1}-mail.test"
                                                            for i in range(48)])
    campaigns = max(1, n // 4)
    shop = ctx.rng.integers(0, len(SHOPS), campaigns)
    c_host = pool[shop * 4 + ctx.rng.integers(0, 4, campaigns)]
    c_time = ctx.arrivals(campaigns)
    c = np.sort(ctx.rng.integers(0, campaigns, n))
    frm = addresses(np.full(n, "news", dtype=object), np.asarray(SHOPS, dtype=object)[shop[c]])
    offsets = gaps(ctx.rng, n, [(10 * MIN, 20 * MIN), (20 * MIN, 40 * MIN), (60 * MIN, 60 * MIN),
                                (120 * MIN, 120 * MIN)])
    t0 = c_time[c] + ctx.rng.random(n) * 30.0
    return Messages("newsletter", t0, frm, ctx.users(n), offsets, same_host(c_host[c], 5))


def regular_hosts(ctx: Context) -> np.ndarray:
    """The partners' mail servers (one per partner domain, a few over IPv6): WHITE before the period."""
    v4 = v4_range("198.18.32.0/22", 1, len(PARTNERS) - 6)
    v6 = v6_range("2001:db8:c0::/64", 0x25, 6)
    return ctx.hosts.add(v4 + v6, [f"mx.{d}" for d in PARTNERS])


def regular(ctx: Context, n: int, pool: np.ndarray) -> Messages:
    which = ctx.rng.integers(0, len(pool), n)
    frm = addresses(local_parts(ctx.rng, n, "p", 30), np.asarray(PARTNERS, dtype=object)[which])
    return Messages("regular", ctx.arrivals(n), frm, ctx.users(n), gaps(ctx.rng, n, POSTFIX),
                    same_host(pool[which], len(POSTFIX) + 1))
