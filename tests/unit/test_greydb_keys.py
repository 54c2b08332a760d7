"""greydb's key rules (spec 6.3, 1.6): numeric IPs, normalised spamtraps and domains, new rows."""

from __future__ import annotations

import pytest

from greylogd.greydb.keys import greydb_entry, greydb_key, normalize_email_addr
from greylogd.greydb.store import Entry, Kind

NOW = 1_795_420_921


@pytest.mark.parametrize(("raw", "normalised"), [
    ("<Spam.Trap@Example.ORG>", "spam.trap@example.org"),
    ('"a\\b"@X.org', "ab@x.org"),
    ("<<x>>@y", "x@y"),
    ("@Example.org", "@example.org"),
])
def test_normalize_email_addr(raw: str, normalised: str) -> None:
    assert normalize_email_addr(raw) == normalised


@pytest.mark.parametrize("key", ["192.0.2.10", "2001:db8::1", "::ffff:192.0.2.1"])
def test_numeric_addresses_are_kept_as_typed(key: str) -> None:
    assert greydb_key(Kind.WHITE, key) == key
    assert greydb_key(Kind.TRAPPED, key) == key


@pytest.mark.parametrize(("kind", "key", "message"), [
    (Kind.WHITE, "mail.example.org", "'mail.example.org' is not a numeric IPv4 or IPv6 address"),
    (Kind.TRAPPED, "192.0.2.300", "'192.0.2.300' is not a numeric IPv4 or IPv6 address"),
    (Kind.WHITE, "2001:db8::zz", "'2001:db8::zz' is not a numeric IPv4 or IPv6 address"),
    (Kind.SPAMTRAP, "<nobody>", "'<nobody>' is not an email address (no @)"),
    (Kind.GREY, "192.0.2.1", "greydb cannot add or delete GREY entries"),
])
def test_invalid_keys_are_rejected_in_one_line(kind: Kind, key: str, message: str) -> None:
    with pytest.raises(ValueError) as caught:
        greydb_key(kind, key)
    assert str(caught.value) == message


def test_greydb_entry_new_rows() -> None:
    assert greydb_entry(Kind.WHITE, "192.0.2.10", NOW, 3_110_400, 86_400) == Entry(
        Kind.WHITE, "192.0.2.10", first=NOW, pass_=NOW, expire=NOW + 3_110_400, bcount=1, pcount=0)
    assert greydb_entry(Kind.TRAPPED, "198.51.100.7", NOW, 3_110_400, 86_400) == Entry(
        Kind.TRAPPED, "198.51.100.7", first=NOW, pass_=0, expire=NOW + 86_400, bcount=1, pcount=-1)
    assert greydb_entry(Kind.SPAMTRAP, "<A@B.org>", NOW, 1, 1) == Entry(Kind.SPAMTRAP, "a@b.org", pcount=-2)
    assert greydb_entry(Kind.DOMAIN, "User@Example.org", NOW, 1, 1) == Entry(
        Kind.DOMAIN, "user@example.org", pcount=-3)
