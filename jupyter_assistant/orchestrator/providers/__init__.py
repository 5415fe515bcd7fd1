"""Model providers: Anthropic (official SDK), OpenAI-compatible endpoints, offline."""

from ._base import (
    MessageDone,
    ModelPrice,
    ModelProvider,
    ModelRequest,
    StreamPart,
    TextPart,
    ToolUsePart,
    ToolUseStartPart,
    Usage,
)

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
]
