"""``MemoryStore``: the whole :class:`~jupyter_assistant.store.Store` protocol in process.

The reference implementation of the store contract (the contract tests run on it as on
SQLite and Redis) and the store an :class:`~jupyter_assistant.Assistant` uses when it is
given none. Nothing survives the process. Each method runs without awaiting anything, so on
one event loop every method is atomic: stats always agree with the messages.
"""

from __future__ import annotations

import copy
import dataclasses
from collections.abc import Callable, Iterable
from typing import Any, TypeVar

from ..events import Event
from ..exceptions import NotFoundError, StoreError
from ._base import SESSION_TTL_S
from ._metrics import compute_metrics
from ._records import (
    Conversation,
    Message,
    ModelCallRecord,
    Page,
    SessionRecord,
    ToolCallRecord,
)
from ._util import check_id, check_page, check_role, known_id, new_id, now, title_from_content

__all__ = ["MemoryStore"]

_T = TypeVar("_T", ModelCallRecord, ToolCallRecord)


def _in_window(ts: float, since: float | None, until: float | None) -> bool:
    return (since is None or ts >= since) and (until is None or ts < until)


class MemoryStore:
    """An in-process store (dicts): conversations, messages, sessions, telemetry.

    ``session_ttl`` (seconds, default 24 h) is how long a session and its event log live after
    their last update. ``max_telemetry_records`` bounds each of the model-call and tool-call
    logs (the oldest records are dropped first) so a long-running kernel does not grow
    without limit. Errors: :class:`~jupyter_assistant.exceptions.NotFoundError` for an
    object that does not exist for the user, :class:`~jupyter_assistant.exceptions.InputError`
    for a bad id, role or page, :class:`~jupyter_assistant.exceptions.StoreError` for an id
    that is taken.
    """

    def __init__(
        self, *, session_ttl: float = SESSION_TTL_S, max_telemetry_records: int = 100_000
    ) -> None:
        self.session_ttl = float(session_ttl)
        self.max_telemetry_records = int(max_telemetry_records)
        self._conversations: dict[str, Conversation] = {}
        self._messages: dict[str, list[Message]] = {}
        self._message_index: dict[str, Message] = {}
        self._sessions: dict[str, SessionRecord] = {}
        self._events: dict[str, dict[int, Event]] = {}
        self._model_calls: dict[str, ModelCallRecord] = {}
        self._tool_calls: dict[str, ToolCallRecord] = {}

    def __repr__(self) -> str:
        return (f"MemoryStore(conversations={len(self._conversations)}, "
                f"sessions={len(self._sessions)}, model_calls={len(self._model_calls)})")

    # -- lifecycle ---------------------------------------------------------------------------

    async def open(self) -> None:
        """Nothing to open; present for the protocol (idempotent)."""

    async def aclose(self) -> None:
        """Nothing to close; the data stays until the object is dropped (idempotent)."""

    async def __aenter__(self) -> MemoryStore:
        await self.open()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()

    # -- conversations -----------------------------------------------------------------------

    def _conversation(self, user_id: str, conversation_id: str) -> Conversation:
        conv = self._conversations.get(conversation_id)
        if conv is None or conv.user_id != user_id:
            raise NotFoundError(f"conversation {conversation_id!r} not found")
        return conv

    async def create_conversation(
        self, user_id: str, *, title: str = "", model: str = "",
        conversation_id: str | None = None,
    ) -> Conversation:
        """Create an empty conversation of ``user_id``; a new id unless ``conversation_id``
        is given. Raises ``StoreError`` (code ``conflict``) when that id exists."""
        cid = conversation_id if conversation_id is not None else new_id()
        check_id(cid, "conversation")
        if cid in self._conversations:
            raise StoreError(f"conversation {cid!r} already exists", code="conflict")
        t = now()
        conv = Conversation(id=cid, user_id=user_id, title=title, model=model,
                            created_at=t, updated_at=t)
        self._conversations[cid] = conv
        self._messages[cid] = []
        return dataclasses.replace(conv)

    async def get_conversation(self, user_id: str, conversation_id: str) -> Conversation:
        """The conversation with its stats; ``NotFoundError`` if not ``user_id``'s."""
        return dataclasses.replace(self._conversation(user_id, conversation_id))

    async def list_conversations(
        self, user_id: str, *, limit: int = 50, offset: int = 0
    ) -> Page[Conversation]:
        """``user_id``'s conversations, most recently updated first, with the total."""
        check_page(limit, offset)
        mine = [c for c in self._conversations.values() if c.user_id == user_id]
        mine.sort(key=lambda c: (c.updated_at, c.id), reverse=True)
        items = [dataclasses.replace(c) for c in mine[offset:offset + limit]]
        return Page(items=items, total=len(mine), limit=limit, offset=offset)

    async def delete_conversation(self, user_id: str, conversation_id: str) -> None:
        """Delete the conversation and all its messages; ``NotFoundError`` if not found."""
        self._conversation(user_id, conversation_id)
        del self._conversations[conversation_id]
        for msg in self._messages.pop(conversation_id, []):
            self._message_index.pop(msg.id, None)

    async def add_message(
        self, user_id: str, conversation_id: str, role: str, content: Any, *,
        tokens: int = 0, metadata: dict[str, Any] | None = None,
    ) -> Message:
        """Append a message and update the stats (``message_count``, ``total_tokens``,
        ``last_message_at``, ``updated_at``; the title from the first user message when the
        conversation has none) at once. ``InputError`` for a role other than
        ``user``/``assistant``; ``NotFoundError`` if the conversation is not ``user_id``'s."""
        check_role(role)
        conv = self._conversation(user_id, conversation_id)
        t = now()
        msg = Message(id=new_id(), conversation_id=conversation_id, role=role,
                      content=copy.deepcopy(content), tokens=int(tokens),
                      metadata=copy.deepcopy(metadata or {}), created_at=t)
        self._messages[conversation_id].append(msg)
        self._message_index[msg.id] = msg
        conv.message_count += 1
        conv.total_tokens += msg.tokens
        conv.last_message_at = t
        conv.updated_at = t
        if not conv.title and role == "user":
            conv.title = title_from_content(content)
        return copy.deepcopy(msg)

    async def list_messages(
        self, user_id: str, conversation_id: str, *, limit: int = 100, offset: int = 0
    ) -> Page[Message]:
        """Messages of the conversation, oldest first, with the total."""
        check_page(limit, offset)
        self._conversation(user_id, conversation_id)
        msgs = self._messages[conversation_id]
        return Page(items=copy.deepcopy(msgs[offset:offset + limit]), total=len(msgs),
                    limit=limit, offset=offset)

    async def update_message_metadata(
        self, user_id: str, message_id: str, metadata: dict[str, Any]
    ) -> Message:
        """Merge ``metadata`` into the message's metadata (keys given replace old values);
        ``NotFoundError`` unless the message is in one of ``user_id``'s conversations."""
        msg = self._message_index.get(message_id)
        if msg is None:
            raise NotFoundError(f"message {message_id!r} not found")
        conv = self._conversations.get(msg.conversation_id)
        if conv is None or conv.user_id != user_id:
            raise NotFoundError(f"message {message_id!r} not found")
        msg.metadata.update(copy.deepcopy(metadata))
        return copy.deepcopy(msg)

    # -- sessions ----------------------------------------------------------------------------

    def _live_session(self, session_id: str) -> SessionRecord:
        known_id(session_id, "session")
        sess = self._sessions.get(session_id)
        if sess is None:
            raise NotFoundError(f"session {session_id!r} not found")
        if sess.expires_at <= now():
            self._drop_session(session_id)
            raise NotFoundError(f"session {session_id!r} not found (expired)")
        return sess

    def _drop_session(self, session_id: str) -> None:
        self._sessions.pop(session_id, None)
        self._events.pop(session_id, None)

    def _touch(self, sess: SessionRecord) -> None:
        sess.updated_at = now()
        sess.expires_at = sess.updated_at + self.session_ttl

    async def create_session(
        self, user_id: str, session_id: str, *, conversation_id: str | None = None
    ) -> SessionRecord:
        """Create session ``session_id`` (status ``running``), or — when ``user_id`` already
        has it — mark it ``running`` again and renew its TTL, keeping its event log (a new
        turn of the same session). ``StoreError`` (code ``conflict``) if another user has it."""
        check_id(session_id, "session")
        try:
            sess = self._live_session(session_id)
        except NotFoundError:
            t = now()
            sess = SessionRecord(id=session_id, user_id=user_id,
                                 conversation_id=conversation_id, created_at=t,
                                 updated_at=t, expires_at=t + self.session_ttl)
            self._sessions[session_id] = sess
            self._events[session_id] = {}
            return dataclasses.replace(sess)
        if sess.user_id != user_id:
            raise StoreError(f"session {session_id!r} belongs to another user", code="conflict")
        sess.status = "running"
        if conversation_id is not None:
            sess.conversation_id = conversation_id
        self._touch(sess)
        return dataclasses.replace(sess)

    async def get_session(self, user_id: str, session_id: str) -> SessionRecord:
        """The live session; ``NotFoundError`` if unknown, expired or another user's."""
        sess = self._live_session(session_id)
        if sess.user_id != user_id:
            raise NotFoundError(f"session {session_id!r} not found")
        return dataclasses.replace(sess)

    async def set_session_status(self, session_id: str, status: str) -> None:
        """Set the status (``running``, ``complete``, ``error``, ``cancelled``,
        ``interrupted``) and renew the TTL; ``NotFoundError`` if unknown or expired."""
        sess = self._live_session(session_id)
        sess.status = status
        self._touch(sess)

    async def append_event(self, event: Event) -> None:
        """Append ``event`` to its session's log, keyed by ``seq``. Idempotent: an event
        whose ``seq`` is already stored is ignored. Renews the TTL; ``NotFoundError`` if
        the session is unknown or expired."""
        sess = self._live_session(event.session_id)
        log = self._events.setdefault(event.session_id, {})
        if event.seq not in log:
            log[event.seq] = event
            sess.last_seq = max(sess.last_seq, event.seq)
        self._touch(sess)

    async def events_after(self, session_id: str, after_seq: int = 0) -> list[Event]:
        """The events with ``seq > after_seq``, in ``seq`` order (what a client that saw
        ``after_seq`` missed); ``NotFoundError`` if the session is unknown or expired."""
        self._live_session(session_id)
        log = self._events.get(session_id, {})
        return [log[s] for s in sorted(log) if s > after_seq]

    async def list_sessions(self, *, status: str | None = None) -> list[SessionRecord]:
        """Live sessions (optionally only those with ``status``), oldest first."""
        self._purge()
        out = [s for s in self._sessions.values() if status is None or s.status == status]
        out.sort(key=lambda s: (s.created_at, s.id))
        return [dataclasses.replace(s) for s in out]

    def _purge(self) -> int:
        t = now()
        dead = [sid for sid, s in self._sessions.items() if s.expires_at <= t]
        for sid in dead:
            self._drop_session(sid)
        return len(dead)

    async def purge_expired(self) -> int:
        """Delete expired sessions and their event logs; returns how many were deleted."""
        return self._purge()

    # -- telemetry ---------------------------------------------------------------------------

    def _bounded_put(self, table: dict[str, Any], key: str, value: Any) -> None:
        table.pop(key, None)
        table[key] = copy.deepcopy(value)
        while len(table) > self.max_telemetry_records:
            del table[next(iter(table))]

    async def record_model_call(self, record: ModelCallRecord) -> None:
        """Store (or replace, same ``id``) a model-call record."""
        self._bounded_put(self._model_calls, record.id, record)

    async def record_tool_call(self, record: ToolCallRecord) -> None:
        """Store (or replace, same ``id``) a tool-call record."""
        self._bounded_put(self._tool_calls, record.id, record)

    async def get_model_call(self, call_id: str) -> ModelCallRecord:
        """The model-call record ``call_id``; ``NotFoundError`` if there is none."""
        rec = self._model_calls.get(call_id)
        if rec is None:
            raise NotFoundError(f"model call {call_id!r} not found")
        return copy.deepcopy(rec)

    @staticmethod
    def _select(
        records: Iterable[_T], user_id: str | None, session_id: str | None,
        conversation_id: str | None, since: float | None, until: float | None,
    ) -> list[_T]:
        keep: Callable[[_T], bool] = lambda r: (  # noqa: E731
            (user_id is None or r.user_id == user_id)
            and (session_id is None or r.session_id == session_id)
            and (conversation_id is None or r.conversation_id == conversation_id)
            and _in_window(r.started_at, since, until)
        )
        out = [r for r in records if keep(r)]
        out.sort(key=lambda r: (r.started_at, r.id), reverse=True)
        return out

    async def list_model_calls(
        self, *, user_id: str | None = None, session_id: str | None = None,
        conversation_id: str | None = None, since: float | None = None,
        until: float | None = None, limit: int = 100, offset: int = 0,
    ) -> Page[ModelCallRecord]:
        """Model calls matching every filter given (``since <= started_at < until``),
        newest first, with the total."""
        check_page(limit, offset)
        rows = self._select(self._model_calls.values(), user_id, session_id,
                            conversation_id, since, until)
        return Page(items=copy.deepcopy(rows[offset:offset + limit]), total=len(rows),
                    limit=limit, offset=offset)

    async def list_tool_calls(
        self, *, user_id: str | None = None, session_id: str | None = None,
        conversation_id: str | None = None, since: float | None = None,
        until: float | None = None, limit: int = 100, offset: int = 0,
    ) -> Page[ToolCallRecord]:
        """Tool calls matching every filter given (``since <= started_at < until``),
        newest first, with the total."""
        check_page(limit, offset)
        rows = self._select(self._tool_calls.values(), user_id, session_id,
                            conversation_id, since, until)
        return Page(items=copy.deepcopy(rows[offset:offset + limit]), total=len(rows),
                    limit=limit, offset=offset)

    async def metrics(self, *, user_id: str | None = None, since: float | None = None,
                      until: float | None = None) -> dict[str, Any]:
        """Dashboard aggregates of the window; shape in
        :func:`~jupyter_assistant.store._metrics.compute_metrics`."""
        calls = self._select(self._model_calls.values(), user_id, None, None, since, until)
        tools = self._select(self._tool_calls.values(), user_id, None, None, since, until)
        return compute_metrics(calls, tools, since=since, until=until)
