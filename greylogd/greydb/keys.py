"""greydb's key rules (spec/greyd-compat.md 6.3, 1.6): which text is a valid key of each kind, how greyd
normalises addresses, and the row greydb -a creates for a new key.
"""

from __future__ import annotations

import socket

from greylogd.greydb.store import Entry, Kind

_DROPPED = str.maketrans("", "", '\\"<>')


def normalize_email_addr(text: str) -> str:
    """greyd's src/utils.c normalize_email_addr: drop every `\\`, `"`, `<`, `>` and lower-case the rest."""
    return text.translate(_DROPPED).lower()


def greydb_key(kind: Kind, key: str) -> str:
    """The key as greydb stores it, or ValueError with a one-line reason.

    WHITE/TRAPPED: a numeric IPv4 or IPv6 address as getaddrinfo(AI_NUMERICHOST) accepts it, kept as typed.
    SPAMTRAP: normalised and must contain `@`. DOMAIN: normalised (`example.org`, `@example.org` and
    `user@example.org` are all accepted, as by greydb). GREY: greydb cannot add or delete tuples.
    """
    if kind in (Kind.WHITE, Kind.TRAPPED):
        family = socket.AF_INET6 if ":" in key else socket.AF_INET
        try:
            socket.getaddrinfo(key, None, family, flags=socket.AI_NUMERICHOST)
        except (socket.gaierror, UnicodeError, ValueError):
            raise ValueError(f"{key!r} is not a numeric IPv4 or IPv6 address") from None
        return key
    if kind is Kind.SPAMTRAP:
        address = normalize_email_addr(key)
        if "@" not in address:
            raise ValueError(f"{key!r} is not an email address (no @)")
        return address
    if kind is Kind.DOMAIN:
        return normalize_email_addr(key)
    raise ValueError("greydb cannot add or delete GREY entries")


def greydb_entry(kind: Kind, key: str, now: int, white_expiry: int, trap_expiry: int) -> Entry:
    """The row greydb -a writes for a new key (Store.add merges it into an existing one).

    WHITE: first = pass = now, expire = now + white_expiry, bcount 1, pcount 0. TRAPPED: first = now,
    pass 0, expire = now + trap_expiry, bcount 1, pcount -1. SPAMTRAP/DOMAIN: the key only (times are
    Unix seconds; expiries in seconds). Raises ValueError for an invalid key (see greydb_key).
    """
    key = greydb_key(kind, key)
    if kind is Kind.WHITE:
        return Entry(kind, key, first=now, pass_=now, expire=now + white_expiry, bcount=1, pcount=0)
    if kind is Kind.TRAPPED:
        return Entry(kind, key, first=now, pass_=0, expire=now + trap_expiry, bcount=1, pcount=-1)
    return Entry(kind, key, pcount=-2 if kind is Kind.SPAMTRAP else -3)
