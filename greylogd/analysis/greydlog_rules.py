"""The message rules of greyd's log (greydlog): which kind each greyd message is, and its captures.

``RULES`` are (kind, RE2 pattern) pairs whose named groups are frames.GREYD_EVENTS columns, tried in
order (spec/greyd-compat.md section 5); ``MALFORMED`` says which messages start like a rule they do not
match. ``classify`` runs them over a message column: one vectorized RE2 pass (pyarrow) per rule over the
rows no earlier rule took, captures gathered as arrow arrays and placed once per column.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from greylogd.analysis import frames

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
KIND = {kind: code for code, kind in enumerate(frames.GREYD_KINDS)}  # kind -> frames.GREYD_KINDS code
MALFORMED_CODE = len(KIND)  # classify's code of a message that starts like a rule but does not match it


def classify(message: pa.Array, wanted: set[str]) -> tuple[np.ndarray, dict[str, pa.Array]]:
    """Kind code (frames.GREYD_KINDS index, or MALFORMED_CODE) of each message, and the captured columns
    named in ``wanted`` (null where the message's rule has no such group)."""
    codes = np.full(len(message), KIND["other"], np.int8)
    pieces: dict[str, list[tuple[np.ndarray, pa.Array]]] = {n: [] for n in _CAPTURED if n in wanted}
    left, where = message, np.arange(len(message))
    for kind, pattern in RULES:
        hit, parts = _match(left, pattern, wanted)
        if not hit.any():  # most rules take nothing: copying what is left would cost more than matching
            continue
        codes[where[hit]] = KIND[kind]
        for name, values in parts.items():
            pieces[name].append((where[hit], values))
        left, where = left.filter(~hit), where[~hit]
    shaped = pc.match_substring_regex(left, MALFORMED).to_numpy(zero_copy_only=False)
    codes[where[shaped]] = MALFORMED_CODE
    return codes, {name: _place(len(message), got) for name, got in pieces.items()}


def _match(left: pa.Array, pattern: str, wanted: set[str]) -> tuple[np.ndarray, dict[str, pa.Array]]:
    """Which rows of ``left`` the rule takes, and its ``wanted`` captures of those rows.

    A rule that starts with the address is unanchored; the literal between the address and its first
    group is searched first (a plain substring search), so RE2 only runs on the rows that have it.
    Captures that the rule's ``_head`` determines are taken from the head, on the rows the whole rule
    takes (matched without captures: about 6 times cheaper, RE2's submatch engine runs over the whole
    match, and most rules' matches span the line).
    """
    candidates = np.arange(len(left))
    if pattern.startswith(_IP):
        needle = pattern[len(_IP):].split("(?")[0].replace("\\", "")
        candidates = np.flatnonzero(pc.match_substring(left, needle).to_numpy(zero_copy_only=False))
    text = left if len(candidates) == len(left) else left.take(candidates)
    groups = [name for name in _CAPTURED if f"<{name}>" in pattern and name in wanted]
    head = _head(pattern, groups)
    hit = np.zeros(len(left), bool)
    if not groups or head:
        taken = pc.match_substring_regex(text, _without(pattern, ())).to_numpy(zero_copy_only=False)
        hit[candidates[taken]] = True
        if not head:
            return hit, {}
        parts = pc.extract_regex(text.filter(taken), _without(head, groups))
        return hit, {name: parts.field(name) for name in groups}
    parts = pc.extract_regex(text, _without(pattern, groups))
    valid = parts.is_valid()
    hit[candidates[valid.to_numpy(zero_copy_only=False)]] = True
    return hit, {name: parts.field(name).filter(valid) for name in groups}


def _without(pattern: str, groups: Iterable[str]) -> str:
    """``pattern`` with its named groups other than ``groups`` made non-capturing."""
    for name in _CAPTURED:
        if name not in groups:
            pattern = pattern.replace(f"(?P<{name}>", "(?:")
    return pattern


_LITERAL = r"(?:[^\\()\[\]{}.*+?|^$]|\\[^A-Za-z0-9])*"
_UNIQUE = re.compile(r"\^" + _LITERAL + r"(?:\(\?P<\w+>\[\^ \][*+]\)" + _LITERAL.replace("$]", "$ ]")
                     + " " + _LITERAL + ")+")


def _head(pattern: str, groups: list[str]) -> str | None:
    """The start of an anchored rule up to its last group of ``groups`` and the first space after it,
    when that start can match only one way: literals, and groups of non-spaces each followed by a
    literal with a space (a group ends where that space is). So on a message the whole rule matches,
    the head captures what the rule would. None when the rule has no such head."""
    if not groups:
        return None
    last = max(pattern.index(f"(?P<{name}>") for name in groups)
    space = pattern.find(" ", pattern.index(")", last))
    head = pattern[:space + 1]
    return head if space >= 0 and _UNIQUE.fullmatch(head) else None


def _place(n: int, pieces: list[tuple[np.ndarray, pa.Array]]) -> pa.Array:
    """One column of n rows from (row positions, values) pieces; null where no piece has the row."""
    if not pieces:
        return pa.nulls(n, pa.large_string())
    values = pa.concat_arrays([values for _, values in pieces])
    order = np.full(n, -1, np.int64)
    order[np.concatenate([rows for rows, _ in pieces])] = np.arange(len(values))
    return values.take(pa.array(order, mask=order < 0))
