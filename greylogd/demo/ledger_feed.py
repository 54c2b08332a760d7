"""The demo's ledger, polled in a child process so that it runs beside the simulation, not after each step.

The simulation hands over each poll's greyd changes (greylogd.ledger.diff.Changes) and goes on; a child
process applies them, in order, with the real Ledger.observe_changes, one transaction per poll as a daemon
would. Polls travel in batches through a pipe as plain tuples (rows in greyd's column order), which pickle
several times faster than Entry objects; the child types them back exactly as the parent had them. The
pipe's buffer bounds how far the simulation runs ahead. Any failure in the child is raised by close().
"""

from __future__ import annotations

import os
import pickle
import subprocess
import sys
from pathlib import Path
from typing import BinaryIO

from greylogd.greydb.store import Entry, Kind
from greylogd.ledger import Ledger
from greylogd.ledger.diff import Changes

BATCH = 64  # polls per message through the pipe
Row = tuple[str, str, str, str, str, int, int, int, int, int]  # kind, then greyd's columns
Packed = tuple[list[tuple[tuple[str, str, str, str], Row | None]], list[str], list[Row]]


def _row(entry: Entry) -> Row:
    return (entry.kind.value, entry.ip, entry.helo, entry.mail_from, entry.rcpt_to, entry.first,
            entry.pass_, entry.expire, entry.bcount, entry.pcount)


def _entry(row: Row) -> Entry:
    return Entry(Kind(row[0]), *row[1:])


def _pack(changes: Changes) -> Packed:
    grey = [(key, None if row is None else _row(row)) for key, row in changes.grey.items()]
    return grey, list(changes.ips), [_row(row) for row in changes.ip_rows.values()]


def _unpack(packed: Packed) -> Changes:
    grey, ips, rows = packed
    return Changes({key: None if row is None else _entry(row) for key, row in grey}, ips,
                   {row[1]: _entry(row) for row in rows})


def follow(path: str, stream: BinaryIO) -> None:
    """The child: apply every batch of polls until None arrives."""
    with Ledger(path) as ledger:
        while (batch := pickle.load(stream)) is not None:
            for packed, now in batch:
                ledger.observe_changes(_unpack(packed), now)


class LedgerFeed:
    """observe(changes, now) for the simulator; close() waits for the child to write the last poll."""

    def __init__(self, path: Path) -> None:
        # a fresh interpreter, so nothing of the caller's memory or main script
        root = str(Path(__file__).resolve().parents[2])
        paths = filter(None, (root, os.environ.get("PYTHONPATH")))
        env = {**os.environ, "PYTHONPATH": os.pathsep.join(paths)}
        code = f"import sys; from {__name__} import follow; follow(sys.argv[1], sys.stdin.buffer)"
        self._child = subprocess.Popen([sys.executable, "-c", code, str(path)], stdin=subprocess.PIPE,
                                       env=env)
        self._batch: list[tuple[Packed, int]] = []

    def observe(self, changes: Changes, now: int) -> None:
        self._batch.append((_pack(changes), now))
        if len(self._batch) >= BATCH:
            self._send(self._batch)
            self._batch = []

    def _send(self, batch: list[tuple[Packed, int]] | None) -> None:
        assert self._child.stdin is not None
        pickle.dump(batch, self._child.stdin, protocol=pickle.HIGHEST_PROTOCOL)

    def close(self) -> None:
        """Send the rest, wait for the child; RuntimeError if it failed."""
        try:
            if self._batch:
                self._send(self._batch)
            self._send(None)
            self._child.stdin.close()  # type: ignore[union-attr]
        except BrokenPipeError:
            pass  # the child is gone: its exit code says why
        if self._child.wait() != 0:
            raise RuntimeError(f"demo: the ledger process failed (exit code {self._child.returncode})")

