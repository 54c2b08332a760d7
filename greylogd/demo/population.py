"""How many messages each behaviour sends, so that the week has about the requested number of connections.

SHARES is each behaviour's share of all logged connections at a small site (bots dominate, as they do in
every published greylisting measurement); ATTEMPTS is the typical number of connections per message under
greyd's default pass_time at a small site. They depend on the size: a provider's few dozen addresses are
all WHITE within hours at a big site, after which its mail goes straight through and is retried less,
while a small site greylists most of it. MADE_PER_REQUESTED corrects for that: the connections a seed-1
week (greyd's default timing) made per connection requested, measured at each size without correction;
the request is divided by it (interpolated in log size), so weeks of 10 000 to 10 000 000 connections
come within a few % of the request (measured by bench/demo_world.py). Below 10 000 there is no
correction: such small worlds make up to 30 % more than asked.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from greylogd.demo import senders_mail as mail
from greylogd.demo import senders_spam as spam
from greylogd.demo.messages import Context, Messages
from greylogd.demo.params import GreyParams

SHARES = {"spam_no_retry": 0.30, "spam_retry_early": 0.08, "blacklisted": 0.10, "trap_hitter": 0.02,
          "regular": 0.15, "retry_same_ip": 0.10, "pool_rotation": 0.06, "new_server": 0.07,
          "gives_up_31min": 0.02, "gives_up_early": 0.02, "newsletter": 0.06}
NOISE_SHARES = {"[GREYD FAILED] ": 0.005, "[GREYD 8025 JAILED] ": 0.015}
ATTEMPTS = {"spam_no_retry": 1.0, "spam_retry_early": 2.6, "blacklisted": 2.0, "trap_hitter": 1.0,
            "regular": 1.0, "retry_same_ip": 2.5, "pool_rotation": 1.8, "new_server": 13.0,
            "gives_up_31min": 1.5, "gives_up_early": 4.0, "newsletter": 1.5}
GENERATORS: dict[str, Callable[[Context, int], Messages]] = {
    "spam_no_retry": spam.spam_no_retry, "spam_retry_early": spam.spam_retry_early,
    "blacklisted": spam.blacklisted, "trap_hitter": spam.trap_hitter,
    "retry_same_ip": mail.retry_same_ip, "pool_rotation": mail.pool_rotation,
    "new_server": mail.new_server, "gives_up_31min": mail.gives_up_31min,
    "gives_up_early": mail.gives_up_early, "newsletter": mail.newsletter}


MADE_PER_REQUESTED = ((10_000, 1.0), (100_000, 0.906), (1_000_000, 0.852), (3_000_000, 0.836),
                      (10_000_000, 0.818))  # the last one extrapolated (0.852 -> 0.836 from 1M to 3M)


def calibrated(connections: int) -> float:
    """Connections to plan for so that about `connections` are made (see MADE_PER_REQUESTED)."""
    sizes, made = zip(*MADE_PER_REQUESTED, strict=True)
    return connections / float(np.interp(np.log10(connections), np.log10(sizes), made))


def message_counts(connections: int) -> dict[str, int]:
    """Messages per behaviour for about `connections` logged connections (at least one each)."""
    planned = calibrated(connections)
    return {name: max(1, round(planned * share / ATTEMPTS[name])) for name, share in SHARES.items()}


def senders(ctx: Context, connections: int) -> tuple[list[Messages], np.ndarray]:
    """Every behaviour's messages, plus the host ids of the regular (already WHITE) correspondents."""
    counts = message_counts(connections)
    regular_pool = mail.regular_hosts(ctx)
    batches = [GENERATORS[name](ctx, n) for name, n in counts.items() if name != "regular"]
    batches.append(mail.regular(ctx, counts["regular"], regular_pool))
    return batches, regular_pool


def white_seed(ctx: Context, hosts: np.ndarray, epoch: int, params: GreyParams) -> list[tuple[object, ...]]:
    """WHITE rows of the regular correspondents as greyd and greylogd left them before the period: promoted
    months ago, refreshed by greylogd within the last three days (so expire = refresh + white_expiry)."""
    n = len(hosts)
    first = epoch - ctx.rng.integers(30 * 86400, 300 * 86400, n)
    refreshed = epoch - ctx.rng.integers(600, 3 * 86400, n)
    pcount = ctx.rng.integers(5, 500, n)
    return [(ctx.hosts.ip[h], "", "", "", int(f), int(f), int(r) + params.white_expiry, 1, int(p))
            for h, f, r, p in zip(hosts.tolist(), first, refreshed, pcount, strict=True)]
