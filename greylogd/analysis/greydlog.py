"""greyd, greylogd and OpenBSD spamd/spamlogd syslog lines into the ``greyd_events`` frame.

Message formats: spec/greyd-compat.md section 5 (5.3 SMTP process, 5.4 reader/scanner, 5.5 greylogd,
5.6 sync, 5.8 spamd/spamlogd, 5.9 field lines); each is one entry of ``RULES`` (kind, RE2 pattern whose
named groups are frames.GREYD_EVENTS columns). Inputs are whatever ``sources.map_envelopes`` reads.

Policy: lines of other programs are skipped and counted. A line of a greyd program is *bad* when it has
no usable header/time, when it starts like a known format but does not match it (``MALFORMED``), or
when its address is invalid. Unknown greyd messages are kept as kind ``other``. Addresses are normalised
to ``ipaddress`` compressed form. Each rule is one vectorized pass over the rows no earlier rule took.
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from dataclasses import dataclass, replace

import numpy as np
import pandas as pd
import pyarrow.compute as pc

from greylogd.analysis import frames
from greylogd.analysis.headers import SourceOptions, arrow_strings, to_int
from greylogd.analysis.kernlog import normalise_addresses
from greylogd.analysis.sources import CHUNK_BYTES, Envelopes, bad_lines, lines_envelopes, map_envelopes

KEEP = "(?i)grey|spam"  # every line of PROGRAMS (and every journald record of them) matches
PROGRAMS = ("greyd", "greylogd", "spamd", "spamlogd", "greydb", "greyd-setup")
_IP = r"(?P<ip>[^ ]+)"
_TUPLE = r" from (?P<from>[^ ]*) to (?P<to>[^ ]*), helo (?P<helo>.*)$"
_WARNINGS = ("db busy|db txn|db scan failed|db schema init failed|Mod_db_|unexpected sqlite3_step|"
             "could not|connection (?:read|write) error|main socket poll error|poll: |error putting|"
             "error querying|invalid |failed to|unknown type|sendmsg|multicast interface|"
             "listening for incoming|rejecting unknown proxy|it appears|cannot chroot|getpwnam|nflog_|"
             "inbound and outbound|daemon: ")
RULES: list[tuple[str, str]] = [
    ("connected", _IP + r": connected \((?P<clients>[0-9]+)/(?P<black_clients>[0-9]+)\)"
                        r"(?:, lists:(?P<lists>.*))?$"),
    ("disconnected", _IP + r": disconnected after (?P<duration_s>[0-9]+) seconds\."
                           r"(?: lists:(?P<lists>.*))?$"),
    ("grey", r"^\(GREY\) " + _IP + r": (?P<from>[^ ]*) -> (?P<to>[^ ]*)$"),
    ("black", r"^\(BLACK\) " + _IP + r": (?P<from>[^ ]*) -> (?P<to>[^ ]*)$"),
    ("new_entry", r"^new entry " + _IP + _TUPLE),
    ("new_trap_entry", r"^new greytrap entry " + _IP + _TUPLE),
    ("updated_entry", r"^updated entry " + _IP + _TUPLE),
    ("updated_trap_entry", r"^updated greytrap entry " + _IP + _TUPLE),
    ("trapped", r"^trapping " + _IP + r" for trying [^ ]+ first for tuple \([^,]*, (?P<helo>[^,]*), "
                r"(?P<from>[^,]*), (?P<to>[^)]*)\)$"),
    ("trapped", r"^Trapping " + _IP + r" for tuple "),
    ("whitelisting", r"^whitelisting " + _IP + r"(?: in [^ ]+)?$"),
    ("spf", r"^SPF (?:passed|failure|error) for " + _IP + r" (?P<from>[^ ]*) helo (?P<helo>[^ :]*)"),
    ("sync", r"^new (?:WHITE|TRAP|[a-z]+) from [^ ]+ for " + _IP + r", expires [^ ]+$"),
    ("sync", r"^(?:updated|deleted) " + _IP + r"$"),
    ("sync", r"^sync (?:white|trapped|deletion of white|deletion of trapped) " + _IP + r"$"),
    ("sync", r"^sync grey update helo (?P<helo>[^ ]*) ip " + _IP
             + r" from (?P<from>[^ ]*) to (?P<to>[^ ]*)$"),
    ("sync", r"^[^ ]+ \(sync\): received (?:white|trapped) entry ip " + _IP
             + r" \((?:addition|deletion)\) ?$"),
    ("sync", r"^[^ ]+ \(sync\): received grey entry from (?P<from>[^ ]*) to (?P<to>[^ ]*), "
             r"helo (?P<helo>[^ ]*) ip " + _IP + r"$"),
    ("sync", r"^(?:[^ ]+ \(sync\): |sending (?:multicast )?sync message|added spam sync host|"
             r"using multicast spam sync)"),
    ("packet", r"^packet received: direction = in, saddr = " + _IP + r", daddr = [^ ]+$"),
    ("packet", r"^packet received: direction = out, saddr = [^ ]+, daddr = " + _IP + r"$"),
    ("packet", r"^packet received: direction = (?:in|out), addr = " + _IP + r"$"),
    ("packet", r"^(?:inbound|outbound) " + _IP + r"$"),
    ("warning", r"^(?:" + _WARNINGS + ")"),
    ("info", r"^(?:listening, |exiting|stopping |proxy protocol enabled|allowing upstream proxy|"
             r"incomplete sender)"),
    ("info", _IP + r": (?:Body|From|To|Subject): "),
]
MALFORMED = (r": connected \(|: disconnected after |^\((?:GREY|BLACK)\) |^new (?:greytrap )?entry |"
             r"^updated (?:greytrap )?entry |^[Tt]rapping |^whitelisting |^packet received: |"
             r"^SPF (?:passed|failure|error) |^sync grey update ")
_CAPTURED = ("ip", "from", "to", "helo", "duration_s", "lists", "clients", "black_clients")


@dataclass
class GreydlogResult:
    """events: frames.GREYD_EVENTS rows sorted by ts (stable); bad_lines: frames.BAD_LINES rows;
    lines: lines read; skipped: lines of other programs."""

    events: pd.DataFrame
    bad_lines: pd.DataFrame
    lines: int
    skipped: int


def read_greydlog(paths: str | os.PathLike[str] | Iterable[str | os.PathLike[str]], *,
                  tz: str | None = None, options: SourceOptions | None = None,
                  chunk_bytes: int = CHUNK_BYTES, progress: bool | None = None) -> GreydlogResult:
    """greyd events of every input (syslog files, rotated sets, ``-``, journald JSON exports).

    tz: zone of RFC 3164 stamps (overrides ``options.tz``); options, chunk_bytes, progress as for
    ``kernlog.read_kernlog``. Raises InputError (one line naming the input) for a missing input.
    """
    options = replace(options or SourceOptions(), **({"tz": tz} if tz is not None else {}))
    return _combine(list(map_envelopes(parse_chunk, paths, options, chunk_bytes, progress, keep=KEEP)))


def parse_greydlog(lines: Iterable[str], *, source: str = "<lines>",
                   options: SourceOptions | None = None) -> GreydlogResult:
    """``read_greydlog`` for lines in memory (format sniffed from the first line)."""
    return _combine([parse_chunk(lines_envelopes(lines, source, options, keep=KEEP))])


@dataclass
class _Parsed:
    events: pd.DataFrame
    bad: pd.DataFrame
    lines: int
    skipped: int


def parse_chunk(chunk: Envelopes) -> _Parsed:
    """Events and bad lines of one envelope chunk."""
    frame = chunk.frame
    ours = frame["program"].str.lower().isin(PROGRAMS)
    headless = frame["ts"].isna() & frame["raw"].str.contains(r"grey|spamd|spamlogd", case=False)
    table = _classify(frame[ours & frame["ts"].notna()])
    reasons = pd.Series(np.nan, index=frame.index, dtype="str")
    reasons[headless | (ours & frame["ts"].isna())] = "no syslog header or time"
    reasons[table.index[table["kind"] == "malformed"]] = "malformed greyd message"
    reasons[table.index[table["kind"] == "bad address"]] = "invalid address"
    events = table[~table["kind"].isin(["malformed", "bad address"])]
    rows = frame.loc[events.index]
    events = events.assign(ts=rows["ts"], host=rows["host"], program=rows["program"],
                           pid=to_int(rows["pid"], 2**31), message=rows["message"])
    return _Parsed(frames.typed(events, frames.GREYD_EVENTS), bad_lines(chunk.source, frame, reasons),
                   chunk.lines, chunk.lines - int((ours | headless).sum()))


def _classify(rows: pd.DataFrame) -> pd.DataFrame:
    """kind and captured columns of each greyd message; kind "malformed"/"bad address" marks bad ones."""
    table = pd.DataFrame(index=rows.index, columns=["kind", *_CAPTURED], dtype="str")
    left = rows["message"].fillna("")
    for kind, pattern in RULES:
        parts = pc.extract_regex(arrow_strings(left), pattern)
        hit = parts.is_valid().to_numpy(zero_copy_only=False)
        index = left.index[hit]
        table.loc[index, "kind"] = kind
        for name in _CAPTURED:
            if f"<{name}>" in pattern:
                table.loc[index, name] = pd.Series(parts.field(name).filter(parts.is_valid()),
                                                   index=index, dtype="str")
        left = left[~hit]
    shaped = left.str.contains(MALFORMED, regex=True)
    table.loc[left.index, "kind"] = np.where(shaped, "malformed", "other")
    return _normalise(table)


def _normalise(table: pd.DataFrame) -> pd.DataFrame:
    """Compressed addresses (invalid ones make the row "bad address"), stripped list names."""
    ip = normalise_addresses(table["ip"])
    table.loc[table["ip"].notna() & ip.isna(), "kind"] = "bad address"
    in_conn = table["kind"].isin(["connected", "disconnected"])
    lists = table["lists"].fillna("").str.strip()
    return table.assign(ip=ip, lists=lists.where(in_conn), duration_s=to_int(table["duration_s"], 2**62),
                        clients=to_int(table["clients"], 2**31),
                        black_clients=to_int(table["black_clients"], 2**31))


def _combine(parts: list[_Parsed]) -> GreydlogResult:
    """One result from per-chunk parts: concatenated, sorted by time (stable)."""
    events = pd.concat([frames.empty(frames.GREYD_EVENTS), *(p.events for p in parts)], ignore_index=True)
    bad = pd.concat([frames.empty(frames.BAD_LINES), *(p.bad for p in parts)], ignore_index=True)
    events = events.sort_values("ts", kind="stable", ignore_index=True)
    return GreydlogResult(frames.typed(events, frames.GREYD_EVENTS), frames.typed(bad, frames.BAD_LINES),
                          sum(p.lines for p in parts), sum(p.skipped for p in parts))
