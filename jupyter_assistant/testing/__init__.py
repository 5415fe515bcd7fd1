"""Test peers that speak real protocols on 127.0.0.1, for tests and benchmarks.

:class:`AnthropicServer` (``jupyter_assistant.testing.anthropic_server``) is a local Anthropic
Messages API server with scripted replies (:class:`Reply`) and fault injection. It is imported
lazily, so ``import jupyter_assistant.testing`` costs nothing.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

__all__ = ["AnthropicServer", "RecordedRequest", "Reply"]

if TYPE_CHECKING:  # pragma: no cover
    from .anthropic_server import AnthropicServer, RecordedRequest, Reply


def __getattr__(name: str) -> Any:
    if name in __all__:
        from . import anthropic_server

        return getattr(anthropic_server, name)
    raise AttributeError(f"module 'jupyter_assistant.testing' has no attribute {name!r}")
