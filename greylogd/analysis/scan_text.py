"""Python side of text_column.h: the buffers of one text column a C scanner writes for a chunk of lines.

A column is strings back to back, one a row, or (``dictionary``) each distinct string once with a code
a row; ``array`` wraps what the C code wrote as a pyarrow large_string or dictionary array, zero-copy.
The arena has the chunk's size, which always suffices; it is an anonymous memory map, so the kernel
provides only the pages written: a column of a few distinct values costs one page. (``np.empty`` of that
size would ask for huge pages, zeroed 2 MB at a time, and ``np.zeros`` may clear it all from the heap.)
"""

from __future__ import annotations

import functools
import mmap
from collections.abc import Callable

import numpy as np
import pandas as pd
import pyarrow as pa

FIRST_SLOTS = 10  # log2 of the hash table's first size (text_column.slots; the C code doubles it)
FEW_LABELS = 64  # dtypes of columns with at most this many labels are kept (labelled_dtype)


@functools.lru_cache(maxsize=256)
def labelled_dtype(labels: tuple[str, ...]) -> pd.CategoricalDtype:
    """The categorical dtype of these (sorted, distinct) labels. Kept: chunk after chunk a column has
    the same few labels, and a new dtype checks them again (most of the cost of wrapping a column)."""
    return pd.CategoricalDtype(pd.Index(list(labels), dtype="str"))


def anonymous(size: int) -> mmap.mmap:
    """``size`` bytes of private anonymous memory (zeros): the kernel provides a page when it is first
    written, so room for the worst case costs only what is used. Private, not mmap's default shared
    mapping, whose pages are shared memory (slower to fault in and charged as such)."""
    return mmap.mmap(-1, max(size, 1), flags=mmap.MAP_PRIVATE)


class TextColumn:
    """The buffers of one text_column of a chunk of n lines whose text is ``size`` bytes."""

    def __init__(self, n: int, size: int, dictionary: bool) -> None:
        self.arena, self.ends = np.frombuffer(anonymous(size), np.uint8), np.empty(n + 1, np.int64)
        self.ends[0] = 0  # the rest is written as strings are (np.zeros would clear it all first)
        self.valid = np.empty(0 if dictionary else n, np.uint8)
        self.code = np.empty(n if dictionary else 0, np.int32)
        self.slots = np.empty(1 << max(FIRST_SLOTS, (2 * n + 1).bit_length()) if dictionary else 0, np.int32)
        self.slots[:1 << FIRST_SLOTS] = -1

    def attach(self, text: object, ffi: object) -> None:
        """Point the C struct ``text`` (a text_column of the module of ``ffi``) at these buffers."""
        text.data, text.capacity = ffi.from_buffer("char[]", self.arena), len(self.arena)
        text.offsets = ffi.from_buffer("int64_t[]", self.ends)
        if len(self.slots):
            text.code, text.mask = ffi.from_buffer("int32_t[]", self.code), (1 << FIRST_SLOTS) - 1
            text.slots, text.room = ffi.from_buffer("int32_t[]", self.slots), len(self.slots)
        else:
            text.valid = ffi.from_buffer("uint8_t[]", self.valid)

    def array(self, rows: int, strings: int) -> pa.Array:
        """The column of ``rows`` rows the C code wrote ``strings`` strings for, zero-copy over these
        buffers: a large_string array (null where a row has none), or a dictionary array of them."""
        if not len(self.slots):
            absent = rows - int(np.count_nonzero(self.valid[:rows]))
            bitmap = pa.py_buffer(np.packbits(self.valid[:rows], bitorder="little")) if absent else None
            return self._strings(strings, rows, bitmap, absent)
        codes = self.code[:rows]
        absent = codes < 0
        return pa.DictionaryArray.from_arrays(pa.array(codes, mask=absent if absent.any() else None),
                                              self._strings(strings))

    def categorical(self, rows: int, text: object, ranks: Callable[..., None], ffi: object) -> pd.Categorical:
        """The dictionary column of ``rows`` rows the C struct ``text`` describes, as the categorical
        astype("category") of its values gives (frames.compact): the C code (``ranks``: its module's
        text_ranks export) sorts the strings and writes each row's rank in the smallest int type that
        holds them and -1 (missing), as pandas stores codes; Python only wraps the result."""
        strings = text.strings
        order, scratch = np.empty(strings, np.int32), np.empty(strings, np.int32)
        codes = np.empty(rows, np.min_scalar_type(-strings - 1))
        ranks(ffi.addressof(text), rows, ffi.from_buffer("int32_t[]", order),
              ffi.from_buffer("int32_t[]", scratch), ffi.from_buffer("char[]", codes), codes.itemsize)
        labels = self._strings(strings).take(order)
        dtype = (labelled_dtype(tuple(labels.to_pylist())) if strings <= FEW_LABELS
                 else pd.CategoricalDtype(pd.Index(labels, dtype="str")))
        return pd.Categorical.from_codes(codes, dtype=dtype, validate=False)

    def _strings(self, strings: int, rows: int | None = None, bitmap: pa.Buffer | None = None,
                 absent: int = 0) -> pa.LargeStringArray:
        """The first ``strings`` strings the C code wrote, zero-copy, as ``rows`` rows (default one a
        string) with the validity ``bitmap``."""
        offsets, data = pa.py_buffer(self.ends[:strings + 1]), pa.py_buffer(self.arena[:self.ends[strings]])
        length = strings if rows is None else rows
        return pa.LargeStringArray.from_buffers(length, offsets, data, bitmap, absent)
