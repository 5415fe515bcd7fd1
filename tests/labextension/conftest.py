"""Browser tests of the sidebar: a real ``jupyter lab`` (``LabServer``) with the server
extension pointed at the local Anthropic-protocol peer, driven by Playwright through
Debian's ``/usr/bin/chromium`` (no browser download: ``executable_path``).

One lab and one browser per module; a fresh browser context (empty ``localStorage``) and a
fresh workspace (``?reset``) per test.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from jupyter_assistant.testing import AnthropicServer, LabServer

CHROMIUM = os.environ.get("JUPYTER_ASSISTANT_CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic",
                 "--no-first-run", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync"]
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
    """Chromium with a fresh temporary profile (Playwright's ``launch``)."""
    from playwright.sync_api import sync_playwright

    assert Path(CHROMIUM).exists(), f"{CHROMIUM} is missing: .ci/run installs Debian's chromium"
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)
        yield browser
        browser.close()


@pytest.fixture
def page(browser: Any, lab: LabServer) -> Iterator[Any]:
    """A lab page in a fresh browser context (empty ``localStorage``) and a fresh workspace;
    the sidebar not yet open. Fails the test on any uncaught page error."""
    context = browser.new_context(viewport={"width": 1400, "height": 900})
    page = context.new_page()
    page.set_default_timeout(TIMEOUT_MS)
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    page.goto(lab.lab_url("lab?reset"))
    page.wait_for_selector("#jp-main-dock-panel", timeout=60_000)
    page.wait_for_function("() => window.jupyterapp !== undefined", timeout=60_000)
    page.evaluate("async () => { await window.jupyterapp.restored; }")
    yield page
    context.close()
    assert not errors, errors
