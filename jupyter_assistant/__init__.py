"""jupyter-assistant: an AI performance and debug assistant that lives inside Jupyter.

The public API is the names in ``__all__``; they are imported lazily, so that
``import jupyter_assistant`` (done by Jupyter server and by ``%load_ext``) stays cheap.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"

# public name -> module that defines it
_EXPORTS: dict[str, str] = {
    # errors
    "AssistantError": "jupyter_assistant.exceptions",
    "ConfigError": "jupyter_assistant.exceptions",
    "InputError": "jupyter_assistant.exceptions",
    "ModelError": "jupyter_assistant.exceptions",
    "NotFoundError": "jupyter_assistant.exceptions",
    "PathOutsideRootError": "jupyter_assistant.exceptions",
    "RateLimitError": "jupyter_assistant.exceptions",
    "StoreError": "jupyter_assistant.exceptions",
    "ToolError": "jupyter_assistant.exceptions",
    "TraceFormatError": "jupyter_assistant.exceptions",
    # events
    "Event": "jupyter_assistant.events",
    "EventType": "jupyter_assistant.events",
    # orchestrator
    "Assistant": "jupyter_assistant.orchestrator",
    "AssistantConfig": "jupyter_assistant.config",
    "tool": "jupyter_assistant.tools",
    "prewarm": "jupyter_assistant._prewarm",
    # traces
    "Trace": "jupyter_assistant.traces",
    "compare_traces": "jupyter_assistant.traces.analysis.compare",
    "detect_format": "jupyter_assistant.traces",
    "diagnose": "jupyter_assistant.traces.diagnosis",
    "load_trace": "jupyter_assistant.traces",
}

__all__ = [
    "Assistant",
    "AssistantConfig",
    "AssistantError",
    "ConfigError",
    "Event",
    "EventType",
    "InputError",
    "ModelError",
    "NotFoundError",
    "PathOutsideRootError",
    "RateLimitError",
    "StoreError",
    "ToolError",
    "Trace",
    "TraceFormatError",
    "__version__",
    "compare_traces",
    "detect_format",
    "diagnose",
    "load_trace",
    "prewarm",
    "tool",
]

if TYPE_CHECKING:  # pragma: no cover - for type checkers and IDEs
    from ._prewarm import prewarm
    from .config import AssistantConfig
    from .events import Event, EventType
    from .exceptions import (
        AssistantError,
        ConfigError,
        InputError,
        ModelError,
        NotFoundError,
        PathOutsideRootError,
        RateLimitError,
        StoreError,
        ToolError,
        TraceFormatError,
    )
    from .orchestrator import Assistant
    from .tools import tool
    from .traces import Trace, detect_format, load_trace
    from .traces.analysis.compare import compare_traces
    from .traces.diagnosis import diagnose


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'jupyter_assistant' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


def _jupyter_server_extension_points() -> list[dict[str, Any]]:
    """Jupyter server's extension entry point: the ``AssistantApp`` server extension."""
    from .server import AssistantApp

    return [{"module": "jupyter_assistant.server", "app": AssistantApp}]


def load_ipython_extension(ipython: Any) -> None:
    """IPython's extension entry point (``%load_ext jupyter_assistant``): registers the
    ``%assistant`` / ``%%assistant`` magics; see :mod:`jupyter_assistant.kernel`."""
    from .kernel import load_ipython_extension as load

    load(ipython)


def unload_ipython_extension(ipython: Any) -> None:
    """IPython's ``%unload_ext jupyter_assistant``: removes the magics and closes the
    assistant thread and the store."""
    from .kernel import unload_ipython_extension as unload

    unload(ipython)


def _jupyter_labextension_paths() -> list[dict[str, str]]:
    """JupyterLab's entry point: the prebuilt sidebar (``labextension/``, built into
    ``jupyter_assistant/labextension``), for ``jupyter-builder develop`` (formerly
    ``jupyter labextension develop``)."""
    return [{"src": "labextension", "dest": "jupyter-assistant"}]


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))
