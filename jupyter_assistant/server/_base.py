"""The base of every ``/assistant/api`` handler: auth, JSON errors, body limits, arguments.

Every handler is an ``ExtensionHandlerMixin`` + ``APIHandler`` (so Jupyter's identity
provider authenticates the request and XSRF is checked on unsafe methods when the request is
cookie-authenticated), and every verb carries ``@tornado.web.authenticated`` and
``@authorized`` (resource :data:`AUTH_RESOURCE`).

Errors are JSON: ``{"error": {"code": str, "message": str}}``. Exceptions of the package's
tree map to statuses here (:func:`status_for`); a :class:`RateLimitError` also sets
``Retry-After`` (whole seconds, rounded up).

Request bodies are read in streaming mode and refused past a limit (``max_body_bytes``, or
``max_upload_bytes`` for uploads) with 413, so an oversized body is never buffered whole.
"""

from __future__ import annotations

import math
import re
from http.client import responses
from typing import TYPE_CHECKING, Any, cast

import orjson
from jupyter_server.base.handlers import APIHandler
from jupyter_server.extension.handler import ExtensionHandlerMixin
from tornado import web

from ..exceptions import (
    AssistantError,
    ConfigError,
    InputError,
    ModelError,
    NotFoundError,
    RateLimitError,
    StoreError,
    TraceFormatError,
)
from ..store import MAX_PAGE_VALUE

if TYPE_CHECKING:
    from .app import AssistantApp

__all__ = ["AUTH_RESOURCE", "ID_PATTERN", "AssistantHandler", "check_id", "status_for"]

#: The resource name handed to Jupyter's ``Authorizer.is_authorized`` for every endpoint.
AUTH_RESOURCE = "assistant"

#: Ids accepted in URLs and bodies (conversation, session, request ids): at most 128
#: characters of ``[A-Za-z0-9_.-]``, starting with a letter or digit.
ID_PATTERN = r"[A-Za-z0-9][A-Za-z0-9_.\-]{0,127}"
_ID_RE = re.compile(ID_PATTERN)

#: Bytes past twice a handler's body limit at which tornado cuts the connection.
_BODY_SLACK_BYTES = 64 * 1024

#: Error codes whose status is not the default of their exception class.
_STATUS_BY_CODE = {"payload_too_large": 413, "conflict": 409}


def check_id(value: Any, what: str) -> str:
    """``value`` if it is a well-formed id (:data:`ID_PATTERN`); raises :class:`InputError`."""
    if not isinstance(value, str) or not _ID_RE.fullmatch(value):
        raise InputError(f"{what} must match {ID_PATTERN}", code="invalid_id")
    return value


def status_for(exc: BaseException) -> int:
    """The HTTP status for an exception of the package's tree (500 for anything else)."""
    code = getattr(exc, "code", None)
    if isinstance(exc, AssistantError) and code in _STATUS_BY_CODE:
        return _STATUS_BY_CODE[code]
    if isinstance(exc, NotFoundError):
        return 404
    if isinstance(exc, RateLimitError):
        return 429
    if isinstance(exc, (InputError, TraceFormatError, ConfigError)):
        return 400
    if isinstance(exc, ModelError):
        return 502
    if isinstance(exc, StoreError):
        return 503
    return 500


@web.stream_request_body
class AssistantHandler(ExtensionHandlerMixin, APIHandler):
    """Base handler: services through :attr:`app`, the caller through :attr:`user_id`."""

    auth_resource = AUTH_RESOURCE

    _body: bytearray
    _body_size: int
    _body_over: bool

    @property
    def app(self) -> AssistantApp:
        """The running :class:`~jupyter_assistant.server.app.AssistantApp` (typed)."""
        return cast("AssistantApp", self.extensionapp)

    @property
    def user_id(self) -> str:
        """The store's user id of the authenticated caller (see ``AssistantApp.user_identity``)."""
        return self.app.user_id_for(self.current_user)

    # -- request body -----------------------------------------------------------------------

    @property
    def body_limit(self) -> int:
        """Largest accepted request body, in bytes."""
        return self.app.max_body_bytes

    @property
    def body_limit_trait(self) -> str:
        return "max_body_bytes"

    async def prepare(self) -> None:  # type: ignore[override]
        self._body, self._body_size, self._body_over = bytearray(), 0, False
        await super().prepare()
        if self._finished:
            return
        if self.request.method in ("POST", "PUT", "PATCH", "DELETE"):
            # refuse before reading a body: unauthenticated, or announced too large
            if not self.current_user:
                raise web.HTTPError(403)
            length = self.request.headers.get("Content-Length")
            if length is not None and length.isascii() and length.isdigit() \
                    and int(length) > self.body_limit:
                self._too_large(int(length))
            # tornado's own cap (HTTPServer max_body_size, 100 MB by default) cuts the
            # connection without a response: keep it above ours, so a body over the limit
            # gets our 413, yet bounded, so a body of no announced length cannot stream on
            # forever (it is discarded as it comes, see data_received)
            connection = self.request.connection
            if connection is not None and hasattr(connection, "set_max_body_size"):
                connection.set_max_body_size(2 * self.body_limit + _BODY_SLACK_BYTES)
        await self.app.ready()

    def data_received(self, chunk: bytes) -> None:
        self._body_size += len(chunk)
        if self._body_size > self.body_limit:
            self._body_over = True
            self._body = bytearray()
        elif not self._body_over:
            self._body += chunk

    def _too_large(self, size: int) -> None:
        raise InputError(
            f"request body is {size:,} bytes, over the limit of {self.body_limit:,} bytes "
            f"(c.AssistantApp.{self.body_limit_trait})", code="payload_too_large")

    def body_bytes(self) -> bytes:
        """The request body; raises :class:`InputError` (413) when it was over the limit."""
        if self._body_over:
            self._too_large(self._body_size)
        return bytes(self._body)

    def json_body(self) -> dict[str, Any]:
        """The request body as a JSON object (``{}`` when empty); 400 for anything else."""
        raw = self.body_bytes()
        if not raw.strip():
            return {}
        try:
            value = orjson.loads(raw)
        except orjson.JSONDecodeError as exc:
            raise InputError(f"the request body is not valid JSON ({exc})") from None
        if not isinstance(value, dict):
            raise InputError("the request body must be a JSON object")
        return value

    # -- query arguments --------------------------------------------------------------------

    def int_arg(self, name: str, default: int, *, low: int = 0, high: int | None = None) -> int:
        """Integer query argument ``name`` in ``[low, high]``; 400 when malformed."""
        raw = self.get_query_argument(name, None)
        if raw is None or raw == "":
            return default
        try:
            if not raw.isascii():  # int() also reads "²"-like digits of other scripts
                raise ValueError(raw)
            value = int(raw)
        except ValueError:
            raise InputError(f"query argument {name!r} must be an integer, not "
                             f"{raw[:40]!r}") from None
        if value < low or (high is not None and value > high):
            bound = f"between {low} and {high}" if high is not None else f">= {low}"
            raise InputError(f"query argument {name!r} must be {bound} (got {value})")
        return value

    def float_arg(self, name: str) -> float | None:
        """Optional float query argument ``name`` (e.g. Unix seconds); 400 when malformed."""
        raw = self.get_query_argument(name, None)
        if raw is None or raw == "":
            return None
        try:
            value = float(raw)
        except ValueError:
            raise InputError(f"query argument {name!r} must be a number, not {raw!r}") from None
        if not math.isfinite(value):
            raise InputError(f"query argument {name!r} must be finite")
        return value

    def page_args(self, default_limit: int = 50, max_limit: int = 500) -> tuple[int, int]:
        """``(limit, offset)`` from the query, ``limit`` in ``[1, max_limit]``, ``offset`` in
        ``[0, 2**53 - 1]`` (the store's bound)."""
        return (self.int_arg("limit", default_limit, low=1, high=max_limit),
                self.int_arg("offset", 0, low=0, high=MAX_PAGE_VALUE))

    # -- responses --------------------------------------------------------------------------

    def write_json(self, value: Any, status: int = 200) -> None:
        """Finish with ``value`` as JSON."""
        self.set_status(status)
        self.finish(orjson.dumps(value, option=orjson.OPT_NON_STR_KEYS))

    def write_error(self, status_code: int, **kwargs: Any) -> None:
        """Every error as ``{"error": {"code", "message"}}``; package errors get their status."""
        exc = kwargs["exc_info"][1] if kwargs.get("exc_info") else None
        if isinstance(exc, AssistantError):
            status_code = status_for(exc)
            code, message = exc.code, exc.message
        elif isinstance(exc, web.HTTPError):
            code = _http_code(status_code)
            message = exc.log_message or exc.reason or responses.get(status_code, "error")
            if exc.args:
                try:
                    message = message % exc.args
                except (TypeError, ValueError):
                    pass
        else:
            code, message = "internal_error", "internal server error (see the server log)"
        self.set_status(status_code)
        if isinstance(exc, RateLimitError):
            self.set_header("Retry-After", str(max(1, math.ceil(exc.retry_after))))
        self.set_header("Content-Type", "application/json")
        self.finish(orjson.dumps({"error": {"code": code, "message": message}}))

    def log_exception(self, typ: Any, value: Any, tb: Any) -> None:
        """Expected refusals (the package's errors) are logged in one line, not as a traceback."""
        if isinstance(value, AssistantError) and status_for(value) < 500:
            self.log.info("%s %s -> %s: %s", self.request.method, self.request.path,
                          status_for(value), value.message)
            return
        super().log_exception(typ, value, tb)


def _http_code(status: int) -> str:
    return {400: "invalid_input", 401: "unauthorized", 403: "forbidden", 404: "not_found",
            405: "method_not_allowed", 413: "payload_too_large"}.get(status, f"http_{status}")
