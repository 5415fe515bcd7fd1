"""Trace tools on real traces (HTA Kineto fixtures, speedscope): each result is checked
against the trace engine or a direct pandas computation on ``Trace.events``."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pandas as pd
import pytest

from jupyter_assistant import load_trace
from jupyter_assistant.exceptions import ToolError
from jupyter_assistant.tools import ToolContext, default_tools
from jupyter_assistant.tools._render import fmt_us

pytestmark = pytest.mark.anyio

TRACES = Path(__file__).resolve().parents[3] / "shared" / "traces"  # ../shared beside the repo
ALEXNET = TRACES / "hta/critical_path/alexnet/benchmark_result_2869224_1695835535_trace.json.gz"
BASE = TRACES / "hta/trace_compare/base/base.json.gz"
TEST = TRACES / "hta/trace_compare/test/test.json.gz"
SAMPLED = TRACES / "speedscope/speedscope/0.6.0/two-sampled.speedscope.json"

TOOLS = {t.name: t for t in default_tools()}


@pytest.fixture(scope="module")
def traces() -> dict[str, Any]:
    return {"current": load_trace(ALEXNET), "base": load_trace(BASE), "test": load_trace(TEST),
            "sampled": load_trace(SAMPLED)}


@pytest.fixture
def ctx(traces: dict[str, Any]) -> ToolContext:
    return ToolContext(traces=traces)


async def call(ctx: ToolContext, tool_name: str, /, **args: Any) -> str:
    return str(await TOOLS[tool_name].call(args, ctx))


def table_rows(text: str) -> list[list[str]]:
    """Body rows of the first markdown table in ``text``, cells stripped."""
    lines: list[str] = []
    for ln in text.splitlines():
        if ln.startswith("|"):
            lines.append(ln)
        elif lines:
            break
    return [[c.strip() for c in ln.strip("|").split("|")] for ln in lines[2:]]


async def test_unknown_trace_names_the_loaded_ones(ctx: ToolContext) -> None:
    with pytest.raises(ToolError, match="no trace 'nope'; loaded traces: 'base', 'current'"):
        await call(ctx, "hotspots", trace="nope")
    with pytest.raises(ToolError, match="none"):
        await TOOLS["trace_summary"].call({}, ToolContext())


async def test_trace_summary_is_the_engine_summary(ctx: ToolContext, traces: dict) -> None:
    out = await call(ctx, "trace_summary", max_tokens=600)
    assert out == traces["current"].summary(max_tokens=600).text


async def test_hotspots_match_the_engine(ctx: ToolContext, traces: dict) -> None:
    out = await call(ctx, "hotspots", n=4)
    expected = traces["current"].hotspots(4)
    rows = table_rows(out)
    assert [r[0] for r in rows] == list(expected["name"])
    assert f"`{expected['name'][0]}` leads with {fmt_us(expected['self_dur'][0])}" in out
    by_count = table_rows(await call(ctx, "hotspots", n=3, by="count"))
    assert [int(r[1].replace(",", "")) for r in by_count] == list(
        traces["current"].hotspots(3, by="count")["count"])


async def test_hotspots_filtered_by_thread_name_and_window(ctx: ToolContext,
                                                           traces: dict) -> None:
    ev = traces["current"].events
    ev = ev[ev["cat"] != "Trace"]
    tid = int(ev.groupby("tid")["dur"].sum().idxmax())
    lo, hi = float(ev["ts"].quantile(0.2)), float(ev["ts"].quantile(0.8))
    sub = ev[(ev["tid"] == tid) & (ev["ts"] >= lo) & (ev["ts"] < hi)
             & ev["name"].astype(str).str.contains("cuda", case=False)]
    expected = sub.groupby("name", observed=True)["self_dur"].sum().sort_values(ascending=False)
    out = await call(ctx, "hotspots", thread=str(tid), start_us=lo, end_us=hi, name="CUDA", n=3)
    assert f"{len(sub):,} slices with" in out.splitlines()[0]
    rows = table_rows(out)
    assert [r[0] for r in rows] == list(expected.index[:3])
    assert float(rows[0][2].replace(",", "")) == pytest.approx(expected.iloc[0], abs=1)
    regex = await call(ctx, "hotspots", name="^cuda(Free|Malloc)$", regex=True, n=5)
    assert sorted(r[0] for r in table_rows(regex)) == ["cudaFree", "cudaMalloc"]
    with pytest.raises(ToolError, match="no thread named"):
        await call(ctx, "hotspots", thread="no-such-thread")


async def test_hotspots_on_gpu_streams(ctx: ToolContext, traces: dict) -> None:
    t = traces["current"]
    gpu = t.threads[t.threads["kind"] == "gpu"]
    ev = t.events.merge(gpu[["pid", "tid"]], on=["pid", "tid"])
    top = ev.groupby("name", observed=True)["self_dur"].sum().idxmax()
    out = await call(ctx, "hotspots", kind="gpu", n=2)
    assert table_rows(out)[0][0] == top


async def test_slice_details_parent_chain_and_children(ctx: ToolContext, traces: dict) -> None:
    ev = traces["current"].events
    row = int(ev.index[(ev["depth"] >= 2) & (ev["parent"] >= 0)][0])
    parent = int(ev.at[row, "parent"])
    out = await call(ctx, "slice_details", row=parent)
    assert out.startswith(f"Slice row {parent}: `{ev.at[parent, 'name']}`")
    chain, p = [], int(ev.at[parent, "parent"])
    while p >= 0:
        chain.append(str(p))
        p = int(ev.at[p, "parent"])
    enclosing = out.split("Enclosing slices")[1].split("direct children")[0]
    assert [r[0] for r in table_rows(enclosing)] == chain
    n_kids = int((ev["parent"] == parent).sum())
    assert f"{n_kids:,} direct children" in out
    assert str(row) in [r[0] for r in table_rows(out.split("direct children")[1])]
    by_name = await call(ctx, "slice_details", name="cudaFree")
    frees = ev[ev["name"] == "cudaFree"]
    assert by_name.startswith(f"Slice row {int(frees['dur'].idxmax())}: `cudaFree`")
    assert f"occurs {len(frees)} times" in by_name
    longest = await call(ctx, "slice_details")
    assert table_rows(longest)[0][0] == str(int(traces["current"].long_slices(1)["row"][0]))
    with pytest.raises(ToolError, match="out of range"):
        await call(ctx, "slice_details", row=len(ev))


async def test_thread_breakdown(ctx: ToolContext, traces: dict) -> None:
    util = traces["current"].thread_utilization()
    gaps = traces["current"].idle_gaps(min_gap_us=1000.0, n=3)
    out = await call(ctx, "thread_breakdown", n=3)
    assert f"the busiest, {util['thread_name'][0]}" in out
    assert f"Longest idle gap: {fmt_us(gaps['gap_us'][0])}" in out
    assert len(table_rows(out)) == min(3, len(util))


async def test_gpu_breakdown_and_cpu_only(ctx: ToolContext, traces: dict) -> None:
    tb = traces["current"].temporal_breakdown()
    out = await call(ctx, "gpu_breakdown", n=3)
    assert f"idle {tb['idle_time_pctg'][0]:.1f}%" in out.splitlines()[0]
    assert "Kernel time by type" in out and "Kernels by total time (top 3" in out
    only = await call(ctx, "gpu_breakdown", kind="temporal")
    assert "Kernels by" not in only
    cpu = await call(ctx, "gpu_breakdown", trace="sampled")
    assert cpu.startswith("No GPU breakdown for trace 'sampled': no GPU events")


async def test_compare_traces(ctx: ToolContext, traces: dict) -> None:
    from jupyter_assistant import compare_traces

    diff = compare_traces(traces["base"], traces["test"])
    worst = diff[diff["delta_us"] > 0].iloc[0]
    out = await call(ctx, "compare_traces", base="base", test="test", n=5)
    assert f"Biggest regression: `{worst['name']}` +{fmt_us(worst['delta_us'])}" in out
    assert [r[0] for r in table_rows(out)] == list(diff["name"][:5])
    with pytest.raises(ToolError, match="no trace"):
        await call(ctx, "compare_traces", base="missing")


async def test_query_events_tool(ctx: ToolContext, traces: dict) -> None:
    ev = traces["current"].events
    out = await call(ctx, "query_events", where="cat == 'kernel' and dur > 100",
                     sort_by="dur", limit=3)
    sel = ev[(ev["cat"] == "kernel") & (ev["dur"] > 100)].sort_values("dur", ascending=False)
    assert out.startswith(f"{len(sel):,} slices of trace 'current' match")
    assert [int(r[0]) for r in table_rows(out)] == list(sel.index[:3])
    grouped = await call(ctx, "query_events", where="cat == 'cuda_runtime'",
                         group_by=["name"], agg=["count"], sort_by="count", limit=1)
    top = ev[ev["cat"] == "cuda_runtime"]["name"].astype(str).value_counts()
    assert table_rows(grouped)[0][:2] == [top.index[0], str(top.iloc[0])]
    with pytest.raises(ToolError, match="not allowed"):
        await call(ctx, "query_events", where="__import__('os').getcwd()")
    assert isinstance(pd.DataFrame, type)


async def test_tool_definitions_are_valid_schemas() -> None:
    for t in default_tools():
        d = t.definition()
        assert d["input_schema"]["type"] == "object" and d["description"]
        assert "ctx" not in d["input_schema"]["properties"]
    hs = TOOLS["hotspots"].definition()["input_schema"]["properties"]
    assert hs["by"]["enum"] == ["self_dur", "total_dur", "count"]
    assert "thread" in hs and hs["start_us"]["type"] == "number"


async def test_diagnose_tool_gives_verdict_evidence_and_fix() -> None:
    trace = load_trace(TRACES / "gpu/gpu_h2d_per_sample.json.gz")
    ctx = ToolContext(traces={"current": trace})
    text = await call(ctx, "diagnose")
    d = trace.diagnose()
    top = d.iloc[0]
    first = text.splitlines()[0]
    assert first.startswith("Verdict for trace 'current': host_to_device_copy (high, "
                            f"explains {100 * top['share']:.0f}% of the time)")
    for _, r in d.iterrows():
        assert f"**{r['kind']}** ({r['severity']}" in text
        assert f"   - Evidence: {r['evidence']}" in text and f"   - Fix: {r['fix']}" in text
    assert len((await call(ctx, "diagnose", n=1)).split("\n1. ")) == 2
    assert "2. **" not in await call(ctx, "diagnose", n=1)


async def test_diagnose_tool_when_nothing_fires(ctx: ToolContext, traces: dict) -> None:
    assert traces["current"].diagnose().empty  # AlexNet benchmark: no rule fires
    text = await call(ctx, "diagnose")
    assert text.startswith("No bottleneck rule fired for trace 'current'")


async def test_gpu_breakdown_hta_extras() -> None:
    from jupyter_assistant.traces.analysis import comm_comp_overlap, cuda_kernel_launch_stats

    trace = load_trace(TRACES / "hta/trace_filter")
    ctx = ToolContext(traces={"current": trace})
    idle = await call(ctx, "gpu_breakdown", kind="idle")
    assert "host_wait on stream 23" in idle and "596,037" in idle.replace("596037", "596,037")
    launch = await call(ctx, "gpu_breakdown", kind="launch")
    stats = cuda_kernel_launch_stats(trace)
    assert launch.startswith(f"{len(stats):,} launches in trace 'current'")
    overlap = await call(ctx, "gpu_breakdown", kind="overlap")
    assert all(f"{v:.2f}" in overlap for v in comm_comp_overlap(trace)["comp_comm_overlap_pctg"])
    steps = await call(ctx, "gpu_breakdown", kind="steps")
    sb = trace.step_breakdown()
    assert steps.startswith(f"{len(sb)} profiler steps in trace 'current': mean "
                            f"{fmt_us(sb['dur'].mean())}")


async def test_hotspots_js_kind() -> None:
    trace = load_trace(TRACES / "speedscope/Chrome/69/simple.json")
    ctx = ToolContext(traces={"current": trace})
    text = await call(ctx, "hotspots", kind="js", n=3)
    top = trace.hotspots(1, kind="js").iloc[0]
    assert f"`{top['name']}` leads with {fmt_us(top['self_dur'])} self time" in text
    assert "(program)" not in text
