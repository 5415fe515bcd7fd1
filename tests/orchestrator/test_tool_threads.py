"""Sync tools that hang forever: they run on the sync tools' own thread limiter, keep their
slot until they really return, and can never starve anyio's default thread limiter."""

from __future__ import annotations

import threading

import anyio
import anyio.to_thread
import pytest
from orch_helpers import collect, make_assistant, of_type

from jupyter_assistant import tool
from jupyter_assistant.config import AssistantConfig
from jupyter_assistant.testing import AnthropicServer, Reply
from jupyter_assistant.tools._threads import run_sync_tool

pytestmark = [pytest.mark.anyio, pytest.mark.timeout(30)]


async def test_hung_sync_tools_cannot_starve_threads(server: AnthropicServer) -> None:
    release = threading.Event()
    entered: list[int] = []

    @tool(timeout=0.2)
    def hang(i: int) -> str:
        """Blocks until the test releases it."""
        entered.append(i)
        release.wait(20)
        return "released"

    @tool(timeout=0.3)
    def quick() -> str:
        """Returns at once."""
        return "quick"

    @tool
    async def ping() -> str:
        """An async tool."""
        return "pong"

    slots = 4
    default = anyio.to_thread.current_default_thread_limiter()
    try:
        async with make_assistant(tools=[hang, quick, ping],
                                  config=AssistantConfig(tool_threads=slots)) as assistant:
            # 3 turns of 3 hung calls each: 9 calls, more than the 4 slots
            for turn in range(3):
                server.script(Reply.tool_uses([("hang", {"i": 3 * turn + k})
                                               for k in range(3)]), Reply.text("hung"))
                events = await collect(assistant, f"hang {turn}")
                assert events[-1].type == "message_complete"
                completes = of_type(events, "tool_use_complete")
                assert [c.data["error_code"] for c in completes] == ["timeout"] * 3
            # only `slots` threads were ever started; the rest waited for a slot, timed out
            assert len(entered) == slots
            limiter = assistant._tool_thread_limiter()
            assert limiter.borrowed_tokens == slots
            assert default.borrowed_tokens == 0
            # a later sync tool times out and says why; async tools and turns still work
            server.script(Reply.tool_uses([("quick", {}), ("ping", {})]), Reply.text("ok"))
            events = await collect(assistant, "later")
            assert events[-1].type == "message_complete"
            by_name = {c.data["name"]: c.data for c in of_type(events, "tool_use_complete")}
            assert by_name["quick"]["error_code"] == "timeout"
            assert "all 4 worker threads for sync tools were busy" in by_name["quick"]["content"]
            assert by_name["ping"]["content"] == "pong"
            # anyio's default limiter (store, SDK clients) is untouched
            with anyio.fail_after(2):
                assert await anyio.to_thread.run_sync(lambda: "free") == "free"
            # once the hung calls return, their slots come back and sync tools run again
            release.set()
            with anyio.fail_after(5):
                while limiter.borrowed_tokens:
                    await anyio.sleep(0.01)
            server.script(Reply.tool_use("quick"), Reply.text("ok"))
            events = await collect(assistant, "again")
            assert of_type(events, "tool_use_complete")[0].data["content"] == "quick"
    finally:
        release.set()


async def test_run_sync_tool_releases_on_every_path() -> None:
    limiter = anyio.CapacityLimiter(1)
    assert await run_sync_tool(lambda: 7, limiter) == 7
    with pytest.raises(ZeroDivisionError):
        await run_sync_tool(lambda: 1 // 0, limiter)
    assert limiter.borrowed_tokens == 0
    gate = threading.Event()
    with anyio.move_on_after(0.1):
        await run_sync_tool(lambda: gate.wait(5), limiter)
    assert limiter.borrowed_tokens == 1  # abandoned, still running: keeps its slot
    with anyio.move_on_after(0.1) as waited:  # no slot: waits
        await run_sync_tool(lambda: 1, limiter)
    assert waited.cancelled_caught
    gate.set()
    with anyio.fail_after(5):
        while limiter.borrowed_tokens:
            await anyio.sleep(0.01)
    assert await run_sync_tool(lambda: 8, limiter) == 8


async def test_results_that_are_not_text_are_rendered_off_the_event_loop(
        server: AnthropicServer) -> None:
    import pandas as pd

    rendered_in: list[int] = []

    class Marker:
        def __str__(self) -> str:  # json.dumps(default=str) calls it while rendering
            rendered_in.append(threading.get_ident())
            return "marker"

    @tool
    def table() -> pd.DataFrame:
        """A DataFrame result."""
        return pd.DataFrame({"name": ["a", "b"], "dur": [1.5, 2.0]})

    @tool
    def value() -> dict:
        """A JSON result."""
        return {"x": Marker()}

    async with make_assistant(tools=[table, value]) as assistant:
        server.script(Reply.tool_uses([("table", {}), ("value", {})]), Reply.text("ok"))
        events = await collect(assistant, "render")
    loop_thread = threading.get_ident()
    done = {c.data["name"]: c.data["content"] for c in of_type(events, "tool_use_complete")}
    assert "| a " in done["table"] and "1.5" in done["table"]
    assert done["value"] == '{"x": "marker"}'
    assert rendered_in and loop_thread not in rendered_in
