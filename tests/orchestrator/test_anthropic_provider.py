"""AnthropicProvider over the real SDK against the local server: stream parts, error codes,
idle timeout, incomplete streams, malformed tool JSON, secrets."""

from __future__ import annotations

import socket
import time
from typing import Any

import pytest
from orch_helpers import TEST_KEY

from jupyter_assistant import ModelError
from jupyter_assistant.config import DEFAULT_ANTHROPIC_MODEL, AssistantConfig
from jupyter_assistant.orchestrator.providers import (
    MessageDone,
    ModelRequest,
    TextPart,
    ToolUsePart,
    ToolUseStartPart,
    create_provider,
)
from jupyter_assistant.orchestrator.providers.anthropic import (
    AnthropicProvider,
    parse_retry_after,
)
from jupyter_assistant.testing import AnthropicServer, Reply

pytestmark = [pytest.mark.anyio, pytest.mark.timeout(30)]


def request(text: str = "hi", **kw: Any) -> ModelRequest:
    return ModelRequest(model="claude-sonnet-5-5", messages=[
        {"role": "user", "content": [{"type": "text", "text": text}]}], **kw)


async def run(provider: AnthropicProvider, req: ModelRequest | None = None) -> list[Any]:
    parts = []
    try:
        async for part in provider.stream(req or request()):
            parts.append(part)
    finally:
        await provider.aclose()
    return parts


async def fail(provider: AnthropicProvider, req: ModelRequest | None = None
               ) -> tuple[ModelError, list[Any]]:
    parts: list[Any] = []
    with pytest.raises(ModelError) as info:
        try:
            async for part in provider.stream(req or request()):
                parts.append(part)
        finally:
            await provider.aclose()
    return info.value, parts


async def test_text_and_tool_parts(server: AnthropicServer) -> None:
    server.script(Reply.tool_uses([("probe", {"a": [1, 2]}), ("probe", {})], text="Checking."))
    parts = await run(AnthropicProvider(stream_idle_timeout=2))
    text = "".join(p.text for p in parts if isinstance(p, TextPart))
    assert text == "Checking."
    starts = [p for p in parts if isinstance(p, ToolUseStartPart)]
    uses = [p for p in parts if isinstance(p, ToolUsePart)]
    assert [u.input for u in uses] == [{"a": [1, 2]}, {}]
    assert [s.id for s in starts] == [u.id for u in uses]
    done = parts[-1]
    assert isinstance(done, MessageDone) and done.stop_reason == "tool_use"
    assert done.request_id and done.request_id.startswith("req_")
    assert done.model == "claude-sonnet-5-5"
    assert done.usage.input_tokens > 0 and done.usage.output_tokens > 0
    assert done.content is not None
    assert [b["type"] for b in done.content] == ["text", "tool_use", "tool_use"]


async def test_thinking_blocks_are_kept_for_the_history(server: AnthropicServer) -> None:
    server.script(Reply(blocks=[{"type": "thinking", "thinking": "let me see", "signature": "s1"},
                                {"type": "text", "text": "answer"}]))
    parts = await run(AnthropicProvider())
    assert [p.text for p in parts if isinstance(p, TextPart)] == ["answer"]
    assert parts[-1].content[0] == {"type": "thinking", "thinking": "let me see",
                                    "signature": "s1"}


async def test_request_shape_and_no_secret_in_repr(server: AnthropicServer) -> None:
    server.script(Reply.text("ok"))
    provider = AnthropicProvider()
    assert TEST_KEY not in repr(provider) and TEST_KEY not in repr(vars(provider))
    await run(provider, request(system="be brief", tools=[{
        "name": "t", "description": "d", "input_schema": {"type": "object"}}]))
    (rec,) = server.requests
    assert rec.api_key_sent and rec.headers.get("authorization") == "<redacted>"
    assert rec.body["system"] == "be brief" and rec.body["tools"][0]["name"] == "t"
    assert "temperature" not in rec.body  # sampling parameters are sent only when set
    assert rec.headers["x-stainless-retry-count"] == "0"
    assert all(TEST_KEY not in line for line in server.access_log)


@pytest.mark.parametrize(("reply", "code", "retryable", "status"), [
    (Reply.error(401), "auth", False, 401),
    (Reply.error(403), "auth", False, 403),
    (Reply.error(400, message="max_tokens: too large"), "bad_request", False, 400),
    (Reply.error(429, retry_after_ms=1500), "rate_limited", True, 429),
    (Reply.error(529), "overloaded", True, 529),
    (Reply.error(500), "server_error", True, 500),
    (Reply.error(503, "api_error"), "server_error", True, 503),
])
async def test_http_errors_map_to_codes(server: AnthropicServer, reply: Reply, code: str,
                                        retryable: bool, status: int) -> None:
    server.script(reply)
    err, parts = await fail(AnthropicProvider())
    assert (err.code, err.retryable, err.status) == (code, retryable, status)
    assert err.request_id and err.request_id.startswith("req_")
    assert parts == []
    if status == 429:
        assert err.retry_after == pytest.approx(1.5)


async def test_unknown_model_is_not_found(server: AnthropicServer) -> None:
    err, _ = await fail(AnthropicProvider("gpt-9"), ModelRequest(
        model="gpt-9", messages=[{"role": "user", "content": "hi"}]))
    assert err.code == "not_found" and "gpt-9" in err.message


async def test_wrong_key_is_auth(server: AnthropicServer) -> None:
    server.api_key = "the-right-key"
    err, _ = await fail(AnthropicProvider())
    assert err.code == "auth" and "ANTHROPIC_API_KEY" in err.message
    assert TEST_KEY not in str(err)


async def test_retry_after_seconds_header(server: AnthropicServer) -> None:
    server.script(Reply.error(529, retry_after=3))
    err, _ = await fail(AnthropicProvider())
    assert err.code == "overloaded" and err.retry_after == 3


def test_parse_retry_after() -> None:
    assert parse_retry_after({"retry-after-ms": "250", "retry-after": "9"}) == 0.25
    assert parse_retry_after({"retry-after": "2"}) == 2.0
    assert parse_retry_after({"retry-after": "Wed, 21 Oct 2015 07:28:00 GMT"}) == 0.0
    assert parse_retry_after({"retry-after": "soon"}) is None
    assert parse_retry_after({}) is None and parse_retry_after(None) is None


async def test_connection_refused_is_connection(monkeypatch: pytest.MonkeyPatch) -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    monkeypatch.setenv("ANTHROPIC_API_KEY", TEST_KEY)
    err, _ = await fail(AnthropicProvider(base_url=f"http://127.0.0.1:{port}"))
    assert err.code == "connection" and err.retryable


async def test_drop_before_output_is_connection(server: AnthropicServer) -> None:
    server.script(Reply.text("never", drop_after=0))
    err, parts = await fail(AnthropicProvider())
    assert err.code == "connection" and err.retryable and parts == []


async def test_drop_mid_stream_is_connection(server: AnthropicServer) -> None:
    server.script(Reply.text("one two three four five", drop_after=5))
    err, parts = await fail(AnthropicProvider())
    assert err.code == "connection" and err.retryable
    assert any(isinstance(p, TextPart) for p in parts)


@pytest.mark.parametrize(("after", "retryable"), [(2, True), (5, False)])
async def test_stall_is_stream_idle_timeout(server: AnthropicServer, after: int,
                                            retryable: bool) -> None:
    server.script(Reply.text("one two three four", stall_after=after, stall_seconds=10))
    t0 = time.perf_counter()
    err, parts = await fail(AnthropicProvider(stream_idle_timeout=0.5))
    assert time.perf_counter() - t0 < 2.0
    assert err.code == "stream_idle_timeout" and err.retryable is retryable
    assert any(isinstance(p, TextPart) for p in parts) is not retryable


async def test_pings_keep_a_slow_stream_alive(server: AnthropicServer) -> None:
    server.script(Reply.text("thought hard", stall_after=3, stall_seconds=1.2, stall_ping=0.2))
    parts = await run(AnthropicProvider(stream_idle_timeout=0.5))
    assert "".join(p.text for p in parts if isinstance(p, TextPart)) == "thought hard"


@pytest.mark.parametrize(("after", "retryable"), [(2, True), (5, False)])
async def test_truncated_stream_is_incomplete(server: AnthropicServer, after: int,
                                              retryable: bool) -> None:
    server.script(Reply.text("one two three four", truncate_after=after))
    err, _ = await fail(AnthropicProvider())
    assert err.code == "incomplete_stream" and err.retryable is retryable


async def test_mid_stream_overloaded_error_event(server: AnthropicServer) -> None:
    server.script(Reply.text("one two three four", error_after=5))
    err, parts = await fail(AnthropicProvider())
    assert err.code == "overloaded" and err.retryable and err.status is None
    assert err.request_id
    assert [p.text for p in parts if isinstance(p, TextPart)] == ["one ", "two "]


async def test_malformed_tool_json_is_reported_on_the_part(server: AnthropicServer) -> None:
    server.script(Reply.malformed_tool_json("probe", '{"seconds": 1,,'))
    parts = await run(AnthropicProvider())
    (use,) = [p for p in parts if isinstance(p, ToolUsePart)]
    assert use.input == {} and "not valid JSON" in (use.input_error or "")
    assert parts[-1].content[0]["input"] == {}
    server.script(Reply.malformed_tool_json("probe", "[1, 2]"))
    parts = await run(AnthropicProvider())
    (use,) = [p for p in parts if isinstance(p, ToolUsePart)]
    assert "must be a JSON object" in (use.input_error or "")


async def test_registry_and_defaults(server: AnthropicServer) -> None:
    provider = create_provider("anthropic", config=AssistantConfig(stream_idle_timeout=7))
    assert isinstance(provider, AnthropicProvider)
    assert provider.model == DEFAULT_ANTHROPIC_MODEL and provider.stream_idle_timeout == 7
    assert provider.spec == f"anthropic:{DEFAULT_ANTHROPIC_MODEL}"
    price = provider.price()
    assert price is not None and price.input == 2.0 and price.output == 10.0
    assert create_provider("anthropic:claude-haiku-4-5-20251001").price() is not None
