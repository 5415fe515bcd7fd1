"""Tools the model may call (trace, file, notebook, web search), the ``@tool`` decorator,
the default tool set and the ``jupyter_assistant.tools`` entry point group.

``Tool``, ``ToolContext`` and ``tool`` are imported at once; the rest lazily, so that
``from jupyter_assistant.tools import tool`` does not import pandas or an HTTP client.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from ._base import Tool, ToolContext, tool

__all__ = [
    "ENTRY_POINT_GROUP",
    "BraveSearchBackend",
    "SearchResult",
    "Tool",
    "ToolContext",
    "WebSearchBackend",
    "default_tools",
    "load_entry_point_tools",
    "notebook_tools",
    "render_table",
    "tool",
]

_LAZY: dict[str, str] = {
    "ENTRY_POINT_GROUP": "._registry",
    "default_tools": "._registry",
    "load_entry_point_tools": "._registry",
    "notebook_tools": ".notebook_tools",
    "render_table": "._render",
    "BraveSearchBackend": ".web_search",
    "SearchResult": ".web_search",
    "WebSearchBackend": ".web_search",
}

if TYPE_CHECKING:  # pragma: no cover
    from ._registry import ENTRY_POINT_GROUP, default_tools, load_entry_point_tools
    from ._render import render_table
    from .notebook_tools import notebook_tools
    from .web_search import BraveSearchBackend, SearchResult, WebSearchBackend


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'jupyter_assistant.tools' has no attribute {name!r}")
    value = getattr(importlib.import_module(module, __name__), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))
