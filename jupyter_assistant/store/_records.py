"""Plain records the store keeps: conversations, messages, sessions, telemetry.

They are dataclasses with ``to_dict()`` (JSON-ready) so that every backend (memory, SQLite,
Redis) and the HTTP API share one shape. Times are Unix seconds (float) unless a field says
otherwise; durations are milliseconds; costs are USD; tokens are tokens.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any, Generic, TypeVar

__all__ = [
    "Conversation",
    "Message",
    "ModelCallRecord",
    "Page",
    "SessionRecord",
    "ToolCallRecord",
]

T = TypeVar("T")
R = TypeVar("R", bound="_Record")


class _Record:
    def to_dict(self) -> dict[str, Any]:
        """The record as a JSON-ready dict."""
        return dataclasses.asdict(self)  # type: ignore[call-overload]

    @classmethod
    def from_dict(cls: type[R], d: dict[str, Any]) -> R:
        """Build from a dict, ignoring unknown keys."""
        names = {f.name for f in dataclasses.fields(cls)}  # type: ignore[arg-type]
        return cls(**{k: v for k, v in d.items() if k in names})


@dataclass
class Conversation(_Record):
    """A conversation of one user (DESIGN.md): ``title`` comes from the first user message;
    ``total_tokens``, ``message_count`` and ``last_message_at`` are kept consistent with the
    messages in the same transaction."""

    id: str
    user_id: str
    title: str = ""
    model: str = ""
    total_tokens: int = 0
    message_count: int = 0
    last_message_at: float | None = None
    created_at: float = 0.0
    updated_at: float = 0.0


@dataclass
class Message(_Record):
    """One message: ``role`` is ``user`` or ``assistant``; ``content`` is the Anthropic
    content-block list (or a plain string); ``metadata`` holds e.g. ``turn_id``,
    ``stop_reason``, ``status`` (``complete`` / ``interrupted``)."""

    id: str
    conversation_id: str
    role: str
    content: Any
    tokens: int = 0
    metadata: dict[str, Any] = field(default_factory=dict)
    created_at: float = 0.0


@dataclass
class SessionRecord(_Record):
    """A chat session (one stream of events; TTL 24 h). ``status`` is ``running``,
    ``complete``, ``error``, ``cancelled`` or ``interrupted``; ``last_seq`` is the seq of the
    last event appended."""

    id: str
    user_id: str
    conversation_id: str | None = None
    status: str = "running"
    last_seq: int = 0
    created_at: float = 0.0
    updated_at: float = 0.0
    expires_at: float = 0.0


@dataclass
class ModelCallRecord(_Record):
    """Telemetry of one model call (OpenTelemetry GenAI semantic conventions where they
    exist: ``gen_ai.system`` = ``provider``, ``gen_ai.request.model`` = ``model``,
    ``gen_ai.usage.input_tokens``...). ``request`` is the replayable request (no secrets)."""

    id: str
    provider: str
    model: str
    session_id: str | None = None
    turn_id: str | None = None
    conversation_id: str | None = None
    user_id: str | None = None
    started_at: float = 0.0
    ttft_ms: float | None = None
    duration_ms: float = 0.0
    input_tokens: int = 0
    output_tokens: int = 0
    cache_read_input_tokens: int = 0
    cache_creation_input_tokens: int = 0
    cost_usd: float | None = None
    stop_reason: str | None = None
    status: str = "ok"  # ok | error | cancelled
    error_code: str | None = None
    request_id: str | None = None
    attempt: int = 1
    request: dict[str, Any] = field(default_factory=dict)
    replay_of: str | None = None


@dataclass
class ToolCallRecord(_Record):
    """Telemetry of one tool call: ``name``, ``tool_use_id``, duration (ms), ``status``
    (``ok`` / ``error`` / ``timeout`` / ``cancelled`` / ``refused``), ``error_code``."""

    id: str
    name: str
    tool_use_id: str = ""
    session_id: str | None = None
    turn_id: str | None = None
    conversation_id: str | None = None
    user_id: str | None = None
    started_at: float = 0.0
    duration_ms: float = 0.0
    status: str = "ok"
    error_code: str | None = None
    input: dict[str, Any] = field(default_factory=dict)


@dataclass
class Page(Generic[T]):
    """One page of a listing: ``items``, ``total`` (all matching rows), ``limit``, ``offset``."""

    items: list[T]
    total: int
    limit: int
    offset: int

    def to_dict(self) -> dict[str, Any]:
        return {"items": [i.to_dict() if hasattr(i, "to_dict") else i for i in self.items],
                "total": self.total, "limit": self.limit, "offset": self.offset}
