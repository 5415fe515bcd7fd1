"""A real ``jupyter lab`` on 127.0.0.1 for browser tests, benchmarks and screenshots.

:class:`LabServer` starts ``python -m jupyterlab`` as a subprocess with a token, its own
config, data, runtime and workspace folders under ``home`` (so nothing of the user's setup
leaks in), the assistant's store in ``home``, the app exposed as ``window.jupyterapp``
(what galata does, so a test can run commands), and ``ANTHROPIC_BASE_URL`` pointed at a
local :class:`~jupyter_assistant.testing.AnthropicServer` when given. ``with LabServer(...)
as lab`` waits until ``GET /api/status`` answers (at most ``start_timeout`` s) and stops the
process (SIGTERM, then SIGKILL) at exit. Its log is ``home/lab.log``.
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
from typing import Any

__all__ = ["LabServer"]


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
