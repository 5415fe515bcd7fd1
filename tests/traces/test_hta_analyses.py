"""HTA's remaining analyses (idle time breakdown, kernel launch statistics, comm/comp
overlap, memory bandwidth) against HolisticTraceAnalysis 0.5.0's own output, and the
per-step breakdown on the real H200 traces.

The HTA numbers are those printed in ``shared/traces/hta-ground-truth/README.md`` ("Extras
on the multi-rank pair hta/trace_filter"), produced by HTA 0.5.0 on ``hta/trace_filter``.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pandas as pd
import pytest

from jupyter_assistant import Trace
from jupyter_assistant.traces import build_slice_table
from jupyter_assistant.traces.analysis import (
    comm_comp_overlap,
    cuda_kernel_launch_stats,
    idle_time_breakdown,
    memory_bw_summary,
    memory_bw_time_series,
    step_breakdown,
    step_kernel_categories,
    step_phases,
)
from jupyter_assistant.traces.analysis.gpu_idle import IDLE_COLUMNS

# HTA 0.5.0 get_idle_time_breakdown(ranks=[0, 1], visualize=False)[0] on hta/trace_filter
HTA_IDLE = [
    (0, 23, "host_wait", 596037.0, 1.00), (0, 23, "kernel_wait", 70.0, 0.00),
    (0, 23, "other", 34.0, 0.00), (0, 84, "host_wait", 148934.0, 1.00),
    (0, 84, "kernel_wait", 6.0, 0.00), (0, 84, "other", 0.0, 0.00),
    (0, 25, "kernel_wait", 9.0, 0.00), (0, 25, "other", 47865.0, 1.00),
    (0, 7, "host_wait", 213825.0, 0.45), (0, 7, "kernel_wait", 1985.0, 0.00),
    (0, 7, "other", 261740.0, 0.55), (0, 203, "other", 0.0, np.nan),
    (1, 23, "host_wait", 596313.0, 1.00), (1, 23, "kernel_wait", 100.0, 0.00),
    (1, 23, "other", 0.0, 0.00), (1, 25, "kernel_wait", 9.0, 0.00),
    (1, 25, "other", 53028.0, 1.00), (1, 7, "host_wait", 156827.0, 0.36),
    (1, 7, "kernel_wait", 1816.0, 0.00), (1, 7, "other", 281064.0, 0.64),
    (1, 84, "host_wait", 251860.0, 0.92), (1, 84, "other", 23247.0, 0.08),
    (1, 203, "other", 0.0, np.nan),
]
# HTA 0.5.0 get_cuda_kernel_launch_stats(ranks=[0])[0].describe() on hta/trace_filter
HTA_LAUNCH = {
    "cpu_duration": [602, 8.486711, 4.081612, 4, 6, 7, 9, 31],
    "gpu_duration": [602, 502.061462, 3925.381050, 1, 7, 22, 111, 62783],
    "launch_delay": [602, 16412.162791, 21746.258523, 0, 321.5, 10246, 19264.25, 103661],
}


@pytest.fixture(scope="module")
def trace_filter(load_shared: Callable[[str], Trace]) -> Trace:
    return load_shared("hta/trace_filter")


def test_idle_time_breakdown_equals_hta(trace_filter: Trace) -> None:
    got = idle_time_breakdown(trace_filter)
    assert list(got.columns) == IDLE_COLUMNS
    exp = pd.DataFrame(HTA_IDLE, columns=IDLE_COLUMNS)
    # row for row, in HTA's order: a rank's streams as they first appear in the file
    # (rank 0: 23, 84, 25, 7, 203, while by first kernel start 7 comes before 25), then
    # host_wait, kernel_wait, other
    key = ["rank", "stream", "idle_category"]
    pd.testing.assert_frame_equal(got[key], exp[key], check_dtype=False)
    np.testing.assert_array_equal(got["idle_time"].to_numpy(), exp["idle_time"].to_numpy())
    np.testing.assert_array_equal(got["idle_time_ratio"].to_numpy(),
                                  exp["idle_time_ratio"].to_numpy())


def test_idle_time_breakdown_streams_without_file_order(trace_filter: Trace) -> None:
    # a table without the reader's file_order column (built by hand): streams by first
    # start, the same rows
    bare = Trace(events=trace_filter.events.drop(columns=["file_order"]),
                 threads=trace_filter.threads, metadata=trace_filter.metadata)
    got = idle_time_breakdown(bare, ranks=[0])
    assert list(dict.fromkeys(got["stream"].tolist())) == [23, 84, 7, 25, 203]
    key = ["rank", "stream", "idle_category"]
    exp = pd.DataFrame([r for r in HTA_IDLE if r[0] == 0], columns=IDLE_COLUMNS)
    pd.testing.assert_frame_equal(got.sort_values(key, ignore_index=True)[key],
                                  exp.sort_values(key, ignore_index=True)[key],
                                  check_dtype=False)


def test_cuda_kernel_launch_stats_equals_hta(trace_filter: Trace) -> None:
    got = cuda_kernel_launch_stats(trace_filter, ranks=[0])
    assert list(got.columns) == ["rank", "correlation", "cpu_duration", "gpu_duration",
                                 "launch_delay"]
    desc = got.describe()
    for col, exp in HTA_LAUNCH.items():
        np.testing.assert_allclose(desc[col].to_numpy(), exp, rtol=2e-7, atol=1e-6)
    # HTA's "short kernels": the launch call took longer than the kernel ran
    short = got[(got["cpu_duration"] <= 50) & (got["gpu_duration"] < got["cpu_duration"])]
    assert 0 < len(short) < len(got)
    assert (got["launch_delay"] >= 0).all()


def test_comm_comp_overlap_equals_hta(trace_filter: Trace) -> None:
    got = comm_comp_overlap(trace_filter)
    assert got.to_dict("list") == {"rank": [0, 1], "comp_comm_overlap_pctg": [11.81, 20.05]}


def test_memory_bandwidth(load_shared: Callable[[str], Trace]) -> None:
    trace = load_shared("gpu/gpu_h2d_per_sample.json.gz")
    ts = memory_bw_time_series(trace, include_last_profiler_step=True)
    summary = memory_bw_summary(trace, include_last_profiler_step=True).set_index("name")
    htod = summary.loc["Memcpy HtoD"]
    # the copies run one at a time: every positive point is one copy's own bandwidth
    ev = trace.events
    bws = [a["memory bandwidth (GB/s)"] for a in ev.loc[ev["cat"] == "gpu_memcpy", "args"]]
    assert htod["count"] == len(bws) == 192
    assert htod["max"] == pytest.approx(max(bws)) and htod["min"] == pytest.approx(min(bws))
    assert htod["50%"] == pytest.approx(float(np.median(bws)))
    back = ts[(ts["name"] == "Memcpy HtoD")]["memory_bw_gbps"].to_numpy()
    assert back[-1] == pytest.approx(0.0, abs=1e-9)  # every copy ends


def _overlapping_copies() -> Trace:
    cols: dict[str, list] = {c: [] for c in ("name", "cat", "pid", "tid", "ts", "dur", "args",
                                             "correlation", "stream")}
    for i, (ts, dur, bw, stream) in enumerate([(10.0, 10.0, 5.0, 7), (15.0, 10.0, 3.0, 8)]):
        for k, v in (("name", "Memcpy HtoD (Pinned -> Device)"), ("cat", "gpu_memcpy"),
                     ("pid", 0), ("tid", stream), ("ts", ts), ("dur", dur),
                     ("args", {"stream": stream, "correlation": i,
                               "memory bandwidth (GB/s)": bw}),
                     ("correlation", i), ("stream", stream)):
            cols[k].append(v)
    return Trace(events=build_slice_table(cols), metadata={"format": "kineto", "ranks": [0]})


def test_memory_bandwidth_adds_concurrent_copies() -> None:
    ts = memory_bw_time_series(_overlapping_copies())
    assert ts["ts"].tolist() == [10.0, 15.0, 20.0, 25.0]
    assert ts["memory_bw_gbps"].tolist() == pytest.approx([5.0, 8.0, 3.0, 0.0])
    s = memory_bw_summary(_overlapping_copies()).iloc[0]
    assert (s["name"], s["count"], s["max"], s["min"]) == ("Memcpy HtoD", 3.0, 8.0, 3.0)


def test_step_breakdown(load_shared: Callable[[str], Trace]) -> None:
    trace = load_shared("gpu/gpu_transformer_bf16_fused_adamw.json.gz")
    sb = step_breakdown(trace)
    assert sb["step"].tolist() == [2, 3, 4]
    ev = trace.events
    steps = ev[(ev["cat"] == "user_annotation") & ev["name"].astype(str).str.match(
        r"ProfilerStep#\d+$")].sort_values("ts")
    np.testing.assert_allclose(sb["dur"].to_numpy(), steps["dur"].to_numpy())
    work = ev[ev["cat"].isin(["kernel", "gpu_memcpy", "gpu_memset"])]
    for row, (_, st) in zip(sb.itertuples(), steps.iterrows(), strict=True):
        inside = work[(work["ts"] >= st["ts"]) & (work["ts"] < st["end"])]
        assert row.kernels == int((inside["cat"] == "kernel").sum())
        assert 0 < row.gpu_busy_us <= row.dur and 0 <= row.gpu_busy_pct <= 100
        assert row.gpu_busy_us == pytest.approx(row.dur - row.gpu_idle_us)
    assert (sb["gpu_busy_pct"] > 60).all()  # GPU-bound

    phases = step_phases(trace)
    main = phases[(phases["thread"] == "main") & (phases["step"] == 2)].set_index("phase")
    assert {"forward", "backward", "optimizer", "(not annotated)"} <= set(main.index)
    assert main["dur_us"].sum() == pytest.approx(sb["dur"].iloc[0], rel=1e-6)
    autograd = phases[phases["thread"] == "autograd"]
    assert len(autograd) == 3 and (autograd["dur_us"] > 0).all()
    assert ((phases["step_pct"] >= 0) & (phases["step_pct"] <= 100)).all()

    cats = step_kernel_categories(trace)
    first = cats[cats["step"] == 2]
    assert first.iloc[0]["category"] == "gemm"  # cuBLAS nvjet GEMMs lead a transformer step
    assert {"attention", "elementwise", "optimizer"} <= set(first["category"])
    assert (first["time_us"].diff().dropna() <= 0).all()


def test_step_phases_show_the_loader(load_shared: Callable[[str], Trace]) -> None:
    phases = step_phases(load_shared("gpu/gpu_dataloader_workers0.json.gz"))
    loader = phases[phases["phase"].str.startswith("enumerate(DataLoader)#")]
    assert len(loader) == 3 and (loader["step_pct"] > 50).all()


def test_no_steps_no_rows(load_shared: Callable[[str], Trace]) -> None:
    trace = load_shared("hta/critical_path/alexnet")
    assert step_breakdown(trace).empty and step_phases(trace).empty
    assert step_kernel_categories(trace).empty
