"""Give the C heap's free memory back to the operating system after a big load.

Loading a large trace allocates and frees hundreds of MiB of short-lived objects (parsed
events, per-chunk columns). glibc's allocator keeps most of what is freed inside its heap, so
the process' resident memory stays near the load's peak although the memory is free: on the
1M-event Kineto trace of ``bench/`` about 110 MiB. ``malloc_trim(0)`` (glibc, ``man 3
malloc_trim``) returns those free pages; it changes no live object. Elsewhere (macOS, musl,
Windows) there is no such call and :func:`trim_heap` does nothing.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import functools
import sys
from collections.abc import Callable

__all__ = ["TRIM_MIN_BYTES", "trim_heap"]

#: Traces whose uncompressed text is at least this large (bytes) trim the heap when loaded.
TRIM_MIN_BYTES = 32 << 20


@functools.cache
def _malloc_trim() -> Callable[[int], int] | None:
    if not sys.platform.startswith("linux"):
        return None
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
        trim: Callable[[int], int] = libc.malloc_trim
    except (OSError, AttributeError):  # not glibc
        return None
    trim.argtypes = [ctypes.c_size_t]  # type: ignore[attr-defined]
    trim.restype = ctypes.c_int  # type: ignore[attr-defined]
    return trim


def trim_heap() -> bool:
    """Return the C heap's free pages to the OS; ``True`` if glibc's ``malloc_trim`` ran
    (whether or not it found pages to release), ``False`` where it is not available."""
    trim = _malloc_trim()
    if trim is None:
        return False
    trim(0)
    return True
