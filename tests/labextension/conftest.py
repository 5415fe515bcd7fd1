"""Browser tests of the sidebar: a real ``jupyter lab`` (``LabServer``) with the server
extension pointed at the local Anthropic-protocol peer, driven by Playwright through
Debian's ``/usr/bin/chromium`` (no browser download: ``launch_chromium``; ``LabServer.open_page``
opens the lab in it).

One lab and one browser per module; a fresh browser context (empty ``localStorage``) and a
fresh workspace (``?reset``) per test.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from jupyter_assistant.testing import AnthropicServer, LabServer, launch_chromium

TIMEOUT_MS = 30_000
UPLOAD_LIMIT = 4 * 1024 * 1024  # bytes (c.AssistantApp.max_upload_bytes of the test lab)


@pytest.fixture(scope="module")
def peer() -> Iterator[AnthropicServer]:
    with AnthropicServer() as server:
        yield server


@pytest.fixture(autouse=True)
def _fresh_peer(peer: AnthropicServer) -> None:
    peer.clear()


@pytest.fixture(scope="module")
def lab(tmp_path_factory: pytest.TempPathFactory, peer: AnthropicServer) -> Iterator[LabServer]:
    home = tmp_path_factory.mktemp("lab")
    with LabServer(home, anthropic_base_url=peer.base_url,
                   settings={"AssistantApp.max_upload_bytes": UPLOAD_LIMIT}) as server:
        yield server


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    """Chromium with a fresh temporary profile (fails, never skips, when it is missing)."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        browser = launch_chromium(p)
        yield browser
        browser.close()


@pytest.fixture
def page(browser: Any, lab: LabServer) -> Iterator[Any]:
    """A lab page in a fresh browser context (empty ``localStorage``) and a fresh workspace;
    the sidebar not yet open. Fails the test on any uncaught page error."""
    errors: list[str] = []
    page = lab.open_page(browser, viewport=(1400, 900), timeout_ms=TIMEOUT_MS, errors=errors)
    yield page
    page.context.close()
    assert not errors, errors
