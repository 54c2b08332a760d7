"""Column names and dtypes of every frame the report uses (spec/report.md, "Frames").

One place defines them so that readers (kernlog, greydlog, greyddb, ledger) and consumers (weekly
analysis, report, demo) agree on names, dtypes, units and time zone. Conventions for all frames:

- timestamps are tz-aware UTC, microsecond resolution (``TS_DTYPE``): every source (journald, rsyslog
  RFC 3339, greyd's Unix seconds) is at most microsecond-precise; NaT where a time is unknown.
- text is pandas' default ``str`` dtype (pyarrow-backed, NaN for missing), or ``category`` of str where
  a column repeats few values over millions of rows (host, prefix, kind, addresses in greyd's log; the
  report's tuples also make ip/helo/to/domains/outcome categorical): consumers must accept both. An
  empty string means "present but empty" (greyd stores '' for helo/from/to of IP rows), NaN means "not
  in the source".
- counters are nullable ``Int64``, ports ``UInt16`` and IP versions ``UInt8`` (<NA> when the source has
  no such field, e.g. ICMP ports).
- IP addresses are strings in ``ipaddress`` compressed form (``2001:db8::25``), so frames from logs join
  with greyd's database on ``ip``/``src``.

``typed(frame, DTYPES)`` casts a frame built by a reader; ``empty(DTYPES)`` is the zero-row frame every
reader returns when it has nothing, so consumers never special-case missing columns.
"""

from __future__ import annotations

from concurrent.futures import Executor

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

TS_DTYPE = "datetime64[us, UTC]"
STR = "str"
INT = "Int64"

# a week of a busy gateway is millions of rows: repeated text is categorical (1 byte a row instead of 10
# to 30) and ports and IP versions take the smallest integer that holds them (2 and 1 bytes + a mask)
CONNECTIONS: dict[str, str] = {
    "ts": TS_DTYPE,          # event time (kernel time of the LOG line), UTC
    "host": "category",      # syslog/journald host name of the gateway that logged it
    "prefix": "category",    # LOG prefix, surrounding whitespace trimmed, e.g. "[GREYD WHITED]"
    "category": "category",  # trusted, greylisted, fallthrough, jailed, outbound, other (see CATEGORIES)
    "src": STR,              # source address, ipaddress compressed form
    "dst": "category",       # destination address (pre-DNAT in the nat table), compressed form (few: own)
    "spt": "UInt16",         # TCP/UDP source port; <NA> for ICMP, fragments, truncated headers
    "dpt": "UInt16",         # TCP/UDP destination port; <NA> as spt
    "proto": "category",     # PROTO= value as the kernel prints it: TCP, UDP, ICMP, ICMPv6, or a number
    "ip_version": "UInt8",   # 4 or 6
    "in_if": "category",     # IN= interface; "" for locally generated (OUTPUT) packets
}
CONNECTIONS_COLUMNS = list(CONNECTIONS)


GREYD_KINDS = ("connected", "disconnected", "grey", "black", "new_entry", "updated_entry",
               "new_trap_entry", "updated_trap_entry", "trapped", "whitelisting", "spf",
               "packet", "sync", "warning", "info", "other")
# a week of greyd's log has about 4 lines per connection, so repeated text is categorical (1 to 4 bytes
# a row instead of 10 to 30): kind with the fixed GREYD_KINDS, host/program/ip/lists with the values seen
GREYD_EVENTS: dict[str, str | pd.CategoricalDtype] = {
    "ts": TS_DTYPE,          # syslog time of the line, UTC
    "host": "category",      # syslog host name
    "program": "category",   # greyd, greylogd, spamd, spamlogd
    "pid": INT,              # process id (greyd's SMTP, reader, scanner processes differ)
    "kind": pd.CategoricalDtype(GREYD_KINDS),  # see GREYD_KINDS
    "ip": "category",        # client address, compressed form; NaN when the message names none
    "from": STR,             # envelope sender as greyd logs it (normalised, lower-case)
    "to": STR,               # envelope recipient as greyd logs it
    "helo": STR,             # HELO argument, verbatim
    "duration_s": INT,       # disconnected: seconds the client stayed connected (tarpit time)
    "lists": "category",     # blacklist names, space-separated as greyd prints them ("" = none)
    "clients": INT,          # connected: clients connected at that moment
    "black_clients": INT,    # connected: blacklisted clients connected at that moment
    "message": STR,          # the message text after "program[pid]: " (kept for warnings/other)
}
GREYD_EVENTS_COLUMNS = list(GREYD_EVENTS)

ENTRIES: dict[str, str] = {
    "kind": STR,          # GREY, WHITE, TRAPPED, SPAMTRAP, DOMAIN
    "ip": STR,            # client IP; the address for SPAMTRAP, the domain for DOMAIN
    "helo": STR,          # GREY only, verbatim; "" for IP rows
    "from": STR,          # GREY only, normalised by greyd; "" for IP rows
    "to": STR,            # GREY only, normalised by greyd; "" for IP rows
    "first": TS_DTYPE,    # first seen, UTC; NaT where greyd stores 0
    "pass": TS_DTYPE,     # pass time (GREY: first+grey_expiry until a qualifying retry), UTC
    "expire": TS_DTYPE,   # expiry, UTC
    "bcount": INT,        # blocked attempts (GREY), hits (TRAPPED)
    "pcount": INT,        # passed connections; -1 TRAPPED, -2 SPAMTRAP, -3 DOMAIN (greyd sentinels)
    "greyd_host": STR,    # MySQL/PostgreSQL greyd_host column; NaN for SQLite and listings
}
ENTRIES_COLUMNS = list(ENTRIES)

TUPLES: dict[str, str] = {
    "ip": STR,             # client IP, compressed form
    "helo": STR,           # HELO, verbatim
    "from": STR,           # envelope sender, normalised by greyd
    "to": STR,             # envelope recipient, normalised by greyd
    "sender_domain": STR,  # lower-cased domain of from ("" for the null sender)
    "rcpt_domain": STR,    # lower-cased domain of to
    "first": TS_DTYPE,     # first seen, UTC
    "last_seen": TS_DTYPE, # last time the ledger saw the tuple in greyd's database, UTC
    "pass": TS_DTYPE,      # greyd's pass time, UTC
    "bcount": INT,         # attempts greyd counted
    "outcome": STR,        # promoted, expired, trapped, pending
    "outcome_ts": TS_DTYPE,  # when the outcome was observed, UTC; NaT while pending
}
TUPLES_COLUMNS = list(TUPLES)

BAD_LINES: dict[str, str] = {
    "source": STR,   # file name (or "-" for stdin, "journal" for a journald export) the line came from
    "line": INT,     # 1-based line number within that source
    "reason": STR,   # short fixed reason, e.g. "no SRC", "invalid address", "no timestamp"
    "raw": STR,      # the raw line, decoded with errors="replace", truncated to RAW_MAX characters
}
BAD_LINES_COLUMNS = list(BAD_LINES)
RAW_MAX = 200

# Default prefix -> category mapping (spec/report.md); keys are trimmed and upper-cased before lookup.
CATEGORIES: dict[str, str] = {
    "[GREYD WHITED]": "trusted",
    "[GREYD 25 DNAT]": "greylisted",
    "[GREYD 25 REDIRECTED]": "greylisted",
    "[GREYD FAILED]": "fallthrough",
    "[GREYD 8025 JAILED]": "jailed",
}
OTHER_CATEGORY = "other"
OUTBOUND_CATEGORY = "outbound"


def typed(frame: pd.DataFrame, dtypes: dict[str, str]) -> pd.DataFrame:
    """``frame`` reduced to the columns of ``dtypes``, in that order, cast to those dtypes.

    Raises KeyError if a column is missing: that is a programming error in a reader, not bad input.
    """
    return frame[list(dtypes)].astype(dtypes).reset_index(drop=True)


def empty(dtypes: dict[str, str]) -> pd.DataFrame:
    """The zero-row frame with these columns and dtypes."""
    return pd.DataFrame({name: pd.Series([], dtype=dtype) for name, dtype in dtypes.items()})


def concat(parts: list[pd.DataFrame], pool: Executor | None = None) -> pd.DataFrame:
    """pd.concat (index reset) that keeps unordered categorical columns categorical: pandas would turn
    categoricals with different categories into object. Such a column gets the union of the parts'
    categories, sorted (what ``astype("category")`` of the whole column gives), merged by hashing,
    so a column of a million distinct addresses costs no Python loop. Columns
    are joined one at a time from the parts' arrays (text stays chunked: no copy), which for the
    hundreds of parts of a large log is several times cheaper than pd.concat's block handling;
    by the threads of ``pool`` when given (numpy copies without the GIL)."""
    names = list(parts[0].columns)
    join = lambda name: _joined([p[name] for p in parts])  # noqa: E731
    joined = pool.map(join, names) if pool else map(join, names)
    return pd.DataFrame(dict(zip(names, joined, strict=True)), copy=False)


def _joined(columns: list[pd.Series]) -> pd.api.extensions.ExtensionArray:
    """The columns' values one after the other (arrays, not Series: a frame of Series aligns indexes)."""
    first = columns[0].dtype
    if isinstance(first, pd.CategoricalDtype) and not first.ordered:
        return _joined_categorical([c.array for c in columns])
    if any(c.dtype != first for c in columns):
        return pd.concat(columns, ignore_index=True).array
    arrays = [c.array for c in columns]
    return type(arrays[0])._concat_same_type(arrays)


def _joined_categorical(columns: list[pd.Categorical]) -> pd.Categorical:
    """Categoricals joined over the sorted union of their categories. Parts with the union's own
    categories (the usual case: every chunk of a log has the same few) keep their codes; the others'
    few categories are looked up once and their codes mapped by a small table: no value is hashed."""
    first = columns[0].categories
    if all(_same(c.categories, first) for c in columns):
        labels = first
    else:
        labels = pd.Index(pd.unique(np.concatenate([c.categories.to_numpy(object) for c in columns])),
                          dtype="str").sort_values()
    dtype = pd.CategoricalDtype(labels)
    codes = np.concatenate([_recoded(column, labels) for column in columns])
    return pd.Categorical.from_codes(codes, dtype=dtype, validate=False)


def _recoded(column: pd.Categorical, labels: pd.Index) -> np.ndarray:
    """The column's codes as codes of ``labels`` (which hold every one of its categories)."""
    if _same(column.categories, labels):
        return column.codes
    table = np.append(labels.get_indexer(column.categories.astype("str")), -1)  # code -1 stays -1
    return table.astype(np.min_scalar_type(-len(labels)))[column.codes]


def _same(cats: pd.Index, other: pd.Index) -> bool:
    return cats is other or (cats.dtype == other.dtype and cats.equals(other))


def compact(codes: np.ndarray, labels: pa.Array) -> pd.Categorical:
    """The categorical of ``labels[codes]`` (labels: a string array; code -1: missing) with only the
    labels used, sorted: what astype("category") of those values gives, without a Python object a
    value (arrow sorts UTF-8 bytes, whose order is code point order, pandas' order)."""
    present = codes if codes.min(initial=0) >= 0 else codes[codes >= 0]
    used = np.flatnonzero(np.bincount(present, minlength=len(labels)))
    order = used[pc.array_sort_indices(labels.take(used)).to_numpy()]
    rank = np.full(len(labels) + 1, -1, np.min_scalar_type(-len(labels) - 1))  # the extra -1: code -1's
    rank[order] = np.arange(len(order))
    dtype = pd.CategoricalDtype(pd.Index(labels.take(order), dtype="str"))
    return pd.Categorical.from_codes(rank[codes], dtype=dtype, validate=False)


def categorical(text: pa.Array) -> pd.Categorical:
    """A string or dictionary array (nulls: missing) as the categorical ``astype("category")`` of its
    values gives (``compact``), dictionary-encoded in C++ unless it is already."""
    encoded = text if pa.types.is_dictionary(text.type) else pc.dictionary_encode(text)
    return compact(encoded.indices.fill_null(-1).to_numpy().astype(np.int64), encoded.dictionary)


def tidy(values: pd.Categorical) -> pd.Categorical:
    """A categorical as astype("category") of its values would make it: unused categories dropped, the
    rest sorted (after rows were left out, one may be unused). Returned as is when it already is."""
    codes, labels = np.asarray(values.codes), values.categories
    if np.bincount(codes[codes >= 0], minlength=len(labels)).all() and labels.is_monotonic_increasing:
        return values
    return compact(codes, pa.array(labels, pa.large_string()))
