"""Why the GPU idles, with Holistic Trace Analysis' definitions: the idle time breakdown
(host wait / kernel wait / other) and CUDA kernel launch statistics (launch delay,
short kernels).

Both run on the events HTA's loader keeps (:mod:`~jupyter_assistant.traces.analysis._hta`:
ns rounding, the last ``ProfilerStep`` dropped by default, ``gpu_user_annotation`` never a
kernel), and pair each GPU event with the CPU runtime call that launched it through
``correlation`` as HTA does. Sources: HTA 0.5.0 ``hta/analyzers/breakdown_analysis.py``
(``get_idle_time_breakdown``, ``_analyze_idle_time_for_stream``) and
``hta/analyzers/cuda_kernel_analysis.py`` (``cuda_kernel_launch_stats``).
"""

from __future__ import annotations

import re

import numpy as np
import pandas as pd

from .._model import Trace
from ._hta import hta_gpu_events, trace_ranks

__all__ = ["IDLE_COLUMNS", "LAUNCH_COLUMNS", "cuda_kernel_launch_stats", "hta_cpu_calls",
           "idle_time_breakdown"]

IDLE_COLUMNS = ["rank", "stream", "idle_category", "idle_time", "idle_time_ratio"]
LAUNCH_COLUMNS = ["correlation", "cpu_duration", "gpu_duration", "launch_delay"]

# HTA 0.5.0: the categories get_idle_time_breakdown keeps ("cuda_sync" rows are left out)
_KERNEL_CATS = ("kernel", "Kernel", "gpu_memset", "Memset", "gpu_memcpy", "Memcpy",
                "mtia_ccp_events")
_LAUNCH_NAMES = ("cudaLaunchKernel", "cudaLaunchKernelExC",
                 "runFunction - job_prep_and_submit_for_execution")
_MEMORY_NAMES = ("cudaMemsetAsync", "cudaMemcpyAsync")
_STEP = re.compile(r"ProfilerStep")


def hta_cpu_calls(trace: Trace, *, include_last_profiler_step: bool = False,
                  round_ns: bool = True) -> pd.DataFrame:
    """The host rows HTA keeps that carry a ``correlation`` (runtime and driver calls):
    ``rank, name, correlation`` and ``ts, dur`` (float64, µs, rounded as HTA rounds them:
    ``ceil(ts)``, ``floor(ts + dur) - ceil(ts)`` in a trace with fractional timestamps), in
    the order of :attr:`Trace.events`. Rows that start at or after the last
    ``ProfilerStep`` are dropped, as HTA drops them."""
    ev = trace.events
    cols = {"rank": "int64", "name": "object", "correlation": "int64", "ts": "float64",
            "dur": "float64"}
    if not len(ev) or "correlation" not in ev.columns or "stream" not in ev.columns:
        return pd.DataFrame({c: pd.Series(dtype=t) for c, t in cols.items()})
    rank = trace_ranks(trace)
    stream = ev["stream"].to_numpy(dtype=np.int64, na_value=-1)
    corr = ev["correlation"].to_numpy(dtype=np.int64, na_value=-1)
    ts = ev["ts"].to_numpy(dtype=np.float64)
    end = ev["end"].to_numpy(dtype=np.float64)
    host = stream < 0
    names = ev["name"]
    step_names = [c for c in (names.cat.categories if isinstance(
        names.dtype, pd.CategoricalDtype) else names.astype(str).unique()) if
        _STEP.search(str(c))]
    is_step = names.isin(step_names).to_numpy() & host
    keep = host & (corr >= 0)
    out_ts = ts.copy()
    out_end = end.copy()
    for r in np.unique(rank):
        m = rank == r
        if round_ns and np.any(ts[m] != np.floor(ts[m])):
            out_ts[m] = np.ceil(ts[m])
            out_end[m] = np.floor(end[m])
        st = m & is_step
        if len(step_names) > 1 and st.any():
            cut = out_end[st].max() if include_last_profiler_step else out_ts[st].max()
            too_late = (out_ts > cut) if include_last_profiler_step else (out_ts >= cut)
            keep &= ~(m & too_late)
    rows = np.flatnonzero(keep)
    out = pd.DataFrame({"rank": rank[rows], "name": names.to_numpy()[rows].astype(str),
                        "correlation": corr[rows], "ts": out_ts[rows],
                        "dur": out_end[rows] - out_ts[rows]})
    return out.astype(cols)


def idle_time_breakdown(
    trace: Trace,
    *,
    consecutive_kernel_delay: float = 30,
    ranks: list[int] | None = None,
    streams: list[int] | None = None,
    include_last_profiler_step: bool = False,
    round_ns: bool = True,
) -> pd.DataFrame:
    """Idle time of each GPU stream by cause (HTA ``get_idle_time_breakdown``).

    Per stream, the kernels, memcpys and memsets in start order; a kernel's idle interval
    is its start minus the previous one's end (negative when they overlap, and counted as
    such, as in HTA). It is **host wait** when the CPU call that launched the kernel
    started after the previous kernel ended (the host did not enqueue work fast enough),
    else **kernel wait** when the interval is under ``consecutive_kernel_delay`` (µs;
    HTA's default 30: back-to-back launch overhead), else **other** (e.g. waits on other
    streams or events). A stream's first kernel has no interval; it adds 0 to ``other``.

    Returns columns ``rank, stream`` (int64), ``idle_category`` (``host_wait``,
    ``kernel_wait``, ``other``), ``idle_time`` (float64, µs) and ``idle_time_ratio``
    (float64, share of the stream's idle time; NaN when the stream has none), rounded to
    2 decimals as HTA rounds them. A rank's streams appear in HTA's order, that of their
    first event in the trace file (``gpu_kernels.stream.unique()`` in HTA 0.5.0
    ``get_idle_time_breakdown``), categories in HTA's order; a category with no kernel is
    absent. ``ranks`` defaults to
    every rank (HTA's default is rank 0 only), ``streams`` to every stream. Empty (same
    columns) without GPU events.
    """
    gpu = hta_gpu_events(trace, include_last_profiler_step=include_last_profiler_step,
                         round_ns=round_ns)
    gpu = gpu[gpu["cat"].isin(_KERNEL_CATS).to_numpy()]
    if gpu.empty:
        return pd.DataFrame({c: pd.Series(dtype="float64" if c.startswith("idle_t") else (
            "object" if c == "idle_category" else "int64")) for c in IDLE_COLUMNS})
    cpu = hta_cpu_calls(trace, include_last_profiler_step=include_last_profiler_step,
                        round_ns=round_ns)
    parts = []
    for rank in (sorted(set(gpu["rank"])) if ranks is None else ranks):
        g = gpu[gpu["rank"] == rank]
        c = cpu[cpu["rank"] == rank]
        launch_ts = dict(zip(c["correlation"].tolist(), c["ts"].tolist(), strict=True))
        g = g.assign(ts_runtime=g["correlation"].map(launch_ts).astype("float64"))
        order = g.sort_values("ts", kind="stable")
        for stream in (_stream_order(trace, g) if not streams else streams):
            s = order[order["stream"] == stream]
            if s.empty:
                continue
            end = s["ts"].to_numpy() + s["dur"].to_numpy()
            prev_end = np.concatenate(([np.nan], end[:-1]))
            interval = s["ts"].to_numpy() - prev_end
            host_wait = s["ts_runtime"].to_numpy() > prev_end
            kernel_wait = ~host_wait & (interval < consecutive_kernel_delay)
            cat = np.where(host_wait, 0, np.where(kernel_wait, 1, 2))
            for code, label in enumerate(("host_wait", "kernel_wait", "other")):
                m = cat == code
                if m.any():
                    parts.append((int(rank), int(stream), label, float(np.nansum(interval[m]))))
    out = pd.DataFrame(parts, columns=IDLE_COLUMNS[:4])
    total = out.groupby(["rank", "stream"], sort=False)["idle_time"].transform("sum")
    with np.errstate(divide="ignore", invalid="ignore"):
        out["idle_time_ratio"] = (out["idle_time"] / total).where(total != 0)
    out = out.astype({"rank": "int64", "stream": "int64", "idle_time": "float64",
                      "idle_time_ratio": "float64"})
    out[["idle_time", "idle_time_ratio"]] = out[["idle_time", "idle_time_ratio"]].round(2)
    return out[IDLE_COLUMNS]


def _stream_order(trace: Trace, gpu: pd.DataFrame) -> list[int]:
    """The streams of one rank's GPU events in HTA's order: ``gpu_kernels.stream.unique()``
    on HTA's frame, whose rows are in the file's order (HTA 0.5.0 keeps the order of
    ``traceEvents``; its last-step filter is an inner merge that keeps the left order). From
    the ``file_order`` column the Kineto reader adds; by first start time without it (a
    table built by hand)."""
    if "file_order" in trace.events.columns:
        pos = trace.events["file_order"].to_numpy(dtype=np.int64)[gpu["row"].to_numpy()]
    else:
        pos = gpu["ts"].to_numpy()
    first = pd.Series(pos).groupby(gpu["stream"].to_numpy(), sort=False).min()
    return [int(s) for s in first.sort_values(kind="stable").index]


def cuda_kernel_launch_stats(
    trace: Trace,
    *,
    ranks: list[int] | None = None,
    include_memory_events: bool = True,
    include_last_profiler_step: bool = False,
    round_ns: bool = True,
) -> pd.DataFrame:
    """CPU launch call and GPU event of every launch (HTA ``get_cuda_kernel_launch_stats``).

    For each ``correlation`` of a ``cudaLaunchKernel``/``cudaLaunchKernelExC`` (and, with
    ``include_memory_events``, ``cudaMemcpyAsync``/``cudaMemsetAsync``) call, the host
    rows and the GPU rows with that correlation are joined: ``cpu_duration`` (the call's
    duration), ``gpu_duration`` (the GPU event's) and ``launch_delay`` = GPU start − CPU
    call end, clipped at 0, all float64 µs. HTA's derived views: *short kernels* are rows
    with ``cpu_duration <= runtime_cutoff`` (50 µs) and ``gpu_duration < cpu_duration``
    (launching took longer than running); *runtime outliers* ``cpu_duration > 50``;
    *launch delay outliers* ``launch_delay > launch_delay_cutoff`` (100 µs).

    Returns columns ``rank`` (int64, ours: HTA returns one frame per rank),
    ``correlation`` (int64), ``cpu_duration``, ``gpu_duration``, ``launch_delay``.
    ``ranks`` defaults to every rank (HTA: rank 0).
    """
    gpu = hta_gpu_events(trace, include_last_profiler_step=include_last_profiler_step,
                         round_ns=round_ns)
    cpu = hta_cpu_calls(trace, include_last_profiler_step=include_last_profiler_step,
                        round_ns=round_ns)
    names = _LAUNCH_NAMES + (_MEMORY_NAMES if include_memory_events else ())
    out = []
    for rank in (sorted(set(gpu["rank"])) if ranks is None else ranks):
        c = cpu[cpu["rank"] == rank]
        ids = set(c.loc[c["name"].isin(names), "correlation"].tolist())
        left = c[c["correlation"].isin(ids)][["correlation", "dur", "ts"]]
        g = gpu[gpu["rank"] == rank]
        right = g[g["correlation"].isin(ids)][["correlation", "dur", "ts"]]
        j = left.merge(right, how="inner", on="correlation")
        j["launch_delay"] = (j["ts_y"] - j["ts_x"] - j["dur_x"]).clip(lower=0)
        j = j.rename(columns={"dur_x": "cpu_duration", "dur_y": "gpu_duration"})
        j.insert(0, "rank", int(rank))
        out.append(j[["rank", *LAUNCH_COLUMNS]])
    if not out:
        return pd.DataFrame({c: pd.Series(dtype="int64" if c in ("rank", "correlation")
                                          else "float64") for c in ["rank", *LAUNCH_COLUMNS]})
    return pd.concat(out, ignore_index=True).astype(
        {"rank": "int64", "correlation": "int64", "cpu_duration": "float64",
         "gpu_duration": "float64", "launch_delay": "float64"})
