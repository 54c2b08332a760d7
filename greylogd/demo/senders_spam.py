"""Unwanted senders: bots that never retry, bots that retry too early, spamtrap hitters, blacklisted hosts.

Bots live in 198.19.0.0/16 (RFC 2544 benchmarking space, see hosts.bot_addresses) plus a little IPv6 in
2001:db8:bad::/48. Their envelope senders are made-up domains under .test, recipients a mix of our users
and guessed mailboxes. Blacklisted hosts are on external lists (nixspam, uatraps) that greyd tarpits.
"""

from __future__ import annotations

import numpy as np

from greylogd.demo.hosts import bot_addresses, bot_helos, v4_from_ints, v4_range, v6_range
from greylogd.demo.messages import Context, Messages, addresses, gaps, local_parts, pick, same_host, shared
from greylogd.demo.params import BLACKLISTS, OUR_DOMAIN, SPAMTRAPS, our_addresses

JUNK_DOMAINS = tuple(f"{w}{i}.test" for w in ("promo", "deals", "pharma", "lottery", "crypto")
                     for i in range(40))
GUESSED = ("webmaster", "contact", "hr", "marketing", "noreply", "postmaster", "ceo", "finance")
DIRTY_NETS = 40


def _bots(ctx: Context, n: int) -> np.ndarray:
    """Host ids of `n` bot connections; a bot address repeats across messages (np.unique), and 3 % of the
    connections come from IPv6 bots."""
    ints = bot_addresses(ctx.rng, n, DIRTY_NETS)
    uniq, inverse = np.unique(ints, return_inverse=True)
    ips = v4_from_ints(uniq)
    ids = ctx.hosts.add(ips, bot_helos(ctx.rng, ips))[inverse]
    v6_pool = ctx.hosts.add(v6_range("2001:db8:bad::/64", 0x100, 64), ["localhost"] * 64)
    v6 = ctx.rng.random(n) < 0.03
    return np.where(v6, v6_pool[ctx.rng.integers(0, 64, n)], ids)


def _rcpts(ctx: Context, n: int) -> list[tuple[str, ...]]:
    """1-3 recipients per message: our users, or guessed mailboxes that do not exist."""
    users = np.asarray(our_addresses() + tuple(f"{g}@{OUR_DOMAIN}" for g in GUESSED), dtype=object)
    count = ctx.rng.integers(1, 4, n)
    drawn = users[ctx.rng.integers(0, len(users), (n, 3))]
    rows = zip(drawn.tolist(), count.tolist(), strict=True)
    return shared([tuple(dict.fromkeys(row[:k])) for row, k in rows])


def _junk_from(ctx: Context, n: int) -> np.ndarray:
    return addresses(local_parts(ctx.rng, n, "offer", 5000), pick(ctx.rng, JUNK_DOMAINS, n))


def spam_no_retry(ctx: Context, n: int) -> Messages:
    host = _bots(ctx, n)
    return Messages("spam_no_retry", ctx.arrivals(n, False), _junk_from(ctx, n), _rcpts(ctx, n),
                    np.zeros((n, 1)), host[:, None])


def spam_retry_early(ctx: Context, n: int) -> Messages:
    """Bots that retry 1-3 times within seconds to minutes, always before pass_time, then stop."""
    host = _bots(ctx, n)
    offsets = gaps(ctx.rng, n, [(5, 300)] * 3)
    offsets[ctx.rng.random((n, 4)) < np.array([0, 0, 0.5, 0.75])] = np.nan
    offsets = np.where(np.isnan(offsets).cumsum(axis=1) > 0, np.nan, offsets)
    return Messages("spam_retry_early", ctx.arrivals(n, False), _junk_from(ctx, n), _rcpts(ctx, n),
                    offsets, same_host(host, 4))


def trap_hitter(ctx: Context, n: int) -> Messages:
    """30 bots whose address lists contain our spamtraps: greyd traps them, then tarpits them."""
    pool = ctx.hosts.add(v4_range("198.19.60.0/24", 20, 30), ["ylmf-pc"] * 30)
    host = pool[ctx.rng.integers(0, 30, n)]
    traps = pick(ctx.rng, SPAMTRAPS, n)
    users = pick(ctx.rng, our_addresses(), n)
    both = ctx.rng.random(n) < 0.5
    rcpts = shared([(str(u), str(t)) if b else (str(t),) for u, t, b in zip(users, traps, both, strict=True)])
    return Messages("trap_hitter", ctx.arrivals(n, False), _junk_from(ctx, n), rcpts, np.zeros((n, 1)),
                    host[:, None])


def blacklisted(ctx: Context, n: int) -> Messages:
    """Hosts on nixspam/uatraps that come back every few minutes: greyd tarpits every connection."""
    ips = v4_range("198.19.200.0/22", 1, 80)
    pool = ctx.hosts.add(ips, bot_helos(ctx.rng, ips), [BLACKLISTS[i % 3] for i in range(80)])
    host = pool[ctx.rng.integers(0, 80, n)]
    offsets = gaps(ctx.rng, n, [(120, 900)])
    return Messages("blacklisted", ctx.arrivals(n, False), _junk_from(ctx, n), _rcpts(ctx, n), offsets,
                    same_host(host, 2))
