"""Persistence: the ``Store`` protocol, its records, and backends (memory, SQLite, Redis).

``open_store(url)`` picks the backend from a URL; ``RateLimiter`` limits requests per user.
``RedisStore`` and ``RateLimiter`` are imported on first use (``redis.asyncio`` and ``limits``
are slow to import and not needed by an in-process assistant).
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from ._base import SESSION_TTL_S, ConversationStore, SessionStore, Store, TelemetryStore
from ._factory import open_store
from ._records import (
    Conversation,
    Message,
    ModelCallRecord,
    Page,
    SessionRecord,
    ToolCallRecord,
)
from ._util import MAX_PAGE_VALUE, new_id
from .memory import MemoryStore
from .sqlite import SQLiteStore

if TYPE_CHECKING:  # pragma: no cover
    from .ratelimit import RateLimiter
    from .redis import RedisStore

__all__ = [
    "MAX_PAGE_VALUE",
    "SESSION_TTL_S",
    "Conversation",
    "ConversationStore",
    "MemoryStore",
    "Message",
    "ModelCallRecord",
    "Page",
    "RateLimiter",
    "RedisStore",
    "SQLiteStore",
    "SessionRecord",
    "SessionStore",
    "Store",
    "TelemetryStore",
    "ToolCallRecord",
    "new_id",
    "open_store",
]

_LAZY = {"RateLimiter": ".ratelimit", "RedisStore": ".redis"}


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(module, __name__), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))
