"""``Assistant``: the public face of the orchestrator (run a turn, cancel it, replay a call).

Usage::

    async with Assistant(model="anthropic:claude-sonnet-5-5", tools=[slow_probe]) as assistant:
        async for event in assistant.run("why is step 3 slow?", trace="trace.json"):
            print(event.type, event.data)

``run`` is an async generator; a reader that stops before the terminal event cancels the
turn (reason ``closed``: the history stays consistent and a ``cancelled`` event is stored).
Inside ``async with Assistant(...)`` turns run in the assistant's own task group, so a
generator may simply be abandoned. Without it, the turn's task group lives in the generator:
close an abandoned generator explicitly (``async with contextlib.aclosing(assistant.run(...))``)
so that it is not finalised from another task.
"""

from __future__ import annotations

import logging
import math
from collections import OrderedDict
from collections.abc import AsyncGenerator, Awaitable, Callable, Iterable
from contextlib import aclosing, nullcontext
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import anyio
import anyio.lowlevel

from ..config import AssistantConfig
from ..events import Event
from ..exceptions import AssistantError, InputError, ModelError, NotFoundError
from ..store import ModelCallRecord, Store, TelemetryStore, new_id, open_store
from ._context import collect_tools, resolve_traces, system_prompt
from ._emitter import Emitter
from ._history import append_message, build_history
from ._message_input import validate_message
from ._retry import RetryPolicy
from ._telemetry import ModelCallTimer, write_chrome_trace
from ._turn import TurnRunner, TurnSpec
from .providers import MessageDone, ModelProvider, ModelRequest, create_provider, default_model_spec

__all__ = ["Assistant"]

log = logging.getLogger(__name__)

Approver = Callable[[str, dict[str, Any]], Awaitable[bool]]
_MAX_SESSIONS = 256


@dataclass
class _Session:
    state: dict[str, Any] = field(default_factory=dict)
    traces: dict[str, Any] = field(default_factory=dict)
    summaries: dict[Any, str] = field(default_factory=dict)


@dataclass
class _Active:
    scope: anyio.CancelScope = field(default_factory=anyio.CancelScope)
    reason: str = "user"
    runner: TurnRunner | None = None
    setup: anyio.CancelScope | None = None  # the turn's setup (traces, summary), if running
    done: anyio.Event = field(default_factory=anyio.Event)


class Assistant:
    """The assistant: streams turns of a conversation with a model that calls tools.

    ``model``: a spec (``"anthropic:<id>"``, ``"openai:<id>"``, ``"offline"``) or a
    :class:`~jupyter_assistant.orchestrator.providers.ModelProvider`; ``None`` picks
    Anthropic when ``ANTHROPIC_API_KEY`` is set, else offline. ``tools`` are added to the
    built-in and entry-point tools (``include_default_tools``). The limits and timeouts
    (seconds, characters) default to ``config`` (an
    :class:`~jupyter_assistant.config.AssistantConfig`), whose defaults are DESIGN.md's.
    ``store`` keeps conversations, sessions and telemetry (default: ``config.store_url``, else
    a :class:`~jupyter_assistant.store.MemoryStore`). ``root`` confines file tools.
    ``approve(tool_name, input) -> bool`` is asked before tools that need approval.

    Raises :class:`~jupyter_assistant.exceptions.ConfigError` for an unknown model spec, a
    bad tool or a bad limit.
    """

    def __init__(
        self,
        model: str | ModelProvider | None = None,
        tools: Iterable[Any] | None = None,
        *,
        tool_timeout: float | None = None,
        stream_idle_timeout: float | None = None,
        turn_deadline: float | None = None,
        max_model_calls: int | None = None,
        max_message_chars: int | None = None,
        tool_output_chars: int | None = None,
        store: Store | None = None,
        root: str | Path | None = None,
        auto_approve: bool | None = None,
        system_prompt: str | None = None,
        config: AssistantConfig | None = None,
        include_default_tools: bool | None = None,
        approve: Approver | None = None,
    ) -> None:
        self.config = (config or AssistantConfig()).updated(
            tool_timeout=tool_timeout, stream_idle_timeout=stream_idle_timeout,
            turn_deadline=turn_deadline, max_model_calls=max_model_calls,
            max_message_chars=max_message_chars, tool_output_chars=tool_output_chars,
            auto_approve=auto_approve, system_prompt=system_prompt,
            include_default_tools=include_default_tools)
        # tools first: a caller that prewarmed the provider's SDK (``prewarm``) defines the
        # tools here meanwhile (cheap: the trace tools import pandas when they run)
        self.tools = collect_tools(tools, include_default=bool(self.config.include_default_tools))
        if isinstance(model, ModelProvider):
            self.provider = model
        else:
            self.provider = create_provider(model or default_model_spec(self.config),
                                            config=self.config)
        self._owns_store = store is None
        self.store: Store = store if store is not None else open_store(self.config.store_url)
        self.root = Path(root) if root is not None else Path.cwd()
        self.approve = approve
        self.retry = RetryPolicy(max_retries=int(self.config.model_retries),
                                 base_delay=float(self.config.retry_base_delay),
                                 max_delay=float(self.config.retry_max_delay))
        #: Traces known by id to every session of this assistant (e.g. server uploads).
        self.traces: dict[str, Any] = {}
        self._sessions: OrderedDict[str, _Session] = OrderedDict()
        self._active: dict[str, _Active] = {}
        self._opened = False
        self._tg: Any = None
        self._thread_limiter: tuple[object, anyio.CapacityLimiter] | None = None

    def __repr__(self) -> str:
        return (f"Assistant(model={self.provider.spec!r}, tools={sorted(self.tools)}, "
                f"store={type(self.store).__name__})")

    @property
    def model(self) -> str:
        """The model spec, ``provider:model id``."""
        return self.provider.spec

    @property
    def telemetry(self) -> TelemetryStore:
        """Where model-call and tool-call records are kept (the store)."""
        return self.store

    async def __aenter__(self) -> Assistant:
        await self._open()
        # Turns started inside ``async with`` run in this task group, so the generator of
        # ``run`` never holds a cancel scope across ``yield`` (safe to abandon mid-turn).
        tg = anyio.create_task_group()
        await tg.__aenter__()
        self._tg = tg
        return self

    async def __aexit__(self, *exc: object) -> None:
        tg, self._tg = self._tg, None
        try:
            await self.aclose()
        finally:
            if tg is not None:
                await tg.__aexit__(None, None, None)

    async def _open(self) -> None:
        if not self._opened:
            await self.store.open()
            self._opened = True

    async def aclose(self) -> None:
        """Cancel running turns (waiting up to 5 s for them to close), close the provider's
        connections and (if the assistant created it) the store."""
        running = list(self._active.items())
        for session_id, _ in running:
            await self.cancel(session_id, reason="shutdown")
        with anyio.move_on_after(5.0, shield=True):
            for _, active in running:
                await active.done.wait()
        await self.provider.aclose()
        if self._owns_store and self._opened:
            await self.store.aclose()
            self._opened = False

    def validate_message(self, message: Any) -> str:
        """:func:`validate_message` with this assistant's ``max_message_chars``."""
        return validate_message(message, int(self.config.max_message_chars))

    def _tool_thread_limiter(self) -> anyio.CapacityLimiter:
        # Made on first use: a limiter belongs to the event loop it is used in.
        token = anyio.lowlevel.current_token()
        if self._thread_limiter is None or self._thread_limiter[0] != token:
            self._thread_limiter = (token, anyio.CapacityLimiter(int(self.config.tool_threads)))
        return self._thread_limiter[1]

    def _session(self, session_id: str) -> _Session:
        session = self._sessions.pop(session_id, None) or _Session()
        self._sessions[session_id] = session
        while len(self._sessions) > _MAX_SESSIONS:
            self._sessions.popitem(last=False)
        return session

    # -- turns ----------------------------------------------------------------------------
    async def run(self, message: str, *, session_id: str | None = None,
                  conversation_id: str | None = None, user_id: str = "local",
                  trace: Any = None, traces: dict[str, Any] | None = None,
                  approve: Approver | None = None) -> AsyncGenerator[Event, None]:
        """Run one turn; yields :class:`~jupyter_assistant.events.Event` objects: first
        ``session_started``, last exactly one of ``message_complete``, ``error``,
        ``cancelled``. Every event is stored in the session's log before it is yielded.

        ``trace``: a Trace, a path, or a trace id (of ``traces``, the session, or
        :attr:`traces`), available to tools as ``traces["current"]``. A turn of a session
        that already runs one raises :class:`InputError` (code ``session_busy``).

        Stopping early (``break``, an exception in the loop body) cancels the turn (reason
        ``closed``). Inside ``async with Assistant(...)`` the turn runs in the assistant's
        task group, so an abandoned generator is harmless. Outside it, the turn's task
        group lives in the generator: read it to the end or close it in the task that
        iterates it, with ``async with contextlib.aclosing(assistant.run(...)) as events``;
        a generator abandoned unclosed is finalised from another task, and asyncio logs a
        ``RuntimeError`` (cancel scope exited in a different task) for it.
        """
        session_id = session_id or new_id("s_")
        if session_id in self._active:
            raise InputError(f"a turn of session {session_id!r} is already running",
                             code="session_busy")
        active = self._active[session_id] = _Active()
        started = False
        try:
            await self._open()
            send, receive = anyio.create_memory_object_stream[Event](math.inf)
            args = (active, send, message, session_id, conversation_id, user_id, trace, traces,
                    approve)
            started = True
            host = anyio.create_task_group() if self._tg is None else nullcontext(self._tg)
            async with host as tg:
                tg.start_soon(self._drive, *args)
                try:
                    async with receive:
                        while True:
                            try:  # drain buffered events without a checkpoint each
                                event = receive.receive_nowait()
                            except anyio.WouldBlock:
                                try:
                                    event = await receive.receive()
                                except anyio.EndOfStream:
                                    break
                            except anyio.EndOfStream:
                                break
                            yield event
                except GeneratorExit:
                    pass  # the reader closed the stream early: cancel the turn below
                finally:
                    if not active.done.is_set() and not active.scope.cancel_called:
                        active.reason = "closed"
                        if active.runner is not None:
                            active.runner.cancel_reason = "closed"
                    active.scope.cancel()  # no-op when the turn already ended
                    with anyio.move_on_after(5.0, shield=True):
                        await active.done.wait()  # closing returns once the turn is closed
        finally:
            if not started and self._active.get(session_id) is active:
                del self._active[session_id]  # _drive removes started turns itself

    async def cancel(self, session_id: str, reason: str = "user") -> bool:
        """Stop the running turn of ``session_id`` (its model stream and tools, within a
        second); it ends with a ``cancelled`` event. False when no turn runs."""
        active = self._active.get(session_id)
        if active is None or active.scope.cancel_called:
            return False
        active.reason = reason
        if active.runner is not None:
            active.runner.cancel_reason = reason
        active.scope.cancel()
        if active.setup is not None:
            active.setup.cancel()
        return True

    async def _drive(self, active: _Active, send: Any, message: Any, session_id: str,
                     conversation_id: str | None, user_id: str, trace: Any,
                     traces: dict[str, Any] | None, approve: Approver | None) -> None:
        store = self.store
        turn_id = new_id("t_")
        async with send:
            emitter: Emitter | None = None
            status = "error"
            try:
                session = await store.create_session(user_id, session_id,
                                                     conversation_id=conversation_id)
                emitter = Emitter(store, send, session_id=session_id, turn_id=turn_id,
                                  last_seq=session.last_seq)
                conversation_id = conversation_id or session.conversation_id
                problem: InputError | None = None
                try:
                    self.validate_message(message)
                except InputError as exc:
                    problem = exc
                if conversation_id is None and problem is None:
                    conv = await store.create_conversation(user_id, model=self.provider.spec)
                    conversation_id = conv.id
                    await store.create_session(user_id, session_id,
                                               conversation_id=conversation_id)
                elif conversation_id is not None:
                    await store.get_conversation(user_id, conversation_id)
                await emitter.emit("session_started", {
                    "conversation_id": conversation_id, "model": self.provider.spec,
                    "resumed": session.last_seq > 0})
                if problem is not None:
                    await emitter.emit("error", {"code": problem.code, "retryable": False,
                                                 "message": problem.message})
                else:
                    assert conversation_id is not None
                    status = await self._turn(active, emitter, message, session_id, turn_id,
                                              conversation_id, user_id, trace, traces, approve)
            except AssistantError as exc:
                log.warning("turn %s of session %s failed: %s", turn_id, session_id, exc)
                await self._fail(emitter, send, session_id, turn_id, exc.code, exc.message,
                                 isinstance(exc, ModelError) and exc.retryable)
            except Exception as exc:
                log.exception("turn %s of session %s crashed", turn_id, session_id)
                await self._fail(emitter, send, session_id, turn_id, "internal_error",
                                 f"{type(exc).__name__}: {exc}", False)
            with anyio.move_on_after(5.0, shield=True):
                try:
                    await store.set_session_status(session_id, status)
                except AssistantError as exc:
                    log.warning("could not set the status of session %s: %s", session_id, exc)
            active.done.set()
            if self._active.get(session_id) is active:
                del self._active[session_id]

    async def _fail(self, emitter: Emitter | None, send: Any, session_id: str, turn_id: str,
                    code: str, message: str, retryable: bool) -> None:
        data = {"code": code, "message": message, "retryable": retryable}
        if emitter is None:  # the session could not even be created: tell the reader anyway
            emitter = Emitter(self.store, send, session_id=session_id, turn_id=turn_id)
            emitter.persist = False
        if emitter.count == 0:  # the contract: session_started always comes first
            await emitter.emit("session_started", {"conversation_id": None,
                                                   "model": self.provider.spec})
        if emitter.terminal is None:
            await emitter.emit("error", data)

    async def _turn(self, active: _Active, emitter: Emitter, message: str, session_id: str,
                    turn_id: str, conversation_id: str, user_id: str, trace: Any,
                    traces: dict[str, Any] | None, approve: Approver | None) -> str:
        session = self._session(session_id)
        deadline = anyio.current_time() + float(self.config.turn_deadline)
        # Loading and summarising the turn's traces count against the turn deadline, and a
        # cancel stops them (their worker threads are abandoned).
        with anyio.CancelScope(deadline=deadline) as setup:
            active.setup = setup
            if active.scope.cancel_called:
                setup.cancel()
            turn_traces = await resolve_traces(trace, traces,
                                               {**self.traces, **session.traces})
            session.traces.update(turn_traces)
            system = await system_prompt(self.config.system_prompt, session.traces,
                                         session.summaries)
            stored = await _all_messages(self.store, user_id, conversation_id)
        active.setup = None
        if setup.cancelled_caught:
            if active.scope.cancel_called:
                await emitter.emit("cancelled", {"reason": active.reason})
                return "cancelled"
            limit = f"{float(self.config.turn_deadline):g} s"
            await emitter.emit("error", {
                "code": "turn_deadline", "retryable": False,
                "message": f"The turn took longer than its deadline of {limit} (while "
                           "loading and summarising its trace) and was stopped."})
            return "error"
        history = build_history(stored)
        content = [{"type": "text", "text": message}]
        with anyio.CancelScope(shield=True):
            await self.store.add_message(user_id, conversation_id, "user", content,
                                         metadata={"turn_id": turn_id,
                                                   "session_id": session_id,
                                                   "status": "complete"})
        append_message(history, "user", content)
        spec = TurnSpec(
            provider=self.provider, tools=self.tools, config=self.config, store=self.store,
            emitter=emitter, history=history, system=system,
            record={"session_id": session_id, "turn_id": turn_id,
                    "conversation_id": conversation_id, "user_id": user_id},
            retry=self.retry, root=self.root, traces=session.traces, state=session.state,
            approve=approve or self.approve, thread_limiter=self._tool_thread_limiter(),
            deadline=deadline)
        runner = TurnRunner(spec)
        runner.cancel_scope = active.scope
        runner.cancel_reason = active.reason
        active.runner = runner
        return await runner.execute()

    # -- telemetry ------------------------------------------------------------------------
    async def replay(self, call_id: str) -> ModelCallRecord:
        """Send the recorded request of model call ``call_id`` again (same model, messages,
        tools) and record the new call (``replay_of=call_id``); returns its record, whose
        ``status`` says whether it worked. Raises
        :class:`~jupyter_assistant.exceptions.NotFoundError` for an unknown call."""
        await self._open()
        original = await self.store.get_model_call(call_id)
        if not original.request:
            raise NotFoundError(f"model call {call_id!r} has no recorded request")
        request = ModelRequest.from_dict(original.request)
        provider = self.provider
        if provider.name != original.provider:
            provider = create_provider(f"{original.provider}:{request.model}",
                                       config=self.config)
        timer = ModelCallTimer(provider.name, request.model, original.request,
                               context={"user_id": original.user_id,
                                        "conversation_id": original.conversation_id})
        done: MessageDone | None = None
        try:
            with anyio.fail_after(float(self.config.turn_deadline)):
                async with aclosing(provider.stream(request)) as parts:  # type: ignore[type-var]
                    async for part in parts:
                        if isinstance(part, MessageDone):
                            done = part
                        else:
                            timer.first_output()
            if done is None:
                raise ModelError("the replayed stream ended without message_stop",
                                 code="incomplete_stream")
        except (ModelError, TimeoutError) as exc:
            code = exc.code if isinstance(exc, ModelError) else "turn_deadline"
            record = timer.finish(status="error", error_code=code, replay_of=call_id,
                                  request_id=getattr(exc, "request_id", None))
        else:
            assert done is not None
            record = timer.finish(usage=done.usage, price=provider.price(),
                                  stop_reason=done.stop_reason, request_id=done.request_id,
                                  model=done.model, replay_of=call_id)
        finally:
            if provider is not self.provider:
                await provider.aclose()
        await self.store.record_model_call(record)
        return record

    async def export_chrome_trace(self, path: str | Path, session_id: str | None = None
                                  ) -> Path:
        """Write the model and tool calls (of ``session_id``, or all) to ``path`` as a
        Chrome trace that ``jupyter_assistant.load_trace`` and Perfetto open (``X`` slices,
        ``ts``/``dur`` in µs since the Unix epoch; a process per session, model calls on one
        thread, overlapping tool calls on lanes of their own); returns the path. Raises
        :class:`OSError` when ``path`` cannot be written."""
        await self._open()
        return await write_chrome_trace(self.store, path, session_id=session_id)


async def _all_messages(store: Store, user_id: str, conversation_id: str) -> list[Any]:
    items: list[Any] = []
    while True:
        page = await store.list_messages(user_id, conversation_id, limit=500,
                                         offset=len(items))
        items.extend(page.items)
        if not page.items or len(items) >= page.total:
            return items
