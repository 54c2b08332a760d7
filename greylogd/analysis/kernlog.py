"""Kernel iptables/nftables LOG lines into the ``connections`` frame (spec/report.md, spec/logformats.md 3).

``read_kernlog(paths)`` reads every input ``sources.map_envelopes`` knows (kern.log/syslog in RFC 3164,
RFC 3339 or RFC 5424, rotated and gzipped sets, ``-``, journald JSON, dmesg, /dev/kmsg, ulogd LOGEMU)
and returns a ``KernlogResult``. ``parse_kernlog(lines)`` does the same for lines already in memory.

Policy: a line without `` OUT=`` (which the kernel prints in every LOG line) is not a LOG line; it is
*skipped* and only counted. A LOG line that cannot be used (no syslog header or time, no SRC, no PROTO,
malformed fields, an invalid address or port) goes to ``bad_lines`` with its source, line number and
reason; nothing raises for bad content. Rows equal in ``_SAME_LINE`` (ts, host, prefix, addresses,
ports) are kept once: the same line logged to both kern.log and syslog, or a retransmitted SYN seen
twice within one second of an RFC 3164 stamp. Rows from a journald export and from kern.log have
different times (journald's is recomputed from the kernel's clock), so they are *not* merged.
Category: frames.CATEGORIES by trimmed, case-insensitive prefix, else "other"; an empty IN= (OUTPUT
chain) is "outbound" whatever the prefix.

Parsing is vectorized: per chunk, one RE2 pass for the syslog header and three short ones for the LOG
fields (``pyarrow.compute.extract_regex``), dotted quads validated by one RE2 pass, other addresses
normalised by ``ipaddress`` once per distinct value.
"""

from __future__ import annotations

import ipaddress
import os
import re
import socket
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, replace
from functools import partial

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from greylogd.analysis import frames, logscan
from greylogd.analysis.headers import SourceOptions, arrow_strings, to_int
from greylogd.analysis.sources import (
    CHUNK_BYTES,
    Envelopes,
    RawChunk,
    bad_lines,
    chunk_envelopes,
    lines_chunk,
    map_chunks,
)

# Three short patterns rather than one spanning the line: RE2's submatch engine runs over the span of
# the match, so short matches are several times faster. The first SRC/DST and PROTO are the outer
# packet's (an ICMP error quotes the inner one after them).
LOG_FIELDS = (
    r"^(?:\[ *[0-9]+\.[0-9]+\] )?(?P<prefix>(?:[^I]|I[^N]|IN[^=])*)IN=(?P<in_if>[^ ]*) OUT=",
    r" SRC=(?P<src>[^ ]+) DST=(?P<dst>[^ ]+) ",
    r" PROTO=(?P<proto>[^ ]+)(?: SPT=(?P<spt>[0-9]+) DPT=(?P<dpt>[0-9]+))?",
)
_SAME_LINE = ["ts", "host", "prefix", "src", "spt", "dpt", "dst"]  # what makes two rows the same line
_OCTET = r"(?:25[0-5]|2[0-4][0-9]|1[0-9][0-9]|[1-9]?[0-9])"
_IPV4 = rf"^(?:{_OCTET}\.){{3}}{_OCTET}$"
LOG_MARK = " OUT="  # the kernel prints "IN=<if> OUT=<if> " in every LOG line


@dataclass
class KernlogResult:
    """What ``read_kernlog`` found.

    connections: frames.CONNECTIONS rows, sorted by ts (stable, so input order breaks ties).
    bad_lines: frames.BAD_LINES rows, malformed LOG lines only.
    lines: lines read in total; skipped: lines that were not LOG lines; duplicates: rows dropped.
    """

    connections: pd.DataFrame
    bad_lines: pd.DataFrame
    lines: int
    skipped: int
    duplicates: int


def read_kernlog(paths: str | os.PathLike[str] | Iterable[str | os.PathLike[str]], *,
                 tz: str | None = None, categories: Mapping[str, str] | None = None,
                 options: SourceOptions | None = None, chunk_bytes: int = CHUNK_BYTES,
                 progress: bool | None = None) -> KernlogResult:
    """Connections of every LOG line in ``paths`` (one path, ``-``, or several; rotations oldest first).

    tz: IANA zone of RFC 3164 stamps (overrides ``options.tz``; default the machine's zone);
    categories: prefix -> category, case-insensitive, replacing frames.CATEGORIES; options: year
    reference, boot time and host for stamps that lack them (headers.SourceOptions); chunk_bytes:
    read size, peak memory is about 20 times it plus the result (about 150 bytes a connection);
    progress: tqdm bar on stderr, None = only when stderr is a terminal.
    Raises InputError (one line naming the input) for a missing or unreadable input.
    """
    options = replace(options or SourceOptions(), **({"tz": tz} if tz is not None else {}))
    parse = partial(parse_raw, options=options, categories=categories)
    return _combine(list(map_chunks(parse, paths, chunk_bytes, progress)))


def parse_kernlog(lines: Iterable[str], *, source: str = "<lines>", options: SourceOptions | None = None,
                  categories: Mapping[str, str] | None = None) -> KernlogResult:
    """``read_kernlog`` for lines in memory (format sniffed from the first; times as SourceOptions)."""
    return _combine([parse_raw(lines_chunk(lines, source), options or SourceOptions(), categories)])


@dataclass
class Parsed:
    """One chunk's part of a KernlogResult; ``line`` holds the line numbers of the connections rows."""

    connections: pd.DataFrame
    line: np.ndarray
    bad: pd.DataFrame
    lines: int
    skipped: int


def parse_raw(raw: RawChunk, options: SourceOptions, categories: Mapping[str, str] | None = None) -> Parsed:
    """``parse_chunk`` of a raw chunk: lines of the formats logscan knows are scanned in C, the lines it
    leaves (and every line of other formats) go through the Python path; same result either way."""
    if raw.fmt not in logscan.FORMATS or raw.lines.null_count:
        return parse_chunk(chunk_envelopes(raw, options, LOG_MARK), categories)
    found = logscan.scan(raw.lines, raw.fmt)
    ts = logscan.stamps(found, raw.fmt, raw.mtime, options)
    late = ts.isna().to_numpy()  # the stamp rules rejected it (e.g. Feb 30): the Python path says why
    if late.any():
        found.status[found.line[late]] = logscan.FALLBACK
    host = None if raw.fmt in ("rfc3164", "rfc3339") else options.host or socket.gethostname()
    fast = _scanned(found, ts, host, categories)
    rows = found.line[~late] + raw.first_line
    rest = parse_chunk(chunk_envelopes(raw, options, LOG_MARK, found.status == logscan.FALLBACK), categories)
    connections = fast.iloc[np.flatnonzero(~late)] if late.any() else fast
    if len(rest.connections):
        order = np.argsort(np.concatenate([rows, rest.line]), kind="stable")
        connections = pd.concat([connections, rest.connections], ignore_index=True).take(order)
        rows = np.concatenate([rows, rest.line])[order]
    skipped = int(np.count_nonzero(found.status == logscan.SKIP))
    return Parsed(connections.reset_index(drop=True), rows, rest.bad, len(raw.lines), skipped)


def _scanned(found: logscan.Scan, ts: pd.Series, host: str | None,
             categories: Mapping[str, str] | None) -> pd.DataFrame:
    """frames.CONNECTIONS rows of the scanner's rows (host None: the scanned one; else this host)."""
    text = lambda array: pd.Series(array, dtype="str")  # noqa: E731
    ports = {name: pd.arrays.IntegerArray(values.astype(np.int64), values < 0)
             for name, values in (("spt", found.spt), ("dpt", found.dpt))}
    prefix, in_if = text(found.prefix), text(found.in_if)
    return pd.DataFrame({
        "ts": ts, "host": text(found.host) if host is None else pd.Series(host, index=ts.index, dtype="str"),
        "prefix": prefix, "category": categorise(prefix, in_if, categories),
        "src": text(found.src), "dst": text(found.dst), **ports, "proto": text(found.proto),
        "ip_version": pd.array(found.ip_version.astype(np.int64), dtype=frames.INT), "in_if": in_if,
    })


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
    return Parsed(connections, log["line"].to_numpy()[good], bad_lines(chunk.source, log, reasons),
                  chunk.lines, chunk.lines - len(log))


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
              (table["src"].isna() | table["dst"].isna(), "invalid address"),
              (table["bad_port"], "invalid port")]
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
    prefix = table["prefix"].str.strip()
    category = categorise(prefix, table["in_if"], categories)
    out = table.assign(ts=log["ts"], host=log["host"], prefix=prefix, category=category,
                       ip_version=np.where(table["src"].str.contains(":", regex=False), 6, 4))
    return frames.typed(out, frames.CONNECTIONS)


def categorise(prefix: pd.Series, in_if: pd.Series, categories: Mapping[str, str] | None) -> pd.Series:
    """Category of trimmed prefixes (case-insensitive lookup, else "other"; "outbound" where IN= is
    empty), looked up once per distinct prefix."""
    mapping = {key.strip().upper(): value for key, value in (categories or frames.CATEGORIES).items()}
    codes, uniques = pd.factorize(prefix)
    named = pd.Series(uniques, dtype="str").str.upper().map(mapping).fillna(frames.OTHER_CATEGORY)
    category = pd.Series(named.array.take(codes), index=prefix.index, dtype="str")
    return category.mask((in_if == "").to_numpy(bool), frames.OUTBOUND_CATEGORY)


def _duplicated(connections: pd.DataFrame) -> np.ndarray:
    """Rows equal in _SAME_LINE to an earlier row; strings are compared only where times/ports match."""
    maybe = np.flatnonzero(connections.duplicated(["ts", "spt", "dpt"], keep=False).to_numpy())
    duplicated = np.zeros(len(connections), bool)
    duplicated[maybe] = connections.iloc[maybe].duplicated(_SAME_LINE).to_numpy()
    return duplicated


def _combine(parts: list[Parsed]) -> KernlogResult:
    """One result from per-chunk parts: concatenated, deduplicated, sorted by time (one copy)."""
    connections = pd.concat([frames.empty(frames.CONNECTIONS), *(p.connections for p in parts)],
                            ignore_index=True)
    lines, skipped = sum(p.lines for p in parts), sum(p.skipped for p in parts)
    bad = pd.concat([frames.empty(frames.BAD_LINES), *(p.bad for p in parts)], ignore_index=True)
    parts.clear()  # the per-chunk frames are no longer needed: lower the peak memory
    keep = np.flatnonzero(~_duplicated(connections))
    order = keep[np.argsort(connections["ts"].dt.tz_convert(None).to_numpy()[keep], kind="stable")]
    unique = connections.take(order).reset_index(drop=True)
    return KernlogResult(unique, frames.typed(bad, frames.BAD_LINES), lines, skipped,
                         len(connections) - len(unique))
