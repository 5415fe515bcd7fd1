"""What a turn starts from: the tool set, the traces of the turn, and the system prompt.

- :func:`collect_tools`: the tools passed in, plus (unless disabled) the built-in tools of
  ``jupyter_assistant.tools.default_tools()`` and the tools registered under the entry point
  group ``jupyter_assistant.tools`` (each entry point loads a :class:`Tool` or a list of
  them). Later sources win on a name clash: defaults, then entry
  points, then the tools passed in.
- :func:`resolve_traces`: the ``trace`` / ``traces`` arguments of a turn as loaded traces.
- :func:`system_prompt`: the instructions plus the summary of the current trace, which is
  what the model sees first (DESIGN.md).
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

import anyio.to_thread

from ..exceptions import ConfigError, InputError
from ..tools import Tool, tool

__all__ = ["DEFAULT_SYSTEM_PROMPT", "collect_tools", "resolve_traces", "system_prompt"]

log = logging.getLogger(__name__)

DEFAULT_SYSTEM_PROMPT = """\
You are jupyter-assistant, a performance and debugging assistant that lives in Jupyter. \
Users show you performance traces (Chrome/Perfetto traces, PyTorch profiler traces, \
py-spy and cProfile profiles) and code, and ask why something is slow or broken.

- Ground every claim in the data: call the trace tools (summary, hotspots, slice details, \
thread and GPU breakdowns, comparisons, queries) instead of guessing, and quote the numbers \
(durations in ms or µs, shares in %).
- Call independent tools in the same response; they run in parallel.
- Explain the cause first, then concrete fixes, most effective first. Be brief.
- When a tool fails, say so and work with what you have; never invent results.
- Edit files only when asked, with the smallest change; show what changed."""


def collect_tools(tools: Iterable[Any] | None, *, include_default: bool) -> dict[str, Tool]:
    """Name -> :class:`Tool` for a turn (see the module docstring). Plain functions in
    ``tools`` are wrapped with :func:`~jupyter_assistant.tool`. Raises
    :class:`~jupyter_assistant.exceptions.ConfigError` for something that is not a tool."""
    result: dict[str, Tool] = {}
    if include_default:
        from ..tools import default_tools, load_entry_point_tools

        for t in [*default_tools("env"), *load_entry_point_tools()]:
            result[t.name] = t
    for item in tools or []:
        if not isinstance(item, Tool) and not callable(item):
            raise ConfigError(f"tools must be Tool objects or functions, got {item!r}")
        made = item if isinstance(item, Tool) else tool(item)
        result[made.name] = made
    return result


async def _load(source: Any, known: Mapping[str, Any]) -> Any:
    if isinstance(source, str) and source in known:
        return known[source]
    if isinstance(source, (str, Path)):
        path = Path(source)
        if not path.exists():
            raise InputError(f"trace {str(source)!r} is neither a known trace id nor an "
                             "existing file", code="trace_not_found")
        from ..traces import load_trace

        return await anyio.to_thread.run_sync(load_trace, path, abandon_on_cancel=True)
    return source  # a Trace (or trace-like object) already


async def resolve_traces(trace: Any, traces: Mapping[str, Any] | None,
                         known: Mapping[str, Any]) -> dict[str, Any]:
    """Traces of a turn: ``traces`` (id -> Trace) plus ``trace`` as ``"current"``; a path
    is loaded with ``load_trace`` (in a worker thread), an id is looked up in ``traces`` and
    then in ``known`` (the session's traces). Raises ``InputError`` (code
    ``trace_not_found``) or :class:`~jupyter_assistant.exceptions.TraceFormatError`."""
    result = dict(traces or {})
    if trace is not None:
        result["current"] = await _load(trace, {**known, **result})
    return result


async def system_prompt(base: str | None, traces: Mapping[str, Any], cache: dict[Any, str],
                        *, max_tokens: int = 1500) -> str:
    """``base`` (or :data:`DEFAULT_SYSTEM_PROMPT`) plus the current trace's summary
    (computed in a worker thread once per trace object, kept in ``cache``) and the ids of
    the other traces."""
    parts = [base or DEFAULT_SYSTEM_PROMPT]
    current = traces.get("current")
    if current is not None:
        key = id(current)
        if key not in cache:
            try:
                summary = await anyio.to_thread.run_sync(
                    lambda: current.summary(max_tokens=max_tokens), abandon_on_cancel=True)
                cache[key] = getattr(summary, "text", str(summary))
            except Exception as exc:
                log.warning("trace summary failed: %s", exc)
                cache[key] = (f"(The summary of this trace could not be computed: "
                              f"{type(exc).__name__}: {exc}. Use the trace tools.)")
        parts.append("The user's current trace (trace id \"current\"):\n\n" + cache[key])
    others = sorted(k for k in traces if k != "current")
    if others:
        parts.append("Other loaded traces (pass their id to the trace tools): "
                     + ", ".join(others))
    return "\n\n".join(parts)
