"""greydb's listing format, byte for byte (spec/greyd-compat.md 6.2), and a JSON Lines twin.

One line per row, `|`-separated, no header, times in Unix seconds (UTC), in the order Store.snapshot()
returns (greyd's SQLite order). Fields are printed verbatim like greydb does: a `|` or newline inside a
HELO or address is not escaped, and bytes that are not UTF-8 (surrogate-escaped by the SQLite driver) go
out unchanged when the stream uses errors="surrogateescape". Use --json when a program parses the output:
it is pure ASCII, with such bytes as \\udcXX escapes.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from typing import TextIO

from greylogd.greydb.store import Entry, Kind


def format_entry(e: Entry) -> str:
    """greydb's line for one entry, without the newline."""
    counters = f"{e.first}|{e.pass_}|{e.expire}|{e.bcount}|{e.pcount}"
    if e.kind is Kind.GREY:
        return f"GREY|{e.ip}|{e.helo}|{e.mail_from}|{e.rcpt_to}|{counters}"
    if e.kind is Kind.WHITE:
        return f"WHITE|{e.ip}|||{counters}"
    if e.kind is Kind.TRAPPED:
        return f"TRAPPED|{e.ip}|{e.expire}"
    return f"{e.kind.value}|{e.ip}"


def entry_json(e: Entry) -> str:
    """One JSON object: kind, ip (the address or domain for SPAMTRAP/DOMAIN), helo, from, to, first, pass,
    expire, bcount, pcount (greyd's values, -2/-3 synthetic for SPAMTRAP/DOMAIN), greyd_host (null on
    SQLite and for SPAMTRAP/DOMAIN)."""
    return json.dumps({"kind": e.kind.value, "ip": e.ip, "helo": e.helo, "from": e.mail_from,
                       "to": e.rcpt_to, "first": e.first, "pass": e.pass_, "expire": e.expire,
                       "bcount": e.bcount, "pcount": e.pcount, "greyd_host": e.greyd_host})


def write_listing(entries: Iterable[Entry], out: TextIO, *, as_json: bool = False) -> int:
    """Write one line per entry (greydb format, or JSON Lines); returns the number of lines."""
    render = entry_json if as_json else format_entry
    count = 0
    for entry in entries:
        out.write(render(entry) + "\n")
        count += 1
    return count
