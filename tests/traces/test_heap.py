"""``trim_heap``: glibc's ``malloc_trim`` after a big load (Linux), a no-op elsewhere."""

from __future__ import annotations

import platform
import sys

import numpy as np
import pytest

from jupyter_assistant.traces._heap import trim_heap


def _rss_kib() -> int:
    with open("/proc/self/status") as f:
        return next(int(line.split()[1]) for line in f if line.startswith("VmRSS:"))


@pytest.mark.skipif(not sys.platform.startswith("linux") or platform.libc_ver()[0] != "glibc",
                    reason="malloc_trim is glibc's")
def test_trim_returns_freed_heap_pages_to_the_os() -> None:
    # many 256 KiB blocks: above glibc's dynamic mmap threshold once a large block has
    # been freed, so they come from the heap and stay there when freed
    big = np.ones(64 << 20, dtype=np.uint8)
    del big
    blocks = [np.ones(256 << 10, dtype=np.uint8) for _ in range(400)]  # 100 MiB
    keep = blocks[-1]
    del blocks
    before = _rss_kib()
    assert trim_heap() is True
    after = _rss_kib()
    assert before - after > 50 << 10, (before, after)  # at least 50 MiB given back
    assert keep.sum() == 256 << 10  # live memory untouched


def test_trim_is_safe_to_call_repeatedly() -> None:
    results = {trim_heap() for _ in range(3)}
    assert len(results) == 1
