"""A refused upload gives its memory back at once: a gzip bomb refused at
``max_trace_bytes`` must not stay resident until the cyclic garbage collector happens to run.

The server runs in this process (pytest-jupyter), so its resident set is ours. The cyclic
GC is switched off while the bombs go in: memory that only a GC pass would free counts as
kept, which is what a busy server sees between collections.
"""

from __future__ import annotations

import gc
import gzip
import sys
from collections.abc import Iterator
from typing import Any

import pytest

LIMIT = 48 * 1024 * 1024  # inflated bytes a trace may have here

pytestmark = pytest.mark.skipif(not sys.platform.startswith("linux"),
                                reason="reads the resident set size from /proc")


@pytest.fixture
def assistant_settings() -> dict[str, Any]:
    return {"max_trace_bytes": LIMIT, "max_upload_bytes": 1_000_000}


def _rss_bytes() -> int:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * 4096


@pytest.fixture
def no_cyclic_gc() -> Iterator[None]:
    gc.collect()
    gc.disable()
    try:
        yield
    finally:
        gc.enable()
        gc.collect()


def _bomb() -> bytes:
    # one JSON string padded far past the limit: the reader holds the text up to the limit
    head = b'{"traceEvents": [{"ph": "X", "name": "f", "ts": 0, "dur": 1, "pid": 1, ' \
        b'"tid": 1}], "pad": "'
    return gzip.compress(head + b" " * (2 * LIMIT) + b'"}', compresslevel=9)


async def test_five_refused_gzip_bombs_leave_the_resident_set_flat(
        api: Any, no_cyclic_gc: None) -> None:
    bomb = _bomb()
    assert len(bomb) < 1_000_000

    async def refuse() -> None:
        code, _, err = await api("traces", method="POST", body=bomb,
                                 params={"name": "bomb.json.gz"})
        assert code == 400 and "max_trace_bytes" in err["error"]["message"], err

    await refuse()  # warm up: imports, thread pool, allocator arenas
    before = _rss_bytes()
    for _ in range(5):
        await refuse()
    grown = _rss_bytes() - before
    # kept memory would be at least one inflated bomb (LIMIT) per refusal
    assert grown < LIMIT // 2, f"resident set grew by {grown / 2**20:.0f} MiB"
