"""Hand memory a finished phase freed back to the operating system.

pyarrow's allocator and glibc's malloc keep what a phase freed (a reader's chunks in flight, rows held as
Python objects, a simulation's plan) for reuse, so without this a process's RSS holds every phase's peak at
once instead of what is live. Used between the report's readers and between the demo world's phases.
"""

from __future__ import annotations

import contextlib
import ctypes
import ctypes.util

import pyarrow as pa


def release_memory() -> None:
    """Release pyarrow's unused pool memory, then trim glibc's heap (a no-op where libc is not glibc)."""
    pa.default_memory_pool().release_unused()
    with contextlib.suppress(OSError, AttributeError, TypeError):
        ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6").malloc_trim(0)
