"""Give freed memory back to the operating system between the phases of a night.

A night reads a batch, predicts it, checks drift, then reads rows back and trains. The frames of
one phase are freed before the next, but freed memory stays with the process: glibc keeps small
and mid-sized blocks (numpy columns of a 200 k-row batch are 1.6 MB each, below its adaptive
mmap threshold) in its heap, and Arrow's allocator (mimalloc or jemalloc) keeps its pages for
reuse. The peak resident set of a night was then the sum of its phases instead of the largest of
them (an update night on a 200 k-row batch: ~1.6 GB, of which the training needed ~0.6 GB).
:func:`release` asks both to return what is free: ``malloc_trim(0)`` and Arrow's
``release_unused``. Where neither exists (not glibc, an old pyarrow) it does nothing.
"""

from __future__ import annotations

import ctypes
import ctypes.util

__all__ = ["release"]

_LIBC: ctypes.CDLL | None | bool = False  # False: not looked up yet


def _libc() -> ctypes.CDLL | None:
    global _LIBC
    if _LIBC is False:
        try:
            lib = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
            _LIBC = lib if hasattr(lib, "malloc_trim") else None
        except OSError:
            _LIBC = None
    return _LIBC  # type: ignore[return-value]


def release() -> None:
    """Return the process's free heap pages and Arrow's unused pool memory to the system."""
    try:
        import pyarrow as pa

        pa.default_memory_pool().release_unused()
    except (ImportError, AttributeError):
        pass
    lib = _libc()
    if lib is not None:
        lib.malloc_trim(0)
