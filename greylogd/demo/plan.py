"""All messages of the period flattened into one time-ordered array of planned connection attempts.

Attempt times are float seconds since the period's start (the kernel's SYN time). `db_t` is the whole
second at which greyd's reader (after HELO/MAIL/RCPT, 0.3-2.5 s later) or greylogd (NFLOG batching) acts
on the attempt: greyd's time(NULL). Attempts are ordered by (db_t, t); those whose db_t falls at or after
the period's end are never made.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from greylogd.demo.messages import DAY, Messages


@dataclass(slots=True)
class Plan:
    """Attempts (t float64, db_t/msg/host int32: 20 bytes each, there are 4 per connection) and the
    messages they belong to (behaviour, mail_from, rcpts)."""

    t: np.ndarray
    db_t: np.ndarray
    msg: np.ndarray
    host: np.ndarray
    behaviour: np.ndarray
    mail_from: np.ndarray
    rcpts: list[tuple[str, ...]]


def build_plan(rng: np.random.Generator, batches: list[Messages], days: int) -> Plan:
    """Concatenate the batches (message ids in batch order) and sort their attempts by (db_t, t).

    Consumes `batches`: each batch's [messages, attempts] matrices are dropped once read."""
    behaviour = np.concatenate([np.full(len(b), b.behaviour, dtype=object) for b in batches])
    mail_from = np.concatenate([b.mail_from for b in batches])
    rcpts = [r for b in batches for r in b.rcpts]
    times, hosts, msgs = [], [], []
    first = 0
    while batches:
        batch = batches.pop(0)
        stamp = batch.t0[:, None] + batch.offsets
        ok = ~np.isnan(stamp) & (stamp < days * DAY)
        times.append(stamp[ok])
        hosts.append(batch.hosts[ok].astype(np.int32))
        msgs.append(np.nonzero(ok)[0].astype(np.int32) + first)
        first += len(batch)
    t = np.concatenate(times)
    del times, batch, stamp, ok
    np.round(t, 6, out=t)
    acting = rng.random(len(t))  # db_t = floor((t + 0.3) + 2.2 * U), mostly in place: 40M attempts at 10M
    acting *= 2.2
    acting += t + 0.3
    db_t = np.floor(acting, out=acting).astype(np.int32)
    del acting
    order = np.lexsort((t, db_t))
    order = order[db_t[order] < days * DAY]
    return Plan(t[order], db_t[order], np.concatenate(msgs)[order], np.concatenate(hosts)[order],
                behaviour, mail_from, rcpts)
