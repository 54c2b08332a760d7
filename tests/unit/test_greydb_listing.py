"""greydb's listing format byte for byte (spec 6.2, greyd's verified sqlite output) and its JSON twin."""

from __future__ import annotations

import io
import json

from greylogd.greydb.listing import entry_json, format_entry, write_listing
from greylogd.greydb.store import Entry, Kind

T0, T1 = 1795420921, 1798531321
ENTRIES = [
    Entry(Kind.WHITE, "192.0.2.10", first=T0, pass_=T0, expire=T1, bcount=1, pcount=0),
    Entry(Kind.TRAPPED, "198.51.100.7", first=T0, pass_=0, expire=1795507321, bcount=1, pcount=-1),
    Entry(Kind.WHITE, "2001:db8::1", first=T0, pass_=T0, expire=T1, bcount=1, pcount=0),
    Entry(Kind.GREY, "203.0.113.5", "mx.x.org", "a@x.org", "b@y.net", 1700000000, 1700014400, 1700014400,
          1, 0),
    Entry(Kind.DOMAIN, "@example.org", pcount=-3),
    Entry(Kind.SPAMTRAP, "spam.trap@example.org", pcount=-2),
]

# Copied from greyd's verified output (spec/greyd-compat.md 6.2).
EXPECTED = (
    "WHITE|192.0.2.10|||1795420921|1795420921|1798531321|1|0\n"
    "TRAPPED|198.51.100.7|1795507321\n"
    "WHITE|2001:db8::1|||1795420921|1795420921|1798531321|1|0\n"
    "GREY|203.0.113.5|mx.x.org|a@x.org|b@y.net|1700000000|1700014400|1700014400|1|0\n"
    "DOMAIN|@example.org\n"
    "SPAMTRAP|spam.trap@example.org\n"
)


def test_listing_is_greydbs_byte_for_byte() -> None:
    out = io.StringIO()
    assert write_listing(ENTRIES, out) == 6
    assert out.getvalue() == EXPECTED


def test_hostile_helo_is_printed_verbatim_like_greydb() -> None:
    entry = Entry(Kind.GREY, "192.0.2.1", "a|b", "=cmd()@x", "c@d", 1, 2, 3, 4, 0)
    assert format_entry(entry) == "GREY|192.0.2.1|a|b|=cmd()@x|c@d|1|2|3|4|0"


def test_json_lines_carry_every_field() -> None:
    out = io.StringIO()
    write_listing([ENTRIES[3], Entry(Kind.WHITE, "192.0.2.9", first=5, pass_=6, expire=7, bcount=0,
                                     pcount=2, greyd_host="mx1")], out, as_json=True)
    assert [json.loads(line) for line in out.getvalue().splitlines()] == [
        {"kind": "GREY", "ip": "203.0.113.5", "helo": "mx.x.org", "from": "a@x.org", "to": "b@y.net",
         "first": 1700000000, "pass": 1700014400, "expire": 1700014400, "bcount": 1, "pcount": 0,
         "greyd_host": None},
        {"kind": "WHITE", "ip": "192.0.2.9", "helo": "", "from": "", "to": "", "first": 5, "pass": 6,
         "expire": 7, "bcount": 0, "pcount": 2, "greyd_host": "mx1"},
    ]
    assert entry_json(Entry(Kind.SPAMTRAP, "é@x\udcff", pcount=-2)).startswith(
        '{"kind": "SPAMTRAP", "ip": "\\u00e9@x\\udcff"')
