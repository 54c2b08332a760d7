"""The ledger's open tuples in memory, by greyd's row key, so that a poll costs what changed.

greyd's `entries` table has the primary key (ip, helo, from, to), so a snapshot holds at most one GREY row
per key, and the open tuples after a poll (the GREY rows of that snapshot) hold at most one tuple per key:
the tuple's `first` tells a row re-created after expiry from the tuple the ledger knows. An index by IP
finds the open tuples a new TRAPPED row marks without visiting the others.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Iterator

from greylogd.ledger.model import TupleState

Key4 = tuple[str, str, str, str]


def key4(state: TupleState) -> Key4:
    return (state.ip, state.helo, state.mail_from, state.rcpt_to)


class OpenTuples:
    """Open tuples by (ip, helo, from, to), plus the keys of each IP; updated in place after each poll."""

    def __init__(self, states: Iterable[TupleState] = ()) -> None:
        self._by_key: dict[Key4, TupleState] = {}
        self._by_ip: defaultdict[str, set[Key4]] = defaultdict(set)
        for state in states:
            self.put(state)

    def __len__(self) -> int:
        return len(self._by_key)

    def __iter__(self) -> Iterator[TupleState]:
        return iter(self._by_key.values())

    def open_keys(self) -> Iterable[Key4]:
        return self._by_key.keys()

    def get(self, key: Key4) -> TupleState | None:
        return self._by_key.get(key)

    def of_ip(self, ip: str) -> list[TupleState]:
        """The open tuples of address `ip` (empty when it has none)."""
        return [self._by_key[k] for k in self._by_ip.get(ip, ())]

    def put(self, state: TupleState) -> None:
        """Add a tuple, or replace the open tuple of the same key."""
        key = key4(state)
        self._by_key[key] = state
        self._by_ip[key[0]].add(key)

    def drop(self, state: TupleState) -> None:
        """Forget a closed tuple (a no-op when a newer tuple of its key already replaced it)."""
        key = key4(state)
        if self._by_key.get(key) is not None and self._by_key[key].first == state.first:
            del self._by_key[key]
            keys = self._by_ip[key[0]]
            keys.discard(key)
            if not keys:
                del self._by_ip[key[0]]
