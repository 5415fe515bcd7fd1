"""Outlier profiler steps (warm-up, compile, unrecorded) on real traces: found where they
are, absent where they are not, and left out of the other GPU rules."""

from __future__ import annotations

import gzip
import json
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest

from jupyter_assistant import Trace, diagnose, load_trace
from jupyter_assistant.traces.analysis import step_outliers
from jupyter_assistant.traces.analysis.step_outliers import OUTLIER_COLUMNS

# every Kineto trace (file or HTA folder) with profiler steps in ../shared/traces
WITH_STEPS = [
    "gpu/gpu_dataloader_workers0.json.gz", "gpu/gpu_dataloader_workers4.json.gz",
    "gpu/gpu_h2d_per_sample.json.gz", "gpu/gpu_h2d_pinned_batch.json.gz",
    "gpu/gpu_metrics_sync_each_iter.json.gz", "gpu/gpu_mlp_compiled_cudagraphs.json.gz",
    "gpu/gpu_mlp_eager_small_batch.json.gz", "gpu/gpu_transformer_bf16_fused_adamw.json.gz",
    "hta/amd_trace", "hta/cpu_only", "hta/df_index_resolver", "hta/distributed_info_unavailable",
    "hta/mtia_trace_single_rank", "hta/nccl_parser_config",
    "hta/negative_queue_length_values_check", "hta/ns_resolution_trace", "hta/rank_non_gpu",
    "hta/rank_unavailable", "hta/trace_filter", "hta/critical_path/cuda_event_sync",
    "hta/trace_compare/base", "hta/trace_compare/test", "hta/trace_diff/control",
    "hta/trace_diff/test",
]


def test_triton_example_step_is_not_the_steady_state(
        load_shared: Callable[[str], Trace]) -> None:
    trace = load_shared("hta/triton_example")
    st = step_outliers(trace)
    assert list(st.columns) == list(OUTLIER_COLUMNS)
    assert st[["step", "outlier", "reason"]].values.tolist() == [[1, True, "unrecorded"]]
    # the step lasts 13.3 s; the profiler's span ends 1.67 ms into it
    assert st["dur"].iloc[0] == pytest.approx(13_336_315.805)
    assert st["recorded"].iloc[0] == pytest.approx(1673.18, abs=0.01)
    d = diagnose(trace)
    assert d["kind"].tolist() == ["outlier_steps"], d  # no host_bound on one broken step
    row = d.iloc[0]
    assert row["severity"] == "high" and row["share"] > 0.99
    ev = row["evidence"]
    assert "`ProfilerStep#1` lasts 13.3 s" in ev and "recording span" in ev
    assert "`Torch-Compiled Region: 0/0`" in ev  # what the host did in it
    assert "no steady-state step is left" in ev
    assert "schedule(skip_first=K, wait=1, warmup=1, active=3)" in row["fix"]
    assert "prof.step()" in row["fix"] and "profiler recipe" in row["source"]
    assert "every step is an outlier" in d.attrs["headline"]


@pytest.mark.parametrize("rel", WITH_STEPS)
def test_no_outlier_in_steady_traces(rel: str, load_shared: Callable[[str], Trace]) -> None:
    trace = load_shared(rel)
    st = step_outliers(trace)
    assert len(st) and not st["outlier"].any(), st
    assert (st["recorded"] <= st["dur"]).all()
    # a reference from at least two other steps, else none
    per_rank = st.groupby("rank")["step"].transform("size").to_numpy()
    assert np.isnan(st["reference"].to_numpy()[per_rank < 3]).all()
    assert np.isfinite(st["ratio"].to_numpy()[per_rank >= 3]).all()
    assert (st["ratio"].to_numpy()[per_rank >= 3] < 3).all()
    assert "outlier_steps" not in diagnose(trace)["kind"].tolist()


def _with_compile_step(src: Path, dst: Path, extra_us: float, which: int = 0) -> None:
    """The real trace with ``extra_us`` of compilation inserted at the start of its step
    number ``which`` (0: the first): every event after the step's start moves later, the
    step and the profiler's span grow, and a Dynamo ``(dynamo_timed)`` range covers the
    inserted time."""
    with gzip.open(src, "rt") as f:
        data = json.load(f)
    events = data["traceEvents"]
    steps = [e for e in events if e.get("cat") == "user_annotation"
             and str(e.get("name", "")).startswith("ProfilerStep#")]
    first = sorted(steps, key=lambda e: e["ts"])[which]
    t0 = first["ts"]
    for e in events:
        if e is first or e.get("cat") == "Trace":
            e["dur"] = e["dur"] + extra_us
        elif e.get("ph") != "M" and "ts" in e and e["ts"] > t0:
            e["ts"] = e["ts"] + extra_us
    events.append({"ph": "X", "cat": "user_annotation", "name":
                   "OutputGraph.call_user_compiler (dynamo_timed)", "pid": first["pid"],
                   "tid": first["tid"], "ts": t0 + 1.0, "dur": extra_us - 2.0, "args": {}})
    dst.write_text(json.dumps(data))


@pytest.mark.parametrize("name", ["gpu_transformer_bf16_fused_adamw",
                                  "gpu_mlp_eager_small_batch", "gpu_dataloader_workers0"])
def test_a_compile_step_is_found_and_left_out(name: str, shared_traces: Path, tmp_path: Path,
                                              load_shared: Callable[[str], Trace]) -> None:
    rel = f"gpu/{name}.json.gz"
    path = tmp_path / "compiled_first_step.json"
    _with_compile_step(shared_traces / rel, path, extra_us=2_000_000.0)
    trace = load_trace(path)
    st = step_outliers(trace)
    assert st["reason"].tolist() == ["slow", "", ""]
    assert st["ratio"].iloc[0] > 100
    d = diagnose(trace)
    row = d.iloc[0]
    assert row["kind"] == "outlier_steps" and row["severity"] == "high", d
    ev = row["evidence"]
    assert "the median of the other 2 steps" in ev
    assert "`OutputGraph.call_user_compiler (dynamo_timed)` +2 s" in ev
    assert "torch.compile compilation" in ev
    assert "steady-state steps only" in ev
    assert "skip_first" in row["fix"] and "recompil" not in row["fix"]  # a first step
    # the rest is the diagnosis of the steady steps, the same kinds as the original trace
    # (not host_bound or a CPU hotspot from a 2 s step with an idle GPU)
    rest = d[d["kind"] != "outlier_steps"]
    orig = diagnose(load_shared(rel))
    assert rest[["kind", "severity"]].values.tolist() == orig[["kind", "severity"]].values.tolist()
    assert "2 steady-state profiler steps" in d.attrs["headline"]


def test_a_slow_step_later_in_the_run(shared_traces: Path, tmp_path: Path) -> None:
    path = tmp_path / "recompiled_second_step.json"
    _with_compile_step(shared_traces / "gpu/gpu_mlp_eager_small_batch.json.gz", path,
                       extra_us=50_000.0, which=1)
    d = diagnose(load_trace(path))
    row = d[d["kind"] == "outlier_steps"].iloc[0]
    assert row["severity"] == "high" and "`ProfilerStep#3` took 51.1 ms" in row["evidence"]
    assert "recompilation" in row["fix"] and "TORCH_LOGS=recompiles" in row["fix"]


def test_without_steps_nothing_is_singled_out(load_shared: Callable[[str], Trace]) -> None:
    trace = load_shared("hta/critical_path/alexnet")
    assert step_outliers(trace).empty
    assert "outlier_steps" not in diagnose(trace)["kind"].tolist()
