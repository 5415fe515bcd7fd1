"""OpenAI-compatible chat-completions endpoints (OpenAI, vLLM, Ollama, llama.cpp server)
through the official ``openai`` SDK, streaming.

:class:`OpenAIProvider` translates the Anthropic-shape history of a :class:`ModelRequest`
into chat messages (:func:`to_chat_messages`: ``text`` blocks become ``content``,
``tool_use`` blocks become assistant ``tool_calls``, ``tool_result`` blocks become ``tool``
role messages) and the tool definitions into ``{"type": "function", ...}`` tools, sends one
``chat.completions.create(stream=True, stream_options={"include_usage": True})`` and turns
the chunks into stream parts: ``delta.content`` -> :class:`TextPart`; ``delta.tool_calls``
-> :class:`ToolUseStartPart` when a call's name arrives, then one :class:`ToolUsePart` per
call once ``finish_reason`` arrives (the ``function.arguments`` fragments joined and parsed;
malformed JSON sets ``input_error``); then :class:`MessageDone` with ``finish_reason``
mapped to Anthropic's ``stop_reason`` (``stop`` -> ``end_turn``, ``tool_calls`` ->
``tool_use``, ``length`` -> ``max_tokens``, ``content_filter`` -> ``refusal``; a ``stop``
that carries tool calls, as Ollama sends, is ``tool_use``) and the usage of the final chunk.

The SDK's retries are off (``max_retries=0``; the turn loop retries). Every chunk must
arrive within ``stream_idle_timeout`` s. The base URL is the argument, else
``AssistantConfig.openai_base_url``, else ``OPENAI_BASE_URL``; without one the provider is
not built (:class:`ConfigError`, code ``config``, naming both settings). The API key is
the argument, else ``OPENAI_API_KEY``, else a placeholder (local servers need none). Errors
become :class:`~jupyter_assistant.exceptions.ModelError` with the codes of the Anthropic
provider: ``auth`` (401/403), ``rate_limited`` (429, ``retry_after`` from ``retry-after-ms``
/ ``retry-after``), ``overloaded`` (503, 529), ``server_error`` (other 5xx, in-stream server
errors), ``connection`` (connect failure, dropped connection), ``stream_idle_timeout``,
``incomplete_stream`` (the stream ended without ``finish_reason``), ``bad_request``
(400/413/422), ``not_found`` (404: unknown model or wrong base URL).
"""

from __future__ import annotations

import email.utils
import json
import os
import time
from collections.abc import AsyncIterator, Mapping
from typing import Any

import anyio
import anyio.lowlevel

from ...config import AssistantConfig
from ...exceptions import ConfigError, ModelError
from ._base import (
    MessageDone,
    ModelProvider,
    ModelRequest,
    StreamPart,
    TextPart,
    ToolUsePart,
    ToolUseStartPart,
    Usage,
    tool_use_from_json,
)
from ._client import LoopBoundClient

__all__ = ["OpenAIProvider", "map_openai_error", "parse_retry_after", "to_chat_messages",
           "to_chat_tools"]

#: Sent as the API key when none is configured: local servers ignore it.
NO_KEY = "sk-no-key-required"
_FINISH = {"stop": "end_turn", "tool_calls": "tool_use", "function_call": "tool_use",
           "length": "max_tokens", "content_filter": "refusal"}


def parse_retry_after(headers: Mapping[str, str] | None) -> float | None:
    """Seconds to wait from ``retry-after-ms`` (ms, preferred) or ``retry-after`` (seconds or
    an HTTP date); ``None`` when absent or unparsable. (The same rule as the Anthropic
    provider's; kept here so this module does not import the ``anthropic`` SDK.)"""
    if not headers:
        return None
    for key, scale in (("retry-after-ms", 1000.0), ("retry-after", 1.0)):
        value = headers.get(key)
        if value is None:
            continue
        try:
            return max(0.0, float(value) / scale)
        except ValueError:
            parsed = email.utils.parsedate_tz(value) if scale == 1.0 else None
            if parsed is not None:
                return max(0.0, float(email.utils.mktime_tz(parsed) - time.time()))
    return None


def _result_text(block: dict[str, Any]) -> str:
    content = block.get("content")
    if isinstance(content, list):
        content = "\n".join(str(b.get("text", "")) for b in content
                            if isinstance(b, dict) and b.get("type") == "text")
    text = "" if content is None else str(content)
    return f"Error: {text}" if block.get("is_error") else text


def to_chat_messages(system: str, messages: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Anthropic Messages history -> OpenAI chat messages.

    ``system`` becomes a ``system`` message; a user message's ``tool_result`` blocks become
    ``tool`` messages (``tool_call_id``; ``is_error`` results start with ``Error:``) placed
    before its text; an assistant message's ``tool_use`` blocks become ``tool_calls`` with
    JSON ``arguments``. ``thinking`` and other non-text blocks are dropped."""
    out: list[dict[str, Any]] = [{"role": "system", "content": system}] if system else []
    for message in messages:
        role, content = message.get("role"), message.get("content")
        if isinstance(content, str):
            out.append({"role": role, "content": content})
            continue
        blocks = [b for b in content or [] if isinstance(b, dict)]
        text = "".join(str(b.get("text", "")) for b in blocks if b.get("type") == "text")
        if role == "assistant":
            calls = [{"id": b["id"], "type": "function",
                      "function": {"name": b["name"],
                                   "arguments": json.dumps(b.get("input") or {})}}
                     for b in blocks if b.get("type") == "tool_use"]
            msg: dict[str, Any] = {"role": "assistant", "content": text or (None if calls else "")}
            if calls:
                msg["tool_calls"] = calls
            out.append(msg)
            continue
        for b in blocks:
            if b.get("type") == "tool_result":
                out.append({"role": "tool", "tool_call_id": b.get("tool_use_id"),
                            "content": _result_text(b)})
        if text or not any(b.get("type") == "tool_result" for b in blocks):
            out.append({"role": str(role), "content": text})
    return out


def to_chat_tools(tools: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Anthropic tool definitions -> OpenAI ``function`` tools."""
    return [{"type": "function",
             "function": {"name": t["name"], "description": t.get("description", ""),
                          "parameters": t.get("input_schema") or {"type": "object",
                                                                  "properties": {}}}}
            for t in tools]


def _error_kind(status: int | None, etype: str) -> tuple[str, bool]:
    etype = etype.lower()
    if status in (401, 403) or "auth" in etype or "api_key" in etype or "permission" in etype:
        return "auth", False
    if status == 429 or "rate" in etype:
        if "quota" in etype:
            return "rate_limited", False
        return "rate_limited", True
    if status in (503, 529) or "overload" in etype or "unavailable" in etype:
        return "overloaded", True
    if status == 404 or "not_found" in etype:
        return "not_found", False
    if status in (400, 413, 422) or "invalid_request" in etype:
        return "bad_request", False
    if (status is not None and (status >= 500 or status == 408)) or "server" in etype \
            or "internal" in etype or "timeout" in etype:
        return "server_error", True
    return "model_error", status == 409


def map_openai_error(exc: BaseException, *, output_started: bool = False) -> ModelError:
    """Translate an ``openai`` SDK or ``httpx2`` exception into a :class:`ModelError` (codes in
    the module docstring)."""
    import httpx2
    import openai

    if isinstance(exc, ModelError):
        return exc
    if isinstance(exc, openai.APIStatusError):
        body = exc.body if isinstance(exc.body, dict) else {}
        etype = str(body.get("type") or exc.code or "")
        code, retryable = _error_kind(exc.status_code, etype)
        retry_after = parse_retry_after(exc.response.headers) if retryable else None
        return ModelError(f"OpenAI-compatible API {exc.status_code} {etype}: {exc.message}"
                          + (" Check OPENAI_API_KEY." if code == "auth" else ""),
                          code=code, retryable=retryable, status=exc.status_code,
                          retry_after=retry_after, request_id=exc.request_id)
    if isinstance(exc, openai.APITimeoutError):
        return ModelError("The request to the OpenAI-compatible API timed out.",
                          code="connection", retryable=True)
    if isinstance(exc, openai.APIConnectionError):
        cause = exc.__cause__ or exc.__context__
        detail = f" ({type(cause).__name__}: {cause})" if cause else ""
        return ModelError(f"Could not reach the OpenAI-compatible API: {exc.message}{detail}",
                          code="connection", retryable=True)
    if isinstance(exc, openai.APIError):  # a {"error": ...} data line inside the stream
        body = exc.body if isinstance(exc.body, dict) else {}
        etype = str(body.get("type") or body.get("code") or exc.code or "")
        code, retryable = _error_kind(None, etype)
        return ModelError(f"OpenAI-compatible API stream error {etype}: {exc.message}",
                          code=code, retryable=retryable)
    if isinstance(exc, openai.OpenAIError):
        return ModelError(f"OpenAI-compatible provider: {exc}", code="auth")
    if isinstance(exc, httpx2.TimeoutException):
        return ModelError("The OpenAI-compatible stream stopped sending data (read timeout).",
                          code="stream_idle_timeout", retryable=not output_started)
    if isinstance(exc, httpx2.TransportError):
        return ModelError(f"The connection to the OpenAI-compatible API was lost mid-stream "
                          f"({type(exc).__name__}: {exc}).", code="connection", retryable=True)
    if isinstance(exc, ValueError):
        return ModelError(f"The OpenAI-compatible stream sent an unreadable chunk: {exc}",
                          code="model_error")
    return ModelError(f"OpenAI-compatible provider failed: {type(exc).__name__}: {exc}")


class _ToolCall:
    def __init__(self, index: int) -> None:
        self.id = f"call_{index}"
        self.name = ""
        self.arguments = ""
        self.started = False

    def finish(self) -> ToolUsePart:
        return tool_use_from_json(self.id, self.name, self.arguments)


class OpenAIProvider(ModelProvider):
    """A model behind an OpenAI-compatible ``/v1/chat/completions`` endpoint.

    ``model`` is the endpoint's model id (``llama3.1``, ``Qwen/Qwen2.5-7B-Instruct``); the
    other arguments default as the module docstring says. ``price()`` is ``None``: local
    models have no known price. Raises :class:`ConfigError` without a model id or a base
    URL.
    """

    name = "openai"

    def __init__(self, model: str | None = None, *, base_url: str | None = None,
                 api_key: str | None = None, stream_idle_timeout: float | None = None,
                 connect_timeout: float | None = None,
                 config: AssistantConfig | None = None) -> None:
        cfg = config or AssistantConfig()
        if not model:
            raise ConfigError("the openai provider needs a model id: 'openai:<model id>', "
                              "e.g. 'openai:llama3.1'")
        self.model = model
        self.base_url = (base_url or cfg.openai_base_url or os.environ.get("OPENAI_BASE_URL")
                         or None)
        if self.base_url is None:  # the SDK's default (api.openai.com) is rarely meant here
            raise ConfigError(
                f"'openai:{model}' needs the base URL of an OpenAI-compatible endpoint and none "
                "is set: set OPENAI_BASE_URL (e.g. http://localhost:11434/v1 for Ollama, "
                "https://api.openai.com/v1 for OpenAI) or c.AssistantConfig.openai_base_url")
        self._api_key = api_key or os.environ.get("OPENAI_API_KEY") or NO_KEY
        self.stream_idle_timeout = float(stream_idle_timeout or cfg.stream_idle_timeout)
        self.connect_timeout = float(connect_timeout or cfg.connect_timeout)
        self._client = LoopBoundClient(self._make_client)

    def __repr__(self) -> str:
        return (f"OpenAIProvider(model={self.model!r}, base_url={self.base_url!r}, "
                f"stream_idle_timeout={self.stream_idle_timeout})")

    def _make_client(self) -> Any:
        import httpx2
        import openai

        return openai.AsyncOpenAI(
            api_key=self._api_key, base_url=self.base_url, max_retries=0,
            timeout=httpx2.Timeout(connect=self.connect_timeout,
                                   read=self.stream_idle_timeout + 5.0, write=30.0,
                                   pool=self.connect_timeout))

    async def aclose(self) -> None:
        """Close the SDK client (its HTTP connections)."""
        await self._client.aclose()

    def request_kwargs(self, request: ModelRequest) -> dict[str, Any]:
        """The ``chat.completions.create`` keyword arguments for ``request``."""
        kwargs: dict[str, Any] = {
            "model": request.model or self.model,
            "messages": to_chat_messages(request.system, request.messages),
            "max_tokens": request.max_tokens, "stream": True,
            "stream_options": {"include_usage": True}}
        if request.tools:
            kwargs["tools"] = to_chat_tools(request.tools)
        if request.temperature is not None:
            kwargs["temperature"] = request.temperature
        return kwargs

    async def stream(self, request: ModelRequest) -> AsyncIterator[StreamPart]:
        """Stream one chat completion as stream parts (see the module docstring).
        Raises :class:`ModelError`."""
        client = await self._client.get()
        idle = self.stream_idle_timeout
        try:
            with anyio.fail_after(idle + self.connect_timeout):
                chunks = await client.chat.completions.create(**self.request_kwargs(request))
        except TimeoutError:
            raise ModelError(f"The OpenAI-compatible API sent no response within "
                             f"{idle + self.connect_timeout:g} s.",
                             code="stream_idle_timeout", retryable=True) from None
        except Exception as exc:
            raise map_openai_error(exc) from exc
        request_id = chunks.response.headers.get("x-request-id")
        calls: dict[int, _ToolCall] = {}
        usage, finish, model, started = Usage(), "", None, False
        iterator = chunks.__aiter__()
        try:
            while True:
                try:
                    with anyio.fail_after(idle):
                        chunk = await iterator.__anext__()
                except StopAsyncIteration:
                    break
                except TimeoutError:
                    if finish:  # complete answer; only the usage chunk is missing
                        break
                    raise ModelError(f"The OpenAI-compatible stream sent nothing for {idle:g} s "
                                     "(stream idle timeout).", code="stream_idle_timeout",
                                     retryable=not started, request_id=request_id) from None
                model = getattr(chunk, "model", None) or model
                if getattr(chunk, "usage", None):
                    u = chunk.usage
                    details = getattr(u, "prompt_tokens_details", None)
                    cached = int(getattr(details, "cached_tokens", 0) or 0)
                    usage = Usage(input_tokens=int(u.prompt_tokens or 0) - cached,
                                  output_tokens=int(u.completion_tokens or 0),
                                  cache_read_input_tokens=cached)
                for choice in (chunk.choices or [])[:1]:
                    delta = choice.delta
                    if delta is not None and delta.content:
                        started = True
                        yield TextPart(delta.content)
                    for tc in (delta.tool_calls if delta is not None else None) or []:
                        call = calls.setdefault(tc.index, _ToolCall(tc.index))
                        if tc.id:
                            call.id = tc.id
                        if tc.function is not None:
                            call.name += tc.function.name or ""
                            call.arguments += tc.function.arguments or ""
                        if call.name and not call.started:
                            call.started = started = True
                            yield ToolUseStartPart(id=call.id, name=call.name)
                    if choice.finish_reason:
                        finish = choice.finish_reason
                        for index in sorted(calls):
                            yield calls[index].finish()
        except ModelError:
            raise
        except Exception as exc:
            err = map_openai_error(exc, output_started=started)
            err.request_id = err.request_id or request_id
            raise err from exc
        finally:
            with anyio.move_on_after(1.0, shield=True):
                await chunks.close()
        if not finish:
            raise ModelError("The OpenAI-compatible stream ended without a finish_reason "
                             "(incomplete stream).", code="incomplete_stream",
                             retryable=not started, request_id=request_id)
        stop = _FINISH.get(finish, finish)
        if calls and stop == "end_turn":
            stop = "tool_use"
        yield MessageDone(stop_reason=stop, usage=usage, request_id=request_id, model=model)
