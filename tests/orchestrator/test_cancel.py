"""cancel(session_id) stops the stream and the tools within a second, emits ``cancelled``,
and leaves a history the API accepts on the next turn."""

from __future__ import annotations

import gc
import logging
import threading
import time
from contextlib import aclosing

import anyio
import pytest
from orch_helpers import check_events, collect, make_assistant, of_type, text_of, wait_for

from jupyter_assistant import Assistant, tool
from jupyter_assistant.events import Event
from jupyter_assistant.testing import AnthropicServer, Reply

pytestmark = [pytest.mark.anyio, pytest.mark.timeout(30)]


@tool(timeout=60)
def hang_sync(seconds: float) -> str:
    """Blocks its thread."""
    time.sleep(seconds)
    return "woke up"


@tool(timeout=60)
async def hang_async(seconds: float) -> str:
    """Sleeps."""
    await anyio.sleep(seconds)
    return "woke up"


@tool
async def quick() -> str:
    """Returns at once."""
    return "quick result"


async def run_and_cancel(assistant: Assistant, when: str, session_id: str
                         ) -> tuple[list[Event], float]:
    """Run a turn; cancel it once an event of type ``when`` arrives; return the events and
    the seconds from cancel() to the terminal event."""
    events: list[Event] = []
    cancelled_at = 0.0
    async with aclosing(assistant.run("go", session_id=session_id)) as stream:
        async for event in stream:
            events.append(event)
            if event.type == when and not cancelled_at:
                cancelled_at = time.perf_counter()
                assert await assistant.cancel(session_id) is True
    check_events(events)
    return events, time.perf_counter() - cancelled_at


async def test_cancel_mid_stream(server: AnthropicServer) -> None:
    server.script(Reply.text(" ".join(f"w{i}" for i in range(200)), delay=0.05),
                  Reply.text("fresh answer"))
    async with make_assistant() as assistant:
        events, took = await run_and_cancel(assistant, "text_delta", "s-stream")
        assert took < 1.0
        assert await assistant.cancel("s-stream") is False  # nothing runs any more
        conv = events[0].data["conversation_id"]
        stored = (await assistant.store.list_messages("local", conv)).items
        session = await assistant.store.get_session("local", "s-stream")
        calls = (await assistant.telemetry.list_model_calls()).items
        nxt = await collect(assistant, "next", session_id="s-stream")
    assert events[-1].type == "cancelled" and events[-1].data == {"reason": "user"}
    assert 0 < len(text_of(events)) < 100
    assert session.status == "cancelled"
    assert stored[-1].metadata["status"] == "interrupted"
    assert [c.status for c in calls] == ["cancelled"]
    assert nxt[-1].type == "message_complete" and nxt[0].seq == events[-1].seq + 1
    history = server.message_requests()[1]["messages"]
    assert [m["role"] for m in history] == ["user"]


@pytest.mark.parametrize("hang", [hang_sync, hang_async], ids=["sync", "async"])
async def test_cancel_mid_tool(server: AnthropicServer, hang: object) -> None:
    name = hang.name  # type: ignore[attr-defined]
    server.script(Reply.tool_uses([(name, {"seconds": 10}), ("quick", {})]),
                  Reply.text("after cancel"))
    async with make_assistant(tools=[hang, quick]) as assistant:
        events: list[Event] = []
        took = 0.0
        async with aclosing(assistant.run("go", session_id="s-tool")) as stream:
            async for event in stream:
                events.append(event)
                if event.type == "tool_use_complete" and event.data["name"] == "quick":
                    t0 = time.perf_counter()
                    await assistant.cancel("s-tool")
        took = time.perf_counter() - t0
        check_events(events)
        nxt = await collect(assistant, "what happened?", session_id="s-tool")
        tool_calls = (await assistant.telemetry.list_tool_calls()).items
    assert took < 1.0
    assert events[-1].type == "cancelled"
    completes = {c.data["name"]: c.data for c in of_type(events, "tool_use_complete")}
    assert completes[name]["is_error"] and completes[name]["error_code"] == "cancelled"
    assert completes["quick"]["content"] == "quick result"
    assert {t.name: t.status for t in tool_calls} == {name: "cancelled", "quick": "ok"}
    # the next request pairs every tool_use with a result: no dangling tool_use
    history = server.message_requests()[1]["messages"]
    assert [m["role"] for m in history] == ["user", "assistant", "user"]
    results = {b["tool_use_id"]: b for b in history[2]["content"] if b["type"] == "tool_result"}
    uses = {b["id"]: b["name"] for b in history[1]["content"] if b["type"] == "tool_use"}
    assert set(results) == set(uses)
    by_name = {uses[k]: v for k, v in results.items()}
    assert by_name[name]["is_error"] is True
    assert by_name[name]["content"] == "cancelled by the user"
    assert by_name["quick"]["content"] == "quick result"
    assert history[2]["content"][-1] == {"type": "text", "text": "what happened?"}
    assert nxt[-1].type == "message_complete"


async def test_cancel_from_another_task(server: AnthropicServer) -> None:
    server.script(Reply.text("slow " * 100, delay=0.05))
    async with make_assistant() as assistant:
        events: list[Event] = []

        async def consume() -> None:
            async for e in assistant.run("go", session_id="s-task"):
                events.append(e)

        async with anyio.create_task_group() as tg:
            tg.start_soon(consume)
            while not of_type(events, "text_delta"):
                await anyio.sleep(0.01)
            t0 = time.perf_counter()
            assert await assistant.cancel("s-task")
        assert time.perf_counter() - t0 < 1.0
    check_events(events)
    assert events[-1].type == "cancelled"


async def test_closing_the_stream_early_cancels_the_turn(server: AnthropicServer) -> None:
    server.script(Reply.text("slow " * 100, delay=0.05))
    async with make_assistant() as assistant:
        async with aclosing(assistant.run("go", session_id="s-close")) as stream:
            async for event in stream:
                if event.type == "text_delta":
                    break
        stored = await assistant.store.events_after("s-close")
        session = await assistant.store.get_session("local", "s-close")
    assert stored[-1].type == "cancelled" and stored[-1].data["reason"] == "closed"
    assert session.status == "cancelled"


async def test_abandoning_the_stream_inside_async_with_is_clean(
        server: AnthropicServer, caplog: pytest.LogCaptureFixture) -> None:
    """Inside ``async with Assistant`` a reader may just drop the generator (no aclosing):
    the turn is cancelled and nothing is logged (no RuntimeError from a cancel scope)."""
    caplog.set_level(logging.WARNING)
    server.script(Reply.text("slow " * 100, delay=0.05))
    async with make_assistant() as assistant:
        stream = assistant.run("go", session_id="s-drop")
        async for event in stream:
            if event.type == "text_delta":
                break
        del stream, event
        gc.collect()
        await wait_for(lambda: "s-drop" not in assistant._active)
        stored = await assistant.store.events_after("s-drop")
    assert stored[-1].type == "cancelled" and stored[-1].data["reason"] == "closed"
    assert [r.getMessage() for r in caplog.records if r.levelno >= logging.WARNING] == []


async def test_aclose_cancels_running_turns(server: AnthropicServer) -> None:
    server.script(Reply.text("slow " * 100, delay=0.05))
    assistant = make_assistant()
    events: list[Event] = []
    async with anyio.create_task_group() as tg:
        async def consume() -> None:
            async for e in assistant.run("go", session_id="s-shut"):
                events.append(e)

        tg.start_soon(consume)
        while not of_type(events, "session_started"):
            await anyio.sleep(0.01)
        await assistant.aclose()
    assert events[-1].type == "cancelled" and events[-1].data["reason"] == "shutdown"


class _SlowTrace:
    """A trace whose summary blocks a worker thread until released (a huge trace)."""

    def __init__(self) -> None:
        self.release = threading.Event()

    def summary(self, max_tokens: int = 0) -> str:
        self.release.wait(10)
        return "summary"


async def test_turn_deadline_and_cancel_cover_the_turn_setup(server: AnthropicServer) -> None:
    """Loading and summarising the turn's trace counts against the turn deadline, and a
    cancel stops it: neither waits for the blocked summary thread."""
    slow = _SlowTrace()
    try:
        async with make_assistant(turn_deadline=0.5) as assistant:
            t0 = time.perf_counter()
            events = await collect(assistant, "why slow?", trace=slow)
            assert time.perf_counter() - t0 < 1.5
            assert events[-1].type == "error" and events[-1].data["code"] == "turn_deadline"
        slow2 = _SlowTrace()
        async with make_assistant() as assistant:
            got: list[Event] = []

            async def consume() -> None:
                got.extend([e async for e in assistant.run("q", session_id="s-setup",
                                                           trace=slow2)])

            async with anyio.create_task_group() as tg:
                tg.start_soon(consume)
                await wait_for(lambda: bool(got) or "s-setup" in assistant._active)
                await anyio.sleep(0.2)
                t0 = time.perf_counter()
                assert await assistant.cancel("s-setup")
            assert time.perf_counter() - t0 < 1.0
            slow2.release.set()
        check_events(got)
        assert got[-1].type == "cancelled"
        assert server.message_requests() == []
    finally:
        slow.release.set()
