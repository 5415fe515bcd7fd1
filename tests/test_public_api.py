"""The public API of ``jupyter_assistant``: explicit, sorted, complete and documented."""

from __future__ import annotations

import inspect
import subprocess
import sys
from pathlib import Path

import pytest

import jupyter_assistant

# names that are data, not classes or functions: they cannot carry a docstring of their own
_DATA = {"__version__", "EventType"}


def test_all_is_sorted_and_unique() -> None:
    names = jupyter_assistant.__all__
    assert names == sorted(names)
    assert len(names) == len(set(names))


def test_every_name_resolves() -> None:
    for name in jupyter_assistant.__all__:
        assert getattr(jupyter_assistant, name) is not None, name
    assert set(dir(jupyter_assistant)) >= set(jupyter_assistant.__all__)


def test_exports_and_all_agree() -> None:
    exported = set(jupyter_assistant._EXPORTS) | {"__version__"}
    assert exported == set(jupyter_assistant.__all__)


def test_unknown_name_raises_attribute_error() -> None:
    try:
        jupyter_assistant.no_such_name  # noqa: B018
    except AttributeError as exc:
        assert "no_such_name" in str(exc)
    else:  # pragma: no cover
        raise AssertionError("expected AttributeError")


def test_every_public_name_has_a_docstring() -> None:
    missing = []
    for name in jupyter_assistant.__all__:
        if name in _DATA:
            continue
        obj = getattr(jupyter_assistant, name)
        doc = obj.__doc__ if (inspect.isclass(obj) or inspect.isroutine(obj)) else None
        if not doc or not doc.strip():
            missing.append(name)
    assert not missing, f"public names without a docstring: {missing}"


def test_orchestrator_contract_names() -> None:
    from jupyter_assistant import Assistant, AssistantConfig, tool
    from jupyter_assistant.orchestrator.providers import create_provider
    from jupyter_assistant.tools import Tool

    assert isinstance(tool(lambda x: x), Tool)
    assert callable(create_provider)
    params = inspect.signature(Assistant).parameters
    for kw in ("tool_timeout", "stream_idle_timeout", "turn_deadline", "max_model_calls",
               "max_message_chars", "tool_output_chars", "store", "root", "auto_approve",
               "system_prompt", "config", "include_default_tools"):
        assert kw in params, kw
    assert AssistantConfig().turn_deadline == 90


def test_import_is_cheap() -> None:
    """``import jupyter_assistant`` must not import the SDKs or the server (lazy exports)."""
    code = ("import sys, jupyter_assistant; "
            "print(sorted(m for m in ('anthropic', 'openai', 'jupyter_server', 'pandas') "
            "if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True).stdout.strip()
    assert out == "[]"


_SUBPACKAGES = ("jupyter_assistant.config", "jupyter_assistant.orchestrator",
                "jupyter_assistant.orchestrator.providers", "jupyter_assistant.tools",
                "jupyter_assistant.testing", "jupyter_assistant.kernel")


def _isort_key(name: str) -> tuple[int, str]:
    """ruff RUF022's order: SCREAMING_CASE constants, then CamelCase classes, then the rest."""
    if name.isupper() and len(name) > 1:
        return 0, name
    return (1 if name[:1].isupper() else 2), name


def test_subpackage_all_is_sorted_complete_and_documented() -> None:
    import importlib

    for module_name in _SUBPACKAGES:
        module = importlib.import_module(module_name)
        names = list(module.__all__)
        assert names == sorted(names, key=_isort_key), module_name
        assert len(names) == len(set(names)), module_name
        assert set(dir(module)) >= set(names), module_name
        for name in names:
            obj = getattr(module, name)
            if inspect.isclass(obj) or inspect.isroutine(obj):
                assert (obj.__doc__ or "").strip(), f"{module_name}.{name} has no docstring"


def test_ipython_extension_entry_points() -> None:
    """``%load_ext jupyter_assistant`` finds IPython's entry points at the top level, and
    importing the package does not import IPython (the kernel side loads lazily)."""
    assert callable(jupyter_assistant.load_ipython_extension)
    assert callable(jupyter_assistant.unload_ipython_extension)
    code = "import sys, jupyter_assistant; print('IPython' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True).stdout.strip()
    assert out == "False"


def test_testing_opens_jupyterlab_in_chromium() -> None:
    """One helper opens JupyterLab in Debian's chromium for the browser tests, the sidebar
    bench and the docs' screenshots: ``launch_chromium`` and ``LabServer.open_page``,
    documented, and importing them does not import Playwright."""
    import jupyter_assistant.testing as testing
    from jupyter_assistant.testing import LabServer, launch_chromium

    assert "launch_chromium" in testing.__all__
    params = inspect.signature(LabServer.open_page).parameters
    assert list(params) == ["self", "browser", "viewport", "timeout_ms", "load_timeout_ms",
                            "path", "errors"]
    assert params["path"].default == "lab?reset"
    assert "window.jupyterapp.restored" in (LabServer.open_page.__doc__ or "")
    assert "FileNotFoundError" in (launch_chromium.__doc__ or "")
    code = ("import sys; from jupyter_assistant.testing import LabServer, launch_chromium; "
            "print('playwright' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True).stdout.strip()
    assert out == "False"


def test_launch_chromium_names_a_missing_browser(tmp_path: Path) -> None:
    from playwright.sync_api import sync_playwright

    from jupyter_assistant.testing import launch_chromium

    missing = tmp_path / "no-chromium"
    with sync_playwright() as p, pytest.raises(FileNotFoundError, match=str(missing)):
        launch_chromium(p, str(missing))
