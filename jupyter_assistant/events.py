"""Typed stream events: the wire format of DESIGN.md, also the SSE ``data:``.

Every event serialises as::

    {"type": T, "session_id": str, "turn_id": str, "seq": int, "timestamp": ms, "data": {...}}

``seq`` increases by one per session (SSE sends it as ``id:``), ``timestamp`` is Unix time in
milliseconds. ``data`` depends on ``type``; its keys are documented by the ``*Data``
TypedDicts below. The first event of a turn is ``session_started``; the last is exactly one
of ``message_complete``, ``error`` or ``cancelled``.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any, Literal, TypedDict, get_args

import orjson

__all__ = [
    "TERMINAL_EVENT_TYPES",
    "CancelledData",
    "ErrorData",
    "Event",
    "EventType",
    "MessageCompleteData",
    "SessionStartedData",
    "TextDeltaData",
    "ToolUseCompleteData",
    "ToolUseProgressData",
    "ToolUseStartData",
    "UsageData",
]

EventType = Literal[
    "session_started",
    "text_delta",
    "tool_use_start",
    "tool_use_progress",
    "tool_use_complete",
    "usage",
    "message_complete",
    "error",
    "cancelled",
]

#: The event types that end a turn: exactly one of them is the last event of every turn.
TERMINAL_EVENT_TYPES: frozenset[str] = frozenset({"message_complete", "error", "cancelled"})

_EVENT_TYPES: frozenset[str] = frozenset(get_args(EventType))


class SessionStartedData(TypedDict, total=False):
    """``session_started``: ``conversation_id``, ``model`` (``provider:model id``), ``resumed``."""

    conversation_id: str | None
    model: str
    resumed: bool


class TextDeltaData(TypedDict):
    """``text_delta``: a piece of the assistant's answer (markdown), in order."""

    text: str


class ToolUseStartData(TypedDict):
    """``tool_use_start``: the model called tool ``name`` with ``input``; ``id`` is the
    Anthropic ``tool_use`` block id (``toolu_...``)."""

    id: str
    name: str
    input: dict[str, Any]


class ToolUseProgressData(TypedDict, total=False):
    """``tool_use_progress``: a running tool's ``message`` and optional ``fraction`` in [0, 1]."""

    id: str
    name: str
    message: str
    fraction: float


class ToolUseCompleteData(TypedDict, total=False):
    """``tool_use_complete``: the ``tool_result`` of call ``id``: ``is_error``, ``content``
    (text, possibly truncated), ``duration_ms``, and ``error_code`` when it failed."""

    id: str
    name: str
    is_error: bool
    content: str
    duration_ms: float
    error_code: str


class UsageData(TypedDict, total=False):
    """``usage``: tokens of one model call (``input_tokens``, ``output_tokens``,
    ``cache_read_input_tokens``, ``cache_creation_input_tokens``), ``cost_usd`` (USD),
    ``model`` and ``call_id`` of the telemetry record."""

    input_tokens: int
    output_tokens: int
    cache_read_input_tokens: int
    cache_creation_input_tokens: int
    cost_usd: float
    model: str
    call_id: str


class MessageCompleteData(TypedDict, total=False):
    """``message_complete``: the whole answer ``text``, the final ``stop_reason``,
    ``model_calls`` made in the turn and ``message_id`` in the store, when stored."""

    text: str
    stop_reason: str
    model_calls: int
    message_id: str | None


class ErrorData(TypedDict):
    """``error``: ``code`` (see :class:`~jupyter_assistant.exceptions.ModelError`),
    human ``message``, and whether a retry may succeed (``retryable``)."""

    code: str
    message: str
    retryable: bool


class CancelledData(TypedDict, total=False):
    """``cancelled``: ``reason`` (``"user"``, ``"shutdown"``)."""

    reason: str


@dataclass(frozen=True, slots=True)
class Event:
    """One stream event. Immutable; build with :meth:`create`, serialise with :meth:`to_dict`
    or :meth:`to_json`, parse with :meth:`from_dict`.

    Raises ``ValueError`` (from :meth:`create` / :meth:`from_dict`) for an unknown ``type``.
    """

    type: EventType
    session_id: str
    turn_id: str
    seq: int
    timestamp: int
    data: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def create(
        cls,
        type: str,
        *,
        session_id: str,
        turn_id: str,
        seq: int,
        data: dict[str, Any] | None = None,
        timestamp: int | None = None,
    ) -> Event:
        """Make an event; ``timestamp`` defaults to now, in Unix milliseconds."""
        if type not in _EVENT_TYPES:
            raise ValueError(f"unknown event type {type!r}; expected one of {sorted(_EVENT_TYPES)}")
        ts = int(time.time() * 1000) if timestamp is None else int(timestamp)
        return cls(type, session_id, turn_id, int(seq), ts, dict(data or {}))  # type: ignore[arg-type]

    @property
    def is_terminal(self) -> bool:
        """True for ``message_complete``, ``error`` and ``cancelled``."""
        return self.type in TERMINAL_EVENT_TYPES

    def to_dict(self) -> dict[str, Any]:
        """The wire form: ``{"type", "session_id", "turn_id", "seq", "timestamp", "data"}``."""
        return {
            "type": self.type,
            "session_id": self.session_id,
            "turn_id": self.turn_id,
            "seq": self.seq,
            "timestamp": self.timestamp,
            "data": self.data,
        }

    def to_json(self) -> str:
        """The wire form as compact JSON text."""
        return orjson.dumps(self.to_dict()).decode()

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> Event:
        """Parse the wire form; raises ``ValueError`` for a missing key or unknown type."""
        try:
            return cls.create(
                d["type"],
                session_id=d["session_id"],
                turn_id=d["turn_id"],
                seq=d["seq"],
                timestamp=d["timestamp"],
                data=d.get("data") or {},
            )
        except KeyError as exc:
            raise ValueError(f"event is missing key {exc.args[0]!r}") from None
