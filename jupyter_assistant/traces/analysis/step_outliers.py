"""Profiler steps that do not show the steady state: warm-up, compile and other outliers.

A profiled run often has one or a few steps far longer than the rest: ``torch.compile``
(Dynamo tracing, Inductor code generation, Triton compilation and autotuning), cuDNN
autotuning (``torch.backends.cudnn.benchmark``), lazy CUDA/NCCL initialisation, the caching
allocator's first growth, or, later in a run, a recompilation, a checkpoint or an
evaluation. Judging the whole trace then describes that one-time work, not the loop.

:func:`step_outliers` marks, per rank, each ``ProfilerStep#N`` that is

``slow``
    at least :data:`OUTLIER_RATIO` (3) times the **median of the rank's other steps** (a
    leave-one-out median), with at least :data:`MIN_OTHERS` (2) other steps. The median is
    the robust reference (breakdown point 50%: the outlier cannot drag it up, as it drags
    a mean; up to half the steps may be slow). A ratio, because step times vary
    multiplicatively and a scale-free rule fits 100 µs and 10 s steps alike. Why 3: the
    steady-state steps of the real traces here vary by at most 1.6x around the median of
    the others (HTA's ``trace_diff/test``: 166 ms against 107 ms; a DataLoader with
    workers: 5.0 ms against 3.3 ms), and a truncated last step can halve the median of
    two; one-time work is far larger (a compilation takes seconds against millisecond
    steps; autotuning runs every candidate kernel). Why 2 others: with two steps nothing
    tells a slow first step from a truncated last one (HTA's ``amd_trace``: 9.3 ms, then
    0.05 ms).
``unrecorded``
    lying mostly (more than half) outside the profiler's own recording span (Kineto's
    ``cat: "Trace"`` slice ``PyTorch Profiler (N)``): its length then is not what the
    profiler saw (a step annotation closed long after the recording stopped), whatever the
    number of steps.

Traces without ``ProfilerStep#N`` have no step to single out: their window is the whole
recording, start-up included, which is why the host-bound rule does not judge them.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from .._model import Trace
from ._hta import trace_ranks
from .steps import profiler_steps

__all__ = ["MIN_OTHERS", "OUTLIER_COLUMNS", "OUTLIER_RATIO", "recording_spans",
           "step_outliers"]

#: A step this many times the median of its rank's other steps is an outlier.
OUTLIER_RATIO = 3.0
#: Other steps needed on a rank before a step is compared with them.
MIN_OTHERS = 2

OUTLIER_COLUMNS = {"rank": "int64", "step": "int64", "name": "object", "tid": "int64",
                   "ts": "float64", "end": "float64", "dur": "float64",
                   "reference": "float64", "ratio": "float64", "recorded": "float64",
                   "outlier": "bool", "reason": "object"}


def recording_spans(trace: Trace) -> dict[int, tuple[float, float]]:
    """Per rank, the ``(start, end)`` (µs) of the profiler's own recording: the span of
    Kineto's ``cat == "Trace"`` slices (``PyTorch Profiler (N)``); ``{}`` when the trace
    has none."""
    ev = trace.events
    ranks = trace_ranks(trace)
    if "cat" not in ev.columns or not len(ev):
        return {}
    m = (ev["cat"] == "Trace").to_numpy()
    if not m.any():
        return {}
    ts, end, rk = ev["ts"].to_numpy()[m], ev["end"].to_numpy()[m], ranks[m]
    return {int(r): (float(ts[rk == r].min()), float(end[rk == r].max()))
            for r in np.unique(rk)}


def step_outliers(trace: Trace) -> pd.DataFrame:
    """One row per ``ProfilerStep#N`` and rank, in time order: ``rank, step, name, tid``,
    ``ts, end, dur`` (float64, µs), ``reference`` (float64, µs: the median duration of the
    rank's other steps; NaN with fewer than :data:`MIN_OTHERS` of them), ``ratio``
    (``dur / reference``, NaN without a reference), ``recorded`` (float64, µs: the part of
    the step inside the profiler's recording span; ``dur`` when the trace does not mark
    the span), ``outlier`` (bool) and ``reason`` (``"slow"``, ``"unrecorded"`` or ``""``;
    see the module docstring). Empty (same columns) without steps."""
    steps = profiler_steps(trace)
    if not len(steps):
        return pd.DataFrame({c: pd.Series(dtype=t) for c, t in OUTLIER_COLUMNS.items()})
    spans = recording_spans(trace)
    parts = []
    for rank, st in steps.groupby("rank", sort=True):
        dur = st["dur"].to_numpy(dtype=np.float64)
        n = len(dur)
        ref = np.full(n, np.nan)
        if n - 1 >= MIN_OTHERS:
            for i in range(n):
                ref[i] = float(np.median(np.delete(dur, i)))
        with np.errstate(divide="ignore", invalid="ignore"):
            ratio = np.where(ref > 0, dur / ref, np.nan)
        ts, end = st["ts"].to_numpy(), st["end"].to_numpy()
        span = spans.get(int(str(rank)))
        if span is None:
            recorded = dur.copy()
        else:
            inside = np.minimum(end, span[1]) - np.maximum(ts, span[0])
            recorded = np.where((ts >= span[0]) & (end <= span[1]), dur,
                                np.clip(inside, 0.0, dur))
        unrecorded = recorded < 0.5 * dur
        slow = ~unrecorded & (np.nan_to_num(ratio, nan=0.0) >= OUTLIER_RATIO)
        parts.append(pd.DataFrame({
            "rank": int(str(rank)), "step": st["step"].to_numpy(), "name": st["name"].to_numpy(),
            "tid": st["tid"].to_numpy(), "ts": ts, "end": end, "dur": dur, "reference": ref,
            "ratio": ratio, "recorded": recorded, "outlier": slow | unrecorded,
            "reason": np.where(unrecorded, "unrecorded", np.where(slow, "slow", ""))}))
    return pd.concat(parts, ignore_index=True).astype(OUTLIER_COLUMNS)
