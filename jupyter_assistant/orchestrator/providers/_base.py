"""The model provider interface: one streaming request in, typed stream parts out.

Every provider (Anthropic, OpenAI-compatible, offline) takes a :class:`ModelRequest` in the
Anthropic Messages shape and yields :data:`StreamPart` objects. Conversation history is always
kept in the Anthropic content-block form (``text``, ``tool_use``, ``tool_result`` blocks);
other providers translate it.

A provider raises :class:`~jupyter_assistant.exceptions.ModelError` with ``code`` and
``retryable`` set; it never retries by itself (the turn loop owns retries, and retries only
before any output was streamed) and never swallows an error. A stream that ends without a
:class:`MessageDone` is a failure (``code="incomplete_stream"``).
"""

from __future__ import annotations

import json
from abc import ABC, abstractmethod
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

__all__ = [
    "MessageDone",
    "ModelPrice",
    "ModelProvider",
    "ModelRequest",
    "StreamPart",
    "TextPart",
    "ToolUsePart",
    "ToolUseStartPart",
    "Usage",
    "tool_use_from_json",
]


@dataclass
class ModelRequest:
    """One model call. ``messages`` and ``tools`` are in the Anthropic Messages API shape;
    ``max_tokens`` bounds the output (tokens); ``metadata`` is free-form (never secrets)."""

    model: str
    messages: list[dict[str, Any]]
    system: str = ""
    tools: list[dict[str, Any]] = field(default_factory=list)
    max_tokens: int = 4096
    temperature: float | None = None
    metadata: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        """The request as plain data (for telemetry and replay; holds no API key)."""
        return {"model": self.model, "messages": self.messages, "system": self.system,
                "tools": self.tools, "max_tokens": self.max_tokens,
                "temperature": self.temperature, "metadata": self.metadata}

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> ModelRequest:
        """Inverse of :meth:`to_dict`."""
        return cls(model=d["model"], messages=list(d["messages"]), system=d.get("system", ""),
                   tools=list(d.get("tools", [])), max_tokens=int(d.get("max_tokens", 4096)),
                   temperature=d.get("temperature"), metadata=dict(d.get("metadata", {})))


@dataclass
class Usage:
    """Token counts of one model call (tokens)."""

    input_tokens: int = 0
    output_tokens: int = 0
    cache_read_input_tokens: int = 0
    cache_creation_input_tokens: int = 0


@dataclass
class TextPart:
    """A piece of streamed answer text."""

    text: str


@dataclass
class ToolUseStartPart:
    """A ``tool_use`` block began (its input is still streaming)."""

    id: str
    name: str


@dataclass
class ToolUsePart:
    """A complete ``tool_use`` block with its parsed ``input`` (a JSON object).

    ``input_error`` is set (and ``input`` is ``{}``) when the model's input JSON was
    malformed; the loop answers such a call with an ``is_error`` ``tool_result``."""

    id: str
    name: str
    input: dict[str, Any]
    input_error: str | None = None


def tool_use_from_json(id: str, name: str, raw: str) -> ToolUsePart:
    """A complete :class:`ToolUsePart` from the input JSON text the model streamed (Anthropic
    ``input_json_delta`` fragments, OpenAI ``function.arguments`` fragments, joined).

    Empty text is the empty object. Text that is not JSON, or JSON that is not an object,
    gives ``input={}`` and ``input_error`` naming the problem and quoting the text (at most
    200 characters), so the loop can answer with an ``is_error`` ``tool_result``.
    """
    value: Any = {}
    error = None
    if raw.strip():
        try:
            value = json.loads(raw)
        except ValueError as exc:
            error = f"the tool input is not valid JSON ({exc}): {raw[:200]!r}"
        else:
            if not isinstance(value, dict):
                error = f"the tool input must be a JSON object, got {raw[:200]!r}"
    return ToolUsePart(id=id, name=name, input={} if error else value, input_error=error)


@dataclass
class MessageDone:
    """The model's message ended (``message_stop``): its ``stop_reason`` (``end_turn``,
    ``tool_use``, ``max_tokens``, ``stop_sequence``, ``pause_turn``, ``refusal``), usage,
    provider ``request_id`` and the ``model`` that answered.

    ``content`` is the whole assistant message as Anthropic content blocks when the provider
    has it (``thinking`` blocks with their ``signature`` included, which must be sent back
    unchanged with the ``tool_result``); ``None`` lets the loop build it from the text and
    ``tool_use`` parts."""

    stop_reason: str
    usage: Usage = field(default_factory=Usage)
    request_id: str | None = None
    model: str | None = None
    content: list[dict[str, Any]] | None = None


StreamPart = TextPart | ToolUseStartPart | ToolUsePart | MessageDone


@dataclass(frozen=True)
class ModelPrice:
    """USD per million tokens: ``input``, ``output``, ``cache_read``, ``cache_write``."""

    input: float
    output: float
    cache_read: float
    cache_write: float

    def cost(self, usage: Usage) -> float:
        """Cost of ``usage`` in USD."""
        return (usage.input_tokens * self.input + usage.output_tokens * self.output
                + usage.cache_read_input_tokens * self.cache_read
                + usage.cache_creation_input_tokens * self.cache_write) / 1e6


class ModelProvider(ABC):
    """A model backend. ``name`` is the provider prefix (``anthropic``, ``openai``,
    ``offline``); ``model`` the model id; ``spec`` is ``"name:model"``."""

    name: str = ""
    model: str = ""

    @property
    def spec(self) -> str:
        return f"{self.name}:{self.model}"

    @abstractmethod
    def stream(self, request: ModelRequest) -> AsyncIterator[StreamPart]:
        """Stream one model call. Raises :class:`~jupyter_assistant.exceptions.ModelError`."""

    def price(self) -> ModelPrice | None:
        """Price of this model, or ``None`` when unknown (cost is then not estimated)."""
        return None

    async def aclose(self) -> None:  # noqa: B027 - optional hook
        """Release network resources."""
