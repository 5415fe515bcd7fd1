"""Device activity on raw timestamps: what the GPU did, and how busy it was.

HTA's analyses (:mod:`~jupyter_assistant.traces.analysis.gpu`) round ns-precision
timestamps to whole µs and drop the last profiler step; on a modern GPU, where many kernels
last 1–3 µs, that rounding alone changes busy time by tens of percent. The functions here
keep the trace's own float µs, count every step, and never count ``gpu_user_annotation``
ranges: device busy time is the union of the intervals of kernels, memcpys and memsets
(and other device activity such as MTIA's), per device.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from .._model import Trace
from ._hta import ANNOTATION_CATS, kernel_type, trace_ranks

__all__ = ["DEVICE_COLUMNS", "device_events", "gpu_utilization", "union_intervals",
           "union_length"]

#: Columns of :func:`device_events`.
DEVICE_COLUMNS = {"rank": "int64", "pid": "int64", "stream": "int64", "name": "category",
                  "cat": "category", "ts": "float64", "dur": "float64", "end": "float64",
                  "correlation": "int64", "kernel_type": "object", "bytes": "float64",
                  "row": "int64"}

UTIL_COLUMNS = ["rank", "pid", "first_ts", "last_end", "span_us", "busy_us", "compute_us",
                "communication_us", "memory_us", "idle_us", "busy_pct", "events"]


def _arg_float(args: np.ndarray, key: str) -> np.ndarray:
    out = np.full(len(args), np.nan)
    for i, a in enumerate(args):
        if type(a) is dict:
            v = a.get(key)
            if isinstance(v, int | float) and not isinstance(v, bool):
                out[i] = float(v)
    return out


def device_events(trace: Trace) -> pd.DataFrame:
    """Every device activity of a Kineto trace, in ``ts`` order: kernels, memcpys, memsets
    (rows on a device stream, ``stream >= 0``), never ``gpu_user_annotation`` ranges nor
    the profiler's ``Trace`` span.

    Returns columns ``rank, pid`` (the device), ``stream`` (int64), ``name, cat``
    (category of str),
    ``ts, dur, end`` (float64, µs, as recorded: no rounding, a negative ``dur`` is read as
    0), ``correlation`` (int64, -1 when absent), ``kernel_type`` (HTA's
    :func:`~jupyter_assistant.traces.analysis.gpu.kernel_type`: COMPUTATION,
    COMMUNICATION, MEMORY or OTHER), ``bytes`` (float64, ``args.bytes`` of memcpys and
    memsets, NaN otherwise) and ``row`` (int64, the row of :attr:`Trace.events`). An empty
    frame for a trace without a ``stream`` column (not Kineto).
    """
    ev = trace.events
    if "stream" not in ev.columns or not len(ev):
        return pd.DataFrame({c: pd.Series(dtype=t) for c, t in DEVICE_COLUMNS.items()})
    stream = ev["stream"].to_numpy(dtype=np.int64, na_value=-1)
    cat = ev["cat"]
    keep = (stream >= 0) & ~cat.isin(("Trace", *ANNOTATION_CATS)).to_numpy()
    rows = np.flatnonzero(keep)
    ts = ev["ts"].to_numpy(dtype=np.float64)[rows]
    end = np.maximum(ev["end"].to_numpy(dtype=np.float64)[rows], ts)
    name_col = ev["name"]
    if not isinstance(name_col.dtype, pd.CategoricalDtype):
        name_col = name_col.astype(str).astype("category")
    codes = np.asarray(name_col.cat.codes.to_numpy()[rows], dtype=np.int64)
    labels = np.asarray(name_col.cat.categories.astype(str), dtype=object)
    used = np.unique(codes[codes >= 0])
    label_types = np.empty(len(labels), dtype=object)
    label_types[used] = [kernel_type(str(n)) for n in labels[used]]
    names = pd.Categorical.from_codes(np.maximum(codes, 0), categories=pd.Index(
        labels, dtype=object)) if len(labels) else np.zeros(0, dtype=object)
    types = label_types[np.maximum(codes, 0)]
    corr = (ev["correlation"].to_numpy(dtype=np.int64, na_value=-1)[rows]
            if "correlation" in ev.columns else np.full(len(rows), -1, dtype=np.int64))
    if isinstance(cat.dtype, pd.CategoricalDtype):
        cats = pd.Categorical.from_codes(
            np.asarray(cat.cat.codes.to_numpy()[rows], dtype=np.int64),
            categories=pd.Index(cat.cat.categories.astype(str), dtype=object))
    else:
        cats = pd.Categorical(np.asarray(cat.to_numpy()[rows], dtype=object).astype(str))
    nbytes = np.full(len(rows), np.nan)
    if "args" in ev.columns:
        mem = np.flatnonzero(types == "MEMORY")
        nbytes[mem] = _arg_float(ev["args"].to_numpy()[rows[mem]], "bytes")
    out = pd.DataFrame({
        "rank": trace_ranks(trace)[rows], "pid": ev["pid"].to_numpy(dtype=np.int64)[rows],
        "stream": stream[rows], "name": names, "cat": cats, "ts": ts, "dur": end - ts,
        "end": end, "correlation": corr, "kernel_type": types, "bytes": nbytes,
        "row": rows.astype(np.int64)})
    return out.sort_values("ts", kind="stable", ignore_index=True)


def union_intervals(ts: np.ndarray, end: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The union of the intervals ``[ts, end)`` as sorted, disjoint ``(starts, ends)``
    (an interval with ``end < ts`` is empty)."""
    if len(ts) == 0:
        return np.zeros(0), np.zeros(0)
    order = np.argsort(ts, kind="stable")
    ts = np.asarray(ts, dtype=np.float64)[order]
    end = np.maximum(np.asarray(end, dtype=np.float64)[order], ts)
    run = np.maximum.accumulate(end)
    new = np.ones(len(ts), dtype=bool)
    new[1:] = ts[1:] > run[:-1]
    starts = np.flatnonzero(new)
    return ts[starts], np.maximum.reduceat(end, starts)


def union_length(ts: np.ndarray, end: np.ndarray, lo: float = -np.inf,
                 hi: float = np.inf) -> float:
    """Length (µs) of the union of ``[ts, end)`` clipped to the window ``[lo, hi)``."""
    s, e = union_intervals(np.clip(ts, lo, hi), np.clip(end, lo, hi))
    return float((e - s).sum())


def gpu_utilization(trace: Trace) -> pd.DataFrame:
    """How busy each device was, on raw timestamps, over its active span.

    Per ``(rank, pid)`` device: ``first_ts``/``last_end`` of its activity, ``span_us`` (the
    difference), ``busy_us`` = length of the union of all its kernel, memcpy and memset
    intervals over every stream (never ``gpu_user_annotation`` ranges), ``compute_us``,
    ``communication_us``, ``memory_us`` = the union of the intervals of each HTA kernel
    type, ``idle_us`` = span − busy, ``busy_pct`` = 100·busy/span (in [0, 100]) and
    ``events`` (int64). All times float64 µs. Unlike HTA's temporal breakdown, timestamps
    are not rounded and the last profiler step is kept. Empty (same columns) when the
    trace has no device activity.
    """
    dev = device_events(trace)
    rows = []
    for (rank, pid), g in dev.groupby(["rank", "pid"], sort=True):
        ts, end = g["ts"].to_numpy(), g["end"].to_numpy()
        kt = g["kernel_type"].to_numpy()
        first, last = float(ts.min()), float(end.max())
        span = last - first
        busy = union_length(ts, end)
        parts = [union_length(ts[kt == k], end[kt == k])
                 for k in ("COMPUTATION", "COMMUNICATION", "MEMORY")]
        pct = 100.0 * busy / span if span > 0 else 100.0
        rows.append((int(str(rank)), int(str(pid)), first, last, span, busy, *parts,
                     max(span - busy, 0.0), min(max(pct, 0.0), 100.0), len(g)))
    out = pd.DataFrame(rows, columns=UTIL_COLUMNS)
    return out.astype({c: "float64" for c in UTIL_COLUMNS[2:-1]}
                      | {"rank": "int64", "pid": "int64", "events": "int64"})
