"""Session-wide test settings and fixtures shared by every test package.

``redis_url`` starts a real ``redis-server`` (no persistence) on a free loopback port once
per session. Without ``redis-server`` the Redis cases are skipped locally and FAIL under CI
(``CI=true``), which installs it. ``torch`` is PyTorch (the ``torch`` extra), or a failure
naming the install command.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import time
from collections.abc import Iterator
from types import ModuleType

import pytest


@pytest.fixture(scope="session", autouse=True)
def _isolated_trace_cache(tmp_path_factory: pytest.TempPathFactory) -> Iterator[None]:
    """Keep ``load_trace``'s Parquet cache out of the user's cache folder and off by
    default (``JUPYTER_ASSISTANT_TRACE_CACHE=0``): tests that want it pass ``cache=True``
    and get a fresh session folder."""
    saved = {k: os.environ.get(k) for k in ("JUPYTER_ASSISTANT_CACHE_DIR",
                                            "JUPYTER_ASSISTANT_TRACE_CACHE")}
    os.environ["JUPYTER_ASSISTANT_CACHE_DIR"] = str(tmp_path_factory.mktemp("trace-cache"))
    os.environ["JUPYTER_ASSISTANT_TRACE_CACHE"] = "0"
    yield
    for k, v in saved.items():
        if v is None:
            os.environ.pop(k, None)
        else:
            os.environ[k] = v


@pytest.fixture(scope="session")
def torch() -> ModuleType:
    """PyTorch, from the ``torch`` extra, which ``.ci/run`` installs: a test that needs it
    FAILS (never skips) when it is missing, with the command that installs it."""
    try:
        import torch
    except ImportError as exc:
        pytest.fail(f"PyTorch is not installed ({exc}): pip install -c constraints.txt -e "
                    "'.[test,torch]' (bash .ci/run does)", pytrace=False)
    return torch


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
