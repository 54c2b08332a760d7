"""The Store operations written once over DB-API cursors; each driver supplies its SQL dialect and its
transactions (sqlite.py, postgres.py, mysql.py).

Every public method is one short transaction: read what it needs, apply rows.py's rules, write with
executemany. A driver error rolls the transaction back and surfaces as StoreError, so a caller that keeps
its batch and retries loses nothing.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any

from greylogd.greydb.rows import ENTRY_COLUMNS, entry_from_row, ip_rows, merge_add, plan_refresh, sort_key
from greylogd.greydb.store import Entry, Kind, RefreshResult

_IN_CHUNK = 500  # addresses per SELECT ... IN (...), below every engine's bound-parameter limit


@dataclass(frozen=True, slots=True)
class Dialect:
    """How one engine spells greyd's statements.

    quote: identifier quote character; param: placeholder; with_host: entries has greyd_host;
    put_entry: "{cols}"/"{params}" template that inserts or replaces a whole entries row;
    put_key: "{table}"/"{column}"/"{param}" template that inserts a spamtrap/domain unless present;
    lock: clause appended to the SELECT of rows about to be rewritten.
    """

    quote: str
    param: str
    with_host: bool
    put_entry: str
    put_key: str
    lock: str = ""


@dataclass(frozen=True, slots=True)
class Statements:
    """The SQL texts a Dialect produces; select_ip_rows has a "{params}" hole for the IN list."""

    select_ip_rows: str
    put_entry: str
    put_spamtrap: str
    put_domain: str
    delete_entry: str
    delete_spamtrap: str
    delete_domain: str
    listing: str


def build_statements(d: Dialect) -> Statements:
    """Spell greyd's statements for one engine (identifiers always quoted: `from` and `to` are keywords)."""
    def q(name: str) -> str:
        return f"{d.quote}{name}{d.quote}"

    columns = [*ENTRY_COLUMNS, "greyd_host"] if d.with_host else list(ENTRY_COLUMNS)
    cols = ", ".join(q(c) for c in columns)
    ip_row = f"{q('helo')} = '' AND {q('from')} = '' AND {q('to')} = ''"
    key_match = " AND ".join(f"{q(c)} = {d.param}" for c in ENTRY_COLUMNS[:4])
    host = ", NULL" if d.with_host else ""
    return Statements(
        select_ip_rows=f"SELECT {cols} FROM entries WHERE {ip_row} AND {q('ip')} IN ({{params}}){d.lock}",
        put_entry=d.put_entry.format(cols=cols, params=", ".join([d.param] * len(columns))),
        put_spamtrap=d.put_key.format(table="spamtraps", column=q("address"), param=d.param),
        put_domain=d.put_key.format(table="domains", column=q("domain"), param=d.param),
        delete_entry=f"DELETE FROM entries WHERE {key_match}",
        delete_spamtrap=f"DELETE FROM spamtraps WHERE {q('address')} = {d.param}",
        delete_domain=f"DELETE FROM domains WHERE {q('domain')} = {d.param}",
        listing=(f"SELECT {cols} FROM entries"
                 f" UNION SELECT {q('address')}, '', '', '', 0, 0, 0, 0, -2{host} FROM spamtraps"
                 f" UNION SELECT {q('domain')}, '', '', '', 0, 0, 0, 0, -3{host} FROM domains"),
    )


class SqlStore:
    """Store protocol on greyd's schema; subclasses implement _write(), _read() and close().

    greyd_host is written into every entries row on PostgreSQL/MySQL (None on SQLite); trapped_to_white
    restores greyd's behaviour of turning a TRAPPED row WHITE on a connection event.
    """

    def __init__(self, dialect: Dialect, *, greyd_host: str | None, trapped_to_white: bool) -> None:
        self.dialect, self.sql = dialect, build_statements(dialect)
        self.greyd_host, self.trapped_to_white = greyd_host, trapped_to_white

    def _write(self) -> contextlib.AbstractContextManager[Any]:
        """A cursor inside one write transaction: commit on exit; on error roll back and raise StoreError."""
        raise NotImplementedError

    def _read(self) -> contextlib.AbstractContextManager[Any]:
        """A cursor inside one read-only transaction."""
        raise NotImplementedError

    def close(self) -> None:
        raise NotImplementedError

    def refresh_white(self, counts: dict[str, int], now: int, white_expiry: int) -> RefreshResult:
        """One transaction for the whole batch; see rows.plan_refresh for the rules.

        An address without an IP row gets greyd's new row (first = pass = now, bcount 0, pcount = n) written
        straight from the counts: on a busy gateway most addresses of a batch are new, and building an Entry
        for each was most of the Python time of a commit. Existing rows go through plan_refresh.
        """
        if not counts:
            return RefreshResult()
        host = (self.greyd_host,) if self.dialect.with_host else ()
        expire = now + white_expiry
        with self._write() as cur:
            existing = self._fetch_ip_rows(cur, list(counts))
            known = {ip: n for ip, n in counts.items() if ip in existing} if existing else {}
            writes, result = plan_refresh(existing, known, now, white_expiry, self.trapped_to_white)
            created = tuple(ip for ip in counts if ip not in existing)
            fresh = [(ip, "", "", "", now, now, expire, 0, counts[ip], *host) for ip in created]
            self._write_refresh(cur, writes, fresh)
        return RefreshResult(created, result.refreshed, result.trapped_kept)

    def _write_refresh(self, cur: Any, refreshed: list[Entry], fresh: list[tuple[Any, ...]]) -> None:
        """Write refresh_white's rows: `refreshed` are existing IP rows that differ from the database only in
        pcount and expire; `fresh` are new rows as put_entry's parameters. Drivers may spell it faster."""
        self._put(cur, refreshed, fresh)

    def add(self, entries: Iterable[Entry]) -> None:
        """greydb -a semantics in one transaction: WHITE/TRAPPED entries are the rows greydb would create and
        are merged into an existing IP row (rows.merge_add); SPAMTRAP/DOMAIN are inserted unless present;
        GREY entries are written exactly as given (greydb cannot add them; tests and the demo can)."""
        batch = list(entries)
        with self._write() as cur:
            current = self._fetch_ip_rows(cur, [e.ip for e in batch if e.kind in (Kind.WHITE, Kind.TRAPPED)])
            writes = []
            for entry in batch:
                if entry.kind in (Kind.WHITE, Kind.TRAPPED):
                    entry = current[entry.ip] = merge_add(entry, current.get(entry.ip))
                writes.append(entry)
            self._put(cur, writes)

    def delete(self, entries: Iterable[Entry]) -> None:
        """Delete each entry's key (an IP row whatever its kind, a tuple, a spamtrap or a domain); a missing
        key is not an error, as with greydb -d on SQL drivers."""
        rows, spamtraps, domains = _split(entries)
        with self._write() as cur:
            self._executemany(cur, self.sql.delete_spamtrap, spamtraps)
            self._executemany(cur, self.sql.delete_domain, domains)
            keys = [(e.ip, e.helo, e.mail_from, e.rcpt_to) for e in rows]
            self._executemany(cur, self.sql.delete_entry, keys)

    def snapshot(self) -> list[Entry]:
        """Every row, read in one short transaction, in greyd's SQLite listing order (rows.sort_key)."""
        with self._read() as cur:
            cur.execute(self.sql.listing)
            rows = cur.fetchall()
        return sorted((entry_from_row(row) for row in rows), key=sort_key)

    def iter_entries(self) -> Iterator[Entry]:
        """snapshot() as an iterator: the read transaction is over before the first entry is yielded, so a
        slow consumer never holds a lock greyd's writers wait for."""
        return iter(self.snapshot())

    def _fetch_ip_rows(self, cur: Any, ips: Sequence[str]) -> dict[str, Entry]:
        rows = []
        for start in range(0, len(ips), _IN_CHUNK):
            chunk = ips[start:start + _IN_CHUNK]
            cur.execute(self.sql.select_ip_rows.format(params=", ".join([self.dialect.param] * len(chunk))),
                        chunk)
            rows.extend(cur.fetchall())
        return ip_rows(entry_from_row(row) for row in rows)

    def _put(self, cur: Any, entries: Iterable[Entry], fresh: list[tuple[Any, ...]] | None = None) -> None:
        """Write entries, then `fresh`: entries rows given as put_entry's parameters (greyd_host included)."""
        rows, spamtraps, domains = _split(entries)
        self._executemany(cur, self.sql.put_spamtrap, spamtraps)
        self._executemany(cur, self.sql.put_domain, domains)
        host = (self.greyd_host,) if self.dialect.with_host else ()
        self._put_rows(cur, [(e.ip, e.helo, e.mail_from, e.rcpt_to, e.first, e.pass_, e.expire, e.bcount,
                              e.pcount, *host) for e in rows] + (fresh or []))

    def _put_rows(self, cur: Any, params: list[tuple[Any, ...]]) -> None:
        """Insert or replace entries rows given as put_entry's parameters, in order (a later row of a key
        wins); drivers may override this with a faster spelling."""
        self._executemany(cur, self.sql.put_entry, params)

    @staticmethod
    def _executemany(cur: Any, sql: str, params: list[tuple[Any, ...]]) -> None:
        if params:
            cur.executemany(sql, params)


def _split(entries: Iterable[Entry]) -> tuple[list[Entry], list[tuple[str]], list[tuple[str]]]:
    """entries-table rows in their original order (a later write of a key wins), spamtrap and domain keys."""
    rows, spamtraps, domains = [], [], []
    for entry in entries:
        if entry.kind is Kind.SPAMTRAP:
            spamtraps.append((entry.ip,))
        elif entry.kind is Kind.DOMAIN:
            domains.append((entry.ip,))
        else:
            rows.append(entry)
    return rows, spamtraps, domains
