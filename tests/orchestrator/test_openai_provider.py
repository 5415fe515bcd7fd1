"""The OpenAI-compatible provider, driving the real ``openai`` SDK against the local
chat-completions server: history conversion, streaming, tool calls, every fault."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from typing import Any

import anyio
import pytest

from jupyter_assistant.exceptions import ConfigError, ModelError
from jupyter_assistant.orchestrator.providers import (
    MessageDone,
    ModelRequest,
    TextPart,
    ToolUsePart,
    ToolUseStartPart,
)
from jupyter_assistant.orchestrator.providers.openai import OpenAIProvider, to_chat_messages
from jupyter_assistant.testing.openai_server import ChatReply, OpenAIServer

pytestmark = pytest.mark.anyio

TOOLS = [{"name": "probe", "description": "Probe.", "input_schema": {
    "type": "object", "properties": {"seconds": {"type": "number"}}, "required": []}}]


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture
def server() -> Iterator[OpenAIServer]:
    with OpenAIServer() as s:
        yield s


def provider(server: OpenAIServer, idle: float = 5.0) -> OpenAIProvider:
    return OpenAIProvider("local-llama", base_url=server.base_url, stream_idle_timeout=idle,
                          connect_timeout=2.0)


def request(text: str = "hello", **kw: Any) -> ModelRequest:
    return ModelRequest(model="local-llama", messages=[{"role": "user", "content": text}],
                        tools=TOOLS, **kw)


async def collect(p: OpenAIProvider, req: ModelRequest) -> list[Any]:
    parts = []
    try:
        async for part in p.stream(req):
            parts.append(part)
    finally:
        await p.aclose()
    return parts


async def failure(p: OpenAIProvider, req: ModelRequest, within: float = 10.0) -> ModelError:
    t0 = time.monotonic()
    with anyio.fail_after(within), pytest.raises(ModelError) as info:
        await collect(p, req)
    info.value.elapsed = time.monotonic() - t0  # type: ignore[attr-defined]
    return info.value


def test_history_conversion() -> None:
    history = [
        {"role": "user", "content": "why slow?"},
        {"role": "assistant", "content": [
            {"type": "thinking", "thinking": "hmm", "signature": "s"},
            {"type": "text", "text": "Let me look."},
            {"type": "tool_use", "id": "toolu_1", "name": "hotspots", "input": {"n": 3}},
            {"type": "tool_use", "id": "toolu_2", "name": "trace_summary", "input": {}}]},
        {"role": "user", "content": [
            {"type": "tool_result", "tool_use_id": "toolu_1", "content": "| a | 1 |"},
            {"type": "tool_result", "tool_use_id": "toolu_2", "is_error": True,
             "content": [{"type": "text", "text": "no trace"}]}]},
        {"role": "assistant", "content": [{"type": "text", "text": "Done."}]},
    ]
    out = to_chat_messages("be brief", history)
    assert out[0] == {"role": "system", "content": "be brief"}
    assert out[1] == {"role": "user", "content": "why slow?"}
    assert out[2]["content"] == "Let me look."
    assert [c["id"] for c in out[2]["tool_calls"]] == ["toolu_1", "toolu_2"]
    assert json.loads(out[2]["tool_calls"][0]["function"]["arguments"]) == {"n": 3}
    assert out[3] == {"role": "tool", "tool_call_id": "toolu_1", "content": "| a | 1 |"}
    assert out[4] == {"role": "tool", "tool_call_id": "toolu_2", "content": "Error: no trace"}
    assert out[5] == {"role": "assistant", "content": "Done."}
    assert len(out) == 6


async def test_text_stream_usage_and_request_shape(server: OpenAIServer) -> None:
    server.enqueue(ChatReply(text="The hottest slice is aten::mm.", chunks=4,
                             usage={"prompt_tokens": 50, "completion_tokens": 7}))
    parts = await collect(provider(server), request(system="sys", temperature=0.2))
    texts = [p.text for p in parts if isinstance(p, TextPart)]
    assert len(texts) >= 3 and "".join(texts) == "The hottest slice is aten::mm."
    done = parts[-1]
    assert isinstance(done, MessageDone) and done.stop_reason == "end_turn"
    assert (done.usage.input_tokens, done.usage.output_tokens) == (50, 7)
    assert done.model == "local-llama" and done.request_id
    body = server.requests[-1]
    assert body["stream"] is True and body["stream_options"] == {"include_usage": True}
    assert body["messages"][0] == {"role": "system", "content": "sys"}
    assert body["tools"][0]["function"]["name"] == "probe" and body["temperature"] == 0.2
    headers = {k.lower(): v for k, v in body["_headers"].items()}
    assert headers["authorization"] == "Bearer sk-no-key-required"


async def test_tool_calls_arguments_in_fragments(server: OpenAIServer) -> None:
    server.enqueue(ChatReply(text="Checking.", tool_calls=[
        ("probe", {"seconds": 1.5, "label": "a long label that spans fragments"}),
        ("probe", {"seconds": 2})]))
    parts = await collect(provider(server), request())
    starts = [p for p in parts if isinstance(p, ToolUseStartPart)]
    uses = [p for p in parts if isinstance(p, ToolUsePart)]
    assert [s.name for s in starts] == ["probe", "probe"]
    assert [u.id for u in uses] == [s.id for s in starts]
    assert uses[0].input == {"seconds": 1.5, "label": "a long label that spans fragments"}
    assert uses[1].input == {"seconds": 2} and uses[0].input_error is None
    assert isinstance(parts[-1], MessageDone) and parts[-1].stop_reason == "tool_use"


async def test_malformed_arguments_and_finish_reasons(server: OpenAIServer) -> None:
    server.enqueue(ChatReply(tool_calls=[("probe", '{"seconds": 1,,')]),
                   ChatReply(text="cut", finish_reason="length"),
                   ChatReply(tool_calls=[("probe", {})], finish_reason="stop"))
    p = provider(server)
    bad = next(x for x in await collect(p, request()) if isinstance(x, ToolUsePart))
    assert bad.input == {} and "not valid JSON" in (bad.input_error or "")
    assert (await collect(p, request()))[-1].stop_reason == "max_tokens"
    assert (await collect(p, request()))[-1].stop_reason == "tool_use"  # Ollama-style "stop"


@pytest.mark.parametrize(("reply", "code", "retryable", "retry_after"), [
    (ChatReply.error(429, retry_after=2), "rate_limited", True, 2.0),
    (ChatReply.error(429, retry_after_ms=250), "rate_limited", True, 0.25),
    (ChatReply.error(500), "server_error", True, None),
    (ChatReply.error(503), "overloaded", True, None),
    (ChatReply.error(401), "auth", False, None),
    (ChatReply.error(404), "not_found", False, None),
    (ChatReply.error(400), "bad_request", False, None),
])
async def test_http_errors(server: OpenAIServer, reply: ChatReply, code: str, retryable: bool,
                           retry_after: float | None) -> None:
    server.enqueue(reply)
    err = await failure(provider(server), request())
    assert (err.code, err.retryable, err.status) == (code, retryable, reply.status)
    assert err.retry_after == retry_after
    assert len(server.requests) == 1  # the SDK did not retry by itself


async def test_stall_is_a_stream_idle_timeout(server: OpenAIServer) -> None:
    server.enqueue(ChatReply(text="one two three four", chunks=4, stall_after=3))
    err = await failure(provider(server, idle=0.5), request(), within=5)
    assert err.code == "stream_idle_timeout" and not err.retryable  # text was already out
    assert err.elapsed < 3  # type: ignore[attr-defined]


async def test_stall_before_output_is_retryable(server: OpenAIServer) -> None:
    server.enqueue(ChatReply(text="x", stall_after=0))
    err = await failure(provider(server, idle=0.5), request(), within=5)
    assert err.code == "stream_idle_timeout" and err.retryable


async def test_drop_truncate_and_midstream_error(server: OpenAIServer) -> None:
    p = provider(server)
    server.enqueue(ChatReply(text="a b c d e", drop_after=3))
    assert (await failure(p, request())).code == "connection"
    server.enqueue(ChatReply(text="a b c d e", truncate_after=3))
    err = await failure(p, request())
    assert err.code == "incomplete_stream" and not err.retryable
    server.enqueue(ChatReply(text="a b c d e", error_after=3, stream_error_type="server_error"))
    err = await failure(p, request())
    assert err.code == "server_error" and "scripted server_error" in err.message


async def test_directives_drive_faults(server: OpenAIServer) -> None:
    err = await failure(provider(server), request("go [[error status=429 retry_after=1]]"))
    assert err.code == "rate_limited" and err.retry_after == 1.0
    err = await failure(provider(server), request("[[truncate after=0]]"))
    assert err.code == "incomplete_stream" and err.retryable  # nothing was output


async def test_unreachable_server_and_missing_model() -> None:
    p = OpenAIProvider("m", base_url="http://127.0.0.1:9/v1", connect_timeout=2.0)
    err = await failure(p, request())
    assert err.code == "connection" and err.retryable
    with pytest.raises(ConfigError):
        OpenAIProvider("")
