"""The ledger's records: a tuple's state, an observed retry, a closed tuple and its outcome.

Times are Unix seconds (UTC). A tuple's identity is (ip, helo, from, to, first): greyd reuses a key after
the old tuple expired, and the re-created tuple has a new `first`, so it is a new ledger row.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass


class Outcome(enum.StrEnum):
    """How a tuple left greyd's database; open tuples are PENDING (spec/report.md, frame `tuples`)."""

    PROMOTED = "promoted"
    EXPIRED = "expired"
    TRAPPED = "trapped"
    PENDING = "pending"


TupleKey = tuple[str, str, str, str, int]


@dataclass(frozen=True, slots=True)
class TupleState:
    """What the ledger knows of one open GREY tuple: greyd's columns as last seen, plus when it was first
    seen. Every open tuple was seen at the last poll, so that time is not stored per tuple.

    trapped_at is the first poll that saw a TRAPPED row for the tuple's IP while the tuple was open.
    """

    ip: str
    helo: str
    mail_from: str
    rcpt_to: str
    first: int
    pass_: int
    expire: int
    bcount: int
    first_seen: int
    trapped_at: int | None = None

    @property
    def key(self) -> TupleKey:
        return (self.ip, self.helo, self.mail_from, self.rcpt_to, self.first)


@dataclass(frozen=True, slots=True)
class Retry:
    """An observed growth of bcount. ts is the retry's time when greyd moved `pass` to it during the
    interval (exact), otherwise the observation time (an upper bound, at most one poll interval late)."""

    key: TupleKey
    ts: int
    observed_at: int
    bcount: int


@dataclass(frozen=True, slots=True)
class Closed:
    """A tuple that left greyd's database, with its final state and outcome (promoted/expired/trapped)."""

    state: TupleState
    outcome: Outcome
    outcome_ts: int


def retry_ts(old_pass: int, new_pass: int, since: int, now: int) -> int:
    """greyd sets pass to a qualifying retry's time: exact when pass moved within [since, now] (a retry in
    the very second of the previous poll came after it, or that poll would have seen it)."""
    return new_pass if new_pass != old_pass and since <= new_pass <= now else now
