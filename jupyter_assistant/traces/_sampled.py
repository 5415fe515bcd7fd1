"""Helpers shared by the stack-based importers (speedscope, folded stacks, cProfile).

Two concerns live here:

* **Exact times.** :func:`~jupyter_assistant.traces._slices.build_slice_table` nests slices
  by comparing ``ts`` with ``ts + dur`` exactly. A child that closes at the same instant as
  its parent must therefore have ``ts + dur`` equal to the parent's, bit for bit. Times
  computed from seconds (``at * 1e6``) or running sums of float weights do not guarantee
  that. :func:`grid_scale` picks a binary grid (a power of two, as fine as the span allows)
  on which every sum and difference of times is exact in float64, and the importers snap
  their times to it.
* **Frames.** Building ``Trace.threads`` and ``Trace.samples`` frames the same way for
  every sampled format.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from typing import Any

import numpy as np
import pandas as pd

from ._model import THREAD_COLUMNS, empty_frame

__all__ = [
    "SAMPLE_COLUMNS",
    "grid_scale",
    "samples_frame",
    "snap",
    "threads_frame",
]

#: Columns of :attr:`Trace.samples <jupyter_assistant.traces.Trace.samples>` for the
#: speedscope (sampled) and folded-stack importers: one row per sample (speedscope) or per
#: line (folded); ``ts`` where the sample was laid on the synthetic timeline and ``weight``
#: its duration, both in the trace's time unit (µs, or the ``metadata["unit"]``); ``stack``
#: the frame names root first joined with ``";"`` (the folded-stack form).
SAMPLE_COLUMNS = {"pid": "int64", "tid": "int64", "ts": "float64", "weight": "float64",
                  "stack": "object"}

_MANTISSA_BITS = 52


def grid_scale(max_abs: float) -> float:
    """Grid steps per unit such that every multiple of ``1 / scale`` up to ``max_abs`` (and
    every sum or difference of two of them) is exact in float64.

    The largest power of two that keeps ``(max_abs + 1) * scale`` within ``2**51``: a
    resolution of about ``max_abs * 2**-51`` (0.5e-9 µs for a one-second trace), so snapping
    changes a time by no more than float64 rounding would.
    """
    if not math.isfinite(max_abs) or max_abs <= 0:
        return float(2**51)
    bits = _MANTISSA_BITS - 1 - math.ceil(math.log2(max_abs + 1.0))
    return 2.0 ** bits


def snap(values: np.ndarray | Sequence[float], scale: float) -> np.ndarray:
    """``values`` rounded to the nearest multiple of ``1 / scale`` (float64)."""
    arr = np.asarray(values, dtype=np.float64)
    return np.round(arr * scale) / scale


def threads_frame(rows: Iterable[dict[str, Any]]) -> pd.DataFrame:
    """``Trace.threads`` from dicts with ``pid, tid`` and optional ``process_name,
    thread_name, sort_index`` (``rank`` is 0, ``kind`` is ``"cpu"``)."""
    data = [
        {"pid": int(r["pid"]), "tid": int(r["tid"]), "rank": 0,
         "process_name": r.get("process_name"), "thread_name": r.get("thread_name"),
         "sort_index": float(r.get("sort_index", math.nan)), "kind": "cpu"}
        for r in rows
    ]
    if not data:
        return empty_frame(THREAD_COLUMNS)
    df = pd.DataFrame(data, columns=list(THREAD_COLUMNS))
    return df.astype(THREAD_COLUMNS)


def samples_frame(pid: list[int], tid: list[int], ts: list[float], weight: list[float],
                  stack: list[str]) -> pd.DataFrame:
    """``Trace.samples`` (columns :data:`SAMPLE_COLUMNS`) from equal-length lists."""
    return pd.DataFrame({
        "pid": np.asarray(pid, dtype=np.int64),
        "tid": np.asarray(tid, dtype=np.int64),
        "ts": np.asarray(ts, dtype=np.float64),
        "weight": np.asarray(weight, dtype=np.float64),
        "stack": pd.Series(stack, dtype=object),
    })
