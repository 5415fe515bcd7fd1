"""The built-in tool set and the tools plug-ins register through entry points.

:func:`default_tools` is what :class:`~jupyter_assistant.Assistant` offers by default: the
trace tools, the file tools, and ``web_search`` only when a search backend is given (or, with
``web_search_backend="env"``, configured in the environment). :func:`load_entry_point_tools`
loads the entry points of group ``jupyter_assistant.tools``; each must load a
:class:`~jupyter_assistant.tools.Tool` or a list of them. A plug-in that fails to import or
gives something else is logged and skipped: a broken plug-in never breaks the assistant.

A package registers tools in its ``pyproject.toml``::

    [project.entry-points."jupyter_assistant.tools"]
    my_tools = "my_package.tools:TOOLS"
"""

from __future__ import annotations

import logging
from importlib.metadata import EntryPoint, entry_points
from typing import Any, Literal

from ._base import Tool
from .file_tools import file_tools
from .trace_tools import trace_tools
from .web_search import WebSearchBackend, web_search_backend_from_env, web_search_tool

__all__ = ["ENTRY_POINT_GROUP", "default_tools", "load_entry_point_tools"]

log = logging.getLogger(__name__)

#: Entry point group that plug-in packages register tools under.
ENTRY_POINT_GROUP = "jupyter_assistant.tools"


def default_tools(web_search_backend: WebSearchBackend | Literal["env"] | None = None
                  ) -> list[Tool]:
    """The built-in tools: ``trace_summary``, ``hotspots``, ``slice_details``,
    ``thread_breakdown``, ``gpu_breakdown``, ``compare_traces``, ``query_events``,
    ``read_file``, ``list_dir``, ``apply_edit``, ``undo``, and ``web_search`` when
    ``web_search_backend`` is a backend (``"env"``: the backend
    :func:`~jupyter_assistant.tools.web_search.web_search_backend_from_env` finds, if any).
    A new list on every call."""
    tools = [*trace_tools(), *file_tools()]
    backend = web_search_backend_from_env() if web_search_backend == "env" else web_search_backend
    if backend is not None:
        tools.append(web_search_tool(backend))
    return tools


def _as_tools(value: Any) -> list[Tool] | None:
    if isinstance(value, Tool):
        return [value]
    if isinstance(value, (list, tuple)) and all(isinstance(v, Tool) for v in value):
        return list(value)
    return None


def load_entry_point_tools(group: str = ENTRY_POINT_GROUP,
                           eps: list[EntryPoint] | None = None) -> list[Tool]:
    """Tools from the entry points of ``group`` (or the given ``eps``), in entry point
    order. An entry point that raises on load, or loads something other than a Tool or a
    list of Tools, is logged (warning) and skipped."""
    found: list[Tool] = []
    for ep in eps if eps is not None else list(entry_points(group=group)):
        try:
            value = ep.load()
        except Exception as exc:
            log.warning("skipping tool entry point %r (%s): %s: %s", ep.name, ep.value,
                        type(exc).__name__, exc)
            continue
        tools = _as_tools(value)
        if tools is None:
            log.warning("skipping tool entry point %r (%s): it gave %s, not a Tool or a list "
                        "of Tools", ep.name, ep.value, type(value).__name__)
            continue
        found.extend(tools)
    return found
