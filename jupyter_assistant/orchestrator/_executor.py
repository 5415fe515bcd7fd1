"""Runs the tool calls of one model response, all at once.

Every call of a response runs in the same anyio task group, each under its own timeout
(the tool's ``timeout``, else the default of its category: web 10 s, file 5 s, others 30 s).
A call never fails the turn: an unknown tool, malformed input JSON, a refused approval, a
timeout or an exception becomes an ``is_error`` ``tool_result`` whose text says what went
wrong, plus a ``tool_use_complete`` event with ``is_error`` and ``error_code``. Sync tools run
in worker threads that are abandoned on timeout or cancel, so a hung tool cannot hang the
turn; the threads come from the sync tools' own ``CapacityLimiter`` (``tool_threads`` slots,
an abandoned thread keeps its slot until it returns), so hung tools can never starve anyio's
default thread limiter, and a call that finds every slot taken times out saying so. Output
longer than ``tool_output_chars`` is cut, with a note saying how much. A result that is not
text is rendered (DataFrame to markdown, anything else to JSON) in a worker thread too.
"""

from __future__ import annotations

import inspect
import json
import time
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import anyio
import anyio.to_thread

from ..config import AssistantConfig
from ..exceptions import ToolError
from ..store import TelemetryStore, ToolCallRecord, new_id
from ..tools import Tool, ToolContext
from .providers import ToolUsePart

__all__ = ["ToolExecutor", "ToolOutcome", "render_output", "truncate_output"]

Emit = Callable[[str, dict[str, Any]], Awaitable[Any]]
Approver = Callable[[str, dict[str, Any]], Awaitable[bool]]


@dataclass
class ToolOutcome:
    """Result of one tool call: the ``tool_result`` ``content`` (text), ``is_error``,
    ``error_code`` (``unknown_tool``, ``invalid_input``, ``approval_required``, ``refused``,
    ``timeout``, ``tool_exception``, a :class:`ToolError` code, ``cancelled``), ``status``
    (``ok``/``error``/``timeout``/``refused``/``cancelled``) and ``duration_ms``."""

    id: str
    name: str
    content: str
    is_error: bool = False
    error_code: str | None = None
    status: str = "ok"
    duration_ms: float = 0.0

    def event_data(self) -> dict[str, Any]:
        """``data`` of the ``tool_use_complete`` event."""
        data: dict[str, Any] = {"id": self.id, "name": self.name, "is_error": self.is_error,
                                "content": self.content, "duration_ms": self.duration_ms}
        if self.error_code:
            data["error_code"] = self.error_code
        return data


class _Refused(Exception):
    def __init__(self, code: str, message: str, status: str = "refused") -> None:
        super().__init__(message)
        self.code, self.message, self.status = code, message, status


def render_output(value: Any) -> str:
    """Tool return value -> ``tool_result`` text: ``str`` as is, DataFrame as a markdown
    table, anything else as JSON."""
    if isinstance(value, str):
        return value
    if value is None:
        return "(no output)"
    try:
        import pandas as pd

        if isinstance(value, pd.DataFrame):
            try:
                from ..tools import render_table

                return str(render_table(value))
            except Exception:
                return value.to_string()
    except ImportError:  # pragma: no cover - pandas is a dependency
        pass
    try:
        return json.dumps(value, default=str, ensure_ascii=False)
    except (TypeError, ValueError):
        return repr(value)


def truncate_output(text: str, limit: int) -> str:
    """``text`` cut to ``limit`` characters plus a note naming how many were removed."""
    if len(text) <= limit:
        return text
    cut = len(text) - limit
    return (f"{text[:limit]}\n\n[output truncated: {cut:,} of {len(text):,} characters were "
            f"cut; the limit for one tool result is {limit:,} characters. Ask for less, e.g. "
            f"with a filter or a smaller n.]")


@dataclass
class ToolExecutor:
    """Runs tool calls for one turn. ``emit(type, data)`` sends events; ``telemetry``
    receives a :class:`ToolCallRecord` per call; ``record_context`` (session/turn/
    conversation/user ids) is copied into each record."""

    tools: Mapping[str, Tool]
    config: AssistantConfig
    emit: Emit
    telemetry: TelemetryStore
    root: Path
    traces: Mapping[str, Any]
    state: dict[str, Any]
    approve: Approver | None = None
    record_context: dict[str, Any] = field(default_factory=dict)
    #: The sync tools' worker-thread limiter (``None``: anyio's default one).
    thread_limiter: anyio.CapacityLimiter | None = None
    running: dict[str, ToolUsePart] = field(default_factory=dict)
    outcomes: dict[str, ToolOutcome] = field(default_factory=dict)

    async def run(self, calls: list[ToolUsePart]) -> list[ToolOutcome]:
        """Run ``calls`` concurrently; outcomes in the order of ``calls``. Cancellation
        (user cancel, turn deadline) propagates; then :attr:`outcomes` holds the calls that
        finished and :attr:`running` the ones that did not."""
        self.outcomes = {}
        self.running = {c.id: c for c in calls}
        async with anyio.create_task_group() as tg:
            for call in calls:
                tg.start_soon(self._run_one, call, self.outcomes)
        return [self.outcomes[c.id] for c in calls]

    def timeout_for(self, tool: Tool) -> float:
        """Seconds ``tool`` may run: its own ``timeout`` or its category's default."""
        return float(tool.timeout) if tool.timeout else self.config.timeout_for_category(
            tool.category)

    async def _run_one(self, call: ToolUsePart, outcomes: dict[str, ToolOutcome]) -> None:
        started, t0 = time.time(), time.perf_counter()
        outcome: ToolOutcome | None = None
        try:
            content = await self._call(call)
            outcome = ToolOutcome(call.id, call.name, content)
        except _Refused as exc:
            outcome = ToolOutcome(call.id, call.name, exc.message, True, exc.code, exc.status)
        except ToolError as exc:
            text = exc.message if exc.message.startswith(call.name) else \
                f"{call.name} failed: {exc.message}"
            outcome = ToolOutcome(call.id, call.name, text, True, exc.code, "error")
        except Exception as exc:
            outcome = ToolOutcome(call.id, call.name,
                                  f"{call.name} raised {type(exc).__name__}: {exc}", True,
                                  "tool_exception", "error")
        finally:
            status = outcome.status if outcome else "cancelled"
            duration = (time.perf_counter() - t0) * 1000.0
            record = ToolCallRecord(
                id=new_id("tc_"), name=call.name, tool_use_id=call.id, started_at=started,
                duration_ms=duration, status=status,
                error_code=outcome.error_code if outcome else "cancelled",
                input=dict(call.input), **self.record_context)
            with anyio.move_on_after(5.0, shield=True):
                await self.telemetry.record_tool_call(record)
        assert outcome is not None
        outcome.duration_ms = duration
        outcome.content = truncate_output(outcome.content, int(self.config.tool_output_chars))
        outcomes[call.id] = outcome
        self.running.pop(call.id, None)
        await self.emit("tool_use_complete", outcome.event_data())

    async def _call(self, call: ToolUsePart) -> str:
        tool = self.tools.get(call.name)
        if tool is None:
            raise _Refused("unknown_tool", f"There is no tool named {call.name!r}. Available "
                           f"tools: {', '.join(sorted(self.tools)) or 'none'}.", "error")
        if call.input_error:
            raise _Refused("invalid_input", f"{call.name} was not run: {call.input_error}. "
                           "Send the input as one JSON object.", "error")
        if tool.requires_approval and not self.config.auto_approve:
            if self.approve is None:
                raise _Refused("approval_required", f"{call.name} needs the user's approval "
                               "and there is no one to ask here; it was not run. (Enable "
                               "auto_approve to allow it.)")
            if not await self.approve(call.name, dict(call.input)):
                raise _Refused("refused", f"The user declined to run {call.name}.")
        timeout = self.timeout_for(tool)

        async def progress(message: str, fraction: float | None = None) -> None:
            data: dict[str, Any] = {"id": call.id, "name": call.name, "message": str(message)}
            if fraction is not None:
                data["fraction"] = max(0.0, min(1.0, float(fraction)))
            await self.emit("tool_use_progress", data)

        ctx = ToolContext(
            session_id=self.record_context.get("session_id") or "",
            turn_id=self.record_context.get("turn_id") or "", tool_use_id=call.id,
            root=self.root, traces=self.traces, progress=progress, approve=self.approve,
            auto_approve=bool(self.config.auto_approve), state=self.state)
        limiter = self.thread_limiter
        starved = limiter is not None and limiter.available_tokens < 1 and \
            not inspect.iscoroutinefunction(tool.fn)
        with anyio.move_on_after(timeout) as scope:
            value = await tool.call(call.input, ctx, limiter=limiter)
        if scope.cancelled_caught:
            note = ""
            if starved:
                assert limiter is not None
                note = (f" When it was called, all {limiter.total_tokens:g} worker threads "
                        "for sync tools were busy with earlier calls that have not returned "
                        "(tool_threads).")
            raise _Refused("timeout", f"{call.name} did not finish within its timeout of "
                           f"{timeout:g} s and was stopped.{note}", "timeout")
        if isinstance(value, str):
            return value
        # a DataFrame to markdown or a large value to JSON is the tool's work too: not on
        # the event loop
        return await anyio.to_thread.run_sync(render_output, value)
