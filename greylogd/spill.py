"""The spill journal: an append-only, fsync'd file of refresh batches waiting for greyd's database.

The refresher writes a batch here when its in-memory bound is reached (or at shutdown when the database
is unreachable) and appends a `done` record only after the store committed that batch, so a batch leaves
the journal exactly when it is in the database. Format: one JSON object per line, either
`{"batch": n, "events": e, "oldest": unix_seconds, "counts": {"address": connections, ...}}` or
`{"done": n}`; each append is flushed and fsync'd before the call returns. At open the file is scanned
and the batches without a `done` record are pending again; a torn last line (a crash mid-write) is
skipped and counted in `torn`. When nothing is pending the file is truncated to zero bytes, so it never
grows without bound. Only offsets are kept in memory, never the spilled counts.
"""

from __future__ import annotations

import json
import os
from collections import deque
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO


@dataclass
class Batch:
    """Connections per address (address text as the store expects it) gathered in one flush window.

    events counts every connection in the batch (the sum of counts); oldest is the Unix time (UTC,
    seconds) of its oldest event, for latency figures; event_ts holds every event's Unix time while the
    batch is in memory (empty once it has been spilled, as the journal keeps only `oldest`).
    """

    counts: dict[str, int]
    events: int = 0
    oldest: float = 0.0
    event_ts: list[float] = field(default_factory=list)


class Spill:
    """FIFO of batches on disk; `peek()` reads the oldest pending one, `done()` retires it durably."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._file: IO[bytes] = open(self.path, "a+b")  # noqa: SIM115 - owned for the daemon's lifetime
        self._pending: deque[tuple[int, int]] = deque()  # (batch number, byte offset)
        self._next = 0
        self.torn = 0
        self._load()

    def _load(self) -> None:
        self._file.seek(0)
        offsets: dict[int, int] = {}
        offset = 0
        for line in self._file:
            record = self._parse(line)
            if record is not None and "batch" in record:
                offsets[record["batch"]] = offset
            elif record is not None:
                offsets.pop(record.get("done", -1), None)
            offset += len(line)
        self._pending.extend(sorted(offsets.items()))
        self._next = max(offsets, default=-1) + 1
        self._compact_if_empty()

    def _parse(self, line: bytes) -> dict | None:
        try:
            record = json.loads(line)
        except ValueError:
            self.torn += 1
            return None
        return record if isinstance(record, dict) else None

    def _append(self, record: dict) -> int:
        self._file.seek(0, os.SEEK_END)
        offset = self._file.tell()
        self._file.write(json.dumps(record, separators=(",", ":")).encode() + b"\n")
        self._file.flush()
        os.fsync(self._file.fileno())
        return offset

    def append(self, batch: Batch) -> None:
        """Write the batch durably (fsync) before returning."""
        record = {"batch": self._next, "events": batch.events, "oldest": batch.oldest, "counts": batch.counts}
        self._pending.append((self._next, self._append(record)))
        self._next += 1

    def peek(self) -> Batch | None:
        """The oldest pending batch, read back from disk; None when the journal is empty."""
        if not self._pending:
            return None
        self._file.seek(self._pending[0][1])
        record = json.loads(self._file.readline())
        return Batch(record["counts"], record["events"], record["oldest"])

    def done(self) -> None:
        """Retire the oldest pending batch (call only after the store committed it)."""
        number, _offset = self._pending.popleft()
        self._append({"done": number})
        self._compact_if_empty()

    def _compact_if_empty(self) -> None:
        if not self._pending and self._file.seek(0, os.SEEK_END) > 0:
            self._file.truncate(0)
            os.fsync(self._file.fileno())
            self._next = 0

    def __len__(self) -> int:
        return len(self._pending)

    def close(self) -> None:
        self._file.close()
