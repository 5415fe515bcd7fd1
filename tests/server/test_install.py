"""Enabled on install: the wheel ships ``etc/jupyter/jupyter_server_config.d/
jupyter_assistant.json`` (hatch ``shared-data``), and in the installed environment
``jupyter server extension list`` finds the extension enabled and valid, with no user
configuration at all."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

import jupyter_assistant

ROOT = Path(__file__).resolve().parents[2]
CONFIG = "etc/jupyter/jupyter_server_config.d/jupyter_assistant.json"
ENABLED = {"ServerApp": {"jpserver_extensions": {"jupyter_assistant": True}}}
_ANSI = re.compile(r"\x1b\[[0-9;]*m")


def test_the_wheel_ships_the_config_that_enables_the_extension(tmp_path: Path) -> None:
    wheel_builder = pytest.importorskip("hatchling.builders.wheel")
    (wheel,) = wheel_builder.WheelBuilder(str(ROOT)).build(directory=str(tmp_path),
                                                          versions=["standard"])
    with zipfile.ZipFile(wheel) as zf:
        names = zf.namelist()
        (entry,) = [n for n in names if n.endswith(CONFIG)]
        assert entry == f"jupyter_assistant-{jupyter_assistant.__version__}.data/data/{CONFIG}"
        assert json.loads(zf.read(entry)) == ENABLED
        assert "jupyter_assistant/server/app.py" in names


def test_jupyter_server_extension_list_finds_it_enabled_and_ok(tmp_path: Path) -> None:
    # an empty user config dir: only what pip installed (sys.prefix/etc/jupyter) enables it
    env = {**os.environ, "JUPYTER_CONFIG_DIR": str(tmp_path / "config"),
           "JUPYTER_DATA_DIR": str(tmp_path / "data"), "NO_COLOR": "1"}
    env.pop("JUPYTER_CONFIG_PATH", None)
    out = subprocess.run([sys.executable, "-m", "jupyter", "server", "extension", "list"],
                         env=env, capture_output=True, text=True, timeout=60)
    text = _ANSI.sub("", out.stdout + out.stderr)
    assert out.returncode == 0, text
    assert re.search(r"^\s*jupyter_assistant\s+enabled\s*$", text, re.M), text
    assert re.search(rf"^\s*jupyter_assistant {re.escape(jupyter_assistant.__version__)}"
                     r"\s+OK\s*$", text, re.M), text
    installed = Path(sys.prefix) / CONFIG
    assert json.loads(installed.read_text()) == ENABLED
    assert f"Config dir: {Path(sys.prefix) / 'etc' / 'jupyter'}" in text
