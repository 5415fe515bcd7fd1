"""``Trace.diagnose()`` on real traces: the H200 before/after pairs, HTA's NCCL traces, a
real Chrome recording, Python profiles (cProfile, py-spy, pyinstrument, viztracer)."""

from __future__ import annotations

import gzip
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from jupyter_assistant import Trace, compare_traces, diagnose, load_trace
from jupyter_assistant.traces.diagnosis import FINDING_COLUMNS, KINDS, forced_layouts, long_tasks
from jupyter_assistant.traces.diagnosis._gpu_facts import gpu_facts

DATA = Path(__file__).resolve().parents[1] / "data"

# (before, after, the before's problem)
PAIRS = [
    ("gpu_dataloader_workers0", "gpu_dataloader_workers4", "input_bound"),
    ("gpu_h2d_per_sample", "gpu_h2d_pinned_batch", "host_to_device_copy"),
    ("gpu_mlp_eager_small_batch", "gpu_mlp_compiled_cudagraphs", "launch_overhead"),
]


def _check_frame(d: pd.DataFrame) -> None:
    assert list(d.columns) == list(FINDING_COLUMNS)
    assert d["kind"].isin(KINDS).all()
    assert d["severity"].isin(["high", "medium", "low"]).all()
    share = d["share"].dropna()
    assert ((share >= 0) & (share <= 1)).all()
    assert (d["evidence"].str.len() > 40).all() and (d["fix"].str.len() > 40).all()
    assert (d["source"].str.len() > 10).all()
    order = d["severity"].map({"high": 0, "medium": 1, "low": 2}).to_numpy()
    assert (np.diff(order) >= 0).all(), "most important first"


@pytest.mark.parametrize(("before", "after", "kind"), PAIRS)
def test_before_names_the_problem_and_after_does_not(
        before: str, after: str, kind: str, load_shared: Callable[[str], Trace]) -> None:
    a = load_shared(f"gpu/{before}.json.gz")
    b = load_shared(f"gpu/{after}.json.gz")
    da, db = a.diagnose(), b.diagnose()
    _check_frame(da)
    _check_frame(db)
    top = da.iloc[0]
    assert (top["kind"], top["severity"]) == (kind, "high"), da
    assert top["share"] >= 0.25
    high_after = db[db["severity"] == "high"]["kind"].tolist()
    assert kind not in high_after, db
    # the gain: the step time of the fix is lower, as compare_traces shows
    c = compare_traces(a, b).set_index("name")
    step = c.loc["ProfilerStep*"]
    assert step["count_a"] == step["count_b"] == 3
    assert step["total_dur_b"] < 0.6 * step["total_dur_a"]


def test_input_bound_evidence_names_the_loader(load_shared: Callable[[str], Trace]) -> None:
    d = load_shared("gpu/gpu_dataloader_workers0.json.gz").diagnose()
    row = d[d["kind"] == "input_bound"].iloc[0]
    assert "enumerate(DataLoader)#_SingleProcessDataLoaderIter.__next__" in row["evidence"]
    assert "num_workers" in row["fix"] and "pin_memory=True" in row["fix"]
    assert "Tuning Guide" in row["source"]


def test_copy_evidence(load_shared: Callable[[str], Trace]) -> None:
    d = load_shared("gpu/gpu_h2d_per_sample.json.gz").diagnose()
    row = d[d["kind"] == "host_to_device_copy"].iloc[0]
    assert "64 host<->device copies per step" in row["evidence"]
    assert "Pageable" in row["evidence"] and "pin_memory" in row["fix"]
    after = load_shared("gpu/gpu_h2d_pinned_batch.json.gz").diagnose()
    # one large pinned copy per step: still most of the (much shorter) step, but the
    # advice is to overlap it, not to pin or batch
    row = after[after["kind"] == "host_to_device_copy"].iloc[0]
    assert row["severity"] == "medium" and "overlap" in row["fix"]


def test_host_sync_is_named_before_launch_overhead(load_shared: Callable[[str], Trace]) -> None:
    d = load_shared("gpu/gpu_metrics_sync_each_iter.json.gz").diagnose()
    _check_frame(d)
    top = d.iloc[0]
    assert (top["kind"], top["severity"]) == ("host_sync", "high"), d
    # ~100 sync points per step (a .cpu() and a torch.cuda.synchronize() per iteration)
    assert "100 host-device synchronisation points inside each step" in top["evidence"]
    assert "cudaDeviceSynchronize" in top["evidence"]
    assert ".item()" in top["fix"]
    # step-timing syncs at the edges of each step are not flagged anywhere else
    for name in ("gpu_transformer_bf16_fused_adamw", "gpu_mlp_eager_small_batch",
                 "gpu_dataloader_workers0", "gpu_h2d_pinned_batch"):
        kinds = load_shared(f"gpu/{name}.json.gz").diagnose()["kind"].tolist()
        assert "host_sync" not in kinds, (name, kinds)


def test_healthy_gpu_bound_training(load_shared: Callable[[str], Trace]) -> None:
    d = load_shared("gpu/gpu_transformer_bf16_fused_adamw.json.gz").diagnose()
    _check_frame(d)
    top = d.iloc[0]
    assert top["kind"] == "gpu_compute_bound" and top["severity"] == "low", d
    assert top["share"] > 0.6
    assert "healthy" in top["evidence"]
    assert not (d["severity"] == "high").any()


def test_launch_overhead_evidence(load_shared: Callable[[str], Trace]) -> None:
    d = load_shared("gpu/gpu_mlp_eager_small_batch.json.gz").diagnose()
    row = d[d["kind"] == "launch_overhead"].iloc[0]
    assert "49 kernels per step" in row["evidence"]
    assert "reduce-overhead" in row["fix"]


@pytest.mark.parametrize("folder", ["trace_filter", "df_index_resolver"])
def test_exposed_collectives_are_communication_bound(
        folder: str, load_shared: Callable[[str], Trace]) -> None:
    d = load_shared(f"hta/{folder}").diagnose()
    _check_frame(d)
    row = d[d["kind"] == "communication_bound"].iloc[0]
    assert row["severity"] in ("high", "medium") and row["share"] >= 0.2
    assert "ncclKernel_" in row["evidence"] and "overlapped" in row["evidence"]


def test_overlapped_collectives_are_not_the_top_problem(
        load_shared: Callable[[str], Trace]) -> None:
    # nccl_parser_config: NCCL kernels are a small share of the step
    d = load_shared("hta/nccl_parser_config").diagnose()
    assert "communication_bound" not in d["kind"].tolist()
    control = load_shared("hta/trace_diff/control").diagnose()
    assert control.loc[control["kind"] == "communication_bound", "severity"].tolist() == [
        "medium"]


def test_devtools_forced_layouts_and_long_tasks() -> None:
    trace = load_trace(DATA / "devtools_forced_layout.json.gz")
    fl = forced_layouts(trace)
    assert len(fl) == 600  # 300 style + 300 layout passes forced by the page's loop
    assert set(fl["name"]) == {"Layout", "UpdateLayoutTree"}
    assert (fl["function"].str.startswith("thrash (file:///page.html:")).all()
    lt = long_tasks(trace)
    assert len(lt) >= 1 and (lt["dur"] > 50_000).all()
    assert lt.iloc[0]["top_function"] == "busy"
    d = diagnose(trace)
    _check_frame(d)
    kinds = d.set_index("kind")
    assert kinds.loc["layout_thrashing", "severity"] == "high"
    assert "600 forced synchronous" in kinds.loc["layout_thrashing", "evidence"]
    assert kinds.loc["long_tasks", "severity"] == "high"
    assert "Total Blocking Time" in kinds.loc["long_tasks", "evidence"]
    assert "`busy` (file:///page.html:14)" in kinds.loc["cpu_hotspot", "evidence"]


@pytest.mark.parametrize("rel", ["speedscope/Chrome/69/simple.json",
                                 "speedscope/Chrome/116/Trace-20230603T221323.json"])
def test_devtools_javascript_hotspot(rel: str, load_shared: Callable[[str], Trace]) -> None:
    trace = load_shared(rel)
    d = trace.diagnose()
    row = d[d["kind"] == "cpu_hotspot"].iloc[0]
    # the hottest sampled function (not a V8 meta-node such as "(program)")
    samples = trace.events[trace.events["cat"] == "cpu_sample"]
    stats = samples.groupby(samples["name"].astype(str))["self_dur"].sum()
    stats = stats.drop([n for n in stats.index if n.startswith("(")])
    assert f"`{stats.idxmax()}` (file:///" in row["evidence"]
    assert "JavaScript" in row["evidence"]


@pytest.mark.parametrize(("name", "where"), [
    ("workload.cprofile.prof", "hot_loop (record_profiles.py:42)"),
    ("workload.pyinstrument.speedscope.json", "`hot_loop` (record_profiles.py:42)"),
    ("workload.py-spy.speedscope.json", "`hot_loop` ("),
    ("viztracer_small.json.gz", "sleepy ("),
])
def test_python_profiles_cpu_hotspot(name: str, where: str) -> None:
    d = diagnose(load_trace(DATA / name))
    _check_frame(d)
    top = d.iloc[0]
    assert top["kind"] == "cpu_hotspot", d
    assert where in top["evidence"]
    assert "Python function" in top["evidence"]


def test_gc_pressure_from_a_real_viztracer_log_gc_trace() -> None:
    trace = load_trace(DATA / "gc_pressure.viztracer.json.gz")
    d = diagnose(trace)
    row = d[d["kind"] == "gc_pressure"].iloc[0]
    assert row["severity"] == "high" and row["share"] > 0.15
    # the collections are the counter's collecting=1..0 intervals
    c = trace.counters
    on = c[(c["series"] == "collecting")].sort_values("ts")
    n = int((on["value"] > 0).sum())
    assert f"{n:,} garbage collections" in row["evidence"]
    assert "gc.set_threshold" in row["fix"]
    # a workload without cycles has no GC finding
    assert "gc_pressure" not in diagnose(load_trace(DATA / "viztracer_small.json.gz"))[
        "kind"].tolist()


def test_empty_and_cpu_only_traces(load_shared: Callable[[str], Trace]) -> None:
    d = load_shared("hta/cpu_only").diagnose()
    _check_frame(d)
    assert not d["kind"].isin(["launch_overhead", "gpu_compute_bound"]).any()


def _key_averages_self_cpu(path: Path) -> dict[str, float]:
    """``Self CPU`` (µs) by name from the profiler's own ``key_averages().table()``."""
    unit = {"us": 1.0, "ms": 1e3, "s": 1e6}
    out: dict[str, float] = {}
    for line in path.read_text().splitlines():
        cols = line.split()
        if len(cols) < 11 or not cols[-1].isdigit():
            continue
        value = cols[-9]  # Name (may hold spaces), Self CPU %, Self CPU, ...
        num = value.rstrip("munsµ")
        name = " ".join(cols[:-10])  # the CPU row and the GPU-side annotation share names
        out[name] = max(out.get(name, 0.0), float(num) * unit[value[len(num):]])
    return out


@pytest.mark.parametrize("name", ["gpu_dataloader_workers4", "gpu_mlp_compiled_cudagraphs",
                                  "gpu_metrics_sync_each_iter"])
def test_host_bound_names_where_the_host_time_goes(
        name: str, load_shared: Callable[[str], Trace], shared_traces: Path) -> None:
    # the GPU is 80-95% idle inside the steps and no loader, copy or sync explains it
    trace = load_shared(f"gpu/{name}.json.gz")
    d = trace.diagnose()
    _check_frame(d)
    row = d[d["kind"] == "host_bound"].iloc[0]
    assert row["severity"] == "high" and row["share"] >= 0.5
    assert "Python in the step outside any recorded op (`ProfilerStep#*` self time)" in row[
        "evidence"]
    assert "py-spy" in row["fix"] and "HTA" not in row["fix"] and "host wait" in row["source"]
    # the host self time it names is part of the profiler's own Self CPU for that name
    facts = gpu_facts(trace)
    assert facts is not None
    truth = _key_averages_self_cpu(shared_traces / f"gpu/{name}.key_averages.txt")
    named = 0
    for op, us in facts.host_self.head(5).items():
        key = "ProfilerStep*" if op == "ProfilerStep#*" else str(op)
        if key in truth:
            assert us <= truth[key] * 1.001, (op, us, truth[key])
            named += 1
    assert named >= 2
    # the share: the host waits, plus the short launch waits when launch_overhead is not
    # reported (here: only for the sync trace, whose many small kernels are reported)
    launch_reported = "launch_overhead" in d["kind"].tolist()
    waits = facts.gaps["host"] + (0.0 if launch_reported else facts.gaps["launch"])
    assert row["share"] == pytest.approx(waits / facts.wall)
    assert launch_reported == (name == "gpu_metrics_sync_each_iter")
    assert ("short waits for a kernel launch" in row["evidence"]) != launch_reported
    # every moment of those waits is counted once (the loop's thread waiting for autograd's
    # thread is not counted beside it)
    assert facts.host_self.sum() == pytest.approx(facts.gaps["host"], rel=0.05)


def test_host_bound_fix_fits_the_trace(load_shared: Callable[[str], Trace]) -> None:
    eager = load_shared("gpu/gpu_dataloader_workers4.json.gz").diagnose()
    fix = eager.loc[eager["kind"] == "host_bound", "fix"].iloc[0]
    assert "reduce-overhead" in fix and "fused optimizer" in fix  # Adam.step self time
    graphs = load_shared("gpu/gpu_mlp_compiled_cudagraphs.json.gz").diagnose()
    row = graphs[graphs["kind"] == "host_bound"].iloc[0]
    assert "cudaGraphLaunch" in row["evidence"]
    assert "reduce-overhead" not in row["fix"] and "graph breaks" in row["fix"]


def test_no_host_bound_where_a_specific_cause_or_the_gpu_bounds_the_step(
        load_shared: Callable[[str], Trace]) -> None:
    for name in ("gpu_transformer_bf16_fused_adamw", "gpu_mlp_eager_small_batch",
                 "gpu_dataloader_workers0", "gpu_h2d_per_sample", "gpu_h2d_pinned_batch"):
        kinds = load_shared(f"gpu/{name}.json.gz").diagnose()["kind"].tolist()
        assert "host_bound" not in kinds, (name, kinds)
    # the sync trace: the syncs are named first, the host time beside them
    d = load_shared("gpu/gpu_metrics_sync_each_iter.json.gz").diagnose()
    assert d["kind"].tolist()[:2] == ["host_sync", "host_bound"], d


def test_cpu_op_hotspot_says_whether_it_is_dispatch_or_cpu_work(
        load_shared: Callable[[str], Trace]) -> None:
    # eager MLP, batch 8: aten::addmm's CPU self time is the dispatch of its GPU kernels
    d = load_shared("gpu/gpu_mlp_eager_small_batch.json.gz").diagnose()
    row = d[d["kind"] == "cpu_hotspot"].iloc[0]
    assert "`aten::addmm`" in row["evidence"]
    assert "100% of its calls launch GPU work" in row["evidence"]
    assert "torch.compile" in row["fix"] and "move the work to the GPU" not in row["fix"]
    # a CPU-only PyTorch trace: aten::mm computes on the CPU
    d = diagnose(load_trace(DATA / "torch_cpu_trace.json.gz"))
    row = d[d["kind"] == "cpu_hotspot"].iloc[0]
    assert "`aten::mm`" in row["evidence"] and "launches no GPU work" in row["evidence"]
    assert "no GPU activity" in row["evidence"] and "move the work" in row["fix"]
    assert "49% of the profiled step time" in row["evidence"]


def test_cpu_hotspot_says_what_its_share_is_of(tmp_path: Path) -> None:
    """The share is of the steps' time when the trace has ``ProfilerStep#`` ranges (of the
    steady-state steps when outliers were left out: test_torch_steps), of the profiled time
    when it has none: the same recording with its step ranges renamed."""
    raw = gzip.decompress((DATA / "torch_cpu_trace.json.gz").read_bytes())
    assert b'"ProfilerStep#' in raw
    path = tmp_path / "no_steps.json.gz"
    path.write_bytes(gzip.compress(raw.replace(b'"ProfilerStep#', b'"iteration#')))
    d = diagnose(load_trace(path))
    row = d[d["kind"] == "cpu_hotspot"].iloc[0]
    assert "`aten::mm`" in row["evidence"]
    assert "of the profiled time (the trace has no `ProfilerStep#` ranges)" in row["evidence"]


def test_sync_cost_matches_the_profilers_own_op_times(
        load_shared: Callable[[str], Trace], shared_traces: Path) -> None:
    # gpu_metrics_sync_each_iter: a .cpu() (DtoH cudaMemcpyAsync + cudaStreamSynchronize)
    # and a torch.cuda.synchronize() per iteration, 100 iterations per step. The GPU is 5%
    # busy, so each sync returns quickly: the host is blocked ~3% of the step and the GPU
    # idles ~7% behind the syncs; the rest of the idle time is host work (host_bound).
    trace = load_shared("gpu/gpu_metrics_sync_each_iter.json.gz")
    facts = gpu_facts(trace)
    assert facts is not None and facts.inner_syncs == 300
    truth = _key_averages_self_cpu(shared_traces / "gpu/gpu_metrics_sync_each_iter"
                                   ".key_averages.txt")
    # key_averages: cudaDeviceSynchronize 307 calls (300 inner + the step-timing ones),
    # cudaStreamSynchronize below the table's last row, cudaMemcpyAsync = DtoH + DtoD
    floor = truth["cudaDeviceSynchronize"] * 300 / 307
    ceiling = (truth["cudaDeviceSynchronize"] + truth["cudaMemcpyAsync"]
               + min(v for v in truth.values() if v > 0))
    assert floor <= facts.sync_blocked <= ceiling
    # the GPU idle charged to the syncs holds the host's blocked time
    assert facts.sync_blocked <= facts.gaps["sync"] + facts.gaps["kernel_wait"]
    d = trace.diagnose()
    row = d[d["kind"] == "host_sync"].iloc[0]
    assert row["share"] == pytest.approx(facts.gaps["sync"] / facts.wall)
    assert "little queued work" in row["evidence"]
    host = d[d["kind"] == "host_bound"].iloc[0]
    assert host["share"] > 0.4 > row["share"]
