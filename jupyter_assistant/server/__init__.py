"""The Jupyter server extension: ``AssistantApp`` and its HTTP + SSE API under
``/assistant/api`` (see :mod:`jupyter_assistant.server.handlers` for the endpoint table).

Only this package (and ``kernel/``) imports tornado and jupyter_server.
"""

from .app import AssistantApp

__all__ = ["AssistantApp"]
