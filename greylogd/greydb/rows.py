"""Pure row logic shared by every driver: typing rows like greyd's iterator, validating what a database
returns, and greyd's update rules for greylogd refreshes (spec 2.2) and greydb adds (spec 6.3).

No database access here, so the rules are tested once without a server and every driver applies them the
same way inside its own transaction.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from greylogd.errors import StoreError
from greylogd.greydb.store import Entry, Kind, RefreshResult

# Column order of every entries SELECT in the drivers; greyd_host, when present, comes last.
ENTRY_COLUMNS = ("ip", "helo", "from", "to", "first", "pass", "expire", "bcount", "pcount")
_TEXT_FIELDS = ENTRY_COLUMNS[:4]
_INT_FIELDS = ENTRY_COLUMNS[4:]


def kind_of(helo: str, mail_from: str, rcpt_to: str, pcount: int) -> Kind:
    """greyd's populate_key: an empty helo/from/to makes an IP row, typed further by the pcount sentinel."""
    if helo or mail_from or rcpt_to:
        return Kind.GREY
    return {-1: Kind.TRAPPED, -2: Kind.SPAMTRAP, -3: Kind.DOMAIN}.get(pcount, Kind.WHITE)


def entry_from_row(row: Sequence[Any]) -> Entry:
    """Build an Entry from (ip, helo, from, to, first, pass, expire, bcount, pcount[, greyd_host]).

    Raises StoreError naming the row and the field when a text column is NULL or not text, or a counter
    is not an integer (greyd would atoi() it into garbage; we refuse to guess).
    """
    key = ", ".join(f"{name}={value!r}" for name, value in zip(_TEXT_FIELDS, row, strict=False))
    for name, value in zip(ENTRY_COLUMNS, row, strict=False):
        wanted = str if name in _TEXT_FIELDS else int
        if not isinstance(value, wanted) or isinstance(value, bool):
            what = "text" if wanted is str else "an integer"
            raise StoreError(f"entries row ({key}): field {name} is {value!r}, not {what}")
    ip, helo, mail_from, rcpt_to, first, pass_, expire, bcount, pcount = row[:9]
    host = row[9] if len(row) > 9 else None
    return Entry(kind_of(helo, mail_from, rcpt_to, pcount), ip, helo, mail_from, rcpt_to,
                 first, pass_, expire, bcount, pcount, host)


def sort_key(entry: Entry) -> tuple[Any, ...]:
    """The order of greyd's SQLite UNION listing: all nine columns, text compared by code point."""
    return (entry.ip, entry.helo, entry.mail_from, entry.rcpt_to, entry.first, entry.pass_, entry.expire,
            entry.bcount, entry.pcount)


def plan_refresh(existing: Mapping[str, Entry], counts: Mapping[str, int], now: int, white_expiry: int,
                 trapped_to_white: bool) -> tuple[list[Entry], RefreshResult]:
    """Rows to write for one greylogd batch, and what happened to each address.

    `existing` holds the current IP rows of the batch's addresses; `counts` maps address -> connections
    (>= 1). New row: first = pass = now, bcount 0, pcount = n, expire = now + white_expiry (greyd does
    pcount += 1 per event from a zeroed value). Existing row: pcount += n and expire refreshed; first,
    pass, bcount kept. A row with a negative pcount (greyd's scan lists it as a trap) is left alone and
    reported in trapped_kept, unless trapped_to_white asks for greyd's behaviour (pcount += n turns -1 WHITE).
    """
    writes: list[Entry] = []
    created, refreshed, kept = [], [], []
    expire = now + white_expiry
    for ip, n in counts.items():
        old = existing.get(ip)
        if old is None:
            writes.append(Entry(Kind.WHITE, ip, first=now, pass_=now, expire=expire, pcount=n))
            created.append(ip)
        elif old.pcount < 0 and not trapped_to_white:
            kept.append(ip)
        else:
            pcount = old.pcount + n
            writes.append(dataclasses.replace(old, kind=kind_of("", "", "", pcount), pcount=pcount,
                                              expire=expire))
            refreshed.append(ip)
    return writes, RefreshResult(tuple(created), tuple(refreshed), tuple(kept))


def merge_add(new: Entry, old: Entry | None) -> Entry:
    """greydb -a on an IP row (spec 6.3): `new` is the row greydb would create; merge it into `old`.

    WHITE: pcount += 1 (a TRAPPED row thus becomes WHITE with pcount 0), pass and expire from `new`.
    TRAPPED: pcount = -1, expire from `new`, pass kept. first and bcount are always kept.
    """
    if old is None:
        return new
    if new.kind is Kind.TRAPPED:
        return dataclasses.replace(old, kind=Kind.TRAPPED, expire=new.expire, pcount=-1)
    pcount = old.pcount + 1
    return dataclasses.replace(old, kind=kind_of("", "", "", pcount), pass_=new.pass_, expire=new.expire,
                               pcount=pcount)


def ip_rows(entries: Iterable[Entry]) -> dict[str, Entry]:
    """Index IP rows (WHITE/TRAPPED, or any row with empty helo/from/to) by address."""
    return {e.ip: e for e in entries if not (e.helo or e.mail_from or e.rcpt_to)}
