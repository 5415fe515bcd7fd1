"""The orchestrator: the streaming turn loop with parallel tools, retries, limits, cancel,
telemetry and replay (:class:`Assistant`), and the model providers (``providers``)."""

from __future__ import annotations

from ._assistant import Assistant
from ._context import DEFAULT_SYSTEM_PROMPT
from ._executor import ToolOutcome, render_output, truncate_output
from ._history import build_history
from ._message_input import validate_message
from ._retry import RetryPolicy
from ._telemetry import (
    MODEL_CALL_ATTRIBUTES,
    TOOL_CALL_ATTRIBUTES,
    chrome_trace_events,
    otel_attributes,
    write_chrome_trace,
)
from .pricing import PRICES, price_for
from .providers import ModelProvider, ModelRequest, create_provider

__all__ = [
    "DEFAULT_SYSTEM_PROMPT",
    "MODEL_CALL_ATTRIBUTES",
    "PRICES",
    "TOOL_CALL_ATTRIBUTES",
    "Assistant",
    "ModelProvider",
    "ModelRequest",
    "RetryPolicy",
    "ToolOutcome",
    "build_history",
    "chrome_trace_events",
    "create_provider",
    "otel_attributes",
    "price_for",
    "render_output",
    "truncate_output",
    "validate_message",
    "write_chrome_trace",
]
