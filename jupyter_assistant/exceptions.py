"""The one exception tree of jupyter-assistant.

Every error the package raises on purpose is an :class:`AssistantError`::

    AssistantError
    ├── TraceFormatError    a trace file cannot be read (file, position, problem)
    ├── ModelError          a model provider failed (code, retryable, status)
    ├── ToolError           a tool failed or was refused
    │   └── PathOutsideRootError
    ├── StoreError          the conversation/session store failed
    │   └── NotFoundError
    ├── RateLimitError      a per-user rate limit refused a request (retry_after, s)
    ├── InputError          user input is refused (too long, empty, wrong shape)
    └── ConfigError         configuration is missing or inconsistent

``InputError`` and ``ConfigError`` are also ``ValueError`` s, so code that caught the
``ValueError`` of a bad argument before keeps working.

Each exception carries its context as attributes, so a handler can turn it into a JSON error
(``code`` + ``message``) or an ``error`` event without parsing the message.
"""

from __future__ import annotations

__all__ = [
    "AssistantError",
    "ConfigError",
    "InputError",
    "ModelError",
    "NotFoundError",
    "PathOutsideRootError",
    "RateLimitError",
    "StoreError",
    "ToolError",
    "TraceFormatError",
]


class AssistantError(Exception):
    """Raised for every deliberate failure of jupyter-assistant; the root of the tree.

    ``code`` is a short, stable, machine-readable string (used in ``error`` events and in
    JSON error bodies); subclasses set their own.
    """

    code: str = "assistant_error"

    def __init__(self, message: str, *, code: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        if code is not None:
            self.code = code


class TraceFormatError(AssistantError):
    """Raised when a trace cannot be read: names the file, the position and the problem.

    ``source`` is the file name (or ``"<bytes>"``), ``position`` a human-readable location
    such as ``"byte 1234"``, ``"line 7"`` or ``"traceEvents[42]"`` (``None`` when the problem
    is the file as a whole), ``problem`` what is wrong.
    """

    code = "trace_format"

    def __init__(self, source: str, position: str | None, problem: str) -> None:
        where = f"{source}" + (f" at {position}" if position else "")
        super().__init__(f"{where}: {problem}")
        self.source = source
        self.position = position
        self.problem = problem


class ModelError(AssistantError):
    """Raised when a model provider fails: auth, rate limit, overload, bad request, timeout.

    ``code`` is one of ``auth``, ``rate_limited``, ``overloaded``, ``server_error``,
    ``connection``, ``stream_idle_timeout``, ``incomplete_stream``, ``bad_request``,
    ``not_found``, ``model_error``; ``retryable`` says whether trying again may succeed;
    ``status`` is the HTTP status when there was one; ``retry_after`` seconds when the
    provider said.
    """

    code = "model_error"

    def __init__(
        self,
        message: str,
        *,
        code: str = "model_error",
        retryable: bool = False,
        status: int | None = None,
        retry_after: float | None = None,
        request_id: str | None = None,
    ) -> None:
        super().__init__(message, code=code)
        self.retryable = retryable
        self.status = status
        self.retry_after = retry_after
        self.request_id = request_id


class ToolError(AssistantError):
    """Raised by a tool that cannot do what it was asked; becomes an ``is_error`` tool_result."""

    code = "tool_error"


class PathOutsideRootError(ToolError):
    """Raised when a file tool is given a path that resolves outside its root directory."""

    code = "path_outside_root"


class StoreError(AssistantError):
    """Raised when the store (SQLite or Redis) cannot read or write."""

    code = "store_error"


class NotFoundError(StoreError):
    """Raised when a conversation, session, trace or record does not exist for this user."""

    code = "not_found"


class RateLimitError(AssistantError):
    """Raised when a per-user rate limit refuses a request; ``retry_after`` is in seconds."""

    code = "rate_limited"

    def __init__(self, message: str, *, retry_after: float, limit: str = "") -> None:
        super().__init__(message)
        self.retry_after = retry_after
        self.limit = limit


class InputError(AssistantError, ValueError):
    """Raised when user input is refused: a message over the limit, empty, or of the wrong
    shape, or an argument out of its range (also a ``ValueError``)."""

    code = "invalid_input"


class ConfigError(AssistantError, ValueError):
    """Raised when configuration is missing or inconsistent (unknown model prefix, bad URL, a
    limit or timeout out of range, an unknown setting); also a ``ValueError``."""

    code = "config"
