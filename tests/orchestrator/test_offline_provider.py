"""The offline provider: its rules, its answers, and whole turns through ``Assistant`` on
real traces with the real trace tools."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import anyio
import pytest
from orch_helpers import check_events, of_type, text_of

from jupyter_assistant import Assistant, load_trace
from jupyter_assistant.events import Event
from jupyter_assistant.orchestrator.providers import (
    MessageDone,
    ModelRequest,
    TextPart,
    ToolUsePart,
    ToolUseStartPart,
    create_provider,
)
from jupyter_assistant.orchestrator.providers.offline import (
    NOTICE,
    OfflineProvider,
    known_traces,
    plan_tools,
)
from jupyter_assistant.tools import default_tools
from jupyter_assistant.tools._render import fmt_us

pytestmark = pytest.mark.anyio

TRACES = Path(__file__).resolve().parents[3] / "shared" / "traces"  # ../shared beside the repo
ALEXNET = TRACES / "hta/critical_path/alexnet/benchmark_result_2869224_1695835535_trace.json.gz"
BASE = TRACES / "hta/trace_compare/base/base.json.gz"
TEST = TRACES / "hta/trace_compare/test/test.json.gz"
SPEEDSCOPE = TRACES / "speedscope/speedscope/0.6.0/two-sampled.speedscope.json"
TOOL_DEFS = [t.definition() for t in default_tools()]
ALL = {d["name"] for d in TOOL_DEFS}


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


async def parts_of(request: ModelRequest) -> list[Any]:
    return [p async for p in OfflineProvider(chunk_chars=40).stream(request)]


@pytest.mark.parametrize(("question", "expected"), [
    ("Why is my training step so slow?", ["diagnose", "hotspots"]),
    ("Give me an overview of this trace", ["trace_summary"]),
    ("Is the GPU idle? What about kernel utilization?", ["gpu_breakdown"]),
    ("Which thread is blocked waiting?", ["thread_breakdown"]),
    ("hello", ["diagnose", "trace_summary", "hotspots"]),
    ("slow GPU kernels", ["diagnose", "hotspots", "gpu_breakdown"]),
])
def test_rules(question: str, expected: list[str]) -> None:
    assert [n for n, _ in plan_tools(question, ALL, ["current"])] == expected


def test_compare_needs_two_traces_and_picks_base_and_test() -> None:
    assert plan_tools("did it regress?", ALL, ["current"]) == [
        ("diagnose", {"trace": "current"}), ("trace_summary", {"trace": "current"}),
        ("hotspots", {"trace": "current", "n": 10})]
    assert plan_tools("compare them", ALL, ["current", "before"]) == [
        ("compare_traces", {"base": "before", "test": "current"})]
    assert plan_tools("diff", ALL, ["base", "test"]) == [
        ("compare_traces", {"base": "base", "test": "test"})]
    assert plan_tools("anything", ALL, []) == []
    assert plan_tools("why slow", {"trace_summary"}, ["current"]) == []  # only offered tools


def test_trace_ids_from_metadata_or_system_prompt() -> None:
    req = ModelRequest(model="rules", messages=[], system=(
        'You are...\n\nThe user\'s current trace (trace id "current"):\n\n...\n\n'
        "Other loaded traces (pass their id to the trace tools): base, v2"))
    assert known_traces(req) == ["current", "base", "v2"]
    assert known_traces(ModelRequest(model="rules", messages=[],
                                     metadata={"trace_ids": ["b", "current"]})) == ["current",
                                                                                    "b"]
    assert known_traces(ModelRequest(model="rules", messages=[], system="no traces")) == []


async def test_question_gives_tool_use_blocks() -> None:
    req = ModelRequest(model="rules", tools=TOOL_DEFS, metadata={"trace_ids": ["current"]},
                       messages=[{"role": "user", "content": "why is it slow on the gpu?"}])
    parts = await parts_of(req)
    starts = [p for p in parts if isinstance(p, ToolUseStartPart)]
    uses = [p for p in parts if isinstance(p, ToolUsePart)]
    assert [u.name for u in uses] == ["diagnose", "hotspots", "gpu_breakdown"] == [
        s.name for s in starts]
    assert len({u.id for u in uses}) == 3 and not any(isinstance(p, TextPart) for p in parts)
    assert isinstance(parts[-1], MessageDone) and parts[-1].stop_reason == "tool_use"
    assert [u.id for u in uses] == [u.id for u in await parts_of(req) if isinstance(u, ToolUsePart)]


async def test_no_trace_explains_itself_first_line_notice() -> None:
    req = ModelRequest(model="rules", tools=TOOL_DEFS,
                       messages=[{"role": "user", "content": "why is it slow?"}])
    parts = await parts_of(req)
    texts = [p.text for p in parts if isinstance(p, TextPart)]
    assert len(texts) > 3
    text = "".join(texts)
    assert text.splitlines()[0] == NOTICE
    assert "No trace is loaded" in text and "--trace PATH" in text
    assert parts[-1].stop_reason == "end_turn"
    for how in ("ANTHROPIC_API_KEY", "openai:<model id>", "OPENAI_BASE_URL",
                "c.AssistantApp.model"):
        assert how in NOTICE


async def test_answer_from_tool_results_including_errors() -> None:
    hot = ("Top 2 slice names of trace 'current' by self_dur (all slices): `matmul` leads "
           "with 80 ms self time (64.0% of the self time considered), 90 ms inclusive, 3 "
           "calls.\n\n| name | count |\n|:--|--:|\n| matmul | 3 |\n| relu | 9 |")
    req = ModelRequest(model="rules", tools=TOOL_DEFS, messages=[
        {"role": "user", "content": "why slow"},
        {"role": "assistant", "content": [
            {"type": "tool_use", "id": "t1", "name": "hotspots", "input": {}},
            {"type": "tool_use", "id": "t2", "name": "gpu_breakdown", "input": {}}]},
        {"role": "user", "content": [
            {"type": "tool_result", "tool_use_id": "t1", "content": hot},
            {"type": "tool_result", "tool_use_id": "t2", "is_error": True,
             "content": [{"type": "text", "text": "gpu_breakdown timed out after 30 s"}]}]},
    ])
    parts = await parts_of(req)
    text = "".join(p.text for p in parts if isinstance(p, TextPart))
    assert text.startswith(NOTICE + "\n")
    assert "`matmul` alone takes 64.0% of the self time (80 ms)" in text
    assert "`gpu_breakdown` failed: gpu_breakdown timed out after 30 s" in text
    assert "| matmul | 3 |" in text
    assert parts[-1].stop_reason == "end_turn"


def test_registry_builds_it() -> None:
    p = create_provider("offline")
    assert isinstance(p, OfflineProvider) and p.spec == "offline:rules" and p.price() is None


# -- whole turns ---------------------------------------------------------------------------
async def run_turn(message: str, **kwargs: Any) -> list[Event]:
    a = Assistant(model="offline", turn_deadline=60)
    try:
        with anyio.fail_after(60):
            events = [e async for e in a.run(message, **kwargs)]
    finally:
        await a.aclose()
    check_events(events)
    assert events[-1].type == "message_complete", events[-1].data
    return events


async def test_turn_on_a_gpu_trace() -> None:
    trace = load_trace(ALEXNET)
    events = await run_turn("Why is this slow, and is the GPU idle?", trace=trace)
    assert [e.data["name"] for e in of_type(events, "tool_use_start")] == [
        "diagnose", "hotspots", "gpu_breakdown"]
    assert all(not e.data["is_error"] for e in of_type(events, "tool_use_complete"))
    text = text_of(events)
    assert text.splitlines()[0] == NOTICE
    assert len(of_type(events, "text_delta")) > 3
    top = trace.hotspots(1)
    assert f"`{top['name'][0]}` alone takes {top['self_pct'][0]:.1f}% of the self time" in text
    idle = trace.temporal_breakdown()["idle_time_pctg"][0]
    assert f"The GPU is idle {idle:.1f}% of the time" in text
    assert events[-1].data["model_calls"] == 2
    # the diagnosis comes first (on this trace no bottleneck rule fires)
    assert trace.diagnose().empty
    assert "No bottleneck rule fired for trace 'current'" in text


async def test_why_slow_answers_with_the_finding_and_its_fix() -> None:
    trace = load_trace(TRACES / "gpu/gpu_dataloader_workers0.json.gz")
    text = text_of(await run_turn("why is this slow?", trace=trace))
    assert text.splitlines()[0] == NOTICE
    assert "Verdict for trace 'current': input_bound (high" in text
    assert "Change first (input_bound, high" in text and "num_workers" in text


async def test_turn_comparing_two_traces() -> None:
    base, test = load_trace(BASE), load_trace(TEST)
    events = await run_turn("compare base and test: what regressed?",
                            traces={"base": base, "test": test})
    assert [e.data["input"] for e in of_type(events, "tool_use_start")] == [
        {"base": "base", "test": "test"}]
    from jupyter_assistant import compare_traces

    diff = compare_traces(base, test)
    worst = diff[diff["delta_us"] > 0].iloc[0]
    assert (f"The largest regression is `{worst['name']}` (+{fmt_us(worst['delta_us'])}"
            in text_of(events))


async def test_turn_on_a_cpu_profile_and_without_trace() -> None:
    events = await run_turn("summary please", trace=SPEEDSCOPE)
    text = text_of(events)
    assert "### Trace summary" in text and "two-sampled" in text
    events = await run_turn("why is it slow?")
    assert not of_type(events, "tool_use_start")
    assert "No trace is loaded" in text_of(events)


def test_observations_read_only_the_headline_of_a_result() -> None:
    from jupyter_assistant.orchestrator.providers.offline import _observations

    head = "Top 1 slice names: `f` leads with 5 ms self time (80.0% of the self time)."
    assert _observations({"hotspots": head + "\n\nrest"})[0].startswith("`f` alone takes 80.0%")
    # a table row below (slice names come from the trace) is never parsed, nor is text past
    # 4,000 characters of the first line (the patterns backtrack on long crafted names)
    assert _observations({"hotspots": "Top slice names:\n" + head}) == []
    assert _observations({"hotspots": "x" * 4000 + head}) == []
