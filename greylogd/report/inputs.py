"""Read the report's sources into analysis.weekly.Inputs: logs, greyd's database, the ledger.

Every source is optional. greyd's database is one of: a greyd SQLite file (`--db greyd.sqlite`), a
`greydb`/`spamdb` listing saved to a text file (`--db listing.txt`), or the `database` section of a
greyd.conf (`-f`), which also reaches PostgreSQL and MySQL. The ledger is read for the period before the
report's period too (week-over-week). Without a ledger, the GREY rows of the DB snapshot stand in for
it and the report says which hours they cover. Unreadable sources raise InputError (one line).

The snapshot's time is when the database last changed for a file (a listing's or SQLite file's mtime,
the newest of the SQLite file and its journal/WAL, never after now): a copied or archived database
describes that moment, not the moment it is read. A database server is read as it is now.
"""

from __future__ import annotations

from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from itertools import pairwise
from pathlib import Path

import pandas as pd

from greylogd.analysis import frames
from greylogd.analysis.greyddb import entries_frame, read_listing, tuples_from_snapshot
from greylogd.analysis.greydlog import read_greydlog
from greylogd.analysis.kernlog import read_kernlog
from greylogd.analysis.period import Period
from greylogd.analysis.weekly import Inputs
from greylogd.config import Config
from greylogd.errors import GreylogdError, InputError
from greylogd.greydb.open import open_store
from greylogd.greydb.sqlite import SqliteStore
from greylogd.ledger import Ledger
from greylogd.memory import release_memory

SQLITE_MAGIC = b"SQLite format 3\x00"
LEDGER_SLICE = pd.Timedelta(days=1)


@dataclass(frozen=True, slots=True)
class Sources:
    """What the command line named. config is the parsed greyd.conf (-f), used for `database`; log_tz is
    the zone of RFC 3164 syslog stamps (None: this machine's zone)."""

    kernel_logs: tuple[Path, ...] = ()
    greyd_logs: tuple[Path, ...] = ()
    journals: tuple[Path, ...] = ()
    db: Path | None = None
    config: Config | None = None
    ledger: Path | None = None
    log_tz: str | None = None

    def any_db(self) -> bool:
        return self.db is not None or (self.config is not None and "database" in self.config.sections)


def _snapshot(sources: Sources) -> tuple[pd.DataFrame, pd.Timestamp, pd.DataFrame | None]:
    """(entries, snapshot time, bad lines or None) from --db or -f's database section."""
    path = sources.db
    if path is not None:
        try:
            is_sqlite = path.open("rb").read(16) == SQLITE_MAGIC
        except OSError as exc:
            raise InputError(f"{path}: cannot read greyd database: {exc.strerror}") from exc
        if not is_sqlite:
            entries, bad, taken = read_listing(path)
            return entries, taken, bad
        store, taken = SqliteStore(str(path.parent), path.name), _changed(path)
    else:
        assert sources.config is not None
        store, taken = open_store(sources.config.database_settings()), pd.Timestamp.now(tz="UTC").floor("s")
    try:
        return entries_frame(store.snapshot()), taken, None
    except GreylogdError as exc:
        raise InputError(f"greyd database: {exc}") from exc
    finally:
        store.close()


def _changed(path: Path) -> pd.Timestamp:
    """When a SQLite database last changed: newest mtime of the file and its -journal/-wal, UTC, at most
    now (a clock skew must not put the snapshot in the future)."""
    companions = [path, path.with_name(path.name + "-journal"), path.with_name(path.name + "-wal")]
    newest = max(p.stat().st_mtime for p in companions if p.exists())
    return min(pd.Timestamp(newest, unit="s", tz="UTC"), pd.Timestamp.now(tz="UTC")).floor("s")


def _ledger_tuples(path: Path, period: Period) -> pd.DataFrame:
    """The ledger's tuples first seen in the period and the one before, read LEDGER_SLICE at a time: the
    ledger's frame is compact (text categorical), but the raw columns it is built from are several times
    its size, so reading two busy weeks at once would need gigabytes. Each slice is its own read
    transaction; a tuple belongs to exactly one slice (by first)."""
    if not path.exists():
        raise InputError(f"{path}: ledger not found")
    start, end = period.previous().start, period.end
    edges = [*pd.date_range(start, end, freq=LEDGER_SLICE, inclusive="left"), end]
    with Ledger(path) as ledger:
        parts = [ledger.read_tuples(a, b) for a, b in pairwise(edges)]
    return frames.concat(parts)


def load_inputs(sources: Sources, period: Period, event_columns: Sequence[str] | None = None) -> Inputs:
    """Read every named source (see module docstring); logs are read whole and cut to the period later.

    event_columns: the greyd_events columns to read (None: all, for notebooks); the report passes
    weekly.EVENT_COLUMNS, which spares most of a greyd log's memory (its message texts).
    The ledger is read in a thread while the logs are parsed: SQLite and pyarrow do most of its work
    without the GIL, as do the log readers (RE2, the C scanner), so the two overlap on a second core.
    """
    bad: list[pd.DataFrame] = []
    entries = taken = tuples = None
    with ThreadPoolExecutor(1) as pool:
        ledger = None if sources.ledger is None else pool.submit(_ledger_tuples, sources.ledger, period)
        if sources.any_db():
            entries, taken, listing_bad = _snapshot(sources)
            bad += [] if listing_bad is None else [listing_bad]
        connections, events = _logs(sources, bad, event_columns)
        tuples_source = "ledger"
        if ledger is not None:
            tuples = ledger.result()
        elif entries is not None and entries["kind"].eq("GREY").any():
            tuples, tuples_source = tuples_from_snapshot(entries, taken), "greyd db snapshot"
    release_memory()
    bad_lines = pd.concat(bad, ignore_index=True) if bad else frames.empty(frames.BAD_LINES)
    return Inputs(connections, events, entries, taken, tuples, bad_lines, tuples_source)


def _logs(sources: Sources, bad: list[pd.DataFrame],
          event_columns: Sequence[str] | None) -> tuple[pd.DataFrame | None, pd.DataFrame | None]:
    """(connections, greyd_events) from the kernel, greyd and journal logs; None for a source not given.

    A journal export carries both kernel and greyd lines, so it feeds both readers.
    """
    kernel = [*sources.kernel_logs, *sources.journals]
    greyd = [*sources.greyd_logs, *sources.journals]
    connections = events = None
    if kernel:
        kernlog = read_kernlog(kernel, tz=sources.log_tz)
        connections = kernlog.connections
        bad.append(kernlog.bad_lines)
        del kernlog
        release_memory()
    if greyd:
        greydlog = read_greydlog(greyd, tz=sources.log_tz, columns=event_columns)
        events = greydlog.events
        bad.append(greydlog.bad_lines)
        del greydlog
        release_memory()
    return connections, events
