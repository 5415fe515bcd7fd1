"""GPU analyses with Holistic Trace Analysis' definitions: temporal breakdown, kernel type
breakdown (with overlaps) and kernel breakdown.

The definitions, column names and rounding are those of HTA 0.5.0
(``hta/analyzers/breakdown_analysis.py``: ``get_temporal_breakdown`` and
``get_gpu_kernel_breakdown``), applied to the GPU events HTA's loader keeps (see
:mod:`jupyter_assistant.traces.analysis._hta`: ns rounding, the last ``ProfilerStep``
dropped by default, ``stream`` from ``args``). On the HTA test traces they give HTA's
numbers (``tests/traces/test_gpu_breakdown.py``). Unlike HTA, a trace without GPU events
gives empty frames whose ``attrs["note"]`` says why, instead of an ``IndexError``.

Every function takes the parser-config-like keywords of HTA's ``TraceAnalysis``:
``include_last_profiler_step`` (default ``False``: events from the start of the last
``ProfilerStep`` on are dropped, as HTA does) and ``round_ns`` (default ``True``: HTA's
``ceil(ts)`` / ``floor(ts + dur)`` rounding of ns-precision timestamps).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from .._model import Trace
from ._hta import KERNEL_TYPES, hta_gpu_events, kernel_type, merge_intervals

__all__ = ["kernel_breakdown", "kernel_type", "kernel_type_breakdown", "temporal_breakdown"]

TEMPORAL_COLUMNS = ["rank", "idle_time(us)", "compute_time(us)", "non_compute_time(us)",
                    "kernel_time(us)", "idle_time_pctg", "compute_time_pctg",
                    "non_compute_time_pctg"]
KERNEL_TYPE_COLUMNS = ["kernel_type", "sum", "percentage"]
KERNEL_COLUMNS = ["name", "sum (us)", "max (us)", "min (us)", "stddev", "mean (us)",
                  "kernel_type", "rank"]

_NO_GPU = ("no GPU events (rows whose args carry a CUDA/HIP/MTIA stream) in this trace"
           "{extra}, so there is no GPU time to break down")


def _empty(columns: list[str], note: str) -> pd.DataFrame:
    df = pd.DataFrame({c: pd.Series(dtype="object" if c in ("kernel_type", "name") else
                                    ("int64" if c == "rank" else "float64"))
                       for c in columns})
    df.attrs["note"] = note
    return df


def _gpu(trace: Trace, include_last_profiler_step: bool, round_ns: bool) -> pd.DataFrame:
    return hta_gpu_events(trace, include_last_profiler_step=include_last_profiler_step,
                          round_ns=round_ns)


def _by_rank(gpu: pd.DataFrame) -> list[tuple[int, pd.DataFrame]]:
    """``(rank, rows)`` per rank, ranks ascending (rows keep their order)."""
    ranks = gpu["rank"].to_numpy()
    return [(int(r), gpu[ranks == r]) for r in np.unique(ranks)]


def _no_gpu_note(trace: Trace) -> str:
    extra = ""
    if trace.metadata.get("format") not in (None, "kineto"):
        extra = f" (a {trace.metadata.get('format')} trace)"
    return _NO_GPU.format(extra=extra)


def temporal_breakdown(
    trace: Trace,
    *,
    include_last_profiler_step: bool = False,
    round_ns: bool = True,
) -> pd.DataFrame:
    """Idle, compute and non-compute GPU time per rank (HTA ``get_temporal_breakdown``).

    Per rank, over all GPU streams: ``kernel_time(us)`` = end of the last kernel − start
    of the first; ``idle_time(us)`` = kernel time − length of the union of all kernel
    intervals; ``compute_time(us)`` = length of the union of COMPUTATION kernels;
    ``non_compute_time(us)`` = kernel − compute − idle time (communication, memory copies
    and sets, syncs not overlapped by compute); ``*_pctg`` = ``round(100 * x / kernel
    time, 2)``, in %.

    Where we differ from HTA: ``gpu_user_annotation`` ranges are never kernels (see
    :mod:`~jupyter_assistant.traces.analysis._hta`), and when HTA's arithmetic gives a rank
    an impossible result (a part below 0 or above the kernel time: its ns rounding turns an
    isolated sub-µs kernel into a -1 µs interval that the union subtracts, which makes
    HTA 0.5.0 report negative compute or > 100% idle, or fail an assertion), that rank is
    computed with such intervals counted as empty and ``attrs["note"]`` names it. Every
    ``*_pctg`` is therefore in [0, 100]; on every HTA ground-truth trace HTA's result is
    possible and is returned unchanged. For device busy time on raw (unrounded)
    timestamps use :func:`~jupyter_assistant.traces.analysis.gpu_util.gpu_utilization`.

    Returns one row per rank with GPU events, columns ``rank`` (int64), ``idle_time(us),
    compute_time(us), non_compute_time(us), kernel_time(us)`` (float64, µs) and
    ``idle_time_pctg, compute_time_pctg, non_compute_time_pctg`` (float64, %). Without GPU
    events: an empty frame with ``attrs["note"]``.
    """
    gpu = _gpu(trace, include_last_profiler_step, round_ns)
    if gpu.empty:
        return _empty(TEMPORAL_COLUMNS, _no_gpu_note(trace))
    return _temporal(gpu)


def _temporal(gpu: pd.DataFrame) -> pd.DataFrame:
    """:func:`temporal_breakdown` of non-empty :func:`hta_gpu_events` output."""
    rows = []
    clipped = []
    for rank, g in _by_rank(gpu):
        ts = g["ts"].to_numpy()
        end = g["end"].to_numpy()
        comp = (g["kernel_type"] == "COMPUTATION").to_numpy()
        row = _temporal_times(ts, end, comp, clip=False)
        if not _possible(*row):  # HTA's negative-length groups: see the docstring
            row = _temporal_times(ts, end, comp, clip=True)
            clipped.append(int(rank))
        rows.append((int(rank), *row))
    out = pd.DataFrame(rows, columns=TEMPORAL_COLUMNS[:5]).astype(
        {c: "float64" for c in TEMPORAL_COLUMNS[1:5]})
    if clipped:
        out.attrs["note"] = (f"rank(s) {clipped}: sub-µs events rounded by HTA's ns rule "
                             "counted as empty, not negative (HTA's union would leave "
                             "[0, 100]%)")
    kt = out["kernel_time(us)"]
    for col in ("idle_time", "compute_time", "non_compute_time"):
        with np.errstate(divide="ignore", invalid="ignore"):
            out[f"{col}_pctg"] = np.round(100 * (out[f"{col}(us)"] / kt), 2)
    return out


def _temporal_times(ts: np.ndarray, end: np.ndarray, comp: np.ndarray, *,
                    clip: bool) -> tuple[float, float, float, float]:
    """``(idle, compute, non_compute, kernel_time)`` of one rank, µs."""
    mts, mend = merge_intervals(ts, end, clip=clip)
    kernel_time = (mend.max() if clip else mend[-1]) - mts[0]
    idle = kernel_time - (mend - mts).sum()  # differences: exact in float64
    cts, cend = merge_intervals(ts[comp], end[comp], clip=clip)
    compute = (cend - cts).sum()
    return float(idle), float(compute), float(kernel_time - compute - idle), float(kernel_time)


def _possible(idle: float, compute: float, non_compute: float, kernel_time: float) -> bool:
    """True when every part is >= 0 and none exceeds the kernel time."""
    parts = (idle, compute, non_compute)
    return kernel_time >= 0 and all(0 <= p <= kernel_time for p in parts)


def _overlap_times(gpu: pd.DataFrame, types: tuple[str, ...]) -> dict[str, float]:
    """Exclusive time of each combination of kernel types running at once (HTA's sweep
    over the merged intervals of each type; ``1 << i`` is type ``i``'s bit)."""
    times: list[np.ndarray] = []
    deltas: list[np.ndarray] = []
    for i, kt in enumerate(types):
        g = gpu[gpu["kernel_type"] == kt]
        mts, mend = merge_intervals(g["ts"].to_numpy(), g["end"].to_numpy())
        times += [mts, mend]
        deltas += [np.full(len(mts), 1 << i), np.full(len(mend), -(1 << i))]
    time = np.concatenate(times)
    delta = np.concatenate(deltas)
    if len(time) == 0:
        return {}
    order = np.argsort(time, kind="stable")
    time = time[order]
    running = np.cumsum(delta[order])
    dur = np.append(np.diff(time), np.nan)
    out: dict[str, float] = {}
    for value in np.unique(running[running > 0]):
        label = " overlapping ".join(kt for i, kt in enumerate(types) if int(value) & (1 << i))
        out[label] = out.get(label, 0.0) + float(np.trunc(dur[running == value]).sum())
    return out


def kernel_type_breakdown(
    trace: Trace,
    *,
    include_memory_kernels: bool = True,
    include_last_profiler_step: bool = False,
    round_ns: bool = True,
) -> pd.DataFrame:
    """GPU time by kernel type, overlaps apart (first frame of HTA
    ``get_gpu_kernel_breakdown``).

    Kernel types are HTA's (:func:`kernel_type`): COMMUNICATION (NCCL), MEMORY
    (memcpy/memset/dma) and COMPUTATION (the rest, syncs excluded). Per rank, the merged
    intervals of each type are swept, so each µs of GPU time counts once, under the exact
    combination running then, e.g. ``"COMPUTATION overlapping COMMUNICATION"``; sums are
    added over ranks.

    Returns columns ``kernel_type`` (str), ``sum`` (float64, µs) and ``percentage``
    (float64, % of the total, rounded to 0.1), largest first. ``include_memory_kernels``
    (default ``True``, HTA's ``TraceAnalysis`` default) drops MEMORY when ``False``.
    Without GPU events: an empty frame with ``attrs["note"]``.
    """
    gpu = _gpu(trace, include_last_profiler_step, round_ns)
    if gpu.empty:
        return _empty(KERNEL_TYPE_COLUMNS, _no_gpu_note(trace))
    return _kernel_type_times(gpu, KERNEL_TYPES if include_memory_kernels else KERNEL_TYPES[:2])


def _kernel_type_times(gpu: pd.DataFrame,
                       types: tuple[str, ...] = KERNEL_TYPES) -> pd.DataFrame:
    """:func:`kernel_type_breakdown` of :func:`hta_gpu_events` output."""
    totals: dict[str, float] = {}
    for _, g in _by_rank(gpu):
        for label, t in _overlap_times(g, types).items():
            totals[label] = totals.get(label, 0.0) + t
    out = pd.DataFrame({"kernel_type": list(totals), "sum": list(totals.values())},
                       columns=KERNEL_TYPE_COLUMNS[:2])
    out["sum"] = out["sum"].astype("float64")
    out = out.sort_values(["sum", "kernel_type"], ascending=[False, True], ignore_index=True)
    total = out["sum"].sum()
    out["percentage"] = np.round((out["sum"] / total) * 100, 1) if total else 0.0
    return out


def _aggregate(g: pd.DataFrame, num_kernels: int, duration_ratio: float) -> pd.DataFrame:
    """HTA ``_aggr_gpu_kernel_time``: per-name stats; past ``num_kernels`` names, the names
    past the ``duration_ratio`` quantile of the cumulative sum or past index
    ``num_kernels`` become ``"others"``, and the stats are then taken over the per-name
    sums (as HTA does)."""
    stats = g.groupby("name", sort=True)["dur"].agg(["sum", "max", "min", "mean", "std"])
    stats = stats.reset_index().sort_values("sum", ascending=False, kind="stable",
                                            ignore_index=True)
    stats["std"] = stats["std"].fillna(0.0)
    if len(stats) > num_kernels:
        cumsum = stats["sum"].cumsum()
        others = (cumsum > cumsum.quantile(duration_ratio)).to_numpy() | (
            np.arange(len(stats)) >= num_kernels)
        stats.loc[others, "name"] = "others"
        stats = stats.groupby("name", sort=True)["sum"].agg(["sum", "max", "min", "mean",
                                                             "std"]).reset_index()
        stats["std"] = stats["std"].fillna(0.0)
    return stats


def kernel_breakdown(
    trace: Trace,
    *,
    num_kernels: int = 10,
    duration_ratio: float = 0.8,
    include_memory_kernels: bool = True,
    include_last_profiler_step: bool = False,
    round_ns: bool = True,
) -> pd.DataFrame:
    """Time per kernel name, per kernel type and rank (second frame of HTA
    ``get_gpu_kernel_breakdown``).

    Per rank and type, kernels are grouped by name. When a type has more than
    ``num_kernels`` names, the names past index ``num_kernels`` or whose cumulative sum is
    past the ``duration_ratio`` quantile are merged into a row ``"others"``; as in HTA, the
    stats of every row are then taken over per-name sums (so a kept name shows
    ``max == min == mean == sum`` and ``stddev == 0``).

    Returns columns ``name`` (str), ``sum (us), max (us), min (us)`` (float64, µs),
    ``stddev`` (float64, µs, sample std, 0 for one sample), ``mean (us)`` (float64, µs),
    ``kernel_type`` (str) and ``rank`` (int64), sorted by ``kernel_type, name, rank``.
    Without GPU events: an empty frame with ``attrs["note"]``.
    """
    gpu = _gpu(trace, include_last_profiler_step, round_ns)
    if gpu.empty:
        return _empty(KERNEL_COLUMNS, _no_gpu_note(trace))
    types = KERNEL_TYPES if include_memory_kernels else KERNEL_TYPES[:2]
    parts = []
    for rank, g in _by_rank(gpu):
        for kt in types:
            sub = g[g["kernel_type"] == kt]
            if sub.empty:
                continue
            stats = _aggregate(sub, num_kernels, duration_ratio)
            stats["kernel_type"] = kt
            stats["rank"] = int(rank)
            parts.append(stats)
    if not parts:
        return _empty(KERNEL_COLUMNS, "no GPU kernel of the analysed types in this trace")
    out = pd.concat(parts, ignore_index=True).rename(columns={
        "sum": "sum (us)", "max": "max (us)", "min": "min (us)", "std": "stddev",
        "mean": "mean (us)"})
    out = out.astype({c: "float64" for c in KERNEL_COLUMNS[1:6]} | {"rank": "int64"})
    return out[KERNEL_COLUMNS].sort_values(["kernel_type", "name", "rank"],
                                           ignore_index=True, kind="stable")
