"""Real ``torch.profiler`` CPU traces of a training loop recorded with a ``schedule`` from its
very first step (tests/data/record_torch_warmup.py): loading, ``ProfilerStep#N`` handling,
hotspots, step breakdowns, the summary and the diagnosis of a trace without any GPU.

* ``torch_warmup_trace.json.gz``: 6 steps of a small CNN with Adam; step 0 is the first
  step of the process (Adam creates its state, oneDNN its convolution primitives).
* ``torch_compile_trace.json.gz``: the same loop on a ``torch.compile``-d model; step 0
  holds the compilation (Dynamo and Inductor, ~55 s here), steps 1-5 run the compiled graphs.
"""

from __future__ import annotations

import math
import re
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from chrome_checks import DATA, check_table, raw_events

from jupyter_assistant import Trace, load_trace
from jupyter_assistant.traces.analysis.steps import (
    profiler_steps,
    step_kernel_categories,
    step_phases,
)

WARMUP = DATA / "torch_warmup_trace.json.gz"
COMPILE = DATA / "torch_compile_trace.json.gz"
STEPS = list(range(6))
#: the diagnosis kinds that need a GPU (or several ranks) to be true
GPU_KINDS = {"input_bound", "host_sync", "launch_overhead", "host_to_device_copy",
             "gpu_compute_bound", "communication_bound", "host_bound"}
#: parameters of the recorded CNN: 2 convs, 2 batch norms, 1 linear, a weight and a bias each
PARAMETERS = 10


@pytest.fixture(scope="module")
def warmup() -> Trace:
    return load_trace(WARMUP)


@pytest.fixture(scope="module")
def compiled() -> Trace:
    return load_trace(COMPILE)


def _step_of(trace: Trace, mask: pd.Series) -> np.ndarray:
    """The step number each masked slice starts in (-1: outside every step)."""
    steps = profiler_steps(trace)
    ts = trace.events.loc[mask, "ts"].to_numpy()
    i = np.searchsorted(steps["ts"].to_numpy(), ts, side="right") - 1
    inside = (i >= 0) & (ts < steps["end"].to_numpy()[np.maximum(i, 0)])
    return np.where(inside, steps["step"].to_numpy()[np.maximum(i, 0)], -1)


@pytest.mark.parametrize("path", [WARMUP, COMPILE], ids=["warmup", "compile"])
def test_loads_as_a_cpu_only_kineto_trace_with_its_steps(path: Path) -> None:
    trace = load_trace(path)
    check_table(trace)
    assert trace.format == "kineto" and trace.ranks == [0]
    assert (trace.threads["kind"] != "gpu").all()
    assert trace.metadata["profiler_steps"] == STEPS
    assert not trace.metadata.get("warnings")   # one process: no rank to warn about
    raw = raw_events(path)
    assert len(trace.events) == sum(e.get("ph") == "X" for e in raw)
    assert set(trace.events["cat"]) == {"cpu_op", "user_annotation", "Trace"}
    assert (trace.events["stream"] == -1).all()


def test_profiler_steps_are_disjoint_windows_on_the_loop_thread(warmup: Trace) -> None:
    steps = profiler_steps(warmup)
    assert steps["step"].tolist() == STEPS
    assert steps["name"].tolist() == [f"ProfilerStep#{n}" for n in STEPS]
    assert steps["tid"].nunique() == 1 and (steps["dur"] > 0).all()
    assert (steps["ts"].to_numpy()[1:] >= steps["end"].to_numpy()[:-1]).all()
    ev = warmup.events
    assert (ev.loc[steps["row"], "depth"] == 0).all()
    # every op of the loop runs inside a step (the profiler only records inside them)
    ops = ev["cat"] == "cpu_op"
    assert (_step_of(warmup, ops) >= 0).all()


def test_step_phases_are_the_record_function_ranges(warmup: Trace) -> None:
    phases = step_phases(warmup)
    assert set(phases["thread"]) == {"main"}   # CPU backward runs on the calling thread
    table = phases.pivot_table(index="step", columns="phase", values="dur_us")
    assert table.index.tolist() == STEPS
    assert set(table.columns) == {"forward", "backward", "optimizer", "(not annotated)"}
    # the phases tile each step: together 100% of it
    total = phases.groupby("step")["step_pct"].sum()
    assert np.allclose(total.to_numpy(), 100.0, atol=0.01)
    assert ((table["forward"] + table["backward"]) > 10 * table["(not annotated)"]).all()
    assert phases.groupby("step")["count"].sum().min() == 4


def test_the_first_step_is_the_warmup_outlier(warmup: Trace) -> None:
    steps = profiler_steps(warmup).set_index("step")["dur"]
    assert steps.idxmax() == 0
    # recorded: 47.2 ms against a median of 23.3 ms for steps 1-5
    assert steps[0] > 1.5 * steps.drop(0).median()
    ev = warmup.events
    name = ev["name"].astype(str)
    # Adam creates exp_avg and exp_avg_sq lazily, for every parameter, in its first step
    zeros = name == "aten::zeros_like"
    assert zeros.sum() == 2 * PARAMETERS
    assert set(_step_of(warmup, zeros)) == {0}
    adam = name == "Optimizer.step#Adam.step"
    assert sorted(_step_of(warmup, adam)) == STEPS


def test_hotspots_name_the_real_aten_ops(warmup: Trace) -> None:
    hs = warmup.hotspots(n=None)
    top = set(hs.head(10)["name"])
    assert {"aten::mkldnn_convolution", "aten::convolution_backward",
            "aten::native_batch_norm", "aten::native_batch_norm_backward"} <= top
    by_name = hs.set_index("name")
    assert by_name.loc["aten::mkldnn_convolution", "count"] == 2 * len(STEPS)
    assert by_name.loc["Optimizer.step#Adam.step", "count"] == len(STEPS)
    assert all(by_name.loc[f"ProfilerStep#{n}", "count"] == 1 for n in STEPS)
    assert not any(str(n).startswith("PyTorch Profiler") for n in hs["name"])
    assert hs["self_pct"].sum() == pytest.approx(100.0)
    assert np.isfinite(hs[["self_dur", "total_dur", "self_pct"]].to_numpy()).all()
    assert (warmup.hotspots(n=None, kind="gpu")).empty


@pytest.mark.parametrize("which", ["warmup", "compile"])
def test_step_breakdown_without_a_gpu_is_all_idle_never_nan(which: str, warmup: Trace,
                                                             compiled: Trace) -> None:
    trace = warmup if which == "warmup" else compiled
    df = trace.step_breakdown()
    assert df["step"].tolist() == STEPS
    assert np.isfinite(df.select_dtypes("number").to_numpy(dtype=float)).all()
    assert (df["gpu_busy_us"] == 0).all() and (df["gpu_busy_pct"] == 0).all()
    assert (df["gpu_idle_us"] == df["dur"]).all()
    assert (df[["kernels", "memcpys", "memsets"]] == 0).all().all()
    assert step_kernel_categories(trace).empty


@pytest.mark.parametrize("which", ["warmup", "compile"])
def test_summary_and_diagnosis_of_a_cpu_only_trace(which: str, warmup: Trace,
                                                   compiled: Trace) -> None:
    trace = warmup if which == "warmup" else compiled
    text = trace.summary(max_tokens=1500).text
    assert text and not re.search(r"\b(nan|inf)\b", text, re.IGNORECASE)
    assert "format **kineto**" in text and "loader warning" not in text
    assert "GPU" not in text.split("### Verdict")[1].split("###")[1]   # no GPU tables
    top = str(trace.hotspots(1)["name"].iloc[0])
    assert f"| {top} |" in text
    d = trace.diagnose()
    assert not set(d["kind"]) & GPU_KINDS
    assert all(math.isfinite(s) and 0 <= s <= 1 for s in d["share"])


def test_the_compile_step_holds_the_compilation(compiled: Trace) -> None:
    steps = profiler_steps(compiled).set_index("step")["dur"]
    # recorded: 54.6 s of compilation against 15-30 ms per compiled step
    assert steps.idxmax() == 0 and steps[0] > 100 * steps.drop(0).max()
    name = compiled.events["name"].astype(str)
    compile_ranges = name.str.endswith("(dynamo_timed)")
    assert compile_ranges.sum() > 50 and set(_step_of(compiled, compile_ranges)) == {0}
    # Dynamo's frame is entered every step; each step calls the compiled forward and
    # backward graphs once; guards are looked up in the steps after the first
    region = name == "Torch-Compiled Region: 0/0"
    assert sorted(_step_of(compiled, region)) == STEPS
    graphs = name.str.match(r"^## Call CompiledFxGraph \w+ ##$")
    assert sorted(_step_of(compiled, graphs)) == sorted(STEPS * 2)
    assert sorted(_step_of(compiled, name == "TorchDynamo Cache Lookup")) == STEPS[1:]
    hs = compiled.hotspots(5)
    assert hs["name"].str.endswith("(dynamo_timed)").all()


def test_the_diagnosis_sets_the_compile_step_apart(warmup: Trace, compiled: Trace) -> None:
    """``outlier_steps`` on a real torch.compile run recorded from its first step (the rule
    was written on other traces): step 0 is named, with the compilation as its cause and the
    profiler schedule as the fix; a 2x warm-up step (Adam's lazy state) is below the rule's
    3x and is not reported."""
    d = compiled.diagnose()
    assert d["kind"].iloc[0] == "outlier_steps" and d["severity"].iloc[0] == "high"
    row = d.iloc[0]
    assert "`ProfilerStep#0`" in row["evidence"] and "torch.compile" in row["evidence"]
    assert "schedule" in row["fix"]
    assert "outlier_steps" not in set(warmup.diagnose()["kind"])
    hot = d[d["kind"] == "cpu_hotspot"]
    assert "of the steady-state steps' time" in hot["evidence"].iloc[0]
