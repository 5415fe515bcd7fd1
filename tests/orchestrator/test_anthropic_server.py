"""The local Anthropic peer speaks the protocol the real SDK expects: checked with the SDK's
own stream accumulator, error classes, and as a subprocess driven by directives."""

from __future__ import annotations

import json
import subprocess
import sys
import time
import urllib.error
import urllib.request
from typing import Any

import anthropic
import pytest
from orch_helpers import TEST_KEY

from jupyter_assistant.testing import AnthropicServer, Reply
from jupyter_assistant.testing._replies import directive_reply, find_directive
from jupyter_assistant.testing.anthropic_server import validate_body

pytestmark = [pytest.mark.timeout(30)]

MESSAGES = [{"role": "user", "content": "hi"}]


def client(server: AnthropicServer) -> anthropic.AsyncAnthropic:
    return anthropic.AsyncAnthropic(api_key=TEST_KEY, base_url=server.base_url, max_retries=0)


@pytest.mark.anyio
async def test_sdk_accumulates_the_stream(server: AnthropicServer) -> None:
    server.script(Reply.tool_uses([("probe", {"seconds": 1, "tags": ["a", "b"]})],
                                  text="Calling probe."))
    async with client(server) as c:
        async with c.messages.stream(model="claude-sonnet-5-5", max_tokens=100,
                                     messages=MESSAGES) as stream:
            kinds = [event.type async for event in stream]
            message = await stream.get_final_message()
    assert kinds[0] == "message_start" and kinds[-1] == "message_stop"
    assert "input_json" in kinds and "text" in kinds
    assert message.stop_reason == "tool_use"
    assert message.content[0].type == "text" and message.content[0].text == "Calling probe."
    block = message.content[1]
    assert block.type == "tool_use" and block.input == {"seconds": 1, "tags": ["a", "b"]}
    assert block.id.startswith("toolu_")
    assert message.usage.input_tokens > 0 and message.usage.output_tokens > 0


@pytest.mark.anyio
async def test_non_streaming_and_errors(server: AnthropicServer) -> None:
    server.script(Reply.text("plain"), Reply.error(429, retry_after=1, retry_after_ms=900),
                  Reply.error(529))
    async with client(server) as c:
        message = await c.messages.create(model="claude-sonnet-5-5", max_tokens=10,
                                          messages=MESSAGES)
        assert message.content[0].text == "plain" and message.stop_reason == "end_turn"
        with pytest.raises(anthropic.RateLimitError) as rate:
            await c.messages.create(model="claude-sonnet-5-5", max_tokens=10,
                                    messages=MESSAGES)
        with pytest.raises(anthropic.OverloadedError) as over:
            await c.messages.create(model="claude-sonnet-5-5", max_tokens=10,
                                    messages=MESSAGES, stream=True)
    headers = rate.value.response.headers
    assert headers["retry-after"] == "1" and headers["retry-after-ms"] == "900"
    assert rate.value.type == "rate_limit_error" and rate.value.request_id
    assert rate.value.body["request_id"] == rate.value.request_id
    assert over.value.status_code == 529 and over.value.type == "overloaded_error"


@pytest.mark.anyio
async def test_mid_stream_error_event_raises_in_the_sdk(server: AnthropicServer) -> None:
    server.script(Reply.text("a b c d e", error_after=4))
    async with client(server) as c:
        stream = await c.messages.create(model="claude-sonnet-5-5", max_tokens=10,
                                         messages=MESSAGES, stream=True)
        with pytest.raises(anthropic.APIStatusError) as info:
            async for _ in stream:
                pass
    assert info.value.type == "overloaded_error"


@pytest.mark.anyio
async def test_request_validation(server: AnthropicServer) -> None:
    async with client(server) as c:
        with pytest.raises(anthropic.BadRequestError, match="tool_result"):
            await c.messages.create(model="claude-sonnet-5-5", max_tokens=10, messages=[
                {"role": "user", "content": "q"},
                {"role": "assistant", "content": [{"type": "tool_use", "id": "toolu_1",
                                                   "name": "t", "input": {}}]},
                {"role": "user", "content": "no result"}])
        with pytest.raises(anthropic.NotFoundError):
            await c.messages.create(model="gpt-4o", max_tokens=10, messages=MESSAGES)
    server.api_key = "right"
    async with client(server) as c:
        with pytest.raises(anthropic.AuthenticationError):
            await c.messages.create(model="claude-sonnet-5-5", max_tokens=10,
                                    messages=MESSAGES)
    assert [r.status for r in server.requests] == [400, 404, 401]


@pytest.mark.parametrize(("messages", "problem"), [
    ([], "messages"),
    ([{"role": "assistant", "content": "x"}], "first message"),
    ([{"role": "user", "content": [{"type": "text", "text": ""}]}], "non-empty"),
    ([{"role": "user", "content": []}], "non-empty content"),
    ([{"role": "user", "content": "q"},
      {"role": "assistant", "content": [{"type": "tool_use", "id": "a", "name": "t",
                                         "input": {}}]},
      {"role": "user", "content": [{"type": "text", "text": "x"},
                                   {"type": "tool_result", "tool_use_id": "a"}]}], "first"),
    ([{"role": "user", "content": [{"type": "tool_result", "tool_use_id": "zz"}]}],
     "unexpected `tool_use_id`"),
    ([{"role": "user", "content": "q"},
      {"role": "assistant", "content": [{"type": "tool_use", "id": "a", "name": "t",
                                         "input": {}}]}], "without `tool_result`"),
])
def test_validate_body(messages: list[dict[str, Any]], problem: str) -> None:
    error = validate_body({"model": "claude-x", "max_tokens": 5, "messages": messages})
    assert error is not None and problem in error


def test_directives() -> None:
    def body(text: str, tools: bool = True, results: bool = False) -> dict[str, Any]:
        messages: list[dict[str, Any]] = [{"role": "user", "content": text}]
        if results:
            messages += [{"role": "assistant", "content": [
                {"type": "tool_use", "id": "t1", "name": "probe", "input": {}}]},
                {"role": "user", "content": [{"type": "tool_result", "tool_use_id": "t1",
                                              "content": "42 ms"}]}]
        return {"model": "claude-x", "messages": messages,
                "tools": [{"name": "probe", "input_schema": {}}] if tools else []}

    assert find_directive(body("go [[slow_stream chunks=3 delay=0.5]]"))[:2] == (
        "slow_stream", {"chunks": "3", "delay": "0.5"})
    slow = directive_reply(body("[[slow_stream chunks=3 delay=0.5]]"), 0)
    assert slow.chunks == 3 and slow.delay == 0.5
    first = directive_reply(body("[[tool_then_text input='{\"n\": 1}']]"), 0)
    assert first.blocks[0]["name"] == "probe" and first.blocks[0]["input"] == {"n": 1}
    after = directive_reply(body("[[tool_then_text]]", results=True), 1)
    assert "42 ms" in after.blocks[0]["text"]
    err = directive_reply(body("[[error status=429 retry_after_ms=50 times=1]]"), 0)
    assert err.status == 429 and err.retry_after_ms == 50
    assert directive_reply(body("[[error status=429 times=1]]"), 1).status == 200
    assert directive_reply(body("[[stall after=2 seconds=1]]"), 0).stall_after == 2
    assert directive_reply(body("[[drop]]"), 0).drop_after == 0
    assert directive_reply(body("[[tokens n=20]]"), 0).usage["output_tokens"] == 20
    assert directive_reply(body("hello"), 0).blocks[0]["text"] == "You said: hello"


def _post(url: str, text: str, stream: bool = True) -> tuple[int, bytes]:
    req = urllib.request.Request(url + "/v1/messages", method="POST", data=json.dumps({
        "model": "claude-sonnet-5-5", "max_tokens": 50, "stream": stream,
        "messages": [{"role": "user", "content": text}]}).encode(), headers={
        "x-api-key": "k", "anthropic-version": "2023-06-01", "content-type": "application/json"})
    try:
        with urllib.request.urlopen(req, timeout=10) as resp:
            return resp.status, resp.read()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read()


def test_subprocess_with_directives() -> None:
    with subprocess.Popen([sys.executable, "-m", "jupyter_assistant.testing.anthropic_server",
                           "--port", "0"], stdout=subprocess.PIPE, text=True) as proc:
        try:
            assert proc.stdout is not None
            line = proc.stdout.readline()
            assert line.startswith("listening on http://127.0.0.1:")
            url = line.split()[-1]
            t0 = time.perf_counter()
            status, body = _post(url, "count [[slow_stream chunks=5 delay=0.1]]")
            assert status == 200 and time.perf_counter() - t0 >= 0.4
            events = [ln.split(": ", 1)[1] for ln in body.decode().splitlines()
                      if ln.startswith("event: ")]
            assert events[:2] == ["message_start", "ping"] and events[-1] == "message_stop"
            assert events.count("content_block_delta") == 5
            status, body = _post(url, "[[error status=529]]", stream=False)
            assert status == 529 and json.loads(body)["error"]["type"] == "overloaded_error"
        finally:
            proc.terminate()
            assert proc.wait(timeout=10) == 0
