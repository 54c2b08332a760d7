"""The connections of many parts as one frame in time order, each line kept once (kernlog's last step).

Order: by ts, then by input (rotation order) and line number: what a stable sort by ts of every row in
the order the lines were read gives, whatever order the parts come in (the Python path's batched parts
come after the chunks they were left by). Duplicates: rows equal in ``SAME_LINE`` to an earlier row in
that order are dropped (the same line logged to kern.log and syslog, or a SYN retransmitted within one
second of an RFC 3164 stamp).

Cost: the reader sorts each part by time in its worker threads (``time_sorted``), so the parts' rows
are nearly in order already (and a frame in strict time order is returned as it is); here one
argsort of the times (timsort: linear on sorted runs) finds the rows out of place. Numbers and codes
are joined and then moved in place, only those rows, two columns at a time; text is rebuilt from
slices of the parts' arrays and stays chunked over their buffers (no copy), unless the order is
scattered. Passes over the whole order go a block of rows at a time: on a VM, the fresh pages of
temporaries the size of the result cost more than the work done in them.
"""

from __future__ import annotations

from concurrent.futures import Executor, ThreadPoolExecutor
from functools import cache

import numpy as np
import pandas as pd
import pyarrow as pa

from greylogd.analysis import frames
from greylogd.analysis.headers import arrow_strings
from greylogd.analysis.kernlog_lines import Parsed

SAME_LINE = ["ts", "host", "prefix", "src", "spt", "dpt", "dst"]  # what makes two rows the same line
_SLICED = 64  # rebuild from runs when there are fewer than one run per this many rows, else gather
_BLOCK = 1 << 20  # rows a step of a pass over the whole order


def time_sorted(part: Parsed) -> Parsed:
    """``part`` with its rows stable-sorted by ts (line order breaks ties); unchanged when it is."""
    ts = _stamps(part.connections)
    if np.all(ts[1:] >= ts[:-1]):
        return part
    order = np.argsort(ts, kind="stable")
    part.connections = part.connections.take(order).reset_index(drop=True)
    part.line = part.line[order]
    return part


def in_time_order(parts: list[Parsed]) -> tuple[pd.DataFrame, int]:
    """(the parts' connections in time order without duplicates, how many rows were dropped). The parts'
    frames are released as soon as they are concatenated (``parts`` is emptied)."""
    found = [p for p in parts if len(p.connections)]
    if not found:
        parts.clear()
        return frames.empty(frames.CONNECTIONS), 0
    lines = [(p.input, p.line) for p in found]
    frame, owned = _concatenated(found)
    parts.clear()
    ts = _stamps(frame)
    if np.all(ts[1:] > ts[:-1]):  # in order, no two rows at the same time, so no line twice
        return frame, 0
    order, tied = _order(ts, lines)
    out = _reordered(frame, order, tied, owned)
    return out, len(order) - len(out)


@cache
def _pool() -> Executor:
    """Two threads that process columns two at a time (numpy copies without the GIL); made once, as
    iter_kernlog calls in_time_order once a part."""
    return ThreadPoolExecutor(2, thread_name_prefix="kernlog-order")


def _concatenated(found: list[Parsed]) -> tuple[pd.DataFrame, bool]:
    """The parts' connections as one frame, in the parts' order, and whether its arrays are new (a
    single part's are its own, and may be read-only views of arrow memory); the parts are released
    (``found`` is emptied) before the next step needs memory."""
    owned = len(found) > 1
    frame = frames.concat([p.connections for p in found], _pool()) if owned else found[0].connections
    found.clear()
    pa.default_memory_pool().release_unused()  # the chunks' arrow buffers
    return frame, owned


def _order(ts: np.ndarray, lines: list[tuple[int, np.ndarray]]) -> tuple[np.ndarray, np.ndarray]:
    """Positions sorted by (ts, then input and line: line_keys), and where in that order rows tie in ts: a
    stable sort by ts, then the tied rows sorted by key (they stay within their tie)."""
    order = np.argsort(ts, kind="stable")
    tied = _tied(ts, order)
    if len(tied):
        rows = order[tied]
        order[tied] = rows[np.lexsort((line_keys(lines)[rows], ts[rows]))]
    return order, tied


def _stamps(connections: pd.DataFrame) -> np.ndarray:
    """The ts column as int64 (a view: ts is never missing in a connections frame)."""
    return connections["ts"].array.asi8


def line_keys(lines: list[tuple[int, np.ndarray]]) -> np.ndarray:
    """Per row of the parts' concatenation, (input << 40) + line: its place in the order the lines
    were read (``lines``: each part's input and the line numbers of its rows)."""
    key = np.empty(sum(len(line) for _, line in lines), np.int64)
    start = 0
    for number, line in lines:
        np.add(line, np.int64(number) << 40, out=key[start:start + len(line)])
        start += len(line)
    return key


def _tied(ts: np.ndarray, order: np.ndarray) -> np.ndarray:
    """Positions in ``order`` (ts sorted) whose time the row before or after has too."""
    tie = np.zeros(len(order), bool)
    for start in range(0, len(order), _BLOCK):
        piece = ts.take(order[start:start + _BLOCK + 1])  # and the next block's first row
        same = np.flatnonzero(piece[1:] == piece[:-1]) + start
        tie[same] = tie[same + 1] = True
    return np.flatnonzero(tie)


def _displaced(order: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Whether each position's row moves (order[i] != i: few when the parts come sorted), and where a
    run of consecutive rows ends (order[i + 1] != order[i] + 1)."""
    moves, ends = np.empty(len(order), bool), [np.zeros(0, np.int64)]
    step, identity = np.empty(_BLOCK, np.int64), np.arange(_BLOCK)
    for start in range(0, len(order), _BLOCK):
        piece = order[start:start + _BLOCK + 1]
        size = min(len(piece), _BLOCK)
        np.subtract(piece[:size], start, out=step[:size])
        np.not_equal(step[:size], identity[:size], out=moves[start:start + size])
        np.subtract(piece[1:], piece[:-1], out=step[:len(piece) - 1])
        ends.append(np.flatnonzero(step[:len(piece) - 1] != 1) + start)
    return moves, np.concatenate(ends)


def _reordered(connections: pd.DataFrame, order: np.ndarray, tied: np.ndarray, owned: bool) -> pd.DataFrame:
    """The rows in ``order``, those repeating an earlier row dropped. Numbers and codes go two columns
    at a time: moved in place where ``order`` moves a row when the frame's arrays are ``owned`` (new),
    else gathered; then filtered if a row is dropped."""
    moves, ends = _displaced(order)
    source = order[moves] if moves.any() else None
    columns = dict(connections.items())  # not popped: deleting columns costs pandas a block rebuild
    text = {name: column for name, column in columns.items() if column.dtype == frames.STR}
    numbers = [name for name in columns if name not in text]
    moved = _pool().map(lambda name: _moved(columns[name].array, order, moves, source, owned), numbers)
    arrays = dict(zip(numbers, moved, strict=True))
    duplicated = _duplicated(pd.DataFrame({**arrays, **text}, copy=False), tied, order)
    if duplicated.any():
        arrays = {name: values[~duplicated] for name, values in arrays.items()}
        arrays.update({name: frames.tidy(values) for name, values in arrays.items()
                       if isinstance(values, pd.Categorical)})  # a dropped row may leave a value unused
        order = order[~duplicated]
        ends = np.flatnonzero(np.diff(order) != 1)
    runs = _runs(order, ends)
    arrays.update({name: _text(column, order, runs) for name, column in text.items()})
    return pd.DataFrame({name: arrays[name] for name in columns}, copy=False)


def _moved(values: pd.api.extensions.ExtensionArray, order: np.ndarray, moves: np.ndarray,
           source: np.ndarray | None, owned: bool) -> pd.api.extensions.ExtensionArray:
    """``values`` in ``order``, which moves the rows where ``moves`` is true, from ``source``
    (order[moves]; None: nothing moves). Moved in place when the array is ``owned`` (even when they are
    many, that costs less than a gathered copy's fresh pages), else gathered."""
    if source is None:
        return values
    if not owned:
        return values.take(order)
    values[moves] = values.take(source)
    return values


def _duplicated(moved: pd.DataFrame, tied: np.ndarray, order: np.ndarray) -> np.ndarray:
    """Per position: whether that row repeats an earlier one (SAME_LINE); ``moved``: the rows in order
    but for the text columns, which are still in the parts' order (``order`` maps them). Only rows tied
    in time whose (ts, ports) hash collides with another's are compared in full."""
    duplicated = np.zeros(len(order), bool)
    if not len(tied):
        return duplicated
    ports = [moved[name].to_numpy(np.int64, na_value=-1)[tied].astype(np.uint64) for name in ("spt", "dpt")]
    hashed = _stamps(moved)[tied].astype(np.uint64) * np.uint64(0x9E3779B97F4A7C15)
    maybe = pd.Series(hashed ^ ports[0] << np.uint64(20) ^ ports[1]).duplicated(keep=False).to_numpy()
    rows = moved.iloc[tied[maybe]].copy()
    for name in rows.select_dtypes(frames.STR):
        rows[name] = moved[name].array.take(order[tied[maybe]])
    duplicated[tied[maybe]] = rows.duplicated(SAME_LINE).to_numpy()
    return duplicated


def _runs(keep: np.ndarray, ends: np.ndarray) -> list[tuple[int, int]] | None:
    """``keep`` as (start, length) runs of consecutive rows (``ends``: where one ends but the last), or
    None when they would be many."""
    if (len(ends) + 1) * _SLICED >= len(keep):
        return None
    starts = np.concatenate([[0], ends + 1])
    return list(zip(keep[starts].tolist(), np.diff(np.append(starts, len(keep))).tolist(), strict=True))


def _text(column: pd.Series, keep: np.ndarray,
          runs: list[tuple[int, int]] | None) -> pd.api.extensions.ExtensionArray:
    """column[keep] (a str column) as an array, from ``runs`` (slices, no copy) when there are any."""
    if runs is None:
        return pd.array(arrow_strings(column).take(keep), dtype=frames.STR)
    text = pa.array(column.array)
    text = text if isinstance(text, pa.ChunkedArray) else pa.chunked_array([text])
    pieces = [piece for start, size in runs for piece in text.slice(start, size).chunks]
    return pd.array(pa.chunked_array(pieces, text.type), dtype=frames.STR)
