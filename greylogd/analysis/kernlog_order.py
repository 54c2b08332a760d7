"""The connections of many parts as one frame in time order, each line kept once (kernlog's last step).

Order: by ts, then by input (rotation order) and line number: what a stable sort by ts of every row in
the order the lines were read gives, whatever order the parts come in (the Python path's batched parts
come after the chunks they were left by). Duplicates: rows equal in ``SAME_LINE`` to an earlier row in
that order are dropped (the same line logged to kern.log and syslog, or a SYN retransmitted within one
second of an RFC 3164 stamp).

Cost: the reader sorts each part by time in its worker threads (``time_sorted``), so the parts' rows
are nearly in order already; here one argsort of the times (timsort: linear on sorted runs) finds the
few rows out of place. Numbers and codes are then gathered with numpy; text is rebuilt from slices of
the parts' arrays and stays chunked over their buffers (no copy), unless the order is scattered.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pyarrow as pa

from greylogd.analysis import frames
from greylogd.analysis.headers import arrow_strings
from greylogd.analysis.kernlog_lines import Parsed

SAME_LINE = ["ts", "host", "prefix", "src", "spt", "dpt", "dst"]  # what makes two rows the same line
_SLICED = 64  # rebuild from runs when there are fewer than one run per this many rows, else gather


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
    ts = np.concatenate([_stamps(p.connections) for p in found])
    key = np.concatenate([(np.int64(p.input) << 40) + p.line for p in found])
    connections = frames.concat([p.connections for p in found]) if len(found) > 1 else found[0].connections
    del found
    parts.clear()
    pa.default_memory_pool().release_unused()  # the chunks' arrow buffers
    order, tied = _order(ts, key)
    keep = order[~_duplicated(connections, ts, order, tied)]
    out = _gathered(connections, keep)
    if len(keep) < len(ts):
        for name in out.select_dtypes("category"):
            out[name] = frames.tidy(out[name].array)  # a dropped duplicate may leave a value unused
    return out, len(ts) - len(keep)


def _order(ts: np.ndarray, key: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Positions sorted by (ts, key), and where in that order rows tie in ts: a stable sort by ts, then
    the tied rows sorted by key (they stay within their tie)."""
    order = np.argsort(ts, kind="stable")
    sorted_ts = ts[order]
    same = sorted_ts[1:] == sorted_ts[:-1]
    tie = np.zeros(len(order), bool)
    tie[1:] |= same
    tie[:-1] |= same
    tied = np.flatnonzero(tie)
    if len(tied):
        rows = order[tied]
        order[tied] = rows[np.lexsort((key[rows], sorted_ts[tied]))]
    return order, tied


def _duplicated(connections: pd.DataFrame, ts: np.ndarray, order: np.ndarray, tied: np.ndarray) -> np.ndarray:
    """Per position of ``order``: whether that row repeats an earlier one (SAME_LINE). Only rows tied in
    time (``tied``) whose (ts, ports) hash collides with another's are compared in full."""
    duplicated = np.zeros(len(order), bool)
    if not len(tied):
        return duplicated
    rows = order[tied]
    ports = [connections[name].to_numpy(np.int64, na_value=-1)[rows].astype(np.uint64)
             for name in ("spt", "dpt")]
    hashed = ts[rows].astype(np.uint64) * np.uint64(0x9E3779B97F4A7C15) ^ ports[0] << np.uint64(20) ^ ports[1]
    maybe = pd.Series(hashed).duplicated(keep=False).to_numpy()
    duplicated[tied[maybe]] = connections.iloc[rows[maybe]].duplicated(SAME_LINE).to_numpy()
    return duplicated


def _stamps(connections: pd.DataFrame) -> np.ndarray:
    """The ts column as int64 (a view: ts is never missing in a connections frame)."""
    return connections["ts"].array.asi8


def _gathered(connections: pd.DataFrame, keep: np.ndarray) -> pd.DataFrame:
    """The rows at ``keep`` (the frame itself when that is every row in place). Text is rebuilt from
    slices of the parts' arrays when ``keep`` is a few runs of consecutive rows, else made one
    contiguous array and gathered (gathering across many arrays costs three times as much)."""
    step = np.diff(keep) != 1
    if len(keep) == len(connections) and not step.any():
        return connections
    starts = np.concatenate([[0], np.flatnonzero(step) + 1])
    runs = None
    if len(starts) * _SLICED < len(keep):
        runs = list(zip(keep[starts].tolist(), np.diff(np.append(starts, len(keep))).tolist(), strict=True))
    return pd.DataFrame({name: _column(connections.pop(name), keep, runs) for name in list(connections)})


def _column(column: pd.Series, keep: np.ndarray,
            runs: list[tuple[int, int]] | None) -> pd.api.extensions.ExtensionArray:
    """column[keep] as an array (Series.take would also take the index, and a frame of Series aligns
    their indexes)."""
    if column.dtype != frames.STR:
        return column.array.take(keep)
    if runs is None:
        return pd.array(arrow_strings(column).take(keep), dtype=frames.STR)
    text = pa.array(column.array)
    text = text if isinstance(text, pa.ChunkedArray) else pa.chunked_array([text])
    pieces = [piece for start, size in runs for piece in text.slice(start, size).chunks]
    return pd.array(pa.chunked_array(pieces, text.type), dtype=frames.STR)
