"""Claude through the official ``anthropic`` SDK, streaming.

:class:`AnthropicProvider` sends one Messages API request with ``stream: true`` through
``AsyncAnthropic.messages.create`` and reads the raw server-sent events with the SDK's own
SSE decoder (``AsyncStream.raw_events``; plain JSON, no per-event model objects). The stream
idle timeout is the HTTP read timeout: it fires when no byte arrives for
``stream_idle_timeout`` s, while waiting for the response or mid-stream, so keep-alive
``ping`` events count as signs of life. The SDK's retries are off (``max_retries=0``): the
turn loop retries, and only before any output was shown.

Credentials and endpoint come from the arguments, else from ``ANTHROPIC_API_KEY`` (or
``ANTHROPIC_AUTH_TOKEN``) and ``ANTHROPIC_BASE_URL``, as the SDK reads them. The key is held
only by the SDK client: it is never logged, never put in a :class:`ModelRequest`, and never
stored in telemetry.

Errors become :class:`~jupyter_assistant.exceptions.ModelError` with these codes (the
streaming protocol and error types are those of
https://platform.claude.com/docs/en/build-with-claude/streaming and
https://platform.claude.com/docs/en/api/errors):

=====================  ====================================================  ==========
code                   cause                                                 retryable
=====================  ====================================================  ==========
auth                   401 ``authentication_error``, 403 ``permission_error``,  no
                       no credentials (:data:`NO_KEY_MESSAGE`: how to set the key
                       or run offline; no request is sent)
rate_limited           429 ``rate_limit_error`` (``retry_after`` from           yes (no for
                       ``retry-after-ms`` / ``retry-after``)                  spend limits)
overloaded             529 or an in-stream ``overloaded_error``               yes
server_error           other 5xx, ``api_error``                               yes
connection             connect failure, connection dropped                    yes
stream_idle_timeout    no event for ``stream_idle_timeout`` s                 if nothing was
                                                                             output yet
incomplete_stream      the stream ended without ``message_stop``             if nothing was
                                                                             output yet
bad_request            400/413/422 ``invalid_request_error``                  no
not_found              404 ``not_found_error`` (unknown model)                no
=====================  ====================================================  ==========
"""

from __future__ import annotations

import email.utils
import json
import logging
import os
import time
from collections.abc import AsyncIterator, Mapping
from typing import Any

import anthropic
import anyio
import anyio.lowlevel
import anyio.to_thread
import httpx2
from anthropic import AsyncStream

from ...config import DEFAULT_ANTHROPIC_MODEL, AssistantConfig
from ...exceptions import ModelError
from ..pricing import price_for
from ._base import (
    MessageDone,
    ModelPrice,
    ModelProvider,
    ModelRequest,
    StreamPart,
    TextPart,
    ToolUseStartPart,
    Usage,
    tool_use_from_json,
)
from ._client import LoopBoundClient

__all__ = ["NO_KEY_MESSAGE", "AnthropicProvider", "map_anthropic_error", "parse_retry_after"]

log = logging.getLogger(__name__)

#: The ``auth`` error of a turn when no credentials are configured at all.
NO_KEY_MESSAGE = (
    "No Anthropic API key: ANTHROPIC_API_KEY is not set (nor ANTHROPIC_AUTH_TOKEN or an "
    "Anthropic profile). Set it in the environment of this process, e.g. "
    "`export ANTHROPIC_API_KEY=sk-ant-...` (keys: https://platform.claude.com/settings/keys), "
    "or run without a language model: `--model offline` on the command line, "
    "`c.AssistantConfig.model = \"offline\"` in Jupyter.")

_SPEND_LIMIT_CODES = frozenset({"enforced_spend_limit_reached", "contract_spend_limit_reached",
                                "linked_organization_spend_limit_reached"})


def parse_retry_after(headers: Mapping[str, str] | None) -> float | None:
    """Seconds to wait from ``retry-after-ms`` (milliseconds, preferred) or ``retry-after``
    (seconds, or an HTTP date); ``None`` when absent or unparsable."""
    if not headers:
        return None
    ms = headers.get("retry-after-ms")
    if ms is not None:
        try:
            return max(0.0, float(ms) / 1000.0)
        except ValueError:
            pass
    value = headers.get("retry-after")
    if value is None:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        parsed = email.utils.parsedate_tz(value)
        if parsed is None:
            return None
        return max(0.0, float(email.utils.mktime_tz(parsed) - time.time()))


def map_anthropic_error(exc: BaseException, *, output_started: bool = False) -> ModelError:
    """Translate an ``anthropic`` SDK or ``httpx2`` exception into a :class:`ModelError`
    (see the module docstring for the codes)."""
    if isinstance(exc, ModelError):
        return exc
    if isinstance(exc, anthropic.APIStatusError):
        return _map_status_error(exc)
    if isinstance(exc, anthropic.APITimeoutError):
        if isinstance(exc.__cause__, httpx2.ReadTimeout):
            return ModelError("The Anthropic API sent no response within the stream idle "
                              "timeout.", code="stream_idle_timeout", retryable=True)
        return ModelError("The request to the Anthropic API timed out.", code="connection",
                          retryable=True)
    if isinstance(exc, anthropic.APIConnectionError):
        cause = exc.__cause__ or exc.__context__
        detail = f" ({type(cause).__name__}: {cause})" if cause else ""
        return ModelError(f"Could not reach the Anthropic API: {exc.message}{detail}",
                          code="connection", retryable=True)
    if isinstance(exc, anthropic.CredentialsError):
        return ModelError(f"No usable Anthropic credentials: {exc}. Set ANTHROPIC_API_KEY.",
                          code="auth")
    if isinstance(exc, TypeError) and "authentication method" in str(exc):
        return ModelError(NO_KEY_MESSAGE, code="auth")  # the SDK's "Could not resolve ..."
    if isinstance(exc, httpx2.TimeoutException):
        return ModelError("The Anthropic stream sent nothing for the stream idle timeout "
                          "(no event, not even a ping).", code="stream_idle_timeout",
                          retryable=not output_started)
    if isinstance(exc, httpx2.TransportError):
        return ModelError(f"The connection to the Anthropic API was lost mid-stream "
                          f"({type(exc).__name__}: {exc}).", code="connection", retryable=True)
    return ModelError(f"Anthropic provider failed: {type(exc).__name__}: {exc}")


def _map_status_error(exc: Any) -> ModelError:
    status = int(exc.status_code)
    etype = exc.type or ""
    body = exc.body if isinstance(exc.body, dict) else {}
    request_id = exc.request_id or body.get("request_id")
    api_message = exc.api_message or str(exc.message)
    in_stream = status == 200  # an ``event: error`` inside a 200 stream
    headers = None if in_stream else exc.response.headers
    where = "stream error" if in_stream else f"{status}"
    message = f"Anthropic API {where} {etype}: {api_message}".replace("  ", " ")
    kw: dict[str, Any] = {"status": None if in_stream else status, "request_id": request_id}
    if status in (401, 403) or etype in ("authentication_error", "permission_error"):
        return ModelError(f"The Anthropic API refused the credentials ({message}). Check "
                          "ANTHROPIC_API_KEY.", code="auth", **kw)
    if status == 429 or etype == "rate_limit_error":
        if exc.error_code in _SPEND_LIMIT_CODES:
            return ModelError(message + " (spend limit reached; retrying will not help)",
                              code="rate_limited", **kw)
        return ModelError(message, code="rate_limited", retryable=True,
                          retry_after=parse_retry_after(headers), **kw)
    if status == 529 or etype == "overloaded_error":
        return ModelError(message, code="overloaded", retryable=True,
                          retry_after=parse_retry_after(headers), **kw)
    if status == 404 or etype == "not_found_error":
        return ModelError(message, code="not_found", **kw)
    if status in (400, 413, 422) or etype in ("invalid_request_error", "request_too_large"):
        return ModelError(message, code="bad_request", **kw)
    if status >= 500 or status == 408 or etype in ("api_error", "timeout_error"):
        return ModelError(message, code="server_error", retryable=True,
                          retry_after=parse_retry_after(headers), **kw)
    return ModelError(message, code="model_error", retryable=status == 409, **kw)


class AnthropicProvider(ModelProvider):
    """Claude via ``anthropic.AsyncAnthropic`` (streaming Messages API).

    ``model`` defaults to :data:`~jupyter_assistant.config.DEFAULT_ANTHROPIC_MODEL`;
    ``stream_idle_timeout`` (s) aborts a stream that sends no event (pings count);
    ``connect_timeout`` (s) bounds opening the connection. ``config`` supplies defaults for
    all three. ``api_key`` / ``auth_token`` / ``base_url`` default to the environment.
    :meth:`stream` raises :class:`~jupyter_assistant.exceptions.ModelError`.
    """

    name = "anthropic"

    def __init__(
        self,
        model: str | None = None,
        *,
        api_key: str | None = None,
        auth_token: str | None = None,
        base_url: str | None = None,
        stream_idle_timeout: float | None = None,
        connect_timeout: float | None = None,
        config: AssistantConfig | None = None,
    ) -> None:
        cfg = config or AssistantConfig()
        self.model = model or cfg.default_anthropic_model or DEFAULT_ANTHROPIC_MODEL
        self.stream_idle_timeout = float(stream_idle_timeout or cfg.stream_idle_timeout)
        self.connect_timeout = float(connect_timeout or cfg.connect_timeout)
        self._api_key = api_key
        self._auth_token = auth_token
        self.base_url = base_url or os.environ.get("ANTHROPIC_BASE_URL") or None
        self._client = LoopBoundClient(self._make_client)

    def __repr__(self) -> str:
        return (f"AnthropicProvider(model={self.model!r}, base_url={self.base_url!r}, "
                f"stream_idle_timeout={self.stream_idle_timeout})")

    def price(self) -> ModelPrice | None:
        """USD per million tokens of this model from :mod:`..pricing`, or ``None``."""
        return price_for(self.model)

    def _make_client(self) -> Any:
        kwargs: dict[str, Any] = {}
        if self._api_key:
            kwargs["api_key"] = self._api_key
        elif self._auth_token:
            kwargs["auth_token"] = self._auth_token
        return anthropic.AsyncAnthropic(base_url=self.base_url, max_retries=0,
                                        timeout=self._timeout(), **kwargs)

    def _timeout(self) -> httpx2.Timeout:
        # The stream idle timeout is httpx's read timeout: no byte (an SSE event or a
        # keep-alive ping) for that long, while waiting for the response or mid-stream.
        return httpx2.Timeout(connect=self.connect_timeout, read=self.stream_idle_timeout,
                              write=30.0, pool=self.connect_timeout)

    async def aclose(self) -> None:
        """Close the SDK client (its HTTP connections)."""
        await self._client.aclose()

    def _request_kwargs(self, request: ModelRequest) -> dict[str, Any]:
        kwargs: dict[str, Any] = {"model": request.model or self.model,
                                  "max_tokens": request.max_tokens,
                                  "messages": request.messages, "stream": True,
                                  "timeout": self._timeout()}
        if request.system:
            kwargs["system"] = request.system
        if request.tools:
            kwargs["tools"] = request.tools
        if request.temperature is not None:
            kwargs["temperature"] = request.temperature
        return kwargs

    async def stream(self, request: ModelRequest) -> AsyncIterator[StreamPart]:
        """Stream one Messages API call: :class:`TextPart` per ``text_delta``,
        :class:`ToolUseStartPart` / :class:`ToolUsePart` per ``tool_use`` block, and a final
        :class:`MessageDone` at ``message_stop``. Raises :class:`ModelError`."""
        client = await self._client.get()
        if _has_no_credentials(client):  # never send a request that must fail
            raise ModelError(NO_KEY_MESSAGE, code="auth")
        try:
            response_stream = await client.messages.create(**self._request_kwargs(request))
        except Exception as exc:
            raise map_anthropic_error(exc) from exc
        http_response = response_stream.response
        request_id = http_response.headers.get("request-id")
        state = _StreamState(request_id=request_id)
        events = AsyncStream.raw_events(http_response)
        try:
            async for sse in events:
                for part in state.handle(sse.event, sse.data):
                    yield part
                if state.done:
                    return
            raise ModelError("The Anthropic stream ended without message_stop (incomplete "
                             "stream).", code="incomplete_stream",
                             retryable=not state.output_started, request_id=request_id)
        except ModelError:
            raise
        except Exception as exc:
            err = map_anthropic_error(exc, output_started=state.output_started)
            err.request_id = err.request_id or request_id
            raise err from exc
        finally:
            with anyio.move_on_after(1.0, shield=True):
                await events.aclose()  # type: ignore[attr-defined]
                await http_response.aclose()


def _has_no_credentials(client: Any) -> bool:
    """True when the SDK client resolved no credentials at all: no API key, no auth token,
    no credentials provider (profile, workload identity) and no ``Authorization`` header."""
    if getattr(client, "api_key", None) or getattr(client, "auth_token", None):
        return False
    if getattr(client, "credentials", None) is not None:
        return False
    headers = getattr(client, "default_headers", None) or {}
    return not any(str(k).lower() in ("x-api-key", "authorization") for k in headers)


class _StreamState:
    """Accumulates one streamed message from raw SSE ``(event, data)`` pairs."""

    def __init__(self, request_id: str | None) -> None:
        self.request_id = request_id
        self.blocks: dict[int, dict[str, Any]] = {}
        self.json_bufs: dict[int, str] = {}
        self.usage = Usage()
        self.stop_reason = ""
        self.model: str | None = None
        self.output_started = False
        self.done = False

    def handle(self, event: str | None, data: str) -> list[StreamPart]:
        if event is None or event == "ping" or not data:
            return []
        try:
            payload = json.loads(data)
        except ValueError:
            raise ModelError(f"The Anthropic stream sent an unreadable {event!r} event.",
                             code="model_error", request_id=self.request_id) from None
        if event == "error":
            raise _stream_error(payload, self.request_id)
        handler = getattr(self, "_on_" + event, None)
        return handler(payload) if handler else []  # unknown events are ignored (versioning)

    def _on_message_start(self, payload: dict[str, Any]) -> list[StreamPart]:
        message = payload.get("message") or {}
        self.model = message.get("model")
        self._update_usage(message.get("usage") or {})
        return []

    def _on_content_block_start(self, payload: dict[str, Any]) -> list[StreamPart]:
        index, block = int(payload["index"]), dict(payload.get("content_block") or {})
        self.blocks[index] = block
        if block.get("type") == "tool_use":
            block["input"] = {}
            self.json_bufs[index] = ""
            return [ToolUseStartPart(id=block["id"], name=block["name"])]
        if block.get("type") == "text" and block.get("text"):
            self.output_started = True
            return [TextPart(block["text"])]
        return []

    def _on_content_block_delta(self, payload: dict[str, Any]) -> list[StreamPart]:
        index, delta = int(payload["index"]), payload.get("delta") or {}
        block = self.blocks.setdefault(index, {"type": "text", "text": ""})
        kind = delta.get("type")
        if kind == "text_delta":
            block["text"] = block.get("text", "") + delta["text"]
            self.output_started = True
            return [TextPart(delta["text"])]
        if kind == "input_json_delta":
            self.json_bufs[index] = self.json_bufs.get(index, "") + delta["partial_json"]
        elif kind == "thinking_delta":
            block["thinking"] = block.get("thinking", "") + delta["thinking"]
        elif kind == "signature_delta":
            block["signature"] = delta["signature"]
        elif kind == "citations_delta":
            block.setdefault("citations", []).append(delta.get("citation"))
        return []

    def _on_content_block_stop(self, payload: dict[str, Any]) -> list[StreamPart]:
        index = int(payload["index"])
        block = self.blocks.get(index)
        if not block or block.get("type") != "tool_use":
            return []
        part = tool_use_from_json(block["id"], block["name"], self.json_bufs.pop(index, ""))
        block["input"] = part.input
        self.output_started = True
        return [part]

    def _on_message_delta(self, payload: dict[str, Any]) -> list[StreamPart]:
        delta = payload.get("delta") or {}
        if delta.get("stop_reason"):
            self.stop_reason = delta["stop_reason"]
        self._update_usage(payload.get("usage") or {})
        return []

    def _on_message_stop(self, payload: dict[str, Any]) -> list[StreamPart]:
        self.done = True
        content = [self.blocks[i] for i in sorted(self.blocks)]
        content = [b for b in content if not (b.get("type") == "text" and not b.get("text"))]
        return [MessageDone(stop_reason=self.stop_reason or "end_turn", usage=self.usage,
                            request_id=self.request_id, model=self.model, content=content)]

    def _update_usage(self, usage: dict[str, Any]) -> None:
        # message_delta usage counts are cumulative: they overwrite (streaming docs).
        for name in ("input_tokens", "output_tokens", "cache_read_input_tokens",
                     "cache_creation_input_tokens"):
            if usage.get(name) is not None:
                setattr(self.usage, name, int(usage[name]))


def _stream_error(payload: dict[str, Any], request_id: str | None) -> ModelError:
    """ModelError for an in-stream ``event: error`` body ``{"type": "error", "error": ...}``."""
    error = payload.get("error") or {}
    etype = error.get("type") or "api_error"
    text = f"Anthropic API stream error {etype}: {error.get('message', '')}"
    rid = payload.get("request_id") or request_id
    codes = {"overloaded_error": ("overloaded", True), "api_error": ("server_error", True),
             "rate_limit_error": ("rate_limited", True), "timeout_error": ("server_error", True),
             "authentication_error": ("auth", False), "permission_error": ("auth", False),
             "invalid_request_error": ("bad_request", False),
             "not_found_error": ("not_found", False)}
    code, retryable = codes.get(etype, ("model_error", False))
    return ModelError(text, code=code, retryable=retryable, request_id=rid)
