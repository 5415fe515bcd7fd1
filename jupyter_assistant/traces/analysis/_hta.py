"""The GPU events of a Kineto trace as Holistic Trace Analysis (HTA) 0.5.0 sees them.

HTA's GPU analyses do not run on the raw trace but on what its loader keeps. To give the
same numbers, :func:`hta_gpu_events` repeats that loading, step by step, on
:attr:`Trace.events <jupyter_assistant.traces.Trace.events>` (sources: HTA 0.5.0
``hta/common/trace_parser.py``, ``hta/common/trace.py``, ``hta/common/trace_filter.py``,
``hta/utils/utils.py``):

1. **Rows.** Slices with a ``cat``; ``cat == "Trace"`` (the profiler's own span) is dropped.
   *Where we differ from HTA:* ``gpu_user_annotation`` rows (the ``ProfilerStep#N`` and
   ``record_function`` ranges Kineto mirrors onto a GPU stream) are dropped too. They are
   annotations, not device work; HTA 0.5.0 keeps a row whenever its ``args`` carry a
   ``stream`` and would count such a range as a COMPUTATION "kernel" spanning the whole
   step. On every HTA ground-truth trace the annotations carry no ``stream`` argument, so
   HTA's numbers there are unchanged.
2. **Stream and correlation** come from ``args["stream"]`` / ``args["correlation"]``
   (-1 when absent, for every row, CPU rows included), as HTA flattens them.
3. **Nanosecond rounding.** In a trace with fractional timestamps (PyTorch >= 2.3 writes
   µs with ns precision) ``ts = ceil(ts)``, ``end = floor(ts + dur)``, ``dur = end - ts``;
   a sub-µs event can end up with ``dur == -1``, as in HTA.
4. **Last profiler step dropped.** When the trace holds more than one distinct
   ``ProfilerStep#N`` name, every CPU row (not a GPU kernel, see below) that starts at or
   after the start of the last ``ProfilerStep`` is dropped, and a GPU kernel is kept once
   per kept CPU row with the same ``correlation`` (an inner join, so a kernel whose
   correlation id is shared by two launch rows counts twice, as in HTA). A GPU kernel here
   is a row with ``stream >= 0`` and ``correlation >= 0``, or an ``Event Sync`` /
   ``Context Sync`` row. With ``include_last_profiler_step=True`` CPU rows starting up to
   the end of the last step are kept instead.
5. **GPU events** for the analyses are the kept rows with ``stream != -1``.

HTA also rebases ``ts`` to the earliest event over all ranks; every quantity computed
here is a difference of times, so the rebase is not needed.

*Where we differ from HTA (2):* after the rounding of step 3 a sub-µs event can have
``end < ts``. HTA's interval union adds such an interval's negative length (-1 µs per
isolated event), so on a trace with many isolated sub-µs kernels (common on H100/H200)
its compute time can come out negative and its idle share above 100% (HTA 0.5.0 then
fails an assertion in its own breakdown). :func:`merge_intervals` keeps HTA's arithmetic
by default and treats such an interval as empty with ``clip=True``; the temporal
breakdown uses the clipped union for a rank exactly when HTA's would give a share outside
[0, 100] (see :func:`~jupyter_assistant.traces.analysis.gpu.temporal_breakdown`), so HTA's
numbers stand wherever they are possible. The per-kernel durations of the kernel
breakdown keep HTA's values (``-1`` included).
"""

from __future__ import annotations

import re
from typing import Any

import numpy as np
import pandas as pd

from .._model import Trace

__all__ = ["ANNOTATION_CATS", "KERNEL_TYPES", "hta_gpu_events", "kernel_type",
           "merge_intervals", "trace_ranks"]

#: Categories of annotation ranges that Kineto writes on device streams: never device work.
ANNOTATION_CATS = ("gpu_user_annotation",)

#: HTA's kernel types, in the order HTA assigns overlap bits (``1 << i``) and names overlaps.
KERNEL_TYPES = ("COMPUTATION", "COMMUNICATION", "MEMORY")

# HTA 0.5.0 hta/utils/utils.py: is_comm_kernel, is_memory_kernel, is_compute_kernel
_COMM_RE = re.compile(r"^nccl.*Kernel")
_MEMORY_RE = re.compile(r"(^Memcpy)|(^Memset)|(^dma)")
_NOT_COMPUTE_RE = re.compile(r"(^nccl.*Kernel)|(.*(Memcpy)|(Memset))|(.*Sync)")
_SYNC_NAMES = ("Event Sync", "Context Sync")

GPU_EVENT_COLUMNS = {"rank": "int64", "name": "object", "cat": "object", "pid": "int64",
                     "tid": "int64", "stream": "int64", "correlation": "int64",
                     "ts": "float64", "dur": "float64", "end": "float64",
                     "kernel_type": "object", "row": "int64"}


def kernel_type(name: str) -> str:
    """HTA's ``get_kernel_type`` (0.5.0): ``"COMMUNICATION"`` for ``^nccl.*Kernel``,
    ``"MEMORY"`` for ``^Memcpy|^Memset|^dma``, ``"OTHER"`` for names containing ``Memcpy``
    or ``Sync`` or starting with ``Memset``, else ``"COMPUTATION"``."""
    if _COMM_RE.match(name):
        return "COMMUNICATION"
    if _MEMORY_RE.match(name):
        return "MEMORY"
    if _NOT_COMPUTE_RE.match(name):
        return "OTHER"
    return "COMPUTATION"


def trace_ranks(trace: Trace) -> np.ndarray:
    """The rank of every row of ``trace.events`` (int64): the ``rank`` column of a
    multi-rank trace, else ``metadata["rank"]``, else the single entry of
    ``metadata["ranks"]``, else 0 (HTA's default)."""
    ev = trace.events
    if "rank" in ev.columns:
        return ev["rank"].to_numpy(dtype=np.int64, na_value=0)
    rank = trace.metadata.get("rank")
    if rank is None:
        ranks = trace.metadata.get("ranks") or []
        rank = ranks[0] if len(ranks) == 1 else 0
    return np.full(len(ev), int(rank), dtype=np.int64)


def _to_int(value: Any) -> int:
    """``int(value)`` when it fits int64, else -1 (absent): a trace's
    ``"stream": 99999999999999999999`` must not fail every analysis of it."""
    try:
        out = int(value)
    except (TypeError, ValueError, OverflowError):
        return -1
    return out if -(1 << 63) <= out < (1 << 63) else -1


def _arg_column(ev: pd.DataFrame, key: str, rows: np.ndarray, *,
                prefer_column: bool = False) -> np.ndarray:
    """``args[key]`` of ``ev``'s rows at positions ``rows`` as int64 (-1 when absent or not
    an int); from the column of that name when ``prefer_column`` (the Kineto reader fills
    ``correlation`` from ``args``) or when there is no ``args`` column."""
    if prefer_column and key in ev.columns:
        return ev[key].to_numpy(dtype=np.int64, na_value=-1)[rows]
    if "args" in ev.columns:
        args = ev["args"].to_numpy()[rows]
        try:
            return np.fromiter((a.get(key, -1) if type(a) is dict else -1 for a in args),
                               dtype=np.int64, count=len(args))
        except (TypeError, ValueError, OverflowError):
            return np.asarray([_to_int(a.get(key, -1)) if type(a) is dict else -1
                               for a in args], dtype=np.int64)
    if key in ev.columns:
        return ev[key].to_numpy(dtype=np.int64, na_value=-1)[rows]
    return np.full(len(rows), -1, dtype=np.int64)


def _categorical(col: pd.Series) -> pd.Categorical:
    """``col`` as a Categorical (the slice table stores ``name``/``cat`` as category)."""
    if not isinstance(col.dtype, pd.CategoricalDtype):
        col = col.astype(str).astype("category")
    return pd.Categorical(col)


def _codes(cats: pd.Categorical, values: Any) -> np.ndarray:
    """Category codes of those ``values`` present in ``cats``."""
    index = cats.categories
    return np.asarray([index.get_loc(v) for v in values if v in index], dtype=np.int64)


def _round_ns(ts: np.ndarray, end: np.ndarray, rank: np.ndarray) -> None:
    """HTA's ``round_down_time_stamps`` for the ranks whose timestamps are fractional, in
    place."""
    ranks = np.unique(rank)
    if len(ranks) == 1:  # the usual case: no masks, no copies
        if np.any(ts != np.floor(ts)):
            np.ceil(ts, out=ts)
            np.floor(end, out=end)
        return
    for r in ranks:
        m = rank == r
        if np.any(ts[m] != np.floor(ts[m])):
            ts[m] = np.ceil(ts[m])
            end[m] = np.floor(end[m])


def hta_gpu_events(
    trace: Trace,
    *,
    include_last_profiler_step: bool = False,
    round_ns: bool = True,
) -> pd.DataFrame:
    """The GPU events HTA 0.5.0 analyses, one row per event (repeated where HTA's join
    repeats it); see the module docstring for the steps.

    Returns a DataFrame with columns ``rank, name, cat, pid, tid, stream, correlation``
    (int64 / str), ``ts, dur, end`` (float64, µs, whole numbers after rounding) and
    ``kernel_type`` (``COMPUTATION``, ``COMMUNICATION``, ``MEMORY`` or ``OTHER``) and
    ``row`` (int64, the event's row in ``trace.events``), ordered by rank, then by the order
    of ``trace.events``.
    """
    ev = trace.events
    if len(ev) == 0:
        return pd.DataFrame({c: pd.Series(dtype=t) for c, t in GPU_EVENT_COLUMNS.items()})
    # read the needed columns at the kept rows only, without copying the table
    cat_c = _categorical(ev["cat"])
    drop_cats = [i for i, c in enumerate(cat_c.categories)
                 if c in ("Trace", "", "nan", *ANNOTATION_CATS)]
    rows = np.flatnonzero((cat_c.codes >= 0) & ~np.isin(cat_c.codes, drop_cats))
    cat_codes = cat_c.codes[rows]
    rank = trace_ranks(trace)[rows]
    name_c = _categorical(ev["name"])
    name_codes = name_c.codes[rows]
    stream = _arg_column(ev, "stream", rows)
    corr = _arg_column(ev, "correlation", rows, prefer_column=True)
    ts = ev["ts"].to_numpy(dtype=np.float64)[rows]
    end = ev["end"].to_numpy(dtype=np.float64)[rows]
    if round_ns:  # (ts and end are this call's own copies)
        _round_ns(ts, end, rank)

    repeat = np.ones(len(rows), dtype=np.int64)
    used_names = [str(c) for c in name_c.categories[np.unique(name_codes[name_codes >= 0])]]
    used_cats = [str(c) for c in cat_c.categories[np.unique(cat_codes)]]
    steps = {s for s in used_names + used_cats if "ProfilerStep" in s}
    if len(steps) > 1:  # HTA filters only when there are at least two step names
        is_kernel = ((stream >= 0) & (corr >= 0)) | np.isin(name_codes,
                                                            _codes(name_c, _SYNC_NAMES))
        is_step = ~is_kernel & np.isin(name_codes, _codes(name_c, steps))
        repeat = np.zeros(len(rows), dtype=np.int64)
        for r in np.unique(rank):
            in_rank = rank == r
            step_rows = in_rank & is_step
            if not step_rows.any():
                continue  # HTA compares with NaN: the whole rank is dropped
            if include_last_profiler_step:
                cpu_keep = in_rank & ~is_kernel & (ts <= end[step_rows].max())
            else:
                cpu_keep = in_rank & ~is_kernel & (ts < ts[step_rows].max())
            repeat[cpu_keep] = 1
            kept_corr, counts = np.unique(corr[cpu_keep], return_counts=True)
            kernels = np.flatnonzero(in_rank & is_kernel)
            pos = np.searchsorted(kept_corr, corr[kernels])
            pos = np.minimum(pos, max(len(kept_corr) - 1, 0))
            hit = (kept_corr[pos] == corr[kernels]) if len(kept_corr) else np.zeros(
                len(kernels), dtype=bool)
            repeat[kernels[hit]] = counts[pos[hit]]

    gpu = np.flatnonzero((stream != -1) & (repeat > 0))
    gpu = np.repeat(gpu, repeat[gpu])
    order = np.argsort(rank[gpu], kind="stable")
    gpu = gpu[order]
    gcodes = name_codes[gpu]
    used = np.unique(gcodes)
    labels = np.asarray(name_c.categories.astype(str), dtype=object)
    types = np.empty(len(labels), dtype=object)
    types[used] = [kernel_type(str(n)) for n in labels[used]]
    out = pd.DataFrame({
        "rank": rank[gpu],
        "name": labels[gcodes],
        "cat": np.asarray(cat_c.categories.astype(str), dtype=object)[cat_codes[gpu]],
        "pid": ev["pid"].to_numpy(dtype=np.int64)[rows[gpu]],
        "tid": ev["tid"].to_numpy(dtype=np.int64)[rows[gpu]],
        "stream": stream[gpu],
        "correlation": corr[gpu],
        "ts": ts[gpu],
        "dur": end[gpu] - ts[gpu],
        "end": end[gpu],
        "kernel_type": types[gcodes],
        "row": rows[gpu].astype(np.int64),
    })
    return out


def merge_intervals(ts: np.ndarray, end: np.ndarray, *,
                    clip: bool = False) -> tuple[np.ndarray, np.ndarray]:
    """HTA's ``merge_kernel_intervals``: sort by start, start a new group where a start is
    after every earlier end, and return each group's ``(min start, max end)``.

    With ``clip=True`` (not HTA) an interval with ``end < ts`` (a sub-µs event after HTA's
    ns rounding) counts as the empty interval ``[ts, ts]``, so no group has a negative
    length; HTA keeps such a group and its length of -1 µs."""
    if len(ts) == 0:
        return ts[:0], end[:0]
    if clip:
        end = np.maximum(end, ts)
    order = np.argsort(ts, kind="stable")
    ts = ts[order]
    end = end[order]
    new = np.zeros(len(ts), dtype=bool)
    new[1:] = ts[1:] > np.maximum.accumulate(end)[:-1]
    new[0] = True
    starts = np.flatnonzero(new)
    return ts[starts], np.maximum.reduceat(end, starts)
