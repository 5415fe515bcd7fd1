"""The turn loop: model call -> parallel tools -> model call ... -> one terminal event.

One loop, no nested streams. Each model call streams ``text_delta`` / ``tool_use_start``
events as the parts arrive; when the response holds ``tool_use`` blocks they all run at once
(:class:`~._executor.ToolExecutor`) and their results go back in the next call. The loop ends
with ``message_complete`` when the model stops without tools, or ``error`` (model failure
after the retries allowed, ``max_model_calls``, ``turn_deadline``), or ``cancelled``.

Two cancel scopes bound a turn: the user's (``cancel()``) and the deadline. Whatever stops
the turn, the stored conversation stays valid: a partial answer is stored with
``metadata.status = "interrupted"``, and every stored ``tool_use`` gets a stored
``tool_result`` (the real one, or an ``is_error`` one saying why it did not run).
"""

from __future__ import annotations

import copy
import logging
from contextlib import aclosing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import anyio

from ..config import AssistantConfig
from ..exceptions import AssistantError, ModelError
from ..store import Store
from ..tools import Tool
from ._emitter import Emitter
from ._executor import ToolExecutor, ToolOutcome
from ._history import append_message, tool_result_block
from ._retry import RetryPolicy
from ._telemetry import ModelCallTimer
from .providers import (
    MessageDone,
    ModelProvider,
    ModelRequest,
    TextPart,
    ToolUsePart,
    ToolUseStartPart,
)

__all__ = ["TurnRunner", "TurnSpec"]

log = logging.getLogger(__name__)


@dataclass
class TurnSpec:
    """Everything one turn needs. ``history`` already ends with the new user message;
    ``record`` holds the ids copied into telemetry records and message metadata
    (``session_id``, ``turn_id``, ``conversation_id``, ``user_id``)."""

    provider: ModelProvider
    tools: dict[str, Tool]
    config: AssistantConfig
    store: Store
    emitter: Emitter
    history: list[dict[str, Any]]
    system: str
    record: dict[str, Any]
    retry: RetryPolicy = field(default_factory=RetryPolicy)
    root: Path = field(default_factory=Path.cwd)
    traces: dict[str, Any] = field(default_factory=dict)
    state: dict[str, Any] = field(default_factory=dict)
    approve: Any = None
    thread_limiter: anyio.CapacityLimiter | None = None
    #: When the turn must end (``anyio.current_time()`` clock); default: turn_deadline s
    #: after :meth:`TurnRunner.execute` starts.
    deadline: float | None = None


@dataclass
class _Call:
    """A model call in flight: what it has shown so far."""

    text: list[str] = field(default_factory=list)
    tool_uses: list[ToolUsePart] = field(default_factory=list)
    done: MessageDone | None = None
    output_started: bool = False


class _Failed(Exception):
    def __init__(self, error: ModelError, attempts: int) -> None:
        super().__init__(error.message)
        self.error, self.attempts = error, attempts


class TurnRunner:
    """Runs one turn (:meth:`execute`). :attr:`cancel_scope` is cancelled by the user's
    cancel; :attr:`cancel_reason` is put in the ``cancelled`` event."""

    def __init__(self, spec: TurnSpec) -> None:
        self.spec = spec
        self.cfg = spec.config
        self.emit = spec.emitter.emit
        self.cancel_scope = anyio.CancelScope()
        self.cancel_reason = "user"
        self.model_calls = 0
        self.answer: list[str] = []
        self.last_message_id: str | None = None
        self._call: _Call | None = None  # model call in flight
        self._unanswered: list[ToolUsePart] = []  # stored tool_use blocks without results
        self.executor = ToolExecutor(
            tools=spec.tools, config=spec.config, emit=self.emit, telemetry=spec.store,
            root=spec.root, traces=spec.traces, state=spec.state, approve=spec.approve,
            record_context=dict(spec.record), thread_limiter=spec.thread_limiter)

    async def execute(self) -> str:
        """Run the turn to its one terminal event; returns the session status
        (``complete``, ``error`` or ``cancelled``)."""
        result: tuple[str, dict[str, Any]] | None = None
        failed = False
        deadline = self.spec.deadline if self.spec.deadline is not None else \
            anyio.current_time() + float(self.cfg.turn_deadline)
        with self.cancel_scope:
            with anyio.CancelScope(deadline=deadline) as deadline_scope:
                try:
                    result = await self._loop(deadline)
                except Exception as exc:  # a store failure or a bug still ends the turn
                    log.exception("turn %s failed", self.spec.record.get("turn_id"))
                    failed = True
                    code, text = (exc.code, exc.message) if isinstance(exc, AssistantError) \
                        else ("internal_error", f"{type(exc).__name__}: {exc}")
                    result = ("error", {"code": code, "message": text, "retryable": False})
        if failed:
            try:
                await self._close_interrupted("not run: the turn failed", "internal_error")
            except Exception:
                log.exception("could not close the failed turn's history")
        if result is not None:
            kind, data = result
            await self.emit("message_complete" if kind == "complete" else "error", data)
            return kind
        if deadline_scope.cancelled_caught and not self.cancel_scope.cancel_called:
            limit = f"{float(self.cfg.turn_deadline):g} s"
            await self._close_interrupted(f"stopped: the turn deadline of {limit} passed",
                                          "turn_deadline")
            await self.emit("error", {"code": "turn_deadline", "retryable": False,
                                      "message": f"The turn took longer than its deadline of "
                                                 f"{limit} and was stopped."})
            return "error"
        await self._close_interrupted("cancelled by the user", "cancelled")
        await self.emit("cancelled", {"reason": self.cancel_reason})
        return "cancelled"

    # -- the loop -----------------------------------------------------------------------
    async def _loop(self, deadline: float) -> tuple[str, dict[str, Any]]:
        while True:
            try:
                call = await self._model_call(deadline)
            except _Failed as failed:
                err = failed.error
                await self._close_failed_call(f"not run: the model call failed ({err.code})",
                                              err.code)
                suffix = f" (after {failed.attempts} attempts)" if failed.attempts > 1 else ""
                return "error", {"code": err.code, "message": err.message + suffix,
                                 "retryable": bool(err.retryable)}
            self.model_calls += 1
            assert call.done is not None
            await self._store_assistant(call)
            if not call.tool_uses and call.done.stop_reason != "pause_turn":
                return "complete", {"text": "".join(self.answer),
                                    "stop_reason": call.done.stop_reason,
                                    "model_calls": self.model_calls,
                                    "message_id": self.last_message_id}
            # tool_use, or pause_turn (a server-side tool paused: send the message back)
            limit = int(self.cfg.max_model_calls)
            if self.model_calls >= limit:
                note = (f"Stopped: this turn reached its limit of {limit} model calls before "
                        "the model finished. Ask again to continue.")
                await self._answer_tools([ToolOutcome(
                    c.id, c.name, f"not run: the turn reached its limit of {limit} model calls",
                    True, "max_model_calls", "refused") for c in call.tool_uses], emit=True)
                await self.emit("text_delta", {"text": "\n\n" + note})
                return "error", {"code": "max_model_calls", "message": note,
                                 "retryable": False}
            outcomes = await self.executor.run(call.tool_uses)
            await self._answer_tools(outcomes, emit=False)

    def _request(self) -> ModelRequest:
        return ModelRequest(
            model=self.spec.provider.model, messages=copy.deepcopy(self.spec.history),
            system=self.spec.system, tools=[t.definition() for t in self.spec.tools.values()],
            max_tokens=int(self.cfg.max_output_tokens),
            metadata={k: self.spec.record.get(k) for k in ("session_id", "turn_id")})

    async def _model_call(self, deadline: float) -> _Call:
        """One model call with its retries; raises :class:`_Failed`."""
        provider, store = self.spec.provider, self.spec.store
        request = self._request()
        attempt = 0
        while True:
            attempt += 1
            timer = ModelCallTimer(provider.name, provider.model, request.to_dict(), attempt,
                                   context=dict(self.spec.record))
            call = self._call = _Call()
            try:
                await self._stream(request, call, timer)
            except anyio.get_cancelled_exc_class():
                with anyio.move_on_after(5.0, shield=True):
                    await store.record_model_call(timer.finish(status="cancelled",
                                                               error_code="cancelled"))
                raise
            except Exception as exc:
                err = exc if isinstance(exc, ModelError) else ModelError(
                    f"the model provider failed: {type(exc).__name__}: {exc}")
                await store.record_model_call(timer.finish(
                    status="error", error_code=err.code, request_id=err.request_id))
                delay = self.spec.retry.delay(attempt, err)
                if self.spec.retry.should_retry(err, attempt=attempt, delay=delay,
                                                output_started=call.output_started,
                                                time_left=deadline - anyio.current_time()):
                    log.info("model call attempt %d failed (%s); retrying in %.2f s", attempt,
                             err.code, delay)
                    self._call = None
                    await anyio.sleep(delay)
                    continue
                raise _Failed(err, attempt) from exc
            done = call.done
            assert done is not None
            record = timer.finish(usage=done.usage, price=provider.price(),
                                  stop_reason=done.stop_reason, request_id=done.request_id,
                                  model=done.model)
            await store.record_model_call(record)
            usage = {k: getattr(done.usage, k) for k in (
                "input_tokens", "output_tokens", "cache_read_input_tokens",
                "cache_creation_input_tokens")}
            data: dict[str, Any] = {**usage, "model": record.model, "call_id": record.id}
            if record.cost_usd is not None:
                data["cost_usd"] = record.cost_usd
            await self.emit("usage", data)
            return call

    async def _stream(self, request: ModelRequest, call: _Call, timer: ModelCallTimer) -> None:
        async with aclosing(self.spec.provider.stream(request)) as parts:  # type: ignore[type-var]
            async for part in parts:
                if isinstance(part, TextPart):
                    if not part.text:
                        continue
                    timer.first_output()
                    call.output_started = True
                    call.text.append(part.text)
                    self.answer.append(part.text)
                    await self.emit("text_delta", {"text": part.text})
                elif isinstance(part, ToolUseStartPart):
                    timer.first_output()
                elif isinstance(part, ToolUsePart):
                    timer.first_output()
                    call.output_started = True
                    call.tool_uses.append(part)
                    await self.emit("tool_use_start", {"id": part.id, "name": part.name,
                                                       "input": part.input})
                elif isinstance(part, MessageDone):
                    call.done = part
                    return
        raise ModelError("the model stream ended without message_stop (incomplete stream)",
                         code="incomplete_stream", retryable=not call.output_started)

    # -- persistence ----------------------------------------------------------------------
    def _content(self, call: _Call) -> list[dict[str, Any]]:
        if call.done is not None and call.done.content is not None:
            return copy.deepcopy(call.done.content)
        content: list[dict[str, Any]] = []
        if call.text:
            content.append({"type": "text", "text": "".join(call.text)})
        content += [{"type": "tool_use", "id": t.id, "name": t.name, "input": t.input}
                    for t in call.tool_uses]
        return content

    async def _add(self, role: str, content: list[dict[str, Any]], *, tokens: int = 0,
                   **metadata: Any) -> str | None:
        spec = self.spec
        meta = {"turn_id": spec.record["turn_id"], "session_id": spec.record["session_id"],
                "status": "complete", **metadata}
        message = await spec.store.add_message(spec.record["user_id"],
                                               spec.record["conversation_id"], role, content,
                                               tokens=tokens, metadata=meta)
        return message.id

    async def _store_assistant(self, call: _Call) -> None:
        assert call.done is not None
        content = self._content(call)
        usage = call.done.usage
        with anyio.CancelScope(shield=True):
            if content:
                self.last_message_id = await self._add(
                    "assistant", content, tokens=usage.input_tokens + usage.output_tokens,
                    stop_reason=call.done.stop_reason, model=call.done.model)
                append_message(self.spec.history, "assistant", content)
            self._unanswered = list(call.tool_uses)
            self._call = None

    async def _answer_tools(self, outcomes: list[ToolOutcome], *, emit: bool) -> None:
        """Store the tool_result message for :attr:`_unanswered` (emitting
        ``tool_use_complete`` first when ``emit``)."""
        with anyio.CancelScope(shield=True):
            if emit:
                for outcome in outcomes:
                    await self.emit("tool_use_complete", outcome.event_data())
            content = [tool_result_block(o.id, o.content, is_error=o.is_error)
                       for o in outcomes]
            if content:
                await self._add("user", content, kind="tool_results")
                append_message(self.spec.history, "user", content)
            self._unanswered = []

    async def _close_failed_call(self, reason: str, code: str) -> None:
        """A model call ended without ``message_stop``: keep what it showed (stored as
        interrupted) and close the tool cards it opened."""
        call, self._call = self._call, None
        if call is None:
            return
        for t in call.tool_uses:
            await self.emit("tool_use_complete", ToolOutcome(
                t.id, t.name, reason, True, code, "cancelled").event_data())
        content = self._content(call)
        if content:
            await self._add("assistant", content, status="interrupted", error_code=code)

    async def _close_interrupted(self, reason: str, code: str) -> None:
        """After a cancel or the deadline: close the model call or tool calls in flight."""
        await self._close_failed_call(reason, code)
        if self._unanswered:
            done = self.executor.outcomes
            pending = [t for t in self._unanswered if t.id not in done]
            for t in pending:
                await self.emit("tool_use_complete", ToolOutcome(
                    t.id, t.name, reason, True, code, "cancelled").event_data())
            await self._answer_tools([done.get(t.id) or ToolOutcome(
                t.id, t.name, reason, True, code, "cancelled") for t in self._unanswered],
                emit=False)
