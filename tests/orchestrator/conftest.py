"""Fixtures: the real local Anthropic peer on 127.0.0.1 and the real SDK pointed at it.

Every test sets ``ANTHROPIC_BASE_URL`` to its own server and a fake key, so no test can
reach the real API. Helpers live in ``orch_helpers.py``.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from orch_helpers import TEST_KEY

from jupyter_assistant.testing import AnthropicServer


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture
def server(monkeypatch: pytest.MonkeyPatch) -> Iterator[AnthropicServer]:
    with AnthropicServer() as srv:
        monkeypatch.setenv("ANTHROPIC_BASE_URL", srv.base_url)
        monkeypatch.setenv("ANTHROPIC_API_KEY", TEST_KEY)
        monkeypatch.delenv("ANTHROPIC_AUTH_TOKEN", raising=False)
        yield srv
