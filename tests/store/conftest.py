"""Fixtures for the store tests: a real ``redis-server`` and every backend, opened.

``redis_url`` starts ``redis-server`` (no persistence) on a free loopback port once per
session. Without ``redis-server`` the Redis cases are skipped locally and FAIL under CI
(``CI=true``), which installs it.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from jupyter_assistant.store import MemoryStore, RedisStore, SQLiteStore, Store

BACKENDS = ["memory", "sqlite", "redis"]

MakeStore = Callable[..., Awaitable[Store]]


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _ping(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=0.5) as s:
            s.sendall(b"PING\r\n")
            return s.recv(64).startswith(b"+PONG")
    except OSError:
        return False


@pytest.fixture(scope="session")
def redis_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """``redis://127.0.0.1:<port>/0`` of a redis-server started for this test session."""
    exe = shutil.which("redis-server")
    if exe is None:
        message = "redis-server is not installed (apt-get install redis-server)"
        if os.environ.get("CI", "").lower() in ("1", "true", "yes"):
            pytest.fail(message + "; CI must install it", pytrace=False)
        pytest.skip(message)
    workdir = tmp_path_factory.mktemp("redis")
    port = _free_port()
    proc = subprocess.Popen(
        [exe, "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no",
         "--dir", str(workdir), "--logfile", str(workdir / "redis.log")],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 15
        while not _ping(port):
            if proc.poll() is not None or time.monotonic() > deadline:
                log = (workdir / "redis.log")
                pytest.fail("redis-server did not start: "
                            + (log.read_text()[-2000:] if log.exists() else "no log"))
            time.sleep(0.05)
        yield f"redis://127.0.0.1:{port}/0"
    finally:
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


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
