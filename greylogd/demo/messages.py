"""Messages and their planned delivery attempts, as numpy arrays.

A message is one envelope (from, recipients) that a sender tries to deliver: attempt k happens at
`t0 + offsets[k]` from host `hosts[k]`. The plan is what the sender *would* do if greylisted every time;
the simulator drops the attempts after the one that reaches our MTA. Times are float seconds since the
period's start (UTC); NaN pads rows of a batch that have fewer attempts.
"""

from __future__ import annotations

from collections.abc import Hashable
from dataclasses import dataclass
from typing import TypeVar

import numpy as np

from greylogd.demo.hosts import Hosts
from greylogd.demo.params import our_addresses

DAY = 86400.0
T = TypeVar("T", bound=Hashable)


@dataclass(slots=True)
class Messages:
    """A batch of messages of one behaviour. mail_from is an object array of str; rcpts a tuple per
    message (greyd's normalised form); offsets/hosts are [n, K] (float seconds, host ids)."""

    behaviour: str
    t0: np.ndarray
    mail_from: np.ndarray
    rcpts: list[tuple[str, ...]]
    offsets: np.ndarray
    hosts: np.ndarray

    def __len__(self) -> int:
        return len(self.t0)


@dataclass(slots=True)
class Context:
    """What every sender behaviour draws from: the seeded generator, the host table, the period length."""

    rng: np.random.Generator
    hosts: Hosts
    days: int

    def arrivals(self, n: int, office_hours: bool = True) -> np.ndarray:
        return arrivals(self.rng, n, self.days, office_hours)

    def users(self, n: int) -> list[tuple[str, ...]]:
        """One existing recipient of our site per message (one tuple object per address)."""
        single = {a: (a,) for a in our_addresses()}
        return [single[a] for a in pick(self.rng, our_addresses(), n).tolist()]


def arrivals(rng: np.random.Generator, n: int, days: int, office_hours: bool) -> np.ndarray:
    """`n` sorted arrival times in [0, days*86400): people write mail in (UTC) office hours and less at
    weekends when `office_hours`; bots send around the clock. Inverse-CDF sampling on a minute grid."""
    minutes = np.arange(days * 1440)
    weight = np.ones(len(minutes))
    if office_hours:
        hour = (minutes // 60) % 24
        weight = 0.25 + np.exp(-(((hour - 13.0) / 4.0) ** 2))
        weight = weight * np.where((minutes // 1440) % 7 >= 5, 0.4, 1.0)
    cdf = np.cumsum(weight) / weight.sum()
    minute = np.searchsorted(cdf, rng.random(n), side="right")
    return np.sort(minute * 60.0 + rng.random(n) * 60.0)


def gaps(rng: np.random.Generator, n: int, steps: list[tuple[float, float]]) -> np.ndarray:
    """Offsets [n, len(steps)+1] of attempts whose k-th gap is uniform in steps[k] (seconds)."""
    lo = np.array([s[0] for s in steps])
    hi = np.array([s[1] for s in steps])
    drawn = lo + (hi - lo) * rng.random((n, len(steps)))
    return np.concatenate([np.zeros((n, 1)), np.cumsum(drawn, axis=1)], axis=1)


def marks(rng: np.random.Generator, n: int, at: list[float], jitter: float) -> np.ndarray:
    """Offsets [n, len(at)] near fixed marks (seconds), each scaled by 1 +- `jitter`, first mark kept."""
    scale = 1.0 + jitter * (2.0 * rng.random((n, len(at))) - 1.0)
    out = np.array(at, dtype=float) * scale
    out[:, 0] = at[0]
    return out


def same_host(hosts: np.ndarray, width: int) -> np.ndarray:
    """[n, width] host matrix that repeats each message's host."""
    return np.repeat(hosts[:, None], width, axis=1)


def pick(rng: np.random.Generator, items: tuple[str, ...] | list[str], n: int) -> np.ndarray:
    """`n` draws (with replacement) from `items`, as an object array of str."""
    return np.asarray(items, dtype=object)[rng.integers(0, len(items), n)]


def local_parts(rng: np.random.Generator, n: int, prefix: str, pool: int) -> np.ndarray:
    """`n` mailbox names drawn from a pool of `pool` senders, e.g. prefix 'user' -> 'user0042'."""
    ids = rng.integers(0, pool, n).astype(str).astype(object)
    return prefix + np.char.zfill(ids.astype(str), 4).astype(object)


def addresses(local: np.ndarray, domains: np.ndarray) -> np.ndarray:
    """local@domain element-wise (object arrays of str), one str object per distinct address."""
    return np.array(shared((local + "@" + domains).tolist()), dtype=object)


def shared(values: list[T]) -> list[T]:
    """`values` with equal items replaced by one object: a week of 10M connections has 8M messages but
    about 1M sender addresses and recipient lists, and each copy would cost 60-120 bytes."""
    seen: dict[T, T] = {}
    return [seen.setdefault(v, v) for v in values]
