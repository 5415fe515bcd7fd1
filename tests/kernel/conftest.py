"""Fixtures of the kernel tests: the local Anthropic-protocol peer, and a real ipykernel
(through jupyter_client) that reaches it through ``ANTHROPIC_BASE_URL``, with its own Jupyter
data directory (so the default SQLite store is the test's)."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from kernel_helpers import Kernel, start_kernel
from pytest_jupyter.jupyter_server import *  # noqa: F403  (jp_fetch, jp_serverapp; async tests)

from jupyter_assistant.testing import AnthropicServer

REPO = Path(__file__).resolve().parents[2]
SHARED_TRACES = REPO.parent / "shared" / "traces"


@pytest.fixture
def peer() -> Iterator[AnthropicServer]:
    with AnthropicServer() as server:
        yield server


@pytest.fixture
def data_dir(tmp_path: Path) -> Path:
    path = tmp_path / "jupyter-data"
    path.mkdir()
    return path


@pytest.fixture
def kernel_env(peer: AnthropicServer, data_dir: Path, tmp_path: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("ANTHROPIC_", "OPENAI_", "JPY_", "PYTEST_"))}
    env.update({"ANTHROPIC_BASE_URL": peer.base_url, "ANTHROPIC_API_KEY": "sk-ant-test-dummy",
                "JUPYTER_DATA_DIR": str(data_dir), "JUPYTER_ASSISTANT_TRACE_CACHE": "0",
                "JUPYTER_ASSISTANT_CACHE_DIR": str(tmp_path / "cache"),
                "IPYTHONDIR": str(tmp_path / "ipython"), "MPLBACKEND": "Agg"})
    return env


@pytest.fixture
def kernel(kernel_env: dict[str, str], tmp_path: Path) -> Iterator[Kernel]:
    k = start_kernel(kernel_env, str(REPO))
    try:
        k.ok("%load_ext jupyter_assistant")
        yield k
    finally:
        k.close()


@pytest.fixture
def traces_dir() -> Path:
    if not SHARED_TRACES.is_dir():
        pytest.fail(f"the shared traces are missing: {SHARED_TRACES}")
    return SHARED_TRACES


def answer_of(result: Any) -> str:
    """The final markdown answer of an %assistant cell."""
    return str(result.markdown())
