"""Fixtures for the store tests: every backend, opened (the Redis one on the real
``redis-server`` of the session-wide ``redis_url`` fixture in ``tests/conftest.py``)."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest

from jupyter_assistant.store import MemoryStore, RedisStore, SQLiteStore, Store

BACKENDS = ["memory", "sqlite", "redis"]

MakeStore = Callable[..., Awaitable[Store]]


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture(params=BACKENDS)
def backend(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
async def make_store(
    backend: str, tmp_path: Path, request: pytest.FixtureRequest
) -> AsyncIterator[MakeStore]:
    """``await make_store(**kwargs)`` -> an opened store of ``backend`` (kwargs go to its
    constructor, e.g. ``session_ttl``); each call gives a fresh, empty store (own file or own
    key prefix); all are closed at the end."""
    url = request.getfixturevalue("redis_url") if backend == "redis" else ""
    opened: list[Store] = []

    async def make(**kwargs: Any) -> Store:
        store: Store
        if backend == "memory":
            store = MemoryStore(**kwargs)
        elif backend == "sqlite":
            store = SQLiteStore(tmp_path / f"store-{len(opened)}.db", **kwargs)
        else:
            store = RedisStore(url, prefix=f"test-{uuid.uuid4().hex}:", **kwargs)
        await store.open()
        opened.append(store)
        return store

    yield make
    for store in opened:
        await store.aclose()


@pytest.fixture
async def store(make_store: MakeStore) -> Store:
    return await make_store()
