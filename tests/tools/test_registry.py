"""The default tool set and entry-point plug-ins (a broken plug-in is skipped, not fatal)."""

from __future__ import annotations

import logging
import sys
from importlib.metadata import EntryPoint
from pathlib import Path

import pytest

import jupyter_assistant.tools as tools_pkg
from jupyter_assistant.tools import (
    ENTRY_POINT_GROUP,
    BraveSearchBackend,
    Tool,
    default_tools,
    load_entry_point_tools,
)

PLUGIN = '''
from jupyter_assistant.tools import tool

@tool
def ping(text: str) -> str:
    """Echo text."""
    return text

@tool
def pong() -> str:
    """Say pong."""
    return "pong"

TOOLS = [ping, pong]
NOT_A_TOOL = 42
'''


def test_default_tools_and_web_search_only_with_a_backend(monkeypatch: pytest.MonkeyPatch
                                                          ) -> None:
    names = [t.name for t in default_tools()]
    assert names == ["diagnose", "trace_summary", "hotspots", "slice_details", "thread_breakdown",
                     "gpu_breakdown", "compare_traces", "query_events", "read_file",
                     "list_dir", "apply_edit", "undo"]
    with_web = default_tools(web_search_backend=BraveSearchBackend("k"))
    assert with_web[-1].name == "web_search" and with_web[-1].timeout == 10
    monkeypatch.delenv("BRAVE_SEARCH_API_KEY", raising=False)
    assert "web_search" not in [t.name for t in default_tools("env")]
    monkeypatch.setenv("BRAVE_SEARCH_API_KEY", "k")
    assert "web_search" in [t.name for t in default_tools("env")]
    file_tools = {t.name: t for t in default_tools() if t.category == "file"}
    assert {n: t.timeout for n, t in file_tools.items()} == dict.fromkeys(file_tools, 5.0)
    assert [n for n, t in file_tools.items() if t.requires_approval] == ["apply_edit", "undo"]


def test_entry_points_loaded_and_broken_ones_skipped(tmp_path: Path,
                                                     monkeypatch: pytest.MonkeyPatch,
                                                     caplog: pytest.LogCaptureFixture) -> None:
    (tmp_path / "ja_test_plugin.py").write_text(PLUGIN)
    monkeypatch.syspath_prepend(str(tmp_path))
    eps = [
        EntryPoint("many", "ja_test_plugin:TOOLS", ENTRY_POINT_GROUP),
        EntryPoint("missing", "ja_no_such_module:TOOLS", ENTRY_POINT_GROUP),
        EntryPoint("wrong", "ja_test_plugin:NOT_A_TOOL", ENTRY_POINT_GROUP),
        EntryPoint("one", "ja_test_plugin:pong", ENTRY_POINT_GROUP),
    ]
    with caplog.at_level(logging.WARNING, logger="jupyter_assistant.tools._registry"):
        loaded = load_entry_point_tools(eps=eps)
    assert [t.name for t in loaded] == ["ping", "pong", "pong"]
    assert all(isinstance(t, Tool) for t in loaded)
    messages = "\n".join(r.getMessage() for r in caplog.records)
    assert "'missing'" in messages and "ModuleNotFoundError" in messages
    assert "'wrong'" in messages and "int" in messages
    sys.modules.pop("ja_test_plugin", None)


def test_installed_entry_points_do_not_fail() -> None:
    assert isinstance(load_entry_point_tools(), list)


def test_public_names_sorted_and_complete() -> None:
    assert tools_pkg.__all__ == sorted(tools_pkg.__all__, key=lambda n: (not n.isupper(), n))
    for name in tools_pkg.__all__:
        assert hasattr(tools_pkg, name)
