"""API keys are sent to the model endpoint and nowhere else: not in any log record (every
logger at DEBUG, the SDKs' and httpx's included), telemetry record (with its request), stored
message or event, nor the exported Chrome trace. Both providers, against the local peers."""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Any

import anyio
import pytest
from orch_helpers import check_events

from jupyter_assistant import Assistant, tool
from jupyter_assistant.testing import AnthropicServer, Reply
from jupyter_assistant.testing.openai_server import ChatReply, OpenAIServer

pytestmark = [pytest.mark.anyio, pytest.mark.timeout(30)]

ANTHROPIC_SECRET = "sk-ant-test-SECRET"
OPENAI_SECRET = "sk-openai-test-SECRET"


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@tool
async def nap(seconds: float) -> str:
    """Sleeps.

    Args:
        seconds: how long (s).
    """
    await anyio.sleep(seconds)
    return "rested"


def _log_text(caplog: pytest.LogCaptureFixture) -> str:
    parts = []
    for record in caplog.records:
        parts.append(record.getMessage())
        parts.append(repr(record.args))
        if record.exc_info:
            parts.append(logging.Formatter().formatException(record.exc_info))
        parts.append(json.dumps(record.__dict__, default=repr))
    return "\n".join(parts)


async def _run_and_dump(assistant: Assistant, tmp_path: Path) -> tuple[list[Any], str]:
    """Two turns (one with a retry and a tool call), a replay and a Chrome trace export;
    returns the events and everything the assistant stored or wrote, as text."""
    async with assistant:
        events = [e async for e in assistant.run("nap please", session_id="s-secret")]
        check_events(events)
        conversation_id = events[0].data["conversation_id"]
        calls = (await assistant.telemetry.list_model_calls()).items
        assert calls and all(c.request for c in calls)
        replayed = await assistant.replay(calls[-1].id)
        tools = (await assistant.telemetry.list_tool_calls()).items
        stored = await assistant.store.events_after("s-secret")
        messages = (await assistant.store.list_messages("local", conversation_id)).items
        trace = await assistant.export_chrome_trace(tmp_path / "turns.json")
    dumped = "\n".join([
        json.dumps([c.to_dict() for c in [*calls, replayed]], default=repr),
        json.dumps([t.to_dict() for t in tools], default=repr),
        json.dumps([e.to_dict() for e in [*events, *stored]], default=repr),
        json.dumps([m.to_dict() for m in messages], default=repr),
        trace.read_text()])
    assert "rested" in dumped and "nap" in dumped  # the dump holds real content
    return events, dumped


async def test_anthropic_key_is_never_logged_or_stored(
        monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture,
        tmp_path: Path) -> None:
    caplog.set_level(logging.DEBUG)  # the root logger: every logger, SDK and httpx included
    with AnthropicServer() as server:
        monkeypatch.setenv("ANTHROPIC_BASE_URL", server.base_url)
        monkeypatch.setenv("ANTHROPIC_API_KEY", ANTHROPIC_SECRET)
        monkeypatch.delenv("ANTHROPIC_AUTH_TOKEN", raising=False)
        server.script(Reply.error(429, retry_after_ms=10), Reply.tool_use("nap", {"seconds": 0}),
                      Reply.text("done"), Reply.text("replayed"))
        assistant = Assistant(tools=[nap], include_default_tools=False)  # model=None: Anthropic
        assistant.retry = type(assistant.retry)(max_retries=2, base_delay=0.01, max_delay=0.05)
        assert assistant.model.startswith("anthropic:")
        events, dumped = await _run_and_dump(assistant, tmp_path)
        assert events[-1].type == "message_complete"
        assert len(server.message_requests()) == 4
        assert all(r.api_key_sent for r in server.requests)  # the key was sent...
        assert all(ANTHROPIC_SECRET not in json.dumps(r.headers) for r in server.requests)
        assert ANTHROPIC_SECRET not in "\n".join(server.access_log)
    assert ANTHROPIC_SECRET not in dumped  # ...but never stored or exported
    assert any(r.name.startswith(("anthropic", "httpx")) for r in caplog.records)
    assert ANTHROPIC_SECRET not in _log_text(caplog)  # ...nor logged


async def test_openai_key_is_never_logged_or_stored(
        monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture,
        tmp_path: Path) -> None:
    caplog.set_level(logging.DEBUG)
    with OpenAIServer() as server:
        monkeypatch.setenv("OPENAI_BASE_URL", server.base_url)
        monkeypatch.setenv("OPENAI_API_KEY", OPENAI_SECRET)
        server.enqueue(ChatReply.error(429, retry_after_ms=10),
                       ChatReply(tool_calls=[("nap", {"seconds": 0})]), ChatReply(text="done"),
                       ChatReply(text="replayed"))
        assistant = Assistant(model="openai:local-llama", tools=[nap],
                              include_default_tools=False)
        assistant.retry = type(assistant.retry)(max_retries=2, base_delay=0.01, max_delay=0.05)
        events, dumped = await _run_and_dump(assistant, tmp_path)
        assert events[-1].type == "message_complete"
        assert len(server.requests) == 4
        # the key was sent to the endpoint...
        assert all(r["_headers"].get("authorization", r["_headers"].get("Authorization"))
                   == f"Bearer {OPENAI_SECRET}" for r in server.requests)
    assert OPENAI_SECRET not in dumped  # ...but never stored or exported
    assert any(r.name.startswith(("openai", "httpx")) for r in caplog.records)
    assert OPENAI_SECRET not in _log_text(caplog)  # ...nor logged
