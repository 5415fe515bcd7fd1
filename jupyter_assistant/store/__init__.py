"""Persistence: the ``Store`` protocol, its records, and backends (memory, SQLite, Redis)."""

from ._base import SESSION_TTL_S, ConversationStore, SessionStore, Store, TelemetryStore
from ._records import (
    Conversation,
    Message,
    ModelCallRecord,
    Page,
    SessionRecord,
    ToolCallRecord,
)

__all__ = [
    "SESSION_TTL_S",
    "Conversation",
    "ConversationStore",
    "Message",
    "ModelCallRecord",
    "Page",
    "SessionRecord",
    "SessionStore",
    "Store",
    "TelemetryStore",
    "ToolCallRecord",
]
