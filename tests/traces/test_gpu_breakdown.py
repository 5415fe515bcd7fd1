"""GPU analyses against Holistic Trace Analysis 0.5.0 (ground truth in
``shared/traces/hta-ground-truth``, HTA run on the ``shared/traces/hta`` folders), plus small
hand-built traces that pin the definitions.

Tolerances: the time columns (whole µs after HTA's rounding) and the rounded percentages
must be *equal*; ``stddev`` and ``mean (us)`` of the kernel breakdown are compared with a
relative tolerance of 1e-12, because they are float results of a summation whose order
may differ from HTA's (pandas' groupby on a different row order) in the last bit.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from jupyter_assistant import Trace
from jupyter_assistant.traces import build_slice_table
from jupyter_assistant.traces.analysis import (
    kernel_breakdown,
    kernel_type,
    kernel_type_breakdown,
    temporal_breakdown,
)
from jupyter_assistant.traces.analysis.gpu import (
    KERNEL_COLUMNS,
    KERNEL_TYPE_COLUMNS,
    TEMPORAL_COLUMNS,
)

GROUND_TRUTH = Path(__file__).resolve().parents[3] / "shared" / "traces" / "hta-ground-truth"
FOLDERS = sorted({p.name.rsplit("__", 1)[0]
                  for p in GROUND_TRUTH.glob("*__kernel_type_breakdown.csv")})
# HTA raises IndexError in get_temporal_breakdown on these (no GPU kernels), so there is no
# temporal CSV for them; we return an empty frame with a note instead.
NO_GPU = {"cpu_only", "cupti_profiler", "rank_non_gpu"}


def test_every_ground_truth_folder_is_covered() -> None:
    assert len(FOLDERS) == 19, FOLDERS
    assert {f for f in FOLDERS
            if not (GROUND_TRUTH / f"{f}__temporal_breakdown.csv").exists()} == NO_GPU


@pytest.fixture(scope="module")
def hta_trace(load_shared: Callable[[str], Trace]) -> Callable[[str], Trace]:
    return lambda folder: load_shared("hta/" + folder.replace("__", "/"))


@pytest.mark.parametrize("folder", FOLDERS)
def test_temporal_breakdown_equals_hta(folder: str, hta_trace: Callable[[str], Trace]) -> None:
    got = hta_trace(folder).temporal_breakdown()
    assert list(got.columns) == TEMPORAL_COLUMNS
    csv = GROUND_TRUTH / f"{folder}__temporal_breakdown.csv"
    if folder in NO_GPU:
        assert got.empty
        assert "no GPU events" in got.attrs["note"]
        return
    exp = pd.read_csv(csv)
    assert list(exp.columns) == TEMPORAL_COLUMNS
    np.testing.assert_array_equal(got.to_numpy(dtype=float), exp.to_numpy(dtype=float))


@pytest.mark.parametrize("folder", FOLDERS)
def test_kernel_type_breakdown_equals_hta(folder: str,
                                          hta_trace: Callable[[str], Trace]) -> None:
    got = hta_trace(folder).kernel_type_breakdown()
    exp = pd.read_csv(GROUND_TRUTH / f"{folder}__kernel_type_breakdown.csv")
    assert list(got.columns) == KERNEL_TYPE_COLUMNS == list(exp.columns)
    # same rows in the same order, zero-length overlap rows included
    assert got["kernel_type"].tolist() == exp["kernel_type"].tolist()
    np.testing.assert_array_equal(got["sum"].to_numpy(float), exp["sum"].to_numpy(float))
    np.testing.assert_array_equal(got["percentage"].to_numpy(float),
                                  exp["percentage"].to_numpy(float))
    if folder in NO_GPU:
        assert "no GPU events" in got.attrs["note"]


@pytest.mark.parametrize("folder", FOLDERS)
def test_kernel_breakdown_equals_hta(folder: str, hta_trace: Callable[[str], Trace]) -> None:
    got = hta_trace(folder).kernel_breakdown()
    exp = pd.read_csv(GROUND_TRUTH / f"{folder}__kernel_breakdown.csv")
    assert list(got.columns) == KERNEL_COLUMNS == list(exp.columns)
    assert got["name"].tolist() == exp["name"].tolist()
    assert got["kernel_type"].tolist() == exp["kernel_type"].tolist()
    assert got["rank"].tolist() == exp["rank"].tolist()
    exact = ["sum (us)", "max (us)", "min (us)"]
    np.testing.assert_array_equal(got[exact].to_numpy(float), exp[exact].to_numpy(float))
    for col in ("stddev", "mean (us)"):
        np.testing.assert_allclose(got[col].to_numpy(float), exp[col].to_numpy(float),
                                   rtol=1e-12, atol=0)


def test_include_last_profiler_step(hta_trace: Callable[[str], Trace]) -> None:
    # HTA 0.5.0's TraceAnalysis(trace_dir=..., include_last_profiler_step=True) output on
    # hta/trace_filter, printed in shared/traces/hta-ground-truth/README.md
    got = hta_trace("trace_filter").temporal_breakdown(include_last_profiler_step=True)
    exp = np.array([[0, 675191, 210320, 337336, 1222847, 55.21, 17.20, 27.59],
                    [1, 651136, 271973, 308077, 1231186, 52.89, 22.09, 25.02]])
    np.testing.assert_array_equal(got.to_numpy(dtype=float), exp)
    default = hta_trace("trace_filter").temporal_breakdown()
    assert (default["kernel_time(us)"] < got["kernel_time(us)"]).all()


def test_ns_rounding_can_be_turned_off(hta_trace: Callable[[str], Trace]) -> None:
    trace = hta_trace("ns_resolution_trace")
    rounded = trace.temporal_breakdown()
    raw = trace.temporal_breakdown(round_ns=False)
    # without rounding, times keep their sub-µs parts and differ from HTA's
    assert not np.array_equal(rounded.to_numpy(float), raw.to_numpy(float))
    assert (raw["kernel_time(us)"] % 1 != 0).any()
    assert (rounded["kernel_time(us)"] % 1 == 0).all()


# -- hand-built traces ------------------------------------------------------------------
def _gpu_trace(kernels: list[tuple[str, float, float, int]], *, rank: int = 0) -> Trace:
    """Kernels ``(name, ts, dur, stream)`` on device 0, each launched by a runtime call."""
    cols: dict[str, list] = {c: [] for c in ("name", "cat", "pid", "tid", "ts", "dur",
                                             "args", "correlation", "stream")}

    def add(name: str, cat: str, pid: int, tid: int, ts: float, dur: float,
            args: dict | None) -> None:
        for key, val in (("name", name), ("cat", cat), ("pid", pid), ("tid", tid), ("ts", ts),
                         ("dur", dur), ("args", args)):
            cols[key].append(val)
        cols["correlation"].append((args or {}).get("correlation", -1))
        cols["stream"].append((args or {}).get("stream", -1))

    for i, (name, ts, dur, stream) in enumerate(kernels):
        add("cudaLaunchKernel", "cuda_runtime", 100, 100, ts - 5, 2, {"correlation": i})
        add(name, "kernel", 0, stream, ts, dur, {"correlation": i, "stream": stream})
    trace = Trace(events=build_slice_table(cols),
                  metadata={"format": "kineto", "rank": rank, "ranks": [rank]})
    return trace


def test_overlap_sweep_and_temporal_breakdown_by_hand() -> None:
    trace = _gpu_trace([
        ("gemm", 100, 10, 7),                        # COMPUTATION [100, 110)
        ("ncclKernel_AllReduce", 105, 10, 8),        # COMMUNICATION [105, 115)
        ("Memcpy HtoD (Pinned -> Device)", 112, 8, 9),  # MEMORY [112, 120)
        ("gemm", 130, 10, 7),                        # COMPUTATION [130, 140)
    ])
    kt = kernel_type_breakdown(trace).set_index("kernel_type")["sum"].to_dict()
    assert kt == {"COMPUTATION": 15.0, "COMPUTATION overlapping COMMUNICATION": 5.0,
                  "COMMUNICATION": 2.0, "COMMUNICATION overlapping MEMORY": 3.0,
                  "MEMORY": 5.0}
    tb = temporal_breakdown(trace).iloc[0]
    assert tb["kernel_time(us)"] == 40 and tb["idle_time(us)"] == 10
    assert tb["compute_time(us)"] == 20 and tb["non_compute_time(us)"] == 10
    assert tb["idle_time_pctg"] == 25.0 and tb["compute_time_pctg"] == 50.0
    kb = kernel_breakdown(trace)
    gemm = kb[kb["name"] == "gemm"].iloc[0]
    assert (gemm["sum (us)"], gemm["max (us)"], gemm["mean (us)"], gemm["stddev"]) == (
        20.0, 10.0, 10.0, 0.0)


def test_others_row_past_num_kernels() -> None:
    kernels = [(f"k{i:02d}", 100.0 * i, float(20 - i), 7) for i in range(15)]
    kb = kernel_breakdown(_gpu_trace(kernels), num_kernels=10)
    names = kb["name"].tolist()
    assert "others" in names and len(names) < 15
    # HTA: "others" aggregates the per-name sums, so its sum is their total ...
    kept = sum(20 - i for i in range(15) if f"k{i:02d}" in names)
    others = kb[kb["name"] == "others"].iloc[0]
    assert others["sum (us)"] == sum(20 - i for i in range(15)) - kept
    # ... and a kept name's stats are over its one sum
    k0 = kb[kb["name"] == "k00"].iloc[0]
    assert k0["max (us)"] == k0["min (us)"] == k0["sum (us)"] == 20.0


def test_kernel_types_follow_hta_regexes() -> None:
    assert kernel_type("ncclKernel_AllReduce_RING_LL_Sum_float(ncclWorkElem)") == "COMMUNICATION"
    assert kernel_type("Memcpy DtoD (Device -> Device)") == "MEMORY"
    assert kernel_type("Memset (Device)") == "MEMORY"
    assert kernel_type("dma_request") == "MEMORY"
    assert kernel_type("Stream Sync") == "OTHER"
    assert kernel_type("void at::native::vectorized_elementwise_kernel<4>") == "COMPUTATION"


def test_cpu_only_trace_gives_empty_frames_with_a_note() -> None:
    cols = {"name": ["main", "work"], "cat": ["", ""], "pid": [1, 1], "tid": [1, 1],
            "ts": [0.0, 1.0], "dur": [10.0, 5.0]}
    trace = Trace(events=build_slice_table(cols), metadata={"format": "chrome"})
    for df, columns in ((temporal_breakdown(trace), TEMPORAL_COLUMNS),
                        (kernel_type_breakdown(trace), KERNEL_TYPE_COLUMNS),
                        (kernel_breakdown(trace), KERNEL_COLUMNS)):
        assert df.empty and list(df.columns) == columns
        assert "no GPU events" in df.attrs["note"] and "chrome" in df.attrs["note"]
