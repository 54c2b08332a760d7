"""The Store protocol and the entry kinds of greyd's database (spec/greyd-compat.md 1.6).

Every driver implements the same protocol on greyd's exact schema, so the refresher, the ledger, the
listing CLI and the analysis readers never know which database is behind them.
"""

from __future__ import annotations

import enum
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import Protocol


class Kind(enum.Enum):
    """Entry kinds exactly as greydb prints them."""

    GREY = "GREY"
    WHITE = "WHITE"
    TRAPPED = "TRAPPED"
    SPAMTRAP = "SPAMTRAP"
    DOMAIN = "DOMAIN"


@dataclass(frozen=True, slots=True)
class Entry:
    """One row as greyd's iterator types it; times are Unix seconds (UTC).

    For SPAMTRAP and DOMAIN rows `ip` holds the address or domain and the counters are greyd's synthetic
    constants (pcount -2 / -3). greyd_host is None on SQLite, which has no such column.
    """

    kind: Kind
    ip: str
    helo: str = ""
    mail_from: str = ""
    rcpt_to: str = ""
    first: int = 0
    pass_: int = 0
    expire: int = 0
    bcount: int = 0
    pcount: int = 0
    greyd_host: str | None = None


@dataclass(frozen=True, slots=True)
class RefreshResult:
    """What one refresh_white transaction did, for logging, metrics and sync."""

    created: tuple[str, ...] = ()
    refreshed: tuple[str, ...] = ()
    trapped_kept: tuple[str, ...] = ()


class Store(Protocol):
    """greyd's database. Each method is one short transaction; a failure raises StoreError and changes
    nothing, so the caller can keep its batch and retry."""

    def refresh_white(self, counts: dict[str, int], now: int, white_expiry: int) -> RefreshResult:
        """Refresh WHITE rows with greyd's greylogd semantics: counts maps address text to connections.

        New row: first = pass = now, bcount 0, pcount = n, expire = now + white_expiry (Unix seconds).
        Existing row: pcount += n, expire refreshed, first/pass/bcount kept. A TRAPPED row (pcount < 0)
        is left alone and reported in trapped_kept unless the store was opened with trapped_to_white.
        """
        ...

    def iter_entries(self) -> Iterator[Entry]:
        """Every entries/spamtraps/domains row, typed like greyd's iterator (one read transaction)."""
        ...

    def snapshot(self) -> list[Entry]:
        """All rows read in one consistent read-only transaction, in greyd's SQLite listing order."""
        ...

    def add(self, entries: Iterable[Entry]) -> None:
        """greydb -a: each WHITE/TRAPPED entry is the row to create, merged into an existing IP row as
        greydb does (spec 6.3); SPAMTRAP/DOMAIN inserted unless present; GREY written as given."""
        ...

    def delete(self, entries: Iterable[Entry]) -> None:
        """greydb -d: delete each entry's key (an IP row whatever its kind); a missing key is no error."""
        ...

    def close(self) -> None: ...
