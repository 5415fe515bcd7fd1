"""Build the slice table: nesting (depth, parent) and self time from intervals.

Every importer ends here. It hands over column arrays for the slices of a trace (at least
``name, cat, pid, tid, ts, dur``; times in µs) and gets back the DataFrame of
:attr:`Trace.events <jupyter_assistant.traces.Trace.events>`:

=========  =========  ===============================================================
column     dtype      meaning
=========  =========  ===============================================================
name       category   slice name (function, op, kernel)
cat        category   Chrome ``cat`` (``""`` when absent)
pid        int64      process id (for GPU rows of a Kineto trace: the device)
tid        int64      thread id (for GPU rows of a Kineto trace: the stream)
ts         float64    start, µs
dur        float64    duration, µs (>= 0)
end        float64    ``ts + dur``, µs
depth      int32      0 at top level, parent's depth + 1 below
parent     int64      row position of the enclosing slice on the same (pid, tid), -1 at top
self_dur   float64    ``dur`` minus the time covered by direct children, µs
=========  =========  ===============================================================

Any further columns given (``rank``, ``stream``, ``correlation``, ``args``, ...) are kept.
Rows are sorted by ``(pid, tid, ts, -dur)`` so that a parent precedes its children; the
index is a RangeIndex, so ``parent`` is both a row position and an index label.

Nesting follows the Chrome Trace Event Format rule that slices on one thread nest; a slice
that starts inside another but ends after it (a malformed or overlapping pair) is still
counted as its child, and only the part inside the parent is taken from the parent's self
time, so ``self_dur`` is never negative.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd

__all__ = ["build_slice_table", "slices_from_stacks"]

_REQUIRED = ("name", "cat", "pid", "tid", "ts", "dur")


def _nest(ts: np.ndarray, end: np.ndarray, new_group: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Parent row and depth for rows sorted by (group, ts, -dur); a stack per group."""
    n = len(ts)
    parent = np.full(n, -1, dtype=np.int64)
    depth = np.zeros(n, dtype=np.int32)
    ts_l = ts.tolist()
    end_l = end.tolist()
    starts = [*np.flatnonzero(new_group).tolist(), n]
    for g in range(len(starts) - 1):
        lo, hi = starts[g], starts[g + 1]
        stack_i: list[int] = []
        stack_end: list[float] = []
        for i in range(lo, hi):
            t = ts_l[i]
            while stack_end and stack_end[-1] <= t:
                stack_end.pop()
                stack_i.pop()
            if stack_i:
                parent[i] = stack_i[-1]
                depth[i] = len(stack_i)
            stack_i.append(i)
            stack_end.append(end_l[i])
    return parent, depth


def build_slice_table(columns: Mapping[str, Any]) -> pd.DataFrame:
    """Sort slices, nest them per thread and compute self time.

    ``columns`` maps column name to an array-like of equal length; ``name, cat, pid, tid,
    ts, dur`` are required (µs). Returns the DataFrame described in the module docstring.
    Raises ``ValueError`` if a required column is missing (importers turn bad input into
    :class:`~jupyter_assistant.exceptions.TraceFormatError` before calling this).
    """
    missing = [c for c in _REQUIRED if c not in columns]
    if missing:
        raise ValueError(f"slice table needs columns {missing}")
    df = pd.DataFrame(
        {
            **{k: v for k, v in columns.items() if k not in _REQUIRED},
            "name": pd.Categorical(np.asarray(columns["name"], dtype=object)),
            "cat": pd.Categorical(np.asarray(columns["cat"], dtype=object)),
            "pid": np.asarray(columns["pid"], dtype=np.int64),
            "tid": np.asarray(columns["tid"], dtype=np.int64),
            "ts": np.asarray(columns["ts"], dtype=np.float64),
            "dur": np.asarray(columns["dur"], dtype=np.float64),
        }
    )
    order = ["name", "cat", "pid", "tid", "ts", "dur"]
    df = df[order + [c for c in df.columns if c not in order]]
    n = len(df)
    if n == 0:
        for col, dt in (("end", "float64"), ("depth", "int32"), ("parent", "int64"),
                        ("self_dur", "float64")):
            df[col] = pd.Series(dtype=dt)
        return _reorder(df)
    # sort by (pid, tid, ts, -dur); mergesort is stable, so ties keep input order
    keys = np.lexsort((-df["dur"].to_numpy(), df["ts"].to_numpy(), df["tid"].to_numpy(),
                       df["pid"].to_numpy()))
    df = df.iloc[keys].reset_index(drop=True)
    pid = df["pid"].to_numpy()
    tid = df["tid"].to_numpy()
    ts = df["ts"].to_numpy()
    dur = df["dur"].to_numpy()
    end = ts + dur
    new_group = np.ones(n, dtype=bool)
    new_group[1:] = (pid[1:] != pid[:-1]) | (tid[1:] != tid[:-1])
    parent, depth = _nest(ts, end, new_group)
    has_parent = parent >= 0
    child_rows = np.flatnonzero(has_parent)
    par = parent[child_rows]
    covered = np.minimum(end[child_rows], end[par]) - ts[child_rows]
    child_time = np.bincount(par, weights=np.maximum(covered, 0.0), minlength=n)
    self_dur = np.maximum(dur - child_time, 0.0)
    df["end"] = end
    df["depth"] = depth
    df["parent"] = parent
    df["self_dur"] = self_dur
    return _reorder(df)


def _reorder(df: pd.DataFrame) -> pd.DataFrame:
    core = ["name", "cat", "pid", "tid", "ts", "dur", "end", "depth", "parent", "self_dur"]
    return df[core + [c for c in df.columns if c not in core]]


def slices_from_stacks(
    stacks: Sequence[Sequence[str]],
    weights: Sequence[float],
    *,
    start: float = 0.0,
    times: Sequence[float] | None = None,
) -> dict[str, list[Any]]:
    """Turn sampled stacks into slices by merging runs of identical stack prefixes.

    This is what speedscope does for sampled profiles (``CallTreeProfileBuilder``): the
    samples are laid end to end, sample ``i`` lasting ``weights[i]`` µs (or from ``times[i]``
    when given), and a frame that stays on the stack across consecutive samples becomes one
    slice. ``stacks[i]`` lists frame names root first. Samples with weight <= 0 are skipped.

    Returns columns ``name, ts, dur, depth`` (µs) ready for :func:`build_slice_table` once the
    caller adds ``cat, pid, tid``.
    """
    names: list[str] = []
    ts_out: list[float] = []
    dur_out: list[float] = []
    depth_out: list[int] = []
    open_rows: list[int] = []  # row of the open slice at each depth
    open_names: list[str] = []
    now = float(start)

    def close_to(k: int, t: float) -> None:
        while len(open_rows) > k:
            row = open_rows.pop()
            open_names.pop()
            dur_out[row] = t - ts_out[row]

    for i, stack in enumerate(stacks):
        w = float(weights[i])
        if times is not None:
            now = float(times[i])
        if w <= 0:
            continue
        common = 0
        limit = min(len(stack), len(open_names))
        while common < limit and stack[common] == open_names[common]:
            common += 1
        close_to(common, now)
        for d in range(common, len(stack)):
            open_rows.append(len(names))
            open_names.append(stack[d])
            names.append(stack[d])
            ts_out.append(now)
            dur_out.append(0.0)
            depth_out.append(d)
        now += w
    close_to(0, now)
    return {"name": names, "ts": ts_out, "dur": dur_out, "depth": depth_out}
