"""The JupyterLab sidebar is packaged: the wheel carries the prebuilt extension (so installing
it needs no Node.js) and, in the installed environment, ``jupyter labextension list`` shows
it enabled and OK next to the server extension."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import zipfile
from pathlib import Path

import jupyter_assistant

ROOT = Path(__file__).resolve().parents[2]
SHARE = "share/jupyter/labextensions/jupyter-assistant"
_ANSI = re.compile(r"\x1b\[[0-9;]*m")


def test_the_wheel_ships_the_prebuilt_sidebar(tmp_path: Path) -> None:
    from hatchling.builders.wheel import WheelBuilder

    (wheel,) = WheelBuilder(str(ROOT)).build(directory=str(tmp_path), versions=["standard"])
    data = f"jupyter_assistant-{jupyter_assistant.__version__}.data/data/{SHARE}"
    with zipfile.ZipFile(wheel) as zf:
        names = set(zf.namelist())
        meta = json.loads(zf.read(f"{data}/package.json"))
        install = json.loads(zf.read(f"{data}/install.json"))
        entry = meta["jupyterlab"]["_build"]["load"]
        assert f"{data}/{entry}" in names  # the module-federation entry the lab loads
        assert f"{data}/static/style.js" in names
        scripts = [zf.read(n).decode() for n in names
                   if n.startswith(f"{data}/static/") and n.endswith(".js")]
    assert meta["name"] == "jupyter-assistant"
    assert install["packageName"] == "jupyter-assistant"
    # the compiled plugins are in the bundle
    for plugin in ("jupyter-assistant:sidebar", "jupyter-assistant:commands"):
        assert any(plugin in js for js in scripts), plugin
    # the sources are not shipped inside the Python package
    assert not any(n.startswith("jupyter_assistant/labextension/") for n in names)


def test_jupyter_labextension_list_shows_it_enabled_and_ok(tmp_path: Path) -> None:
    env = {**os.environ, "JUPYTER_CONFIG_DIR": str(tmp_path / "config"),
           "JUPYTER_DATA_DIR": str(tmp_path / "data"), "NO_COLOR": "1"}
    out = subprocess.run([sys.executable, "-m", "jupyter", "labextension", "list"], env=env,
                         capture_output=True, text=True, timeout=120)
    text = _ANSI.sub("", out.stdout + out.stderr)
    assert out.returncode == 0, text
    assert re.search(rf"^\s*jupyter-assistant v{re.escape(jupyter_assistant.__version__)}"
                     r"\s+enabled\s+OK", text, re.M), text
    server = subprocess.run([sys.executable, "-m", "jupyter", "server", "extension", "list"],
                            env=env, capture_output=True, text=True, timeout=120)
    assert re.search(r"^\s*jupyter_assistant\s+enabled", _ANSI.sub("", server.stderr +
                                                                   server.stdout), re.M)
