"""Communication/computation overlap and memory copy bandwidth, with Holistic Trace
Analysis' definitions (HTA 0.5.0 ``hta/analyzers/communication_analysis.py``
``get_comm_comp_overlap``; ``hta/analyzers/trace_counters.py``
``get_memory_bw_time_series`` / ``get_memory_bw_summary``), on the GPU events HTA's loader
keeps (:mod:`~jupyter_assistant.traces.analysis._hta`)."""

from __future__ import annotations

import numpy as np
import pandas as pd

from .._model import Trace
from ._hta import hta_gpu_events, merge_intervals

__all__ = ["MEMBW_COLUMNS", "OVERLAP_COLUMNS", "comm_comp_overlap", "memory_bw_summary",
           "memory_bw_time_series"]

OVERLAP_COLUMNS = ["rank", "comp_comm_overlap_pctg"]
MEMBW_COLUMNS = ["rank", "name", "count", "mean", "std", "min", "25%", "50%", "75%", "max"]


def comm_comp_overlap(trace: Trace, *, include_last_profiler_step: bool = False,
                      round_ns: bool = True) -> pd.DataFrame:
    """Share of communication time during which computation runs too, per rank (HTA
    ``get_comm_comp_overlap``).

    The COMMUNICATION (NCCL) and COMPUTATION kernels of a rank are each merged into
    disjoint intervals; the overlap is the time both run at once, divided by the total
    communication time. Returns columns ``rank`` (int64) and ``comp_comm_overlap_pctg``
    (float64, %, rounded to 2 decimals; NaN for a rank without communication kernels, as
    HTA's 0/0). Low overlap means exposed communication: the GPU waits for collectives.
    """
    gpu = hta_gpu_events(trace, include_last_profiler_step=include_last_profiler_step,
                         round_ns=round_ns)
    rows = []
    for rank in sorted(set(gpu["rank"])):
        g = gpu[gpu["rank"] == rank]
        kt = g["kernel_type"].to_numpy()
        ts, end = g["ts"].to_numpy(), g["end"].to_numpy()
        cts, cend = merge_intervals(ts[kt == "COMMUNICATION"], end[kt == "COMMUNICATION"])
        pts, pend = merge_intervals(ts[kt == "COMPUTATION"], end[kt == "COMPUTATION"])
        # HTA's sweep: communication +-1, computation +-2; running == 3 is both at once
        time = np.concatenate((cts, cend, pts, pend))
        delta = np.concatenate((np.full(len(cts), 1), np.full(len(cend), -1),
                                np.full(len(pts), 2), np.full(len(pend), -2)))
        order = np.argsort(time, kind="stable")
        time, running = time[order], np.cumsum(delta[order])
        both = float(np.diff(time)[running[:-1] == 3].sum()) if len(time) > 1 else 0.0
        comm = float((cend - cts).sum())
        with np.errstate(divide="ignore", invalid="ignore"):
            ratio = both / comm if comm else float("nan")
        rows.append((int(rank), round(100 * ratio, 2) if comm else float("nan")))
    return pd.DataFrame(rows, columns=OVERLAP_COLUMNS).astype(
        {"rank": "int64", "comp_comm_overlap_pctg": "float64"})


def _memory_kind(name: str) -> str:
    """HTA ``get_memory_kernel_type``: ``Memset``, ``Memcpy DtoH`` (the name's first 11
    characters) or ``Memcpy Unknown``."""
    if name[:6] == "Memset":
        return "Memset"
    if name[:6] != "Memcpy":
        return "Memcpy Unknown"
    return name[:11]


def memory_bw_time_series(trace: Trace, *, include_last_profiler_step: bool = False,
                          round_ns: bool = True) -> pd.DataFrame:
    """Memory bandwidth in use over time, per copy kind (HTA
    ``get_memory_bw_time_series``): every memcpy/memset adds its ``args["memory bandwidth
    (GB/s)"]`` at its start and removes it at its end (a 0 µs event counts as 1 µs, as in
    HTA). Returns columns ``rank`` (int64), ``ts`` (float64, µs), ``pid`` (int64),
    ``name`` (``Memcpy HtoD``, ``Memcpy DtoH``, ``Memcpy DtoD``, ``Memset``...) and
    ``memory_bw_gbps`` (float64, GB/s: the sum over the copies of that kind running
    then), one row per change."""
    gpu = hta_gpu_events(trace, include_last_profiler_step=include_last_profiler_step,
                         round_ns=round_ns)
    mem = gpu[(gpu["kernel_type"] == "MEMORY").to_numpy()]
    cols = {"rank": "int64", "ts": "float64", "pid": "int64", "name": "object",
            "memory_bw_gbps": "float64"}
    if mem.empty:
        return pd.DataFrame({c: pd.Series(dtype=t) for c, t in cols.items()})
    args = trace.events["args"] if "args" in trace.events.columns else None
    bw = np.full(len(mem), np.nan)
    if args is not None:
        # hta_gpu_events keeps the row order of Trace.events; find each row's args by
        # (rank, pid, tid, correlation, name)
        ev = trace.events
        dev = ev[ev["cat"].isin(mem["cat"].unique())]
        table = {}
        for key, a in zip(zip(dev["pid"].tolist(), dev["tid"].tolist(),
                              dev["correlation"].tolist() if "correlation" in dev.columns
                              else [-1] * len(dev), dev["name"].astype(str).tolist(),
                              strict=True), dev["args"].tolist(), strict=True):
            if isinstance(a, dict):
                table[key] = a.get("memory bandwidth (GB/s)")
        for i, key in enumerate(zip(mem["pid"].tolist(), mem["tid"].tolist(),
                                    mem["correlation"].tolist(), mem["name"].tolist(),
                                    strict=True)):
            v = table.get(key)
            if isinstance(v, int | float) and not isinstance(v, bool):
                bw[i] = float(v)
    kind = np.asarray([_memory_kind(n) for n in mem["name"]], dtype=object)
    dur = mem["dur"].to_numpy().copy()
    dur[dur == 0] = 1
    start = pd.DataFrame({"rank": mem["rank"].to_numpy(), "ts": mem["ts"].to_numpy(),
                          "pid": mem["pid"].to_numpy(), "name": kind, "memory_bw_gbps": bw})
    stop = start.assign(ts=mem["ts"].to_numpy() + dur, memory_bw_gbps=-bw)
    both = pd.concat([start, stop], ignore_index=True).sort_values("ts", kind="stable")
    parts = []
    for _, g in both.groupby(["rank", "name"], sort=True):
        parts.append(g.assign(memory_bw_gbps=g["memory_bw_gbps"].cumsum()))
    return pd.concat(parts, ignore_index=True).astype(cols)


def memory_bw_summary(trace: Trace, *, include_last_profiler_step: bool = False,
                      round_ns: bool = True) -> pd.DataFrame:
    """Summary of memory copy bandwidth per rank and copy kind (HTA
    ``get_memory_bw_summary``): ``describe()`` of the positive points of
    :func:`memory_bw_time_series`. Returns columns ``rank`` (int64), ``name`` (str),
    ``count`` (float64) and ``mean, std, min, 25%, 50%, 75%, max`` (float64, GB/s) —
    HTA's MultiIndex ``(memory_bw_gbps, stat)`` columns, flattened. Empty (same
    columns) without memcpy/memset events."""
    ts = memory_bw_time_series(trace, include_last_profiler_step=include_last_profiler_step,
                               round_ns=round_ns)
    ts = ts[ts["memory_bw_gbps"] > 0]
    if ts.empty:
        return pd.DataFrame({c: pd.Series(dtype="int64" if c == "rank" else (
            "object" if c == "name" else "float64")) for c in MEMBW_COLUMNS})
    out = ts.groupby(["rank", "name"])["memory_bw_gbps"].describe().reset_index()
    return out[MEMBW_COLUMNS]
