"""The async ``Store`` protocol every backend implements (memory, SQLite, Redis).

Every method scoped to a user takes ``user_id`` first and raises
:class:`~jupyter_assistant.exceptions.NotFoundError` when the object does not exist *for that
user* (another user's conversation is indistinguishable from a missing one). Backend failures
raise :class:`~jupyter_assistant.exceptions.StoreError`.
"""

from __future__ import annotations

from typing import Any, Protocol, runtime_checkable

from ..events import Event
from ._records import (
    Conversation,
    Message,
    ModelCallRecord,
    Page,
    SessionRecord,
    ToolCallRecord,
)

__all__ = ["SESSION_TTL_S", "ConversationStore", "SessionStore", "Store", "TelemetryStore"]

#: Sessions and their event logs expire 24 h after their last update.
SESSION_TTL_S = 24 * 3600


@runtime_checkable
class TelemetryStore(Protocol):
    """Where the orchestrator records every model call and tool call."""

    async def record_model_call(self, record: ModelCallRecord) -> None: ...
    async def record_tool_call(self, record: ToolCallRecord) -> None: ...
    async def get_model_call(self, call_id: str) -> ModelCallRecord: ...
    async def list_model_calls(
        self, *, user_id: str | None = None, session_id: str | None = None,
        conversation_id: str | None = None, since: float | None = None,
        until: float | None = None, limit: int = 100, offset: int = 0,
    ) -> Page[ModelCallRecord]: ...
    async def list_tool_calls(
        self, *, user_id: str | None = None, session_id: str | None = None,
        conversation_id: str | None = None, since: float | None = None,
        until: float | None = None, limit: int = 100, offset: int = 0,
    ) -> Page[ToolCallRecord]: ...


@runtime_checkable
class ConversationStore(Protocol):
    """Conversations and their messages, scoped to a user."""

    async def create_conversation(
        self, user_id: str, *, title: str = "", model: str = "",
        conversation_id: str | None = None,
    ) -> Conversation: ...
    async def get_conversation(self, user_id: str, conversation_id: str) -> Conversation: ...
    async def list_conversations(
        self, user_id: str, *, limit: int = 50, offset: int = 0
    ) -> Page[Conversation]: ...
    async def delete_conversation(self, user_id: str, conversation_id: str) -> None: ...
    async def add_message(
        self, user_id: str, conversation_id: str, role: str, content: Any, *,
        tokens: int = 0, metadata: dict[str, Any] | None = None,
    ) -> Message: ...
    async def list_messages(
        self, user_id: str, conversation_id: str, *, limit: int = 100, offset: int = 0
    ) -> Page[Message]: ...
    async def update_message_metadata(
        self, user_id: str, message_id: str, metadata: dict[str, Any]
    ) -> Message: ...


@runtime_checkable
class SessionStore(Protocol):
    """Chat sessions (TTL :data:`SESSION_TTL_S`) and their event logs, for resume."""

    async def create_session(
        self, user_id: str, session_id: str, *, conversation_id: str | None = None
    ) -> SessionRecord: ...
    async def get_session(self, user_id: str, session_id: str) -> SessionRecord: ...
    async def set_session_status(self, session_id: str, status: str) -> None: ...
    async def append_event(self, event: Event) -> None: ...
    async def events_after(self, session_id: str, after_seq: int = 0) -> list[Event]: ...
    async def list_sessions(self, *, status: str | None = None) -> list[SessionRecord]: ...


@runtime_checkable
class Store(TelemetryStore, ConversationStore, SessionStore, Protocol):
    """Everything: telemetry, conversations, sessions. ``open()`` before use (creates
    tables / runs migrations), ``aclose()`` after; both idempotent."""

    async def open(self) -> None: ...
    async def aclose(self) -> None: ...
    async def metrics(self, *, user_id: str | None = None, since: float | None = None,
                      until: float | None = None) -> dict[str, Any]: ...
