"""Kernel LOG lines of one chunk into connections rows and bad lines: the C scanner where it can vouch
for a line (``greylogd.analysis.logscan``), the Python path (RE2 patterns, below) for every other line.
Both give the same rows, reasons and dtypes (tests/unit/test_logscan.py); the policy is kernlog's.

The Python path is vectorized: per chunk, one RE2 pass for the syslog header and three short ones for
the LOG fields (``pyarrow.compute.extract_regex``), dotted quads validated by one RE2 pass, other
addresses normalised by ``ipaddress`` once per distinct value.
"""

from __future__ import annotations

import ipaddress
import re
import socket
from collections.abc import Mapping
from dataclasses import dataclass, replace

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from greylogd.analysis import frames, logscan
from greylogd.analysis.headers import SourceOptions, arrow_strings, to_int
from greylogd.analysis.sources import Envelopes, RawChunk, bad_lines, chunk_envelopes, in_line_order, subset
from greylogd.analysis.stamps import split_stamps

# Three short patterns rather than one spanning the line: RE2's submatch engine runs over the span of
# the match, so short matches are several times faster. The first SRC/DST and PROTO are the outer
# packet's (an ICMP error quotes the inner one after them).
LOG_FIELDS = (
    r"^(?:\[ *[0-9]+\.[0-9]+\] )?(?P<prefix>(?:[^I]|I[^N]|IN[^=])*)IN=(?P<in_if>[^ ]*) OUT=",
    r" SRC=(?P<src>[^ ]+) DST=(?P<dst>[^ ]+) ",
    r" PROTO=(?P<proto>[^ ]+)(?: SPT=(?P<spt>[0-9]+) DPT=(?P<dpt>[0-9]+))?",
)
_OCTET = r"(?:25[0-5]|2[0-4][0-9]|1[0-9][0-9]|[1-9]?[0-9])"
_IPV4 = rf"^(?:{_OCTET}\.){{3}}{_OCTET}$"
LOG_MARK = " OUT="  # the kernel prints "IN=<if> OUT=<if> " in every LOG line
INVALID_ADDRESS, INVALID_PORT = "invalid address", "invalid port"  # bad_lines reasons both paths give


# a chunk that leaves fewer lines than this to the Python path can have them parsed later, together with
# other chunks' (kernlog batches them): the Python path costs about 30 ms a call whatever its size
DEFER_LINES = 8192


@dataclass
class Parsed:
    """One chunk's part of a KernlogResult: connections rows and the line number of each (``line``),
    bad lines, lines read and skipped; ``left``: lines not parsed yet (``parse_raw(defer=True)``);
    ``input``: RawChunk.input of its source."""

    source: str
    connections: pd.DataFrame
    line: np.ndarray
    bad: pd.DataFrame
    lines: int
    skipped: int
    left: RawChunk | None = None
    input: int = 0


def parse_raw(raw: RawChunk, options: SourceOptions, categories: Mapping[str, str] | None = None,
              defer: bool = False) -> Parsed:
    """``parse_chunk`` of a raw chunk: lines of the formats logscan knows are scanned in C, the lines it
    leaves (and every line of other formats) go through the Python path, now or, with ``defer`` and
    fewer than DEFER_LINES of them, by whoever batches ``Parsed.left``; same result either way."""
    if raw.fmt not in logscan.FORMATS or raw.lines.null_count:
        return replace(parse_chunk(chunk_envelopes(raw, options, LOG_MARK), categories), input=raw.input)
    found = logscan.scan(raw.lines, raw.fmt)
    stamps = split_stamps(np.concatenate([found.stamp, found.bad_stamp]), raw.fmt, raw.mtime, options)
    late = stamps.isna().to_numpy()  # the stamp rules rejected it (e.g. Feb 30): the Python path says why
    found.status[np.concatenate([found.line, found.bad_line])[late]] = logscan.FALLBACK
    late, bad_late = late[:len(found.line)], late[len(found.line):]
    host = None if raw.fmt in ("rfc3164", "rfc3339") else options.host or socket.gethostname()
    rows = np.flatnonzero(~late) if late.any() else None
    ts = stamps.iloc[:len(found.line)]
    connections = logscan.connections(found, ts if rows is None else ts.iloc[rows], host, categories, rows)
    numbers, left = raw.line_numbers(), found.status == logscan.FALLBACK
    part = Parsed(raw.source, connections, numbers[found.line if rows is None else found.line[rows]],
                  _scanned_bad(raw, found.bad_line[~bad_late], found.bad_reason[~bad_late]),
                  len(raw.lines) - int(np.count_nonzero(left)),
                  int(np.count_nonzero(found.status == logscan.SKIP)), subset(raw, left), raw.input)
    if defer and len(part.left.lines) < DEFER_LINES:
        return part
    rest = parse_chunk(chunk_envelopes(part.left, options, LOG_MARK), categories)
    return merge(replace(part, left=None), rest)


def _scanned_bad(raw: RawChunk, index: np.ndarray, reason: np.ndarray) -> pd.DataFrame:
    """bad_lines rows (as sources.bad_lines makes them) of the lines at ``index`` the scanner named bad,
    with _reasons' words for them; built from arrays (the scanner's lines are printable ASCII)."""
    text = pc.utf8_slice_codeunits(pc.utf8_rtrim(raw.lines.take(index), "\r\n"), 0, frames.RAW_MAX)
    words = pa.array(["", INVALID_ADDRESS, INVALID_PORT], pa.large_string())
    return pd.DataFrame({
        "source": pd.array(pa.array([raw.source], pa.large_string()).take(np.zeros(len(index), np.int64)),
                           dtype=frames.STR),
        "line": pd.array(raw.line_numbers()[index], dtype=frames.INT),
        "reason": pd.array(words.take(reason.astype(np.int64)), dtype=frames.STR),
        "raw": pd.array(text, dtype=frames.STR)})


def merge(first: Parsed, then: Parsed) -> Parsed:
    """Two parts of one source as one, rows and bad lines in line order (``then`` has no ``left``)."""
    found = [first, then] if len(then.connections) else [first]
    connections, line, bad = in_line_order([p.connections for p in found], [p.line for p in found],
                                           [first.bad, then.bad])
    return Parsed(first.source, connections, line, bad, first.lines + then.lines,
                  first.skipped + then.skipped, first.left, first.input)


def parse_chunk(chunk: Envelopes, categories: Mapping[str, str] | None = None) -> Parsed:
    """Connections and bad lines of one envelope chunk whose lines were kept by ``LOG_MARK`` (the
    Python path: RE2 patterns)."""
    log = chunk.frame
    table = _fields(arrow_strings(log["message"].fillna("")), log.index)
    table["src"], table["dst"] = normalise_addresses(table["src"]), normalise_addresses(table["dst"])
    table["bad_port"] = False
    for port in ("spt", "dpt"):
        number = to_int(table[port], 65535)
        table["bad_port"] |= table[port].fillna("").ne("") & number.isna()
        table[port] = number
    reasons = _reasons(log, table)
    good = reasons.isna().to_numpy()
    if good.all():  # filtering copies every column: only when there is something to drop
        connections = _connections(log, table, categories)
    else:
        connections = _connections(log[good], table[good], categories)
    return Parsed(chunk.source, connections, log["line"].to_numpy()[good],
                  bad_lines(chunk.source, log, reasons), chunk.lines, chunk.lines - len(log))


def _fields(message: pa.Array, index: pd.Index) -> pd.DataFrame:
    """LOG_FIELDS groups as str columns; a row missing any of the three parts is all NaN."""
    columns, valid = {}, np.ones(len(message), bool)
    for pattern in LOG_FIELDS:
        parts = pc.extract_regex(message, pattern)
        valid &= parts.is_valid().to_numpy(zero_copy_only=False)
        for name in re.findall(r"\?P<(\w+)>", pattern):
            columns[name] = pd.Series(parts.field(name), dtype="str", index=index)
    table = pd.DataFrame(columns, index=index)
    if not valid.all():
        table.loc[~valid] = np.nan
    return table


def _reasons(log: pd.DataFrame, table: pd.DataFrame) -> pd.Series:
    """Why each LOG line is bad (NaN when it is good); the first failing check names it."""
    suspect = log["ts"].isna() | table["src"].isna() | table["dst"].isna() | table["bad_port"]
    log, table = log[suspect], table[suspect]
    message = log["message"].fillna("")
    checks = [(log["ts"].isna(), "no syslog header or time"),
              (~message.str.contains(" SRC=", regex=False), "no SRC"),
              (~message.str.contains(" PROTO=", regex=False), "no PROTO"),
              (table["proto"].isna(), "malformed LOG fields"),
              (table["src"].isna() | table["dst"].isna(), INVALID_ADDRESS),
              (table["bad_port"], INVALID_PORT)]
    reasons = np.select([mask.to_numpy(bool) for mask, _ in checks], [r for _, r in checks], default="")
    return pd.Series(reasons, index=log.index, dtype="str").reindex(suspect.index)


def normalise_addresses(text: pd.Series) -> pd.Series:
    """IP addresses in ``ipaddress`` compressed form (the kernel prints IPv6 fully expanded); NaN where
    missing or invalid. Dotted quads are checked in one RE2 pass (the kernel's %pI4 is already
    canonical); everything else is converted by ``ipaddress`` once per distinct value."""
    quad = pc.match_substring_regex(arrow_strings(text), _IPV4).to_numpy(zero_copy_only=False)
    quad = np.asarray(pd.Series(quad, index=text.index).fillna(False), dtype=bool)
    codes, uniques = pd.factorize(text[~quad])
    normal = np.array([_normal(value) for value in uniques] + [np.nan], dtype=object)
    out = text.where(quad)
    out[~quad] = normal[codes]
    return out.astype("str")


def _normal(value: str) -> str | float:
    try:
        return ipaddress.ip_address(value).compressed
    except ValueError:
        return np.nan


def _connections(log: pd.DataFrame, table: pd.DataFrame,
                 categories: Mapping[str, str] | None) -> pd.DataFrame:
    """frames.CONNECTIONS rows of good LOG lines."""
    prefix = table["prefix"].str.strip().astype("category")
    category = logscan.categorise(prefix.array, (table["in_if"] == "").to_numpy(bool), categories)
    out = table.assign(ts=log["ts"], host=log["host"], prefix=prefix, category=category,
                       ip_version=np.where(table["src"].str.contains(":", regex=False), 6, 4))
    return frames.typed(out, frames.CONNECTIONS)


