"""Scripted replies of the local Anthropic peer, and the in-message directives.

A :class:`Reply` says what the server answers to one ``POST /v1/messages``: content blocks
(text, ``tool_use``, ``thinking``), pacing, and faults. :func:`directive_reply` builds a
:class:`Reply` from a directive such as ``[[slow_stream chunks=200 delay=0.05]]`` found in
the last user text of the request (see the ``anthropic_server`` module docstring).
"""

from __future__ import annotations

import itertools
import json
import re
import shlex
import threading
from dataclasses import dataclass, field, replace
from typing import Any

__all__ = ["Reply", "directive_reply", "find_directive", "new_id"]

_counter = itertools.count(1)
_counter_lock = threading.Lock()

#: HTTP status -> Anthropic error ``type`` (https://platform.claude.com/docs/en/api/errors).
ERROR_TYPES: dict[int, str] = {
    400: "invalid_request_error", 401: "authentication_error", 403: "permission_error",
    404: "not_found_error", 413: "request_too_large", 429: "rate_limit_error",
    500: "api_error", 504: "timeout_error", 529: "overloaded_error",
}
ERROR_STATUS: dict[str, int] = {v: k for k, v in ERROR_TYPES.items()}


def new_id(prefix: str) -> str:
    """A unique id such as ``toolu_01...``, ``msg_01...``, ``req_01...``."""
    with _counter_lock:
        n = next(_counter)
    return f"{prefix}_01{n:022d}"


@dataclass
class Reply:
    """One scripted answer.

    Content: ``blocks`` are Anthropic content blocks: ``{"type": "text", "text": ...}``,
    ``{"type": "tool_use", "id", "name", "input"}`` (add ``"raw_json"`` to stream that exact,
    possibly malformed, input JSON), ``{"type": "thinking", "thinking", "signature"}``.
    ``stop_reason`` defaults to ``tool_use`` when there is a tool_use block, else ``end_turn``.
    ``usage`` overrides token counts (``input_tokens``, ``output_tokens``,
    ``cache_read_input_tokens``, ``cache_creation_input_tokens``).

    Pacing: text is streamed in ``chunks`` deltas (default: one per word), with ``delay`` s
    between events and ``first_delay`` s before ``message_start``.

    Faults (event counts start at 1 with ``message_start``; a ``ping`` follows it):
    ``status`` (non-200: an error body with ``error_type``, ``message``, ``retry_after`` s and
    ``retry_after_ms`` headers); ``drop_after`` (close the TCP connection after that many
    events; 0 = before any response); ``stall_after`` + ``stall_seconds`` (stop sending, with
    a ``ping`` every ``stall_ping`` s if set); ``truncate_after`` (end the body cleanly after
    that many events, without ``message_stop``); ``error_after`` + ``stream_error_type``
    (an ``event: error`` mid-stream, then end).
    """

    blocks: list[dict[str, Any]] = field(default_factory=list)
    stop_reason: str | None = None
    usage: dict[str, int] = field(default_factory=dict)
    chunks: int | None = None
    delay: float = 0.0
    first_delay: float = 0.0
    status: int = 200
    error_type: str | None = None
    message: str | None = None
    retry_after: float | None = None
    retry_after_ms: float | None = None
    drop_after: int | None = None
    stall_after: int | None = None
    stall_seconds: float = 30.0
    stall_ping: float | None = None
    truncate_after: int | None = None
    error_after: int | None = None
    stream_error_type: str = "overloaded_error"

    # -- constructors -------------------------------------------------------------------
    @classmethod
    def text(cls, text: str, **options: Any) -> Reply:
        """A text answer (``end_turn``)."""
        return cls(blocks=[{"type": "text", "text": text}], **options)

    @classmethod
    def tool_use(cls, name: str, input: dict[str, Any] | None = None, *, text: str | None = None,
                 id: str | None = None, **options: Any) -> Reply:
        """One ``tool_use`` block (after optional ``text``); ``stop_reason`` ``tool_use``."""
        return cls.tool_uses([(name, input or {})], text=text, ids=[id] if id else None,
                             **options)

    @classmethod
    def tool_uses(cls, calls: list[tuple[str, dict[str, Any]]], *, text: str | None = None,
                  ids: list[str] | None = None, **options: Any) -> Reply:
        """Several ``tool_use`` blocks in one response (they run in parallel)."""
        blocks: list[dict[str, Any]] = [{"type": "text", "text": text}] if text else []
        for i, (name, args) in enumerate(calls):
            tid = ids[i] if ids and i < len(ids) else new_id("toolu")
            blocks.append({"type": "tool_use", "id": tid, "name": name, "input": dict(args)})
        return cls(blocks=blocks, **options)

    @classmethod
    def malformed_tool_json(cls, name: str, raw_json: str = '{"seconds": 1,,', **options: Any
                            ) -> Reply:
        """A ``tool_use`` block whose streamed input JSON does not parse."""
        return cls(blocks=[{"type": "tool_use", "id": new_id("toolu"), "name": name,
                            "input": {}, "raw_json": raw_json}], **options)

    @classmethod
    def error(cls, status: int, error_type: str | None = None, message: str | None = None, *,
              retry_after: float | None = None, retry_after_ms: float | None = None) -> Reply:
        """An HTTP error response with an Anthropic error body."""
        return cls(status=status, error_type=error_type or ERROR_TYPES.get(status, "api_error"),
                   message=message, retry_after=retry_after, retry_after_ms=retry_after_ms)

    def with_options(self, **options: Any) -> Reply:
        """A copy with ``options`` changed."""
        return replace(self, **options)

    # -- derived ------------------------------------------------------------------------
    @property
    def final_stop_reason(self) -> str:
        if self.stop_reason:
            return self.stop_reason
        return "tool_use" if any(b["type"] == "tool_use" for b in self.blocks) else "end_turn"

    def error_body(self, request_id: str) -> dict[str, Any]:
        etype = self.error_type or ERROR_TYPES.get(self.status, "api_error")
        default = {"overloaded_error": "Overloaded", "rate_limit_error":
                   "Number of request tokens has exceeded your per-minute rate limit",
                   "authentication_error": "invalid x-api-key"}.get(etype, "Internal server error")
        return {"type": "error", "error": {"type": etype, "message": self.message or default},
                "request_id": request_id}


# -- directives -------------------------------------------------------------------------

_DIRECTIVE = re.compile(r"\[\[(\w+)([^\]]*)\]\]")


def _last_user_text(messages: list[dict[str, Any]]) -> str:
    for message in reversed(messages):
        if message.get("role") != "user":
            continue
        content = message.get("content")
        if isinstance(content, str):
            return content
        texts = [b.get("text", "") for b in content or [] if b.get("type") == "text"]
        if texts:
            return "\n".join(texts)
    return ""


def find_directive(body: dict[str, Any]) -> tuple[str, dict[str, str], str] | None:
    """``(name, params, raw)`` of the first ``[[name k=v ...]]`` in the last user text."""
    text = _last_user_text(body.get("messages") or [])
    m = _DIRECTIVE.search(text)
    if not m:
        return None
    params: dict[str, str] = {}
    for token in shlex.split(m.group(2)):
        key, _, value = token.partition("=")
        params[key] = value
    return m.group(1), params, m.group(0)


def _tool_results(body: dict[str, Any]) -> list[dict[str, Any]]:
    messages = body.get("messages") or []
    last = messages[-1] if messages else {}
    content = last.get("content") if last.get("role") == "user" else None
    if not isinstance(content, list):
        return []
    return [b for b in content if b.get("type") == "tool_result"]


def _default_tool(body: dict[str, Any], params: dict[str, str]) -> tuple[str, dict[str, Any]]:
    name = params.get("tool") or next((t["name"] for t in body.get("tools") or []), "probe")
    return name, json.loads(params["input"]) if params.get("input") else {}


def summarize_results(results: list[dict[str, Any]]) -> str:
    """A text answer built from ``tool_result`` blocks (what a model would say)."""
    parts = []
    for r in results:
        content = r.get("content")
        if isinstance(content, list):
            content = " ".join(b.get("text", "") for b in content if isinstance(b, dict))
        flag = " (error)" if r.get("is_error") else ""
        parts.append(f"{r.get('tool_use_id')}{flag}: {str(content)[:200]}")
    return "Tool results received. " + " | ".join(parts)


def default_reply(body: dict[str, Any]) -> Reply:
    """No directive: summarise tool_results if the last message has them, else echo."""
    results = _tool_results(body)
    if results:
        return Reply.text(summarize_results(results))
    user = _last_user_text(body.get("messages") or []) or "(empty)"
    return Reply.text(f"You said: {user[:500]}")


def directive_reply(body: dict[str, Any], count: int) -> Reply:
    """The reply a directive asks for; ``count`` is how many times this exact directive was
    seen before (for ``times=N`` faults). Without a directive, :func:`default_reply`."""
    found = find_directive(body)
    if found is None:
        return default_reply(body)
    name, p, _raw = found
    results = _tool_results(body)
    f = float
    if "times" in p and count >= int(p["times"]):
        return default_reply(body)
    if name == "slow_stream":
        n = int(p.get("chunks", 50))
        return Reply.text(" ".join(f"w{i}" for i in range(n)), chunks=n,
                          delay=f(p.get("delay", 0.05)))
    if name == "tokens":
        n = int(p.get("n", 2000))
        return Reply.text(" ".join(f"t{i}" for i in range(n)), chunks=n,
                          delay=f(p.get("delay", 0)), usage={"output_tokens": n})
    if name in ("tool_then_text", "malformed_tool_json", "parallel_tools"):
        if results:
            return Reply.text(summarize_results(results))
        tool, args = _default_tool(body, p)
        if name == "malformed_tool_json":
            return Reply.malformed_tool_json(tool)
        n = int(p.get("n", 1))
        return Reply.tool_uses([(tool, args)] * n, text=p.get("text"))
    if name == "tools_forever":
        tool, args = _default_tool(body, p)
        return Reply.tool_use(tool, args)
    if name == "error":
        status = int(p.get("status", 529))
        return Reply.error(status, p.get("type"), retry_after=_opt(p, "retry_after"),
                           retry_after_ms=_opt(p, "retry_after_ms"))
    base = default_reply(body).with_options(chunks=int(p.get("chunks", 20)),
                                            delay=f(p.get("delay", 0.01)))
    if name == "stall":
        return base.with_options(stall_after=int(p.get("after", 4)),
                                 stall_seconds=f(p.get("seconds", 30)),
                                 stall_ping=_opt(p, "ping"))
    if name == "drop":
        return base.with_options(drop_after=int(p.get("after", 0)))
    if name == "truncate":
        return base.with_options(truncate_after=int(p.get("after", 4)))
    if name == "midstream_error":
        return base.with_options(error_after=int(p.get("after", 4)),
                                 stream_error_type=p.get("type", "overloaded_error"))
    return default_reply(body)


def _opt(params: dict[str, str], key: str) -> float | None:
    return float(params[key]) if key in params else None
