"""Telemetry of the assistant's own work: one record per model call and per tool call.

Records go to the store's :class:`~jupyter_assistant.store.TelemetryStore`
(:class:`~jupyter_assistant.store.ModelCallRecord`,
:class:`~jupyter_assistant.store.ToolCallRecord`).
Their fields map to the OpenTelemetry semantic conventions for generative AI
(https://opentelemetry.io/docs/specs/semconv/gen-ai/gen-ai-spans/) as
:data:`MODEL_CALL_ATTRIBUTES` and :data:`TOOL_CALL_ATTRIBUTES` say; :func:`otel_attributes`
gives a record's attributes under those names, e.g. to put on a span.

:func:`write_chrome_trace` writes the records as a Chrome Trace Event Format file (complete
``"X"`` slices, ``ts``/``dur`` in µs), which ``jupyter_assistant.load_trace``, Perfetto and
``chrome://tracing`` open: one process per session, model calls on thread "model", tool calls
on threads "tools #1", "tools #2", ... (parallel calls never share a thread).
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..store import ModelCallRecord, TelemetryStore, ToolCallRecord, new_id
from .providers import ModelPrice, Usage

__all__ = [
    "MODEL_CALL_ATTRIBUTES",
    "TOOL_CALL_ATTRIBUTES",
    "ModelCallTimer",
    "chrome_trace_events",
    "otel_attributes",
    "write_chrome_trace",
]

#: ModelCallRecord field -> OpenTelemetry GenAI attribute (span ``chat {model}``).
MODEL_CALL_ATTRIBUTES: dict[str, str] = {
    "provider": "gen_ai.provider.name",
    "model": "gen_ai.request.model",
    "input_tokens": "gen_ai.usage.input_tokens",
    "output_tokens": "gen_ai.usage.output_tokens",
    "cache_read_input_tokens": "gen_ai.usage.cache_read.input_tokens",
    "cache_creation_input_tokens": "gen_ai.usage.cache_creation.input_tokens",
    "stop_reason": "gen_ai.response.finish_reasons",
    "request_id": "gen_ai.response.id",
    "error_code": "error.type",
    "conversation_id": "gen_ai.conversation.id",
    "ttft_ms": "gen_ai.server.time_to_first_token",  # a metric in semconv; seconds there
}

#: ToolCallRecord field -> OpenTelemetry GenAI attribute (span ``execute_tool {name}``).
TOOL_CALL_ATTRIBUTES: dict[str, str] = {
    "name": "gen_ai.tool.name",
    "tool_use_id": "gen_ai.tool.call.id",
    "error_code": "error.type",
    "conversation_id": "gen_ai.conversation.id",
}


def otel_attributes(record: ModelCallRecord | ToolCallRecord) -> dict[str, Any]:
    """The record's OpenTelemetry GenAI attributes (``None`` fields left out; ``ttft_ms``
    converted to seconds, ``stop_reason`` to a one-element list)."""
    is_model = isinstance(record, ModelCallRecord)
    mapping = MODEL_CALL_ATTRIBUTES if is_model else TOOL_CALL_ATTRIBUTES
    attrs: dict[str, Any] = {"gen_ai.operation.name": "chat" if is_model else "execute_tool"}
    for name, key in mapping.items():
        value = getattr(record, name)
        if value is None:
            continue
        if name == "ttft_ms":
            value = value / 1000.0
        elif name == "stop_reason":
            value = [value]
        attrs[key] = value
    return attrs


@dataclass
class ModelCallTimer:
    """Measures one model call attempt and makes its :class:`ModelCallRecord`.

    Times: ``started_at`` Unix s; ``ttft_ms`` from the request to the first output part;
    ``duration_ms`` to the end. ``cost_usd`` from ``price`` (USD per million tokens).
    """

    provider: str
    model: str
    request: dict[str, Any]
    attempt: int = 1
    context: dict[str, Any] = field(default_factory=dict)
    id: str = field(default_factory=lambda: new_id("mc_"))
    started_at: float = field(default_factory=time.time)
    _t0: float = field(default_factory=time.perf_counter)
    ttft_ms: float | None = None

    def first_output(self) -> None:
        """Mark the first streamed output (time to first token)."""
        if self.ttft_ms is None:
            self.ttft_ms = (time.perf_counter() - self._t0) * 1000.0

    def finish(self, *, usage: Usage | None = None, price: ModelPrice | None = None,
               stop_reason: str | None = None, status: str = "ok",
               error_code: str | None = None, request_id: str | None = None,
               model: str | None = None, replay_of: str | None = None) -> ModelCallRecord:
        """The record of this call, ended now."""
        usage = usage or Usage()
        return ModelCallRecord(
            id=self.id, provider=self.provider, model=model or self.model,
            started_at=self.started_at, ttft_ms=self.ttft_ms,
            duration_ms=(time.perf_counter() - self._t0) * 1000.0,
            input_tokens=usage.input_tokens, output_tokens=usage.output_tokens,
            cache_read_input_tokens=usage.cache_read_input_tokens,
            cache_creation_input_tokens=usage.cache_creation_input_tokens,
            cost_usd=price.cost(usage) if price is not None else None,
            stop_reason=stop_reason, status=status, error_code=error_code,
            request_id=request_id, attempt=self.attempt, request=self.request,
            replay_of=replay_of, **self.context)


def _lanes(records: list[ToolCallRecord]) -> list[int]:
    """Lane (1-based) per record so that overlapping tool calls get different lanes."""
    ends: list[float] = []
    lanes = []
    for rec in records:
        end = rec.started_at + rec.duration_ms / 1000.0
        for i, lane_end in enumerate(ends):
            if lane_end <= rec.started_at:
                ends[i] = end
                lanes.append(i + 1)
                break
        else:
            ends.append(end)
            lanes.append(len(ends))
    return lanes


def chrome_trace_events(model_calls: list[ModelCallRecord],
                        tool_calls: list[ToolCallRecord]) -> list[dict[str, Any]]:
    """Chrome Trace Event Format events (``ph`` ``"X"`` slices and ``"M"`` names) for the
    records; ``ts``/``dur`` in µs since the Unix epoch."""
    sessions = sorted({r.session_id or "" for r in model_calls}
                      | {r.session_id or "" for r in tool_calls})
    pids = {s: i + 1 for i, s in enumerate(sessions)}
    events: list[dict[str, Any]] = []
    for session, pid in pids.items():
        events.append({"ph": "M", "name": "process_name", "pid": pid, "tid": 0,
                       "args": {"name": f"assistant session {session}".strip()}})
        events.append({"ph": "M", "name": "thread_name", "pid": pid, "tid": 1,
                       "args": {"name": "model"}})
    for call in sorted(model_calls, key=lambda r: r.started_at):
        args = {k: v for k, v in call.to_dict().items()
                if k not in ("request",) and v is not None}
        events.append({"ph": "X", "cat": "model_call", "name": f"{call.provider}:{call.model}",
                       "pid": pids[call.session_id or ""], "tid": 1,
                       "ts": call.started_at * 1e6, "dur": call.duration_ms * 1e3,
                       "args": args})
    by_session: dict[str, list[ToolCallRecord]] = {}
    for rec in sorted(tool_calls, key=lambda r: r.started_at):
        by_session.setdefault(rec.session_id or "", []).append(rec)
    for session, recs in by_session.items():
        pid = pids[session]
        lanes = _lanes(recs)
        for lane in sorted(set(lanes)):
            events.append({"ph": "M", "name": "thread_name", "pid": pid, "tid": 1 + lane,
                           "args": {"name": f"tools #{lane}"}})
        for rec, lane in zip(recs, lanes, strict=True):
            args = {k: v for k, v in rec.to_dict().items() if v is not None}
            events.append({"ph": "X", "cat": "tool_call", "name": rec.name, "pid": pid,
                           "tid": 1 + lane, "ts": rec.started_at * 1e6,
                           "dur": rec.duration_ms * 1e3, "args": args})
    return events


async def _all(lister: Any, **filters: Any) -> list[Any]:
    items: list[Any] = []
    while True:
        page = await lister(limit=500, offset=len(items), **filters)
        items.extend(page.items)
        if not page.items or len(items) >= page.total:
            return items


async def write_chrome_trace(store: TelemetryStore, path: str | Path, *,
                             session_id: str | None = None) -> Path:
    """Write the model and tool calls (of ``session_id``, or all) to ``path`` as a Chrome
    trace (``{"traceEvents": [...], "displayTimeUnit": "ms"}``); returns the path."""
    model_calls = await _all(store.list_model_calls, session_id=session_id)
    tool_calls = await _all(store.list_tool_calls, session_id=session_id)
    doc = {"traceEvents": chrome_trace_events(model_calls, tool_calls), "displayTimeUnit": "ms",
           "otherData": {"generator": "jupyter-assistant"}}
    out = Path(path)
    out.write_text(json.dumps(doc, default=str))
    return out
