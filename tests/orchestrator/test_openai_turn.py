"""Full turns through ``Assistant(model="openai:<id>")`` against the local OpenAI-compatible
server: tools, retries, and every fault ends with the right terminal event in time."""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

import anyio
import pytest
from orch_helpers import check_events, of_type, text_of

from jupyter_assistant import Assistant, tool
from jupyter_assistant.events import Event
from jupyter_assistant.testing.openai_server import OpenAIServer

pytestmark = pytest.mark.anyio


@tool
async def probe(seconds: float = 0.0) -> str:
    """Sleep, then say so."""
    await anyio.sleep(float(seconds))
    return f"slept {seconds}"


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture
def oai(monkeypatch: pytest.MonkeyPatch) -> Iterator[OpenAIServer]:
    with OpenAIServer() as srv:
        monkeypatch.setenv("OPENAI_BASE_URL", srv.base_url)
        monkeypatch.delenv("OPENAI_API_KEY", raising=False)
        yield srv


def assistant(**kwargs: Any) -> Assistant:
    kwargs.setdefault("tools", [probe])
    kwargs.setdefault("include_default_tools", False)
    kwargs.setdefault("turn_deadline", 10)
    kwargs.setdefault("stream_idle_timeout", 1)
    a = Assistant(model="openai:local-llama", **kwargs)
    a.retry = type(a.retry)(max_retries=3, base_delay=0.02, max_delay=0.2)
    return a


async def turn(a: Assistant, message: str, within: float) -> tuple[list[Event], float]:
    t0 = time.monotonic()
    try:
        with anyio.fail_after(within):
            events = [e async for e in a.run(message)]
    finally:
        await a.aclose()
    check_events(events)
    return events, time.monotonic() - t0


async def test_tool_then_text(oai: OpenAIServer) -> None:
    events, _ = await turn(assistant(), "check [[tool_then_text input='{\"seconds\": 0.1}']]", 5)
    assert events[0].data["model"] == "openai:local-llama"
    start = of_type(events, "tool_use_start")[0]
    assert start.data["name"] == "probe" and start.data["input"] == {"seconds": 0.1}
    done = of_type(events, "tool_use_complete")[0]
    assert done.data["is_error"] is False and done.data["content"] == "slept 0.1"
    assert events[-1].type == "message_complete" and events[-1].data["model_calls"] == 2
    assert "slept 0.1" in text_of(events)
    second = oai.requests[1]["messages"]
    assert second[-1]["role"] == "tool" and second[-1]["content"] == "slept 0.1"
    assert second[-2]["tool_calls"][0]["function"]["name"] == "probe"


async def test_parallel_tools_run_at_once(oai: OpenAIServer) -> None:
    events, elapsed = await turn(
        assistant(), "[[parallel_tools n=4 input='{\"seconds\": 0.5}']]", 5)
    assert len(of_type(events, "tool_use_complete")) == 4
    assert events[-1].type == "message_complete" and elapsed < 1.5


async def test_malformed_tool_arguments_become_an_error_result(oai: OpenAIServer) -> None:
    events, _ = await turn(assistant(), "[[malformed_tool_json]]", 5)
    done = of_type(events, "tool_use_complete")[0]
    assert done.data["is_error"] is True
    assert events[-1].type == "message_complete"


async def test_transient_errors_are_retried(oai: OpenAIServer) -> None:
    events, _ = await turn(assistant(), "hi [[error status=429 retry_after=0.1 times=1]]", 5)
    assert events[-1].type == "message_complete" and len(oai.requests) == 2
    events, _ = await turn(assistant(), "hi [[error status=503 times=2]]", 5)
    assert events[-1].type == "message_complete"
    events, _ = await turn(assistant(), "hi [[drop after=0 times=1]]", 5)
    assert events[-1].type == "message_complete"


@pytest.mark.parametrize(("directive", "code", "retryable"), [
    ("[[error status=500]]", "server_error", True),
    ("[[error status=401]]", "auth", False),
    ("[[error status=404]]", "not_found", False),
    ("[[stall after=3 seconds=30]]", "stream_idle_timeout", False),
    ("[[truncate after=3]]", "incomplete_stream", False),
    ("[[midstream_error after=3 type=server_error]]", "server_error", True),
    ("[[drop after=3]]", "connection", True),
])
async def test_faults_end_with_an_error_event(oai: OpenAIServer, directive: str, code: str,
                                              retryable: bool) -> None:
    events, elapsed = await turn(assistant(), f"go {directive}", 8)
    last = events[-1]
    assert last.type == "error", [e.type for e in events]
    assert last.data["code"] == code
    assert elapsed < 6


async def test_tools_forever_hits_the_model_call_limit(oai: OpenAIServer) -> None:
    events, _ = await turn(assistant(max_model_calls=3), "[[tools_forever]]", 8)
    assert events[-1].type in ("error", "message_complete")
    assert len(oai.requests) == 3


async def test_cancel_mid_stream(oai: OpenAIServer) -> None:
    a = assistant(turn_deadline=20, stream_idle_timeout=5)
    events: list[Event] = []

    async def consume() -> None:
        async for e in a.run("[[slow_stream chunks=200 delay=0.05]]"):
            events.append(e)

    with anyio.fail_after(5):
        async with anyio.create_task_group() as tg:
            tg.start_soon(consume)
            while not of_type(events, "text_delta"):
                await anyio.sleep(0.01)
            t0 = time.monotonic()
            assert await a.cancel(events[0].session_id)
    await a.aclose()
    assert events[-1].type == "cancelled" and time.monotonic() - t0 < 1.0
    check_events(events)


async def test_file_edit_needs_approval(oai: OpenAIServer, tmp_path: Any) -> None:
    (tmp_path / "a.py").write_text("x = 1\n")
    directive = ("[[tool_then_text tool=apply_edit "
                 "input='{\"path\": \"a.py\", \"search\": \"x = 1\", \"replace\": \"x = 2\"}']]")
    events, _ = await turn(assistant(include_default_tools=True, root=tmp_path), directive, 8)
    refused = of_type(events, "tool_use_complete")[0]
    assert refused.data["is_error"] is True and (tmp_path / "a.py").read_text() == "x = 1\n"
    events, _ = await turn(assistant(include_default_tools=True, root=tmp_path,
                                     auto_approve=True), directive, 8)
    done = of_type(events, "tool_use_complete")[0]
    assert done.data["is_error"] is False and "+x = 2" in done.data["content"]
    assert (tmp_path / "a.py").read_text() == "x = 2\n"
