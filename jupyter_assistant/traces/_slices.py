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
    """Parent row and depth for rows sorted by (group, ts, -dur); a stack per group.

    Same result as pushing each row on its group's stack after popping every slice that has
    ended (``end <= ts``): the parent of row ``i`` is the last earlier row of its group with
    ``end > ts[i]``. Computed without a Python loop over rows: each row starts from the row
    before it and, while that candidate ended before it started, jumps to the candidate's
    own candidate (which is never past the answer, since rows are sorted by ``ts``). Rows
    settle in a few vectorised rounds; depth then comes from pointer doubling.
    """
    n = len(ts)
    parent = np.full(n, -1, dtype=np.int64)
    if n == 0:
        return parent, np.zeros(0, dtype=np.int32)
    est = np.arange(-1, n - 1, dtype=np.int64)
    est[np.asarray(new_group, dtype=bool)] = -1
    active = np.flatnonzero(est >= 0)
    while active.size:
        c = est[active]
        ok = end[c] > ts[active]
        parent[active[ok]] = c[ok]
        rest = active[~ok]
        est[rest] = est[c[~ok]]
        active = rest[est[rest] >= 0]
    # depth = number of ancestors, by pointer doubling over the parent links
    depth = (parent >= 0).astype(np.int64)
    jump = parent.copy()
    active = np.flatnonzero(jump >= 0)
    while active.size:
        j = jump[active]
        new_depth = depth[active] + depth[j]  # all reads before any write: synchronous
        new_jump = jump[j]
        depth[active] = new_depth
        jump[active] = new_jump
        active = active[new_jump >= 0]
    return parent, depth.astype(np.int32)


def _categorical(values: Any) -> pd.Categorical:
    if isinstance(values, pd.Categorical):
        return values
    return pd.Categorical(np.asarray(values, dtype=object))


def build_slice_table(columns: Mapping[str, Any], *, consume: bool = False) -> pd.DataFrame:
    """Sort slices, nest them per thread and compute self time.

    ``columns`` maps column name to an array-like of equal length; ``name, cat, pid, tid,
    ts, dur`` are required (µs). Returns the DataFrame described in the module docstring.
    With ``consume=True`` (``columns`` must then be a ``dict``) the columns are popped from
    it as they are read, so that each input column can be freed once its sorted copy
    exists instead of all of them living twice. Raises ``ValueError`` if a required column
    is missing (importers turn bad input into
    :class:`~jupyter_assistant.exceptions.TraceFormatError` before calling this).
    """
    missing = [c for c in _REQUIRED if c not in columns]
    if missing:
        raise ValueError(f"slice table needs columns {missing}")
    if consume:
        if not isinstance(columns, dict):
            raise TypeError("consume=True needs a dict of columns")
        source: Any = columns
        get = source.pop
    else:
        get = columns.__getitem__
    name = _categorical(get("name"))
    cat = _categorical(get("cat"))
    pid = np.asarray(get("pid"), dtype=np.int64)
    tid = np.asarray(get("tid"), dtype=np.int64)
    ts = np.asarray(get("ts"), dtype=np.float64)
    dur = np.asarray(get("dur"), dtype=np.float64)
    n = len(ts)
    extra = {k: get(k) for k in list(columns) if k not in _REQUIRED and k not in _COMPUTED}
    lengths = {len(name), len(cat), len(pid), len(tid), len(dur)}
    lengths.update(len(v) for v in extra.values())
    if lengths - {n}:
        raise ValueError(f"slice table columns differ in length: {sorted(lengths | {n})}")
    keys = _order(pid, tid, ts, dur)
    if n and not (keys[1:] > keys[:-1]).all():
        name = pd.Categorical.from_codes(name.codes[keys], dtype=name.dtype)
        cat = pd.Categorical.from_codes(cat.codes[keys], dtype=cat.dtype)
        pid, tid, ts, dur = pid[keys], tid[keys], ts[keys], dur[keys]
        for k in extra:  # one at a time: the unsorted column goes when its copy is made
            extra[k] = _take(extra[k], keys)
    end = ts + dur
    new_group = np.ones(n, dtype=bool)
    new_group[1:] = (pid[1:] != pid[:-1]) | (tid[1:] != tid[:-1])
    parent, depth = _nest(ts, end, new_group)
    child_rows = np.flatnonzero(parent >= 0)
    par = parent[child_rows]
    covered = np.minimum(end[child_rows], end[par]) - ts[child_rows]
    child_time = np.bincount(par, weights=np.maximum(covered, 0.0), minlength=n)
    self_dur = np.maximum(dur - child_time, 0.0)
    data = {"name": name, "cat": cat, "pid": pid, "tid": tid, "ts": ts, "dur": dur, "end": end,
            "depth": depth, "parent": parent, "self_dur": self_dur}
    data.update(extra)
    return pd.DataFrame(data, copy=False)


_COMPUTED = ("end", "depth", "parent", "self_dur")


def _order(pid: np.ndarray, tid: np.ndarray, ts: np.ndarray, dur: np.ndarray) -> np.ndarray:
    """Row order by (pid, tid, ts, -dur), ties kept in input order: the result of
    ``np.lexsort((-dur, ts, tid, pid))``, computed faster. One stable argsort on ``ts``; the
    few rows that tie on ``ts`` are re-sorted by ``-dur``; then a stable sort on a dense
    (pid, tid) code, which is a radix sort for up to 32,767 threads."""
    n = len(ts)
    order = np.argsort(ts, kind="stable")
    ts_sorted = ts[order]
    eq = ts_sorted[1:] == ts_sorted[:-1]
    if eq.any():
        in_tie = np.zeros(n, dtype=bool)
        in_tie[1:] |= eq
        in_tie[:-1] |= eq
        pos = np.flatnonzero(in_tie)
        run = np.cumsum(np.concatenate(([True], ~eq)))[pos]
        rows = order[pos]
        order[pos] = rows[np.lexsort((-dur[rows], run))]
    pc, pu = pd.factorize(pid, sort=True)
    tc, tu = pd.factorize(tid, sort=True)
    group = pc.astype(np.int64) * max(len(tu), 1) + tc
    if len(pu) * len(tu) > 1:
        if len(pu) * len(tu) > 32767:
            group = pd.factorize(group, sort=True)[0]
        small = group.astype(np.int16) if group.max() < 32768 else group
        order = order[np.argsort(small[order], kind="stable")]
    return order


def _take(values: Any, keys: np.ndarray) -> Any:
    """``values`` reordered by ``keys``, keeping its dtype (array, Categorical, Series, list)."""
    if isinstance(values, pd.Categorical):
        return pd.Categorical.from_codes(values.codes[keys], dtype=values.dtype)
    if isinstance(values, np.ndarray):
        return values[keys]
    series = values if isinstance(values, pd.Series) else pd.Series(values)
    return series.array.take(keys)


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
