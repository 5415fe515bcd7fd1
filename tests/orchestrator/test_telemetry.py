"""Telemetry records of model and tool calls, replay, the Chrome trace export, secrets."""

from __future__ import annotations

import json
import logging
from pathlib import Path

import anyio
import pytest
from orch_helpers import TEST_KEY, collect, make_assistant, of_type

from jupyter_assistant import NotFoundError, load_trace, tool
from jupyter_assistant.orchestrator import (
    MODEL_CALL_ATTRIBUTES,
    chrome_trace_events,
    otel_attributes,
    price_for,
)
from jupyter_assistant.testing import AnthropicServer, Reply

pytestmark = [pytest.mark.anyio, pytest.mark.timeout(30)]


@tool
async def nap(seconds: float) -> str:
    """Sleeps."""
    await anyio.sleep(seconds)
    return "rested"


async def test_model_and_tool_call_records(server: AnthropicServer) -> None:
    server.script(Reply.error(529),
                  Reply.tool_uses([("nap", {"seconds": 0.2})] * 2, first_delay=0.05,
                                  usage={"cache_read_input_tokens": 100}),
                  Reply.text("rested twice", usage={"output_tokens": 42}))
    async with make_assistant(tools=[nap]) as assistant:
        events = await collect(assistant, "nap twice", user_id="alice")
        session_id = events[0].session_id
        calls = (await assistant.telemetry.list_model_calls(session_id=session_id)).items
        tools = (await assistant.telemetry.list_tool_calls(session_id=session_id)).items
    calls.sort(key=lambda r: r.started_at)
    failed, first, second = calls
    assert (failed.status, failed.error_code, failed.attempt) == ("error", "overloaded", 1)
    assert failed.request_id and failed.ttft_ms is None
    assert (first.status, first.attempt, first.stop_reason) == ("ok", 2, "tool_use")
    assert first.ttft_ms is not None and 50 <= first.ttft_ms <= first.duration_ms
    assert first.cache_read_input_tokens == 100
    assert second.output_tokens == 42 and second.stop_reason == "end_turn"
    price = price_for("claude-sonnet-5-5")
    assert price is not None
    expected = (second.input_tokens * price.input + 42 * price.output) / 1e6
    assert second.cost_usd == pytest.approx(expected)
    for rec in calls:
        assert rec.user_id == "alice" and rec.session_id == session_id
        assert rec.conversation_id == events[0].data["conversation_id"]
        assert rec.provider == "anthropic" and rec.model == "claude-sonnet-5-5"
        assert rec.request["messages"][0]["content"][0]["text"] == "nap twice"
    usage = of_type(events, "usage")
    assert [u.data["call_id"] for u in usage] == [first.id, second.id]
    assert usage[1].data["cost_usd"] == pytest.approx(expected)
    assert [t.name for t in tools] == ["nap", "nap"]
    assert all(t.status == "ok" and 150 < t.duration_ms < 1000 for t in tools)
    assert {t.tool_use_id for t in tools} == {e.data["id"] for e in
                                              of_type(events, "tool_use_start")}


async def test_replay(server: AnthropicServer) -> None:
    server.script(Reply.text("original"), Reply.text("replayed answer"), Reply.error(500))
    async with make_assistant() as assistant:
        events = await collect(assistant, "q")
        call_id = of_type(events, "usage")[0].data["call_id"]
        replayed = await assistant.replay(call_id)
        failed = await assistant.replay(call_id)
        with pytest.raises(NotFoundError):
            await assistant.replay("mc_nope")
        original = await assistant.telemetry.get_model_call(call_id)
    assert replayed.replay_of == call_id and replayed.id != call_id
    assert replayed.status == "ok" and replayed.output_tokens > 0
    assert replayed.request == original.request
    assert failed.status == "error" and failed.error_code == "server_error"
    bodies = server.message_requests()
    assert bodies[1]["messages"] == bodies[0]["messages"]
    assert bodies[1]["system"] == bodies[0]["system"]


async def test_chrome_trace_round_trip(server: AnthropicServer, tmp_path: Path) -> None:
    server.script(Reply.tool_uses([("nap", {"seconds": 0.3})] * 3), Reply.text("done"))
    async with make_assistant(tools=[nap]) as assistant:
        events = await collect(assistant, "nap")
        path = await assistant.export_chrome_trace(tmp_path / "turn.json",
                                                   session_id=events[0].session_id)
    doc = json.loads(path.read_text())
    slices = [e for e in doc["traceEvents"] if e["ph"] == "X"]
    assert sorted(e["cat"] for e in slices) == ["model_call"] * 2 + ["tool_call"] * 3
    tool_tids = {e["tid"] for e in slices if e["cat"] == "tool_call"}
    assert len(tool_tids) == 3  # parallel tool calls are on separate lanes
    model = [e for e in slices if e["cat"] == "model_call"]
    assert all(e["args"]["input_tokens"] > 0 and "request" not in e["args"] for e in model)
    trace = load_trace(path)
    names = set(trace.events["name"])
    assert "nap" in names and "anthropic:claude-sonnet-5-5" in names
    naps = trace.events[trace.events["name"] == "nap"]
    assert len(naps) == 3 and (naps["dur"] > 250_000).all()  # µs


def test_chrome_trace_events_lanes_reuse() -> None:
    from jupyter_assistant.store import ToolCallRecord

    recs = [ToolCallRecord(id=str(i), name="t", session_id="s", started_at=start,
                           duration_ms=dur) for i, (start, dur) in
            enumerate([(0.0, 1000), (0.5, 1000), (2.0, 100)])]
    events = chrome_trace_events([], recs)
    tids = [e["tid"] for e in events if e["ph"] == "X"]
    assert tids == [2, 3, 2]


def test_otel_attributes() -> None:
    from jupyter_assistant.store import ModelCallRecord, ToolCallRecord

    rec = ModelCallRecord(id="m", provider="anthropic", model="claude-sonnet-5-5",
                          input_tokens=10, output_tokens=5, stop_reason="end_turn",
                          ttft_ms=250.0, request_id="req_1")
    attrs = otel_attributes(rec)
    assert attrs["gen_ai.operation.name"] == "chat"
    assert attrs["gen_ai.provider.name"] == "anthropic"
    assert attrs["gen_ai.request.model"] == "claude-sonnet-5-5"
    assert attrs["gen_ai.usage.input_tokens"] == 10
    assert attrs["gen_ai.response.finish_reasons"] == ["end_turn"]
    assert attrs["gen_ai.server.time_to_first_token"] == 0.25
    assert "error.type" not in attrs
    assert set(MODEL_CALL_ATTRIBUTES) <= set(ModelCallRecord.__dataclass_fields__)
    tool_attrs = otel_attributes(ToolCallRecord(id="t", name="nap", tool_use_id="toolu_1",
                                                error_code="timeout"))
    assert tool_attrs == {"gen_ai.operation.name": "execute_tool", "gen_ai.tool.name": "nap",
                          "gen_ai.tool.call.id": "toolu_1", "error.type": "timeout"}


async def test_api_key_is_never_logged_or_stored(server: AnthropicServer,
                                                 caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    server.script(Reply.error(429, retry_after_ms=10), Reply.tool_use("nap", {"seconds": 0}),
                  Reply.text("done"))
    async with make_assistant(tools=[nap]) as assistant:
        events = await collect(assistant, "q")
        calls = (await assistant.telemetry.list_model_calls()).items
        stored = await assistant.store.events_after(events[0].session_id)
    assert all(r.api_key_sent for r in server.requests)  # the key was sent...
    dumped = json.dumps([c.to_dict() for c in calls]) + json.dumps(
        [e.to_dict() for e in stored])
    assert TEST_KEY not in dumped  # ...but never stored
    assert TEST_KEY not in caplog.text  # ...nor logged (SDK and httpx debug logs included)
    assert TEST_KEY not in "\n".join(server.access_log)
    assert all(TEST_KEY not in json.dumps(r.headers) for r in server.requests)
