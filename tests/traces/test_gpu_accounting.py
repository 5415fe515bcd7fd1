"""GPU accounting on the real H200 traces (``shared/traces/gpu``): ``gpu_user_annotation``
ranges are never kernels, device busy time is the union of kernel, memcpy and memset
intervals, and no percentage leaves [0, 100]. HTA's exact numbers on its own traces are
checked in ``test_gpu_breakdown.py``."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from jupyter_assistant import Trace
from jupyter_assistant.traces import build_slice_table
from jupyter_assistant.traces.analysis import temporal_breakdown
from jupyter_assistant.traces.analysis.gpu_util import gpu_utilization

GPU_DIR = Path(__file__).resolve().parents[3] / "shared" / "traces" / "gpu"
GPU_TRACES = sorted(p.name.removesuffix(".json.gz") for p in GPU_DIR.glob("*.json.gz"))
DEVICE_WORK = ("kernel", "gpu_memcpy", "gpu_memset")


def _union(intervals: list[tuple[float, float]]) -> float:
    """Plain-Python union length, independent of the code under test."""
    total, cur_s, cur_e = 0.0, None, None
    for s, e in sorted(intervals):
        if cur_e is None or s > cur_e:
            if cur_e is not None:
                total += cur_e - cur_s
            cur_s, cur_e = s, e
        else:
            cur_e = max(cur_e, e)
    return total + ((cur_e - cur_s) if cur_e is not None else 0.0)


def test_gpu_traces_are_present() -> None:
    assert len(GPU_TRACES) == 8, GPU_TRACES


@pytest.mark.parametrize("name", GPU_TRACES)
def test_annotations_are_never_kernels(name: str, load_shared: Callable[[str], Trace]) -> None:
    trace = load_shared(f"gpu/{name}.json.gz")
    ev = trace.events
    annotations = set(ev.loc[ev["cat"] == "gpu_user_annotation", "name"].astype(str))
    assert annotations  # ProfilerStep#N (or forward/backward/... ranges) on the stream
    device_names = set(ev.loc[ev["cat"].isin(DEVICE_WORK), "name"].astype(str))
    gpu_hot = trace.hotspots(n=None, kind="gpu")
    assert set(gpu_hot["name"]) <= device_names
    assert not any(n.startswith("ProfilerStep#") for n in gpu_hot["name"])
    # the GPU stream's self time is the device work's own time, all of it
    work = ev[ev["cat"].isin(DEVICE_WORK)]
    assert gpu_hot["self_dur"].sum() == pytest.approx(work["dur"].clip(lower=0).sum())

    # busy time of the stream = the union of its kernel, memcpy and memset intervals
    expect = _union(list(zip(work["ts"], work["end"], strict=True)))
    util = trace.thread_utilization()
    stream = util[util["kind"] == "gpu"].iloc[0]
    assert stream["busy_us"] == pytest.approx(expect, rel=1e-9)
    gu = gpu_utilization(trace).iloc[0]
    assert gu["busy_us"] == pytest.approx(expect, rel=1e-9)
    assert 0 <= gu["busy_pct"] <= 100

    for kwargs in ({}, {"include_last_profiler_step": True}, {"round_ns": False}):
        tb = trace.temporal_breakdown(**kwargs)
        pct = tb[["idle_time_pctg", "compute_time_pctg", "non_compute_time_pctg"]]
        assert ((pct >= 0) & (pct <= 100)).all().all(), (kwargs, tb)
    kb = trace.kernel_breakdown()
    assert not kb["name"].str.startswith("ProfilerStep#").any()


def test_the_gpu_of_the_sync_workload_is_mostly_idle(
        load_shared: Callable[[str], Trace]) -> None:
    # the report: the stream looked ~99% busy because of the step annotations
    util = load_shared("gpu/gpu_metrics_sync_each_iter.json.gz").thread_utilization()
    assert util.loc[util["kind"] == "gpu", "busy_pct"].iloc[0] < 10


def _kernels(spec: list[tuple[str, str, float, float, dict]]) -> Trace:
    cols: dict[str, list] = {c: [] for c in ("name", "cat", "pid", "tid", "ts", "dur", "args",
                                             "correlation", "stream")}
    for i, (name, cat, ts, dur, extra) in enumerate(spec):
        for k, v in (("name", "cudaLaunchKernel"), ("cat", "cuda_runtime"), ("pid", 100),
                     ("tid", 100), ("ts", ts - 3), ("dur", 1.0),
                     ("args", {"correlation": i}), ("correlation", i), ("stream", -1)):
            cols[k].append(v)
        args = {"correlation": i, "stream": 7} | extra
        for k, v in (("name", name), ("cat", cat), ("pid", 0), ("tid", 7), ("ts", ts),
                     ("dur", dur), ("args", args), ("correlation", i), ("stream", 7)):
            cols[k].append(v)
    threads = pd.DataFrame({"pid": [0, 100], "tid": [7, 100], "rank": [0, 0],
                            "process_name": ["gpu", "python"], "thread_name": ["stream 7", "main"],
                            "sort_index": [0.0, 1.0], "kind": ["gpu", "cpu"]})
    return Trace(events=build_slice_table(cols), threads=threads,
                 metadata={"format": "kineto", "ranks": [0]})


def test_hta_negative_unions_are_not_reported() -> None:
    # isolated sub-µs kernels become [ceil(ts), floor(end)] = length -1 under HTA's ns
    # rounding; HTA's union adds those -1s, which gives an impossible breakdown
    spec = [("gemm", "kernel", 10.0, 3.0, {})]
    spec += [(f"tiny{i}", "kernel", 20.3 + 5 * i, 0.4, {}) for i in range(20)]
    trace = _kernels(spec)
    tb = temporal_breakdown(trace)
    row = tb.iloc[0]
    pct = row[["idle_time_pctg", "compute_time_pctg", "non_compute_time_pctg"]]
    assert ((pct >= 0) & (pct <= 100)).all(), tb
    assert row["compute_time(us)"] == 3.0  # gemm [10, 13); every tiny kernel is empty
    assert "rank(s) [0]" in tb.attrs["note"]


def test_annotation_with_a_stream_argument_is_not_a_kernel() -> None:
    spec = [("k", "kernel", 10.0, 2.0, {}), ("k", "kernel", 90.0, 2.0, {}),
            ("ProfilerStep#1", "gpu_user_annotation", 0.0, 500.0, {})]
    trace = _kernels(spec)
    row = temporal_breakdown(trace).iloc[0]
    assert row["kernel_time(us)"] == 82.0 and row["compute_time(us)"] == 4.0
    assert gpu_utilization(trace).iloc[0]["busy_us"] == 4.0
    assert list(trace.hotspots(kind="gpu")["name"]) == ["k"]
    assert np.isclose(trace.thread_utilization().query("kind == 'gpu'")["busy_us"].iloc[0], 4)
