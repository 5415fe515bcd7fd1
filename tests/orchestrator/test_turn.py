"""The turn loop against the real SDK and the local Anthropic server: answers, parallel tools,
tool failures, limits, history."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import anyio
import pytest
from orch_helpers import collect, make_assistant, of_type, text_of

from jupyter_assistant import InputError, ToolError, tool
from jupyter_assistant.testing import AnthropicServer, Reply

pytestmark = [pytest.mark.anyio, pytest.mark.timeout(30)]


@tool
async def slow_probe(seconds: float) -> str:
    """Sleep, then say so.

    Args:
        seconds: how long to sleep (s).
    """
    await anyio.sleep(seconds)
    return f"slept {seconds} s"


@tool
def sync_probe(seconds: float) -> str:
    """Block a worker thread, then say so."""
    time.sleep(seconds)
    return f"blocked {seconds} s"


@tool
async def broken(reason: str) -> str:
    """Always fails."""
    raise ValueError(f"cannot do it: {reason}")


@tool
async def refusing() -> str:
    """Fails with a ToolError."""
    raise ToolError("the trace has no GPU events")


@tool
async def big_output(n: int) -> str:
    """Returns n characters."""
    return "x" * n


@tool(requires_approval=True)
async def dangerous() -> str:
    """Needs approval."""
    return "did the dangerous thing"


async def test_plain_answer(server: AnthropicServer) -> None:
    server.script(Reply.text("The hotspot is matmul, 62% of the time."))
    async with make_assistant() as assistant:
        events = await collect(assistant, "why is it slow?")
    assert events[0].data["model"] == "anthropic:claude-sonnet-5-5"
    assert events[0].data["conversation_id"]
    assert text_of(events) == "The hotspot is matmul, 62% of the time."
    done = events[-1]
    assert done.type == "message_complete"
    assert done.data["text"] == "The hotspot is matmul, 62% of the time."
    assert done.data["stop_reason"] == "end_turn" and done.data["model_calls"] == 1
    (usage,) = of_type(events, "usage")
    assert usage.data["input_tokens"] > 0 and usage.data["output_tokens"] > 0
    assert usage.data["cost_usd"] > 0
    body = server.message_requests()[0]
    assert body["model"] == "claude-sonnet-5-5" and body["stream"] is True
    assert body["messages"] == [{"role": "user", "content": [{"type": "text",
                                                              "text": "why is it slow?"}]}]
    assert "jupyter-assistant" in body["system"]


async def test_parallel_tools_overlap(server: AnthropicServer) -> None:
    server.script(Reply.tool_uses([("slow_probe", {"seconds": 0.5})] * 3, text="Probing."),
                  Reply.text("All three probes slept."))
    async with make_assistant(tools=[slow_probe]) as assistant:
        t0 = time.perf_counter()
        events = await collect(assistant, "probe three times")
        elapsed = time.perf_counter() - t0
    assert elapsed < 1.0, f"3 tools of 0.5 s took {elapsed:.2f} s: not parallel"
    starts, completes = of_type(events, "tool_use_start"), of_type(events, "tool_use_complete")
    assert len(starts) == len(completes) == 3
    assert all(c.data["content"] == "slept 0.5 s" and not c.data["is_error"] for c in completes)
    # every tool started before any finished
    assert max(e.seq for e in starts) < min(e.seq for e in completes)
    assert events[-1].type == "message_complete" and events[-1].data["model_calls"] == 2
    second = server.message_requests()[1]["messages"]
    assert [m["role"] for m in second] == ["user", "assistant", "user"]
    results = second[2]["content"]
    assert [r["type"] for r in results] == ["tool_result"] * 3
    assert {r["tool_use_id"] for r in results} == {s.data["id"] for s in starts}
    assert "tools" in server.message_requests()[0]
    (definition,) = server.message_requests()[0]["tools"]
    assert definition["name"] == "slow_probe"
    assert definition["input_schema"]["properties"]["seconds"]["type"] == "number"


async def test_sync_tools_run_in_parallel_threads(server: AnthropicServer) -> None:
    server.script(Reply.tool_uses([("sync_probe", {"seconds": 0.4})] * 3), Reply.text("ok"))
    async with make_assistant(tools=[sync_probe]) as assistant:
        t0 = time.perf_counter()
        events = await collect(assistant, "block")
        assert time.perf_counter() - t0 < 1.0
    assert [c.data["content"] for c in of_type(events, "tool_use_complete")] == \
        ["blocked 0.4 s"] * 3


@pytest.mark.parametrize(("tool_obj", "args", "code", "needle"), [
    (broken, {"reason": "no data"}, "tool_exception", "ValueError: cannot do it: no data"),
    (refusing, {}, "tool_error", "the trace has no GPU events"),
    (slow_probe, {"secs": 1}, "tool_error", "missing a required argument"),
    (slow_probe, {"seconds": "soon"}, "invalid_input",
     "invalid input at seconds: 'soon' is not of type 'number'"),
    (big_output, {"n": 1.5}, "invalid_input", "1.5 is not of type 'integer'"),
])
async def test_failing_tool_becomes_is_error_result(server: AnthropicServer, tool_obj: object,
                                                     args: dict[str, object], code: str,
                                                     needle: str) -> None:
    name = tool_obj.name  # type: ignore[attr-defined]
    server.script(Reply.tool_use(name, args), Reply.text("I could not run it."))
    async with make_assistant(tools=[tool_obj]) as assistant:
        events = await collect(assistant, "try")
    (complete,) = of_type(events, "tool_use_complete")
    assert complete.data["is_error"] is True and complete.data["error_code"] == code
    assert needle in complete.data["content"]
    assert events[-1].type == "message_complete"
    result = server.message_requests()[1]["messages"][-1]["content"][0]
    assert result["is_error"] is True and needle in result["content"]


async def test_hung_tool_times_out_and_turn_continues(server: AnthropicServer) -> None:
    hung = tool(timeout=0.3)(sync_probe.fn)
    server.script(Reply.tool_uses([("sync_probe", {"seconds": 5}),
                                   ("slow_probe", {"seconds": 0.1})]),
                  Reply.text("The first probe hung."))
    async with make_assistant(tools=[hung, slow_probe]) as assistant:
        t0 = time.perf_counter()
        events = await collect(assistant, "probe")
        elapsed = time.perf_counter() - t0
    assert elapsed < 2.0
    completes = {e.data["name"]: e for e in of_type(events, "tool_use_complete")}
    assert completes["sync_probe"].data["error_code"] == "timeout"
    assert "0.3 s" in completes["sync_probe"].data["content"]
    assert completes["slow_probe"].data["is_error"] is False
    assert events[-1].type == "message_complete"


async def test_default_tool_timeout_applies(server: AnthropicServer) -> None:
    server.script(Reply.tool_use("slow_probe", {"seconds": 10}), Reply.text("timed out"))
    async with make_assistant(tools=[slow_probe], tool_timeout=0.2) as assistant:
        events = await collect(assistant, "probe")
    (complete,) = of_type(events, "tool_use_complete")
    assert complete.data["error_code"] == "timeout" and complete.data["duration_ms"] < 1000


async def test_unknown_tool_and_malformed_json(server: AnthropicServer) -> None:
    server.script(Reply.tool_use("no_such_tool", {}), Reply.malformed_tool_json("slow_probe"),
                  Reply.text("giving up"))
    async with make_assistant(tools=[slow_probe]) as assistant:
        events = await collect(assistant, "go")
    first, second = of_type(events, "tool_use_complete")
    assert first.data["error_code"] == "unknown_tool" and "slow_probe" in first.data["content"]
    assert second.data["error_code"] == "invalid_input"
    assert "not valid JSON" in second.data["content"]
    assert events[-1].type == "message_complete" and events[-1].data["model_calls"] == 3
    # the malformed call went back to the model as an object input plus an is_error result
    history = server.message_requests()[2]["messages"]
    assert history[3]["content"][0]["input"] == {}
    assert history[4]["content"][0]["is_error"] is True


async def test_tool_output_is_truncated_with_a_note(server: AnthropicServer) -> None:
    server.script(Reply.tool_use("big_output", {"n": 5000}), Reply.text("long"))
    async with make_assistant(tools=[big_output], tool_output_chars=1000) as assistant:
        events = await collect(assistant, "go")
    content = of_type(events, "tool_use_complete")[0].data["content"]
    assert content.startswith("x" * 1000) and "x" * 1001 not in content
    assert "4,000 of 5,000 characters were cut" in content and "1,000" in content


async def test_approval(server: AnthropicServer) -> None:
    asked: list[str] = []

    async def approve(name: str, args: dict[str, object]) -> bool:
        asked.append(name)
        return len(asked) == 1

    server.script(Reply.tool_use("dangerous"), Reply.text("done"),
                  Reply.tool_use("dangerous"), Reply.text("declined"),
                  Reply.tool_use("dangerous"), Reply.text("nobody"))
    async with make_assistant(tools=[dangerous], approve=approve) as assistant:
        ok = await collect(assistant, "do it")
        declined = await collect(assistant, "again")
        nobody = await collect(assistant, "again", approve=None)
    assert of_type(ok, "tool_use_complete")[0].data["content"] == "did the dangerous thing"
    assert of_type(declined, "tool_use_complete")[0].data["error_code"] == "refused"
    assert asked == ["dangerous", "dangerous", "dangerous"]
    assistant2 = make_assistant(tools=[dangerous])
    server.script(Reply.tool_use("dangerous"), Reply.text("no approver"))
    async with assistant2:
        refused = await collect(assistant2, "do it")
    assert of_type(refused, "tool_use_complete")[0].data["error_code"] == "approval_required"
    assert nobody[-1].type == "message_complete"
    server.script(Reply.tool_use("dangerous"), Reply.text("auto"))
    async with make_assistant(tools=[dangerous], auto_approve=True) as auto:
        events = await collect(auto, "do it")
    assert of_type(events, "tool_use_complete")[0].data["is_error"] is False


async def test_progress_events(server: AnthropicServer) -> None:
    @tool
    async def stepper(ctx: object) -> str:
        """Reports progress."""
        for i in range(3):
            await ctx.progress(f"step {i}", i / 2)  # type: ignore[attr-defined]
        return "stepped"

    server.script(Reply.tool_use("stepper"), Reply.text("ok"))
    async with make_assistant(tools=[stepper]) as assistant:
        events = await collect(assistant, "step")
    progress = of_type(events, "tool_use_progress")
    assert [p.data["message"] for p in progress] == ["step 0", "step 1", "step 2"]
    assert [p.data["fraction"] for p in progress] == [0.0, 0.5, 1.0]
    complete = of_type(events, "tool_use_complete")[0]
    assert all(p.seq < complete.seq for p in progress)


async def test_message_too_long_is_refused_before_the_model(server: AnthropicServer) -> None:
    async with make_assistant(max_message_chars=100) as assistant:
        events = await collect(assistant, "x" * 101)
        empty = await collect(assistant, "   ")
    assert [e.type for e in events] == ["session_started", "error"]
    assert events[-1].data["code"] == "message_too_long"
    assert "100" in events[-1].data["message"] and events[-1].data["retryable"] is False
    assert empty[-1].data["code"] == "empty_message"
    assert server.message_requests() == []
    with pytest.raises(Exception, match="limit is 100"):
        assistant.validate_message("y" * 101)


async def test_max_model_calls(server: AnthropicServer) -> None:
    server.set_default(lambda body: Reply.tool_use("slow_probe", {"seconds": 0}))
    async with make_assistant(tools=[slow_probe], max_model_calls=3) as assistant:
        events = await collect(assistant, "loop forever")
    assert events[-1].type == "error" and events[-1].data["code"] == "max_model_calls"
    assert "3 model calls" in events[-1].data["message"]
    assert "limit of 3 model calls" in text_of(events)
    assert len(server.message_requests()) == 3
    starts, completes = of_type(events, "tool_use_start"), of_type(events, "tool_use_complete")
    assert len(starts) == len(completes) == 3
    assert completes[-1].data["error_code"] == "max_model_calls"


async def test_history_on_next_turn_and_session_seq(server: AnthropicServer) -> None:
    server.script(Reply.tool_use("slow_probe", {"seconds": 0}), Reply.text("first answer"),
                  Reply.text("second answer"))
    async with make_assistant(tools=[slow_probe]) as assistant:
        first = await collect(assistant, "first question", session_id="sess-1")
        conv = first[0].data["conversation_id"]
        second = await collect(assistant, "second question", session_id="sess-1")
        assert second[0].seq == first[-1].seq + 1  # seq continues across turns of a session
        assert second[0].data["conversation_id"] == conv and second[0].data["resumed"]
        stored = await assistant.store.events_after("sess-1")
        assert [e.seq for e in stored] == [e.seq for e in first + second]
        session = await assistant.store.get_session("local", "sess-1")
        assert session.status == "complete"
        messages = (await assistant.store.list_messages("local", conv)).items
    assert [m.role for m in messages] == ["user", "assistant", "user", "assistant", "user",
                                          "assistant"]
    history = server.message_requests()[2]["messages"]
    assert [m["role"] for m in history] == ["user", "assistant", "user", "assistant", "user"]
    assert history[-1]["content"] == [{"type": "text", "text": "second question"}]
    assert history[3]["content"] == [{"type": "text", "text": "first answer"}]


async def test_conversation_continues_in_a_new_session(server: AnthropicServer) -> None:
    server.script(Reply.text("one"), Reply.text("two"))
    async with make_assistant() as assistant:
        first = await collect(assistant, "q1")
        conv = first[0].data["conversation_id"]
        second = await collect(assistant, "q2", conversation_id=conv)
    assert second[0].data["conversation_id"] == conv
    assert first[0].session_id != second[0].session_id
    assert len(server.message_requests()[1]["messages"]) == 3


async def test_concurrent_turn_of_same_session_is_refused(server: AnthropicServer) -> None:
    server.script(Reply.text("slow " * 20, delay=0.05))
    async with make_assistant() as assistant:
        gen = assistant.run("q", session_id="busy")
        first = await gen.__anext__()
        assert first.type == "session_started"
        with pytest.raises(Exception, match="already running"):
            await assistant.run("q2", session_id="busy").__anext__()
        rest = [e async for e in gen]
    assert rest[-1].type == "message_complete"


async def test_trace_summary_is_in_the_system_prompt(server: AnthropicServer) -> None:
    class FakeTrace:
        def summary(self, max_tokens: int) -> object:
            class S:
                text = "## Summary\nhotspot: matmul 62%"
            return S()

    seen: list[object] = []

    @tool
    async def which(ctx: object) -> str:
        """Reports the current trace."""
        seen.append(ctx.traces["current"])  # type: ignore[attr-defined]
        return "ok"

    trace = FakeTrace()
    server.script(Reply.tool_use("which"), Reply.text("done"))
    async with make_assistant(tools=[which]) as assistant:
        await collect(assistant, "look", trace=trace)
    assert seen == [trace]
    assert "hotspot: matmul 62%" in server.message_requests()[0]["system"]


async def test_pause_turn_continues(server: AnthropicServer) -> None:
    server.script(Reply.text("Searching...", stop_reason="pause_turn"), Reply.text(" found."))
    async with make_assistant() as assistant:
        events = await collect(assistant, "q")
    assert events[-1].data["text"] == "Searching... found."
    assert events[-1].data["model_calls"] == 2
    assert server.message_requests()[1]["messages"][-1]["role"] == "assistant"


async def test_store_failure_ends_the_turn_with_an_error(server: AnthropicServer) -> None:
    from jupyter_assistant import StoreError
    from jupyter_assistant.store import MemoryStore

    class FlakyStore(MemoryStore):
        async def add_message(self, user_id: str, conversation_id: str, role: str,
                              content: object, **kw: object) -> object:
            if role == "assistant":
                raise StoreError("disk full")
            return await super().add_message(user_id, conversation_id, role, content, **kw)

    server.script(Reply.tool_use("slow_probe", {"seconds": 0}), Reply.text("never"))
    async with make_assistant(tools=[slow_probe], store=FlakyStore()) as assistant:
        events = await collect(assistant, "q")
        session = await assistant.store.get_session("local", events[0].session_id)
    assert events[-1].type == "error" and events[-1].data["code"] == "store_error"
    assert "disk full" in events[-1].data["message"]
    assert session.status == "error"


async def test_setup_failures_still_start_with_session_started(server: AnthropicServer) -> None:
    async with make_assistant() as assistant:
        unknown = await collect(assistant, "q", conversation_id="no-such-conversation")
        bad_id = await collect(assistant, "q", session_id="bad/id")
    assert [e.type for e in unknown] == ["session_started", "error"]
    assert unknown[-1].data["code"] == "not_found"
    assert [e.type for e in bad_id] == ["session_started", "error"]
    assert bad_id[-1].data["code"] == "invalid_input"
    assert server.message_requests() == []


#: ``<repo>/../shared`` (CI clones the repository with ``shared/`` next to it).
REAL_TRACE = (Path(__file__).resolve().parents[3] / "shared" / "traces" / "hta" / "critical_path"
              / "cuda_event_sync" / "event_sync_trace.json.gz")


async def test_real_trace_by_path_with_the_default_tools(server: AnthropicServer) -> None:
    assert REAL_TRACE.is_file(), f"shared trace data not found at {REAL_TRACE}"
    server.script(Reply.tool_use("hotspots", {}), Reply.text("done"))
    async with make_assistant(include_default_tools=True) as assistant:
        events = await collect(assistant, "why slow?", trace=REAL_TRACE)
        missing = await collect(assistant, "q", trace="/no/such/trace.json")
    first = server.message_requests()[0]
    assert "The user's current trace" in first["system"]
    assert {"hotspots", "trace_summary"} <= {t["name"] for t in first["tools"]}
    (complete,) = of_type(events, "tool_use_complete")
    assert complete.data["is_error"] is False and "|" in complete.data["content"]
    assert missing[-1].data["code"] == "trace_not_found"


@pytest.mark.parametrize(("message", "code"), [
    ("", "empty_message"), (" \t\n", "empty_message"), ([], "invalid_input"),
    (None, "invalid_input"), (7, "invalid_input"), ("x" * 101, "message_too_long"),
])
def test_one_validation_of_user_messages(message: Any, code: str) -> None:
    from jupyter_assistant.orchestrator import validate_message

    with pytest.raises(InputError) as info:
        validate_message(message, 100)
    assert info.value.code == code
    assert validate_message("hi", 100) == "hi"
    # stored messages may be content blocks: the same codes
    for blocks, block_code in [([], "empty_message"), ([{"type": "text", "text": ""}],
                                                       "empty_message"),
                               ([{"type": "text", "text": "y" * 101}], "message_too_long"),
                               (["y"], "invalid_input"), ([{"text": "no type"}], "invalid_input"),
                               ([{"type": "text", "text": 5}], "invalid_input")]:
        with pytest.raises(InputError) as info:
            validate_message(blocks, 100, blocks=True)
        assert info.value.code == block_code
    ok = [{"type": "text", "text": "hi"}, {"type": "image", "source": {}}]
    assert validate_message(ok, 100, blocks=True) is ok
