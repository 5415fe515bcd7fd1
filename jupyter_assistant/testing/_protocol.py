"""The Anthropic Messages API wire format, as the local peer produces and checks it.

:func:`stream_events` turns a :class:`~._replies.Reply` into the server-sent events of
https://platform.claude.com/docs/en/build-with-claude/streaming (``message_start``, ``ping``,
``content_block_start`` / ``content_block_delta`` / ``content_block_stop``, ``message_delta``,
``message_stop``); :func:`validate_body` checks a request the way the real API does.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

from ._replies import Reply, new_id

__all__ = ["sse", "stream_events", "usage_of", "validate_body"]


def validate_body(body: Any) -> str | None:
    """The ``invalid_request_error`` message the real API would give, or ``None``."""
    if not isinstance(body, dict):
        return "request body must be a JSON object"
    if not body.get("model") or not isinstance(body["model"], str):
        return "model: Field required"
    if not isinstance(body.get("max_tokens"), int) or body["max_tokens"] < 1:
        return "max_tokens: Field required"
    messages = body.get("messages")
    if not isinstance(messages, list) or not messages:
        return "messages: Field required"
    if messages[0].get("role") != "user":
        return 'messages: first message must use the "user" role'
    pending: list[str] = []
    for i, message in enumerate(messages):
        role, content = message.get("role"), message.get("content")
        if role not in ("user", "assistant"):
            return f"messages.{i}.role: Input should be 'user' or 'assistant'"
        blocks = [{"type": "text", "text": content}] if isinstance(content, str) else content
        if not isinstance(blocks, list) or not blocks:
            return (f"messages.{i}: all messages must have non-empty content except for the "
                    "optional final assistant message")
        for j, block in enumerate(blocks):
            if block.get("type") == "text" and not block.get("text"):
                return f"messages.{i}.content.{j}.text: text content blocks must be non-empty"
            if block.get("type") == "tool_use" and not isinstance(block.get("input"), dict):
                return f"messages.{i}.content.{j}.tool_use.input: Input should be an object"
        results = [b.get("tool_use_id") for b in blocks if b.get("type") == "tool_result"]
        missing = [t for t in pending if role != "user" or t not in results]
        if missing:
            return (f"messages.{i}: `tool_use` ids were found without `tool_result` blocks "
                    f"immediately after: {', '.join(missing)}. Each `tool_use` block must have "
                    "a corresponding `tool_result` block in the next message.")
        unexpected = [t for t in results if t not in pending]
        if unexpected:
            return (f"messages.{i}: unexpected `tool_use_id` found in `tool_result` blocks: "
                    f"{unexpected[0]}. Each `tool_result` block must have a corresponding "
                    "`tool_use` block in the previous message.")
        kinds = [b.get("type") for b in blocks]
        if results and kinds[:len(results)] != ["tool_result"] * len(results):
            return f"messages.{i}: `tool_result` blocks must come first in the content"
        pending = [b["id"] for b in blocks if b.get("type") == "tool_use"] if role == "assistant" \
            else []
    if pending:
        return (f"messages.{len(messages) - 1}: `tool_use` ids were found without "
                f"`tool_result` blocks immediately after: {', '.join(pending)}.")
    return None


def sse(event: str, data: dict[str, Any]) -> bytes:
    return f"event: {event}\ndata: {json.dumps(data, separators=(',', ':'))}\n\n".encode()


def _split(text: str, chunks: int | None) -> list[str]:
    if chunks is None:
        words = text.split(" ")
        return [w + (" " if i < len(words) - 1 else "") for i, w in enumerate(words)]
    n = max(1, min(chunks, len(text)))
    size, extra = divmod(len(text), n)
    out, pos = [], 0
    for i in range(n):
        step = size + (1 if i < extra else 0)
        out.append(text[pos:pos + step])
        pos += step
    return [c for c in out if c]


def usage_of(body: dict[str, Any], reply: Reply) -> tuple[dict[str, int], int]:
    size = len(json.dumps([body.get("system"), body.get("tools"), body.get("messages")]))
    usage = {"input_tokens": max(1, size // 4), "cache_creation_input_tokens": 0,
             "cache_read_input_tokens": 0}
    words = sum(len(b.get("text", "").split()) + len(json.dumps(b.get("input", ""))) // 4
                for b in reply.blocks)
    output = reply.usage.get("output_tokens", max(1, words))
    usage.update({k: v for k, v in reply.usage.items() if k != "output_tokens"})
    return usage, output


def stream_events(body: dict[str, Any], reply: Reply) -> Iterator[tuple[str, dict[str, Any]]]:
    usage, output_tokens = usage_of(body, reply)
    message = {"id": new_id("msg"), "type": "message", "role": "assistant",
               "model": body["model"], "content": [], "stop_reason": None,
               "stop_sequence": None, "usage": {**usage, "output_tokens": 1}}
    yield "message_start", {"type": "message_start", "message": message}
    yield "ping", {"type": "ping"}
    for index, block in enumerate(reply.blocks):
        kind = block["type"]
        if kind == "text":
            start: dict[str, Any] = {"type": "text", "text": ""}
        elif kind == "tool_use":
            start = {"type": "tool_use", "id": block["id"], "name": block["name"], "input": {}}
        else:
            start = {"type": "thinking", "thinking": "", "signature": ""}
        yield "content_block_start", {"type": "content_block_start", "index": index,
                                      "content_block": start}
        if kind == "text":
            deltas = [{"type": "text_delta", "text": c}
                      for c in _split(block["text"], reply.chunks)]
        elif kind == "tool_use":
            raw = block.get("raw_json") or json.dumps(block["input"])
            cut = max(1, len(raw) // 2)
            pieces = ["", raw[:cut], raw[cut:]]  # the API starts with an empty partial_json
            deltas = [{"type": "input_json_delta", "partial_json": p}
                      for i, p in enumerate(pieces) if p or i == 0]
        else:
            deltas = [{"type": "thinking_delta", "thinking": block.get("thinking", "")},
                      {"type": "signature_delta", "signature": block.get("signature", "sig")}]
        for delta in deltas:
            yield "content_block_delta", {"type": "content_block_delta", "index": index,
                                          "delta": delta}
        yield "content_block_stop", {"type": "content_block_stop", "index": index}
    yield "message_delta", {"type": "message_delta",
                            "delta": {"stop_reason": reply.final_stop_reason,
                                      "stop_sequence": None},
                            "usage": {**usage, "output_tokens": output_tokens}}
    yield "message_stop", {"type": "message_stop"}
