"""Test peers that speak real protocols on 127.0.0.1, for tests and benchmarks.

:class:`AnthropicServer` (``jupyter_assistant.testing.anthropic_server``) is a local Anthropic
Messages API server with scripted replies (:class:`Reply`) and fault injection;
:class:`OpenAIServer` (``jupyter_assistant.testing.openai_server``) is a local
OpenAI-compatible chat-completions server with scripted replies (:class:`ChatReply`);
:class:`LabServer` (``jupyter_assistant.testing.lab_server``) a real ``jupyter lab`` for
browser tests, which :meth:`LabServer.open_page` opens in the Chromium of
:func:`launch_chromium`. They are imported lazily, so ``import jupyter_assistant.testing`` costs
nothing.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

__all__ = ["AnthropicServer", "ChatReply", "LabServer", "OpenAIServer", "RecordedRequest",
           "Reply", "launch_chromium"]

_LAZY = {"AnthropicServer": ".anthropic_server", "RecordedRequest": ".anthropic_server",
         "Reply": ".anthropic_server", "ChatReply": ".openai_server",
         "OpenAIServer": ".openai_server", "LabServer": ".lab_server",
         "launch_chromium": ".lab_server"}

if TYPE_CHECKING:  # pragma: no cover
    from .anthropic_server import AnthropicServer, RecordedRequest, Reply
    from .lab_server import LabServer, launch_chromium
    from .openai_server import ChatReply, OpenAIServer


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'jupyter_assistant.testing' has no attribute {name!r}")
    return getattr(importlib.import_module(module, __name__), name)


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))
