"""Installed as a user installs it: the wheel is built with the standard build
(``python -m build --wheel``), installed into a NEW virtual environment, and the main job
(``jupyter-assistant summarize`` on a real shared trace) and ``jupyter server extension list``
run from there, with no user configuration at all.

Enabled on install: the wheel ships ``etc/jupyter/jupyter_server_config.d/
jupyter_assistant.json`` (hatch ``shared-data``).

The new environment installs the wheel's dependencies with pip, constrained to the versions
of this test environment (so the install is reproducible and pip finds them in its cache);
``build`` is in the test extra, so nothing here can skip: a missing tool is a failure. The
build runs without isolation when every ``[build-system] requires`` is installed here
(fast, and with the pinned toolchain of ``constraints.txt``), else in the standard isolated
environment.
"""

from __future__ import annotations

import importlib.metadata
import json
import os
import re
import subprocess
import sys
import zipfile
from collections.abc import Iterator
from pathlib import Path

import pytest

import jupyter_assistant

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - Python 3.10: pytest's own TOML reader
    import tomli as tomllib

ROOT = Path(__file__).resolve().parents[2]
TRACE = ROOT.parent / "shared" / "traces" / "hta" / "trace_diff" / "control" / "control.json.gz"
CONFIG = "etc/jupyter/jupyter_server_config.d/jupyter_assistant.json"
ENABLED = {"ServerApp": {"jpserver_extensions": {"jupyter_assistant": True}}}
_ANSI = re.compile(r"\x1b\[[0-9;]*m")
_BIN = "Scripts" if os.name == "nt" else "bin"


def _run(cmd: list[str], *, env: dict[str, str] | None = None, cwd: Path | None = None,
         timeout: float = 600) -> subprocess.CompletedProcess[str]:
    out = subprocess.run(cmd, env=env, cwd=cwd, capture_output=True, text=True,
                         timeout=timeout)
    assert out.returncode == 0, (f"{' '.join(cmd)} failed ({out.returncode}):\n"
                                 f"{out.stdout[-4000:]}\n{out.stderr[-4000:]}")
    return out


def _build_requires_installed() -> bool:
    from packaging.requirements import Requirement

    requires = tomllib.loads((ROOT / "pyproject.toml").read_text())["build-system"]["requires"]
    for text in requires:
        req = Requirement(text)
        try:
            version = importlib.metadata.version(req.name)
        except importlib.metadata.PackageNotFoundError:
            return False
        if not req.specifier.contains(version, prereleases=True):
            return False
    return True


def _clean_env(tmp: Path, venv: Path | None = None) -> dict[str, str]:
    """The environment of a user's shell with ``venv`` activated: no PYTHONPATH of this
    test run, empty Jupyter config and data dirs."""
    env = {k: v for k, v in os.environ.items()
           if k not in ("PYTHONPATH", "VIRTUAL_ENV", "JUPYTER_CONFIG_PATH", "JUPYTER_PATH",
                        "PYTHONHOME")}
    if venv is not None:  # `jupyter` finds its subcommands (jupyter-server) on PATH
        env["PATH"] = str(venv / _BIN) + os.pathsep + env.get("PATH", "")
        env["VIRTUAL_ENV"] = str(venv)
    env.update(JUPYTER_CONFIG_DIR=str(tmp / "config"), JUPYTER_DATA_DIR=str(tmp / "data"),
               NO_COLOR="1", PIP_DISABLE_PIP_VERSION_CHECK="1")
    return env


@pytest.fixture(scope="module")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The wheel built from this checkout by ``python -m build --wheel``."""
    out = tmp_path_factory.mktemp("dist")
    cmd = [sys.executable, "-m", "build", "--wheel", "--outdir", str(out), str(ROOT)]
    if _build_requires_installed():
        cmd.insert(4, "--no-isolation")
    _run(cmd, timeout=900)
    (built,) = out.glob("jupyter_assistant-*.whl")
    return built


@pytest.fixture(scope="module")
def venv(wheel: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """A new virtual environment (no system site-packages) with the wheel installed."""
    base = tmp_path_factory.mktemp("install")
    env_dir = base / "venv"
    _run([sys.executable, "-m", "venv", str(env_dir)])
    pins = base / "tested-versions.txt"
    seen: set[str] = set()
    lines = []
    for dist in importlib.metadata.distributions():
        name = (dist.metadata["Name"] or "").lower()
        if name and name not in seen and name != "jupyter-assistant":
            seen.add(name)
            lines.append(f"{name}=={dist.version}")
    pins.write_text("\n".join(lines) + "\n")
    _run([str(env_dir / _BIN / "python"), "-m", "pip", "install", "-q", "-c", str(pins),
          str(wheel)], env=_clean_env(base, env_dir), timeout=900)
    yield env_dir


def test_the_wheel_ships_the_config_that_enables_the_extension(wheel: Path) -> None:
    with zipfile.ZipFile(wheel) as zf:
        names = zf.namelist()
        (entry,) = [n for n in names if n.endswith(CONFIG)]
        assert entry == f"jupyter_assistant-{jupyter_assistant.__version__}.data/data/{CONFIG}"
        assert json.loads(zf.read(entry)) == ENABLED
        assert "jupyter_assistant/server/app.py" in names


@pytest.mark.slow
@pytest.mark.timeout(1200)
def test_the_installed_wheel_runs_the_main_job(venv: Path, tmp_path: Path) -> None:
    assert TRACE.is_file(), f"shared trace data not found at {TRACE} (clone shared/ beside " \
                            "the repo)"
    env = _clean_env(tmp_path, venv)
    where = _run([str(venv / _BIN / "python"), "-c",
                  "import jupyter_assistant; print(jupyter_assistant.__file__)"],
                 env=env, cwd=tmp_path).stdout.strip()
    assert Path(where).is_relative_to(venv), where  # the installed copy, not this checkout
    out = _run([str(venv / _BIN / "jupyter-assistant"), "summarize", str(TRACE)], env=env,
               cwd=tmp_path, timeout=300).stdout
    assert out.startswith("## Trace `control.json.gz`"), out[:500]
    assert "format **kineto**" in out
    assert "### Top self time, CPU threads" in out
    assert "cudaLaunchKernel" in out
    assert "HTA temporal breakdown" in out


@pytest.mark.slow
@pytest.mark.timeout(1200)
def test_jupyter_server_extension_list_in_the_new_environment(venv: Path,
                                                              tmp_path: Path) -> None:
    out = _run([str(venv / _BIN / "jupyter"), "server", "extension", "list"],
               env=_clean_env(tmp_path, venv), cwd=tmp_path, timeout=300)
    text = _ANSI.sub("", out.stdout + out.stderr)
    assert re.search(r"^\s*jupyter_assistant\s+enabled\s*$", text, re.M), text
    assert re.search(rf"^\s*jupyter_assistant {re.escape(jupyter_assistant.__version__)}"
                     r"\s+OK\s*$", text, re.M), text
    # enabled by the file pip installed into the new environment, nothing else
    assert f"Config dir: {venv / 'etc' / 'jupyter'}" in text
    assert json.loads((venv / CONFIG).read_text()) == ENABLED


def test_jupyter_server_extension_list_finds_it_enabled_and_ok(tmp_path: Path) -> None:
    # this (editable) test environment: only what pip installed (sys.prefix/etc/jupyter)
    # enables it, with an empty user config dir
    # (this interpreter's scripts first on PATH, as in an activated environment: `jupyter`
    # runs the `jupyter-server` it finds there)
    env = {**os.environ, "JUPYTER_CONFIG_DIR": str(tmp_path / "config"),
           "JUPYTER_DATA_DIR": str(tmp_path / "data"), "NO_COLOR": "1",
           "PATH": str(Path(sys.executable).parent) + os.pathsep + os.environ.get("PATH", "")}
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
