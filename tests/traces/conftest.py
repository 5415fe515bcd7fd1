"""Fixtures for the trace tests: the shared real traces beside the repository."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from jupyter_assistant import Trace, load_trace

#: ``<repo>/../shared`` (CI clones the repository with ``shared/`` next to it).
SHARED_DIR = Path(__file__).resolve().parents[3] / "shared"


@pytest.fixture(scope="session")
def shared_traces() -> Path:
    """``../shared/traces``; fails (does not skip) when it is missing."""
    path = SHARED_DIR / "traces"
    assert path.is_dir(), f"shared trace data not found at {path} (clone shared/ beside the repo)"
    return path


@pytest.fixture(scope="session")
def load_shared(shared_traces: Path) -> Callable[[str], Trace]:
    """``load_shared("hta/trace_filter")`` loads a file or folder under ``shared/traces``
    once per test session (tests must not modify the returned trace)."""
    cache: dict[str, Trace] = {}

    def load(rel: str) -> Trace:
        if rel not in cache:
            cache[rel] = load_trace(shared_traces / rel)
        return cache[rel]
    return load
