"""Every injected fault ends the turn with the right event within its timeout; transient
faults before any output are retried; partial output is kept."""

from __future__ import annotations

import time

import pytest
from orch_helpers import collect, make_assistant, of_type, text_of

from jupyter_assistant import tool
from jupyter_assistant.testing import AnthropicServer, Reply

pytestmark = [pytest.mark.anyio, pytest.mark.timeout(30)]


@tool
async def probe() -> str:
    """Returns ok."""
    return "ok"


async def statuses(assistant: object) -> list[tuple[str, str | None, int]]:
    page = await assistant.telemetry.list_model_calls()  # type: ignore[attr-defined]
    return sorted((r.status, r.error_code, r.attempt) for r in page.items)


@pytest.mark.parametrize("fault", [
    Reply.error(429, retry_after_ms=300),
    Reply.error(529),
    Reply.error(500),
    Reply.text("lost", drop_after=0),
    Reply.text("lost", drop_after=2),  # dropped after message_start + ping: nothing shown
    Reply.text("stalled", stall_after=1, stall_seconds=10),
    Reply.text("cut", truncate_after=3),
    Reply.text("err", error_after=2),
], ids=["429", "529", "500", "drop-before-response", "drop-before-output", "stall-before-output",
        "truncated-before-output", "midstream-overloaded-before-output"])
async def test_transient_fault_before_output_is_retried(server: AnthropicServer,
                                                        fault: Reply) -> None:
    server.script(fault, Reply.text("recovered answer"))
    async with make_assistant(stream_idle_timeout=0.5) as assistant:
        t0 = time.perf_counter()
        events = await collect(assistant, "q")
        elapsed = time.perf_counter() - t0
        calls = await statuses(assistant)
    assert events[-1].type == "message_complete", events[-1].data
    assert text_of(events) == "recovered answer"  # nothing of the failed attempt was shown
    assert len(server.message_requests()) == 2
    assert calls[0][0] == "error" and calls[0][2] == 1 and calls[1] == ("ok", None, 2)
    assert elapsed < 3.0
    if fault.retry_after_ms:
        assert elapsed >= 0.3  # retry-after-ms was honoured


async def test_retries_are_bounded(server: AnthropicServer) -> None:
    server.set_default(lambda body: Reply.error(529))
    async with make_assistant() as assistant:
        events = await collect(assistant, "q")
    assert events[-1].type == "error"
    assert events[-1].data["code"] == "overloaded" and events[-1].data["retryable"] is True
    assert "after 4 attempts" in events[-1].data["message"]
    assert len(server.message_requests()) == 4


async def test_non_transient_errors_are_not_retried(server: AnthropicServer) -> None:
    server.script(Reply.error(400, message="messages: bad"))
    async with make_assistant() as assistant:
        events = await collect(assistant, "q")
    assert events[-1].data["code"] == "bad_request" and not events[-1].data["retryable"]
    assert len(server.message_requests()) == 1


async def test_auth_error_is_an_event(server: AnthropicServer) -> None:
    server.api_key = "another-key"
    async with make_assistant() as assistant:
        events = await collect(assistant, "q")
    assert events[-1].type == "error" and events[-1].data["code"] == "auth"
    assert "ANTHROPIC_API_KEY" in events[-1].data["message"]
    assert len(server.message_requests()) == 1


async def test_retry_after_longer_than_the_deadline_gives_up(server: AnthropicServer) -> None:
    server.script(Reply.error(429, retry_after=30))
    async with make_assistant(turn_deadline=2) as assistant:
        t0 = time.perf_counter()
        events = await collect(assistant, "q")
    assert time.perf_counter() - t0 < 1.5
    assert events[-1].data["code"] == "rate_limited" and events[-1].data["retryable"]


@pytest.mark.parametrize(("fault", "code", "retryable"), [
    (Reply.text("one two three four five six", error_after=5), "overloaded", True),
    (Reply.text("one two three four five six", drop_after=5), "connection", True),
    (Reply.text("one two three four five six", truncate_after=5), "incomplete_stream", False),
    (Reply.text("one two three four five six", stall_after=5, stall_seconds=10),
     "stream_idle_timeout", False),
], ids=["midstream-overloaded", "dropped", "truncated", "stalled"])
async def test_mid_stream_failure_keeps_partial_text(server: AnthropicServer, fault: Reply,
                                                     code: str, retryable: bool) -> None:
    server.script(fault, Reply.text("next turn"))
    async with make_assistant(stream_idle_timeout=0.5) as assistant:
        t0 = time.perf_counter()
        events = await collect(assistant, "q", session_id="s-mid")
        assert time.perf_counter() - t0 < 2.5
        conv = events[0].data["conversation_id"]
        stored = (await assistant.store.list_messages("local", conv)).items
        again = await collect(assistant, "try again", session_id="s-mid")
    assert text_of(events) == "one two "
    err = events[-1]
    assert err.type == "error" and err.data["code"] == code
    assert err.data["retryable"] is retryable
    assert len(server.message_requests()) == 2  # not retried: output had been shown
    partial = stored[-1]
    assert partial.role == "assistant" and partial.metadata["status"] == "interrupted"
    assert partial.content == [{"type": "text", "text": "one two "}]
    # the interrupted answer is not sent back to the model; the history stays valid
    history = server.message_requests()[1]["messages"]
    assert history == [{"role": "user", "content": [{"type": "text", "text": "q"},
                                                    {"type": "text", "text": "try again"}]}]
    assert again[-1].type == "message_complete"


async def test_failure_after_tool_use_closes_the_tool_cards(server: AnthropicServer) -> None:
    failing = Reply.tool_uses([("probe", {}), ("probe", {})], error_after=20)
    failing.blocks.append({"type": "text", "text": "trailing text that never arrives"})
    server.script(failing)
    async with make_assistant(tools=[probe]) as assistant:
        events = await collect(assistant, "q")
    starts, completes = of_type(events, "tool_use_start"), of_type(events, "tool_use_complete")
    assert len(starts) == 2 and {c.data["id"] for c in completes} == {s.data["id"] for s in starts}
    assert all(c.data["is_error"] for c in completes)
    assert events[-1].data["code"] == "overloaded"


async def test_turn_deadline(server: AnthropicServer) -> None:
    # a stream that keeps pinging but never answers: only the deadline can end it
    server.set_default(lambda body: Reply.text("late", stall_after=3, stall_seconds=30,
                                               stall_ping=0.1))
    async with make_assistant(turn_deadline=1.5, stream_idle_timeout=5) as assistant:
        t0 = time.perf_counter()
        events = await collect(assistant, "q")
        elapsed = time.perf_counter() - t0
        session = await assistant.store.get_session("local", events[0].session_id)
    assert 1.4 < elapsed < 2.5
    assert events[-1].type == "error" and events[-1].data["code"] == "turn_deadline"
    assert "1.5 s" in events[-1].data["message"]
    assert session.status == "error"


async def test_turn_deadline_during_tools(server: AnthropicServer) -> None:
    @tool(timeout=60)
    async def forever() -> str:
        """Never returns."""
        import anyio

        await anyio.sleep(3600)
        return "unreachable"

    server.script(Reply.tool_uses([("forever", {}), ("probe", {})]), Reply.text("next"))
    async with make_assistant(tools=[forever, probe], turn_deadline=1) as assistant:
        t0 = time.perf_counter()
        events = await collect(assistant, "q", session_id="s-dl")
        assert time.perf_counter() - t0 < 2.0
        await collect(assistant, "continue", session_id="s-dl")
    completes = {c.data["name"]: c.data for c in of_type(events, "tool_use_complete")}
    assert completes["probe"]["is_error"] is False
    assert completes["forever"]["error_code"] == "turn_deadline"
    assert events[-1].data["code"] == "turn_deadline"
    history = server.message_requests()[1]["messages"]  # the next turn's request
    results = history[2]["content"]
    assert [r.get("is_error", False) for r in results[:2]] == [True, False]
    assert "deadline" in results[0]["content"]
    assert results[2] == {"type": "text", "text": "continue"}
