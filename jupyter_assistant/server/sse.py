"""Server-sent events: ``POST chat``, ``GET sessions/{id}/events``, ``POST sessions/{id}/cancel``.

The stream (``Content-Type: text/event-stream``, ``Cache-Control: no-cache``,
``X-Accel-Buffering: no`` so proxies such as nginx do not buffer it) carries one frame per
event, as the EventSource spec (WHATWG HTML, "Server-sent events") reads it::

    id: <seq>
    event: <type>
    data: <the event's JSON, one line>

and a comment line (``: keep-alive``) every ``sse_keepalive_interval`` seconds without an
event. A client that reconnects sends ``Last-Event-ID`` (or ``?after=<seq>``) and gets
exactly the events with a greater ``seq``, then the live turn until its terminal event.

The turn runs in the server (:mod:`._turns`), never in the request: a client that goes away
does not cancel it; only ``POST sessions/{id}/cancel`` does.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Sequence
from typing import Any

import anyio
import orjson
from jupyter_server.auth.decorator import authorized
from tornado import web
from tornado.iostream import StreamClosedError

from ..events import Event
from ..exceptions import InputError, StoreError
from ..orchestrator import validate_message
from ._base import AssistantHandler, check_id
from ._turns import RunningTurn

__all__ = ["CancelHandler", "ChatHandler", "SSEHandler", "SessionEventsHandler", "sse_frame"]

#: Seconds between store reads while following a turn that runs in another server process.
_POLL_INTERVAL_S = 0.25


def sse_frame(event: Event) -> bytes:
    """One SSE frame: ``id: seq``, ``event: type``, ``data: JSON``, then a blank line."""
    return b"id: %d\nevent: %s\ndata: %s\n\n" % (
        event.seq, event.type.encode(), orjson.dumps(event.to_dict()))


class SSEHandler(AssistantHandler):
    """An :class:`AssistantHandler` that answers with an event stream."""

    _wake: anyio.Event | None = None
    _gone: bool = False

    def on_connection_close(self) -> None:
        self._gone = True
        if self._wake is not None:
            self._wake.set()
        super().on_connection_close()

    def start_stream(self) -> None:
        self.set_status(200)
        self.set_header("Content-Type", "text/event-stream")
        self.set_header("Cache-Control", "no-cache")
        self.set_header("X-Accel-Buffering", "no")

    async def send(self, events: Sequence[Event]) -> bool:
        """Write ``events`` and flush; False once the client is gone."""
        if self._gone:
            return False
        for ev in events:
            self.write(sse_frame(ev))
        return await self._flush()

    async def keepalive(self) -> bool:
        if self._gone:
            return False
        self.write(b": keep-alive\n\n")
        return await self._flush()

    async def _flush(self) -> bool:
        try:
            await self.flush()
        except StreamClosedError:
            self._gone = True
        return not self._gone

    async def end_stream(self) -> None:
        if self._finished:
            return
        try:
            await self.finish(set_content_type="text/event-stream")
        except StreamClosedError:
            pass

    async def follow(self, turn: RunningTurn, after: int) -> None:
        """Send the events of the running ``turn`` with ``seq > after`` as they come, until
        its terminal event, the end of the turn, or the client going away."""
        interval = self.app.sse_keepalive_interval
        while True:
            new = turn.events_after(after)
            if new:
                if not await self.send(new):
                    return
                after = new[-1].seq
                if new[-1].is_terminal:
                    return
                continue
            if turn.done or self._gone:
                return
            self._wake = wake = anyio.Event()
            turn.add_waiter(wake)
            with anyio.move_on_after(interval) as scope:
                await wake.wait()
            turn.remove_waiter(wake)
            self._wake = None
            if scope.cancelled_caught and not await self.keepalive():
                return

    async def poll(self, session_id: str, after: int) -> None:
        """Follow a session whose turn runs in another server (shared store): read its new
        events from the store until a terminal event or the session stops running."""
        store, interval = self.app.store, self.app.sse_keepalive_interval
        deadline = time.monotonic() + self.app.turn_deadline + 60.0
        last_write = time.monotonic()
        while not self._gone and time.monotonic() < deadline:
            new = await store.events_after(session_id, after)
            if new:
                if not await self.send(new):
                    return
                after, last_write = new[-1].seq, time.monotonic()
                if new[-1].is_terminal:
                    return
                continue
            status = (await store.get_session(self.user_id, session_id)).status
            if status != "running":
                await self.send(await store.events_after(session_id, after))
                return
            if time.monotonic() - last_write >= interval:
                if not await self.keepalive():
                    return
                last_write = time.monotonic()
            await anyio.sleep(_POLL_INTERVAL_S)


class ChatHandler(SSEHandler):
    """``POST chat`` with ``{"message", "conversation_id"?, "session_id"?, "trace_id"?,
    "model"?}``: start a turn and stream its events.

    ``session_id`` continues a session of the caller (404 if unknown, 409 if a turn of it
    is running); without it the server makes one. ``conversation_id`` continues a
    conversation (404 if unknown); without it the turn starts one (its id is in
    ``session_started.data.conversation_id``). ``trace_id`` is an uploaded trace the turn
    analyses. Refused with 400 (bad input, message over ``max_message_chars``), 404, 409,
    413 (body over ``max_body_bytes``) or 429 (chat rate limit, with ``Retry-After``).
    """

    @web.authenticated
    @authorized
    async def post(self) -> None:
        app, user = self.app, self.user_id
        body = self.json_body()
        message = validate_message(body.get("message"), app.max_message_chars,
                                   setting="c.AssistantApp.max_message_chars")
        ids = {k: check_id(body[k], k) for k in ("conversation_id", "session_id", "trace_id")
               if body.get(k) is not None}
        model = body.get("model")
        if model is not None and not isinstance(model, str):
            raise InputError("'model' must be a string")
        assistant = app.assistant_for(model)
        conversation_id = ids.get("conversation_id")
        if conversation_id is not None:
            await app.store.get_conversation(user, conversation_id)
        session_id = ids.get("session_id")
        if session_id is not None:
            session = await app.store.get_session(user, session_id)
            if session_id in app.turns:
                raise StoreError(f"a turn of session {session_id!r} is already running",
                                 code="conflict")
            conversation_id = conversation_id or session.conversation_id
        else:
            session_id = "s_" + uuid.uuid4().hex
        run_kwargs: dict[str, Any] = {"conversation_id": conversation_id, "user_id": user}
        if "trace_id" in ids:
            trace = await app.traces.get(user, ids["trace_id"])
            run_kwargs.update(trace=trace, traces={ids["trace_id"]: trace})
        await app.rate_limiter.hit("chat", user)

        def run(sid: str) -> Any:
            return assistant.run(message, session_id=sid, **run_kwargs)

        turn = app.turns.start(session_id, user, run, assistant.cancel)
        self.start_stream()
        await self.follow(turn, 0)
        await self.end_stream()


class SessionEventsHandler(SSEHandler):
    """``GET sessions/{id}/events``: the events after ``Last-Event-ID`` (or ``?after=``,
    default 0: all), then the live turn until its terminal event. 404 for an unknown,
    expired or another user's session; 400 for a malformed ``Last-Event-ID``."""

    @web.authenticated
    @authorized
    async def get(self, session_id: str) -> None:
        app, user = self.app, self.user_id
        session = await app.store.get_session(user, session_id)
        after = self._after()
        turn = app.turns.get(session_id)
        self.start_stream()
        replay = await app.store.events_after(session_id, after)
        if not await self.send(replay):
            return
        last = replay[-1].seq if replay else after
        if turn is not None and turn.user_id == user:
            await self.follow(turn, last)
        elif session.status == "running" and not (replay and replay[-1].is_terminal):
            await self.poll(session_id, last)
        await self.end_stream()

    def _after(self) -> int:
        raw = self.request.headers.get("Last-Event-ID")
        source = "Last-Event-ID"
        if raw is None:
            raw, source = self.get_query_argument("after", "0") or "0", "after"
        raw = raw.strip()
        if not (raw.isascii() and raw.isdigit()) or len(raw) > 18:  # ("²".isdigit() is true)
            raise InputError(f"{source} must be a non-negative integer (an event seq), "
                             f"not {raw[:40]!r}")
        return int(raw)


class CancelHandler(AssistantHandler):
    """``POST sessions/{id}/cancel``: cancel the running turn of the caller's session.
    Answers ``{"session_id", "cancelled": bool, "status"}``; ``cancelled`` is false when no
    turn of it runs in this server. 404 for another user's or an unknown session. Never
    rate-limited: a cancel must always get through."""

    @web.authenticated
    @authorized
    async def post(self, session_id: str) -> None:
        await self.app.store.get_session(self.user_id, session_id)
        cancelled = await self.app.turns.cancel(session_id)
        status = (await self.app.store.get_session(self.user_id, session_id)).status
        self.write_json({"session_id": session_id, "cancelled": cancelled, "status": status})
