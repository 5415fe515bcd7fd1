"""A real ``jupyter lab`` on 127.0.0.1 for browser tests, benchmarks and screenshots.

:class:`LabServer` starts ``python -m jupyterlab`` as a subprocess with a token, its own
config, data, runtime and workspace folders under ``home`` (so nothing of the user's setup
leaks in), the assistant's store in ``home``, the app exposed as ``window.jupyterapp``
(what galata does, so a test can run commands), and ``ANTHROPIC_BASE_URL`` pointed at a
local :class:`~jupyter_assistant.testing.AnthropicServer` when given. ``with LabServer(...)
as lab`` waits until ``GET /api/status`` answers (at most ``start_timeout`` s) and stops the
process (SIGTERM, then SIGKILL) at exit. Its log is ``home/lab.log``.

In a browser: :func:`launch_chromium` starts Debian's headless chromium through Playwright
(no browser download), and :meth:`LabServer.open_page` opens JupyterLab in it, ready once
the layout is restored::

    with LabServer(home) as lab, sync_playwright() as p:
        browser = launch_chromium(p)
        page = lab.open_page(browser, viewport=(1440, 900))

Playwright (the ``test`` extra) is imported only by these two.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # pragma: no cover
    from playwright.sync_api import Browser, Page, Playwright

__all__ = ["LabServer", "launch_chromium"]

#: Flags of the headless chromium: no sandbox (containers, root), no GPU, and none of the
#: background traffic (sync, updates, QUIC) that a test machine cannot reach.
CHROMIUM_ARGS = ("--headless", "--no-sandbox", "--disable-gpu", "--disable-quic",
                 "--no-first-run", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync")


def launch_chromium(playwright: Playwright, executable: str | None = None) -> Browser:
    """Headless Chromium launched by ``playwright`` (``sync_playwright()``'s object) from
    ``executable``: by default ``$JUPYTER_ASSISTANT_CHROMIUM``, else Debian's
    ``/usr/bin/chromium`` (``.ci/run`` installs it), with :data:`CHROMIUM_ARGS`. Close it
    with ``browser.close()`` (leaving the ``sync_playwright()`` block closes it too).

    Raises ``FileNotFoundError`` naming the path when there is no browser there.
    """
    path = executable or os.environ.get("JUPYTER_ASSISTANT_CHROMIUM", "/usr/bin/chromium")
    if not Path(path).is_file():
        raise FileNotFoundError(f"{path} is missing: install Debian's chromium (.ci/run does) "
                                "or set JUPYTER_ASSISTANT_CHROMIUM to a Chromium binary")
    return playwright.chromium.launch(executable_path=path, args=list(CHROMIUM_ARGS),
                                      headless=True)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class LabServer:
    """``jupyter lab`` on 127.0.0.1 (see the module docstring).

    ``home``: a directory the server owns (``root`` holds the notebooks it serves);
    ``anthropic_base_url``: the local Anthropic peer; ``settings``: extra command-line
    traitlets such as ``{"AssistantApp.chat_rate_limit": "1000/minute"}``.
    Raises ``RuntimeError`` (with the log's tail) when the server does not come up.
    """

    def __init__(self, home: Path, *, anthropic_base_url: str | None = None,
                 token: str = "lab-test-token", settings: dict[str, Any] | None = None,
                 start_timeout: float = 120.0) -> None:
        self.home = Path(home)
        self.root = self.home / "root"
        self.token = token
        self.anthropic_base_url = anthropic_base_url
        self.settings = {
            "AssistantApp.model": "anthropic:claude-test",
            "AssistantApp.store_url": f"sqlite:///{self.home / 'assistant.db'}",
            "AssistantApp.traces_dir": str(self.home / "traces"),
            "AssistantApp.chat_rate_limit": "1000/minute",
            "AssistantApp.write_rate_limit": "1000/minute",
            **(settings or {}),
        }
        self.start_timeout = start_timeout
        self.port = 0
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        """``http://127.0.0.1:<port>/``."""
        return f"http://127.0.0.1:{self.port}/"

    def lab_url(self, path: str = "lab") -> str:
        """The URL of ``path`` with the token (which sets the login cookie)."""
        sep = "&" if "?" in path else "?"
        return f"{self.url}{path}{sep}token={self.token}"

    def open_page(self, browser: Browser, *, viewport: tuple[int, int] = (1400, 900),
                  timeout_ms: float = 30_000, load_timeout_ms: float = 60_000,
                  path: str = "lab?reset", errors: list[str] | None = None) -> Page:
        """A Playwright page of this lab in a new context of ``browser`` (its own login
        cookie, an empty ``localStorage``), ``viewport`` (width, height) in CSS pixels, on
        ``path`` (default ``lab?reset``: a fresh workspace), returned once JupyterLab has
        restored its layout (``await window.jupyterapp.restored``) and settled: its main area
        holds a widget (JupyterLab opens a Launcher into an empty one once the file browser
        has restored, after ``restored``, and the Launcher takes the focus: keys typed before
        that could land in the wrong place) and the focus has moved. ``timeout_ms``: the
        page's default timeout (ms) for what the caller does next; ``load_timeout_ms``: for
        JupyterLab to start in the page. Uncaught page errors are appended to ``errors``
        when given (from before the first load). Close it with ``page.context.close()``.

        Raises Playwright's ``TimeoutError`` when JupyterLab does not start in time.
        """
        width, height = viewport
        context = browser.new_context(viewport={"width": width, "height": height})
        page = context.new_page()
        if errors is not None:
            page.on("pageerror", lambda exc: errors.append(str(exc)))
        page.set_default_timeout(timeout_ms)
        page.goto(self.lab_url(path), timeout=load_timeout_ms)
        page.wait_for_function("() => window.jupyterapp !== undefined",
                               timeout=load_timeout_ms)
        page.evaluate("async () => { await window.jupyterapp.restored; }")
        page.wait_for_function("() => !window.jupyterapp.shell.isEmpty('main')",
                               timeout=load_timeout_ms)
        # Lumino delivers the activation (and the focus) in a later animation frame
        page.evaluate("() => new Promise(r => requestAnimationFrame(() => "
                      "requestAnimationFrame(r)))")
        return page

    def start(self) -> LabServer:
        for sub in ("root", "config/labconfig", "data", "runtime", "workspaces"):
            (self.home / sub).mkdir(parents=True, exist_ok=True)
        # no "receive news?" toast over the page (it would cover the sidebar's buttons)
        (self.home / "config/labconfig/page_config.json").write_text(json.dumps(
            {"disabledExtensions": {"@jupyterlab/apputils-extension:announcements": True}}))
        env = {**os.environ, "JUPYTER_CONFIG_DIR": str(self.home / "config"),
               "JUPYTER_DATA_DIR": str(self.home / "data"),
               "JUPYTER_RUNTIME_DIR": str(self.home / "runtime"), "NO_COLOR": "1"}
        env.pop("JUPYTER_CONFIG_PATH", None)
        if self.anthropic_base_url:
            env["ANTHROPIC_BASE_URL"] = self.anthropic_base_url
            env.setdefault("ANTHROPIC_API_KEY", "sk-ant-local-test")
        self.port = _free_port()
        args = [sys.executable, "-m", "jupyterlab", "--no-browser", "--ServerApp.ip=127.0.0.1",
                f"--ServerApp.port={self.port}", "--ServerApp.port_retries=0",
                f"--IdentityProvider.token={self.token}", "--ServerApp.allow_root=True",
                f"--ServerApp.root_dir={self.root}", "--LabApp.expose_app_in_browser=True",
                f"--LabApp.workspaces_dir={self.home / 'workspaces'}",
                "--LabApp.news_url=", "--LabApp.check_for_updates_class="
                "jupyterlab.NeverCheckForUpdate"]
        args += [f"--{k}={v}" for k, v in self.settings.items()]
        with open(self.home / "lab.log", "wb") as log:
            self.proc = subprocess.Popen(args, env=env, stdout=log, stderr=subprocess.STDOUT,
                                         start_new_session=True)
        deadline = time.monotonic() + self.start_timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"jupyter lab exited ({self.proc.returncode}):\n{self.log()}")
            try:
                req = urllib.request.Request(self.url + "api/status",
                                             headers={"Authorization": f"token {self.token}"})
                with urllib.request.urlopen(req, timeout=2) as r:
                    if r.status == 200:
                        return self
            except (urllib.error.URLError, OSError):
                pass
            time.sleep(0.2)
        self.stop()
        raise RuntimeError(f"jupyter lab did not start in {self.start_timeout:g} s:\n{self.log()}")

    def log(self, tail: int = 4000) -> str:
        """The last ``tail`` characters of the server's log."""
        path = self.home / "lab.log"
        return path.read_text(errors="replace")[-tail:] if path.exists() else ""

    def stop(self) -> None:
        """SIGTERM, then SIGKILL after 10 s."""
        if self.proc is None or self.proc.poll() is not None:
            return
        self.proc.send_signal(signal.SIGTERM)
        try:
            self.proc.wait(10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(5)

    def __enter__(self) -> LabServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
