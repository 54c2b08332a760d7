"""The ledger's tables and statements, shared by its SQLite file and its PostgreSQL schema.

Tables: `tuples` (one row per tuple identity, outcome NULL while open), `retries` (one row per observed
bcount increase) and `meta` (`last_poll`, and `generation`, bumped by every poll so that a Ledger can
tell whether its in-memory copy of the open tuples is still the stored one). Open tuples were all
present at the last poll, so their last_seen is meta.last_poll and is not rewritten every poll; closed
tuples store their own. Indexes serve
the report's queries (first in a period: the tuple key, which leads with `first`; retries by ts) and the
poll (open tuples, also by first), so a poll's inserts and closes land in the recent end of each index
instead of pages all over it (a file made before keeps its (ip, ...) key and its separate `first` index:
same constraint, same results).
Times are Unix s (UTC).

Backends subclass LedgerDB and provide `write()` (a transaction that also serialises pollers), `read()`,
`close()` and the spelling (`param`, table `prefix`, the id column declaration, the integer type).
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass
from typing import Any

import pyarrow as pa

from greylogd.ledger.columns import from_rows
from greylogd.ledger.diff import Diff
from greylogd.ledger.model import Closed, Retry, TupleState

STATE = "ip, helo, mail_from, rcpt_to, first, pass, expire, bcount, first_seen, last_seen, trapped_at"
OPEN = "ip, helo, mail_from, rcpt_to, first, pass, expire, bcount, first_seen, trapped_at"
SCHEMA = """
CREATE TABLE IF NOT EXISTS {p}tuples (
    id {id},
    ip TEXT NOT NULL, helo TEXT NOT NULL, mail_from TEXT NOT NULL, rcpt_to TEXT NOT NULL,
    first {i} NOT NULL, pass {i} NOT NULL, expire {i} NOT NULL, bcount {i} NOT NULL,
    first_seen {i} NOT NULL, last_seen {i} NOT NULL, trapped_at {i},
    outcome TEXT CHECK (outcome IN ('promoted', 'expired', 'trapped')), outcome_ts {i},
    UNIQUE (first, ip, helo, mail_from, rcpt_to));
CREATE INDEX IF NOT EXISTS tuples_open ON {p}tuples (first) WHERE outcome IS NULL;
CREATE TABLE IF NOT EXISTS {p}retries (
    tuple_id {i} NOT NULL REFERENCES {p}tuples (id) ON DELETE CASCADE,
    ts {i} NOT NULL, observed_at {i} NOT NULL, bcount {i} NOT NULL);
CREATE INDEX IF NOT EXISTS retries_tuple ON {p}retries (tuple_id);
CREATE INDEX IF NOT EXISTS retries_ts ON {p}retries (ts);
CREATE TABLE IF NOT EXISTS {p}meta (name TEXT PRIMARY KEY, value {i} NOT NULL);
INSERT INTO {p}meta (name, value) VALUES ('generation', 0) ON CONFLICT (name) DO NOTHING"""


@dataclass(frozen=True)
class Statements:
    """The SQL texts for one backend (see the module docstring)."""

    schema: tuple[str, ...]
    position: str
    set_last_poll: str
    bump: str
    load_open: str
    insert: str
    update: str
    close: str
    retry: str
    prune: str
    tuples: str
    retries: str


def statements(q: str, p: str, id_decl: str, int_type: str) -> Statements:
    """Spell the statements with placeholder `q` and table prefix `p` (a schema name and a dot, or '')."""
    key = " AND ".join(f"{c} = {q}" for c in ("ip", "helo", "mail_from", "rcpt_to", "first"))
    schema = SCHEMA.format(p=p, id=id_decl, i=int_type)
    return Statements(
        schema=tuple(s.strip() for s in schema.split(";")),
        position=f"SELECT name, value FROM {p}meta WHERE name IN ('last_poll', 'generation')",
        set_last_poll=(f"INSERT INTO {p}meta (name, value) VALUES ('last_poll', {q}) "
                       "ON CONFLICT (name) DO UPDATE SET value = excluded.value"),
        bump=f"UPDATE {p}meta SET value = value + 1 WHERE name = 'generation'",
        load_open=f"SELECT {OPEN} FROM {p}tuples WHERE outcome IS NULL",
        insert=(f"INSERT INTO {p}tuples ({STATE}) VALUES ({', '.join([q] * 11)}) "
                "ON CONFLICT (ip, helo, mail_from, rcpt_to, first) DO UPDATE SET pass = excluded.pass, "
                "expire = excluded.expire, bcount = excluded.bcount, last_seen = excluded.last_seen, "
                "trapped_at = excluded.trapped_at, outcome = NULL, outcome_ts = NULL"),
        update=f"UPDATE {p}tuples SET pass = {q}, expire = {q}, bcount = {q}, trapped_at = {q} WHERE {key}",
        close=(f"UPDATE {p}tuples SET pass = {q}, bcount = {q}, last_seen = {q}, outcome = {q}, "
               f"outcome_ts = {q} WHERE {key}"),
        retry=(f"INSERT INTO {p}retries (tuple_id, ts, observed_at, bcount) SELECT id, {q}, {q}, {q} "
               f"FROM {p}tuples WHERE {key}"),
        prune=f"DELETE FROM {p}tuples WHERE first < {q} AND outcome IS NOT NULL",
        tuples=(f"SELECT ip, helo, mail_from, rcpt_to, first, CASE WHEN outcome IS NULL THEN "
                f"CAST({q} AS {int_type}) ELSE last_seen END, pass, bcount, outcome, outcome_ts, id "
                f"FROM {p}tuples WHERE first >= {q} AND first < {q} ORDER BY first, id"),
        retries=(f"SELECT t.ip, t.helo, t.mail_from, t.rcpt_to, t.first, r.ts, r.observed_at, r.bcount "
                 f"FROM {p}retries r JOIN {p}tuples t ON t.id = r.tuple_id WHERE r.ts >= {q} AND r.ts < {q} "
                 "ORDER BY r.ts, t.id"),
    )


class LedgerDB:
    """Operations on the ledger's tables through a backend's DB-API cursors (see module docstring)."""

    sql: Statements

    def write(self) -> contextlib.AbstractContextManager[Any]:
        raise NotImplementedError

    def read(self) -> contextlib.AbstractContextManager[Any]:
        raise NotImplementedError

    def close(self) -> None:
        raise NotImplementedError

    def position(self, cur: Any) -> tuple[int | None, int]:
        """(last_poll or None before the first poll, generation)."""
        values = dict(cur.execute(self.sql.position).fetchall())
        return values.get("last_poll"), values["generation"]

    def load_open(self, cur: Any) -> list[TupleState]:
        """The open tuples as the last poll left them (the persisted 'last snapshot')."""
        return [TupleState(*row) for row in cur.execute(self.sql.load_open).fetchall()]

    def apply(self, cur: Any, diff: Diff, now: int) -> None:
        """Write one poll's diff, move last_poll to `now` and bump the generation, inside the caller's write
        transaction. New tuples are last seen now, closed ones at the previous poll (diff.since)."""
        for sql, rows in ((self.sql.insert, [_state_row(s) for s in diff.new]),
                          (self.sql.update, [(s.pass_, s.expire, s.bcount, s.trapped_at, *s.key)
                                             for s in diff.changed]),
                          (self.sql.close, [_closed_row(c, diff.since) for c in diff.closed]),
                          (self.sql.retry, [_retry_row(r) for r in diff.retries])):
            if rows:
                cur.executemany(sql, rows)
        cur.execute(self.sql.set_last_poll, (now,))
        cur.execute(self.sql.bump)

    def prune(self, cutoff: int) -> int:
        """Delete closed tuples first seen before `cutoff` (their retries cascade); returns how many."""
        with self.write() as cur:
            cur.execute(self.sql.prune, (cutoff,))
            return int(cur.rowcount)

    def tuples(self, start: int, end: int) -> pa.Table:
        """columns.TUPLE_SCHEMA table of the tuples with first in [start, end), in any order (the frame
        orders them by first, id), read in one transaction with the last poll time that open tuples'
        last_seen is. Row-wise here (PostgreSQL: psycopg builds rows in C); SQLite reads column-wise."""
        with self.read() as cur:
            return from_rows(cur.execute(self.sql.tuples, (self.position(cur)[0], start, end)).fetchall())

    def retries(self, start: int, end: int) -> list[tuple[Any, ...]]:
        """Rows (ip, helo, from, to, first, ts, observed_at, bcount) of retries with ts in [start, end)."""
        with self.read() as cur:
            return cur.execute(self.sql.retries, (start, end)).fetchall()


def _state_row(s: TupleState) -> tuple[object, ...]:
    return (*s.key, s.pass_, s.expire, s.bcount, s.first_seen, s.first_seen, s.trapped_at)


def _closed_row(c: Closed, last_seen: int | None) -> tuple[object, ...]:
    s = c.state
    return (s.pass_, s.bcount, last_seen, c.outcome.value, c.outcome_ts, *s.key)


def _retry_row(r: Retry) -> tuple[object, ...]:
    return (r.ts, r.observed_at, r.bcount, *r.key)
