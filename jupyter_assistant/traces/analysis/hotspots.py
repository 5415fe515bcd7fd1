"""Hotspots: where the time goes, by slice name (self time and inclusive time)."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd

from ...exceptions import InputError
from .._model import Trace
from .._rows import rows_in
from ._hta import ANNOTATION_CATS

__all__ = ["HOTSPOT_COLUMNS", "analysed_events", "hotspots", "name_stats", "not_work",
           "profiler_span", "thread_keys"]

#: Columns of :func:`hotspots` and their dtypes.
HOTSPOT_COLUMNS = {"name": "object", "count": "int64", "self_dur": "float64",
                   "total_dur": "float64", "self_pct": "float64"}

_BY = ("self_dur", "total_dur", "count")
#: The columns of ``Trace.events`` that :func:`name_stats` (and ``kind=``) read.
STAT_COLUMNS = ("name", "cat", "rank", "pid", "tid", "ts", "dur", "end", "depth", "self_dur",
                "calls", "cumtime")
_KINDS = ("cpu", "gpu", "async", "other", "js")
#: V8's pseudo-frames in a CPU profile: not JavaScript functions.
V8_META = ("(program)", "(idle)", "(root)", "(garbage collector)")


def analysed_events(trace: Trace, columns: Sequence[str] | None = None) -> pd.DataFrame:
    """``trace.events`` without the rows that are not work (:func:`not_work`).

    A Kineto trace holds one slice of category ``Trace`` (``PyTorch Profiler (0)``) that
    spans the whole recording; it is not work, and HTA drops it too. It also mirrors every
    ``ProfilerStep#N`` and ``record_function`` range onto the GPU stream as a
    ``gpu_user_annotation`` slice: an annotation, not a kernel, so it is left out (its
    CPU-side ``user_annotation`` stays). Every other trace is returned as is. The index
    still holds the rows' positions in ``trace.events``. ``columns`` keeps only those of
    them that the table has (so that dropping rows does not copy the others).
    """
    ev = trace.events
    if columns is not None:
        ev = ev[[c for c in ev.columns if c in set(columns)]]
    drop = not_work(trace)
    return ev.loc[~drop] if drop is not None else ev


def not_work(trace: Trace) -> np.ndarray | None:
    """Boolean mask over ``trace.events`` of the rows that are not work: the PyTorch
    profiler's ``Trace`` span and the ``gpu_user_annotation`` ranges on device streams;
    ``None`` when there are none (every non-Kineto trace)."""
    ev = trace.events
    if trace.metadata.get("format") != "kineto" or not len(ev):
        return None
    mask = ev["cat"].isin(("Trace", *ANNOTATION_CATS)).to_numpy()
    return mask if mask.any() else None


def profiler_span(trace: Trace) -> np.ndarray | None:
    """Boolean mask over ``trace.events`` of the rows :func:`analysed_events` leaves out
    (the PyTorch profiler's ``Trace`` span), or ``None`` when there are none."""
    ev = trace.events
    if trace.metadata.get("format") != "kineto" or not len(ev):
        return None
    span = (ev["cat"] == "Trace").to_numpy()
    return span if span.any() else None


def thread_keys(events: pd.DataFrame) -> np.ndarray:
    """One int64 id per thread (``(rank, pid, tid)``, or ``(pid, tid)``) for every row."""
    cols = [c for c in ("rank", "pid", "tid") if c in events.columns]
    n = len(events)
    if not n:
        return np.zeros(0, dtype=np.int64)
    arrays = [events[c].to_numpy(dtype=np.int64) for c in cols]
    # fast path: the slice table keeps each thread's rows together
    change = np.ones(n, dtype=bool)
    change[1:] = False
    for a in arrays:
        change[1:] |= a[1:] != a[:-1]
    firsts = np.flatnonzero(change)
    if len(set(zip(*(a[firsts].tolist() for a in arrays), strict=True))) == len(firsts):
        return np.cumsum(change) - 1
    order = np.lexsort(arrays[::-1])
    change = np.zeros(n, dtype=bool)
    for a in arrays:
        s = a[order]
        change[1:] |= s[1:] != s[:-1]
    ids = np.empty(n, dtype=np.int64)
    ids[order] = np.cumsum(change)
    return ids


def _outermost(events: pd.DataFrame, name_codes: np.ndarray) -> np.ndarray:
    """True for a slice with no ancestor of the same name on its thread.

    Slices on one thread nest, so an earlier slice of the same name that is still open at
    this slice's start (``ts < end``) is one of its ancestors: per (thread, name), in
    ``ts`` order, a slice is recursive when it starts before the running maximum end of
    the slices before it. O(n log n), no walk up the parent chain.
    """
    n = len(events)
    if n == 0:
        return np.zeros(0, dtype=bool)
    if "depth" in events.columns and not events["depth"].to_numpy().any():
        return np.ones(n, dtype=bool)  # nothing is nested
    thread = thread_keys(events)
    ts = events["ts"].to_numpy(dtype=np.float64)
    end = events["end"].to_numpy(dtype=np.float64)
    dur = events["dur"].to_numpy(dtype=np.float64)
    key = thread * (int(name_codes.max()) + 1) + name_codes
    # within a group, parents (same ts, longer) come first; the slice table is already in
    # (thread, ts, -dur) order, which a stable sort by group keeps
    same = thread[1:] == thread[:-1]
    in_order = not np.any(same & ((ts[1:] < ts[:-1]) | ((ts[1:] == ts[:-1])
                                                        & (dur[1:] > dur[:-1]))))
    order = np.argsort(key, kind="stable") if in_order else np.lexsort((-dur, ts, key))
    g_thread = thread[order]
    g_name = name_codes[order]
    new_group = np.ones(n, dtype=bool)
    new_group[1:] = (g_thread[1:] != g_thread[:-1]) | (g_name[1:] != g_name[:-1])
    group = np.cumsum(new_group)
    prev_end = pd.Series(end[order]).groupby(group).cummax().to_numpy()
    prev_end = np.concatenate(([-np.inf], prev_end[:-1]))
    prev_end[new_group] = -np.inf
    outer = np.empty(n, dtype=bool)
    outer[order] = ts[order] >= prev_end
    return outer


def name_stats(events: pd.DataFrame, drop: np.ndarray | None = None) -> pd.DataFrame:
    """Per slice name: ``count`` (int64), ``self_dur`` and ``total_dur`` (float64, µs),
    indexed by name (str), unsorted. ``total_dur`` counts recursive frames once.

    ``drop``, a boolean mask over the rows, leaves those rows out exactly as if they had
    been removed first (without copying the table): the result equals
    ``name_stats(events.loc[~drop])``.

    When ``events`` has the ``calls`` and ``cumtime`` columns of a cProfile trace
    (:mod:`~jupyter_assistant.traces.cprofile`), ``count`` is the profiler's call count
    (pstats ``ncalls``) and ``total_dur`` its ``cumtime``, not the synthetic slices'."""
    if len(events) == 0:
        return pd.DataFrame({c: pd.Series(dtype=t) for c, t in HOTSPOT_COLUMNS.items()
                             if c not in ("name", "self_pct")},
                            index=pd.Index([], dtype=object, name="name"))
    names = events["name"]
    cats = pd.Categorical(names) if not isinstance(names.dtype, pd.CategoricalDtype) \
        else names.array
    codes = np.asarray(cats.codes, dtype=np.int64)
    k = len(cats.categories)
    bins = k
    if drop is not None and drop.any():
        # dropped rows become a name of their own (code k), so they nest with no other
        # row in _outermost and each sum adds the same rows in the same order as without
        # them; that bin is cut off at the end
        codes = np.where(drop, k, codes)
        bins = k + 1
    outer = _outermost(events, codes)
    count = np.bincount(codes, minlength=bins)
    self_dur = np.bincount(codes, weights=events["self_dur"].to_numpy(dtype=np.float64),
                           minlength=bins)
    dur = events["dur"].to_numpy(dtype=np.float64)
    total: np.ndarray = np.bincount(codes[outer], weights=dur[outer], minlength=bins)
    used = count[:k] > 0
    if "calls" in events.columns and "cumtime" in events.columns:  # cProfile: pstats' own
        calls = np.bincount(codes, weights=events["calls"].to_numpy(np.float64), minlength=bins)
        count = np.rint(calls).astype(np.int64)
        total = np.zeros(bins)
        np.maximum.at(total, codes, events["cumtime"].to_numpy(dtype=np.float64))
    count, self_dur, total = count[:k], self_dur[:k], total[:k]
    return pd.DataFrame({"count": count[used].astype(np.int64), "self_dur": self_dur[used],
                         "total_dur": total[used]},
                        index=pd.Index(np.asarray(cats.categories.astype(str))[used],
                                       dtype=object, name="name"))


def hotspots(
    trace: Trace,
    n: int | None = 20,
    by: str = "self_dur",
    *,
    kind: str | None = None,
) -> pd.DataFrame:
    """The top ``n`` slice names by ``by`` (``"self_dur"``, ``"total_dur"`` or ``"count"``).

    Returns a DataFrame, largest first (ties broken by name), with columns:

    =========  =======  =================================================================
    name       object   slice name (str)
    count      int64    slices of that name; for a cProfile trace the calls (pstats
                        ``ncalls``)
    self_dur   float64  µs: time in the slices minus time in their direct children,
                        summed (torch ``key_averages()`` "Self CPU"; pstats ``tottime``)
    total_dur  float64  µs: inclusive time; a slice nested in a slice of the same name on
                        the same thread is not added again, so recursion counts once (as
                        pstats ``cumtime`` does; for a cProfile trace it is ``cumtime``)
    self_pct   float64  %: share of the self time of all slices considered
    =========  =======  =================================================================

    ``n=None`` returns every name.

    ``kind`` limits the slices to threads of that :attr:`Trace.threads` ``kind``
    (``"cpu"``, ``"gpu"``, ``"async"`` or ``"other"``), or to the JavaScript functions
    of a DevTools recording's ``ProfileChunk`` CPU samples (``"js"``: category
    ``cpu_sample``, without V8's ``(program)``/``(idle)``/``(root)``/``(garbage
    collector)`` pseudo-frames); by default every slice counts, so
    in a Kineto trace GPU kernels, memcpys and memsets and CPU ops share one ranking (the
    profiler's own ``Trace`` span and the ``gpu_user_annotation`` ranges are always left
    out, see :func:`analysed_events`, so ``kind="gpu"`` ranks device work only). Self
    time follows the Chrome Trace Event Format nesting on each thread, which for a PyTorch
    profiler trace equals ``key_averages()`` "Self CPU" per op.

    Raises :class:`~jupyter_assistant.exceptions.InputError` (a ``ValueError``) for an
    unknown ``by`` or ``kind``.
    """
    if by not in _BY:
        raise InputError(f"by must be one of {_BY}, not {by!r}")
    if kind is not None:
        events = analysed_events(trace, STAT_COLUMNS)
        stats = name_stats(events.loc[_kind_mask(trace, events, kind)])
    else:  # every row but the profiler's span and annotations, without copying the table
        stats = name_stats(trace.events, drop=not_work(trace))
    total_self = float(stats["self_dur"].sum())
    out = stats.reset_index()
    out["self_pct"] = 100.0 * out["self_dur"] / total_self if total_self > 0 else 0.0
    out = out.sort_values([by, "name"], ascending=[False, True], kind="stable",
                          ignore_index=True)
    if n is not None:
        out = out.head(int(n))
    return out.astype(HOTSPOT_COLUMNS)[list(HOTSPOT_COLUMNS)]


def _kind_mask(trace: Trace, ev: pd.DataFrame, kind: str) -> np.ndarray:
    """Rows of ``ev`` (from ``trace.events``) on threads whose ``kind`` is ``kind``."""
    if kind not in _KINDS:
        raise InputError(f"kind must be one of {_KINDS}, not {kind!r}")
    if kind == "js":  # JavaScript functions from DevTools/.cpuprofile CPU samples
        return ((ev["cat"] == "cpu_sample").to_numpy()
                & ~ev["name"].isin(V8_META).to_numpy())
    th = trace.threads
    if th is None or not len(th) or "kind" not in th.columns:
        return np.full(len(ev), kind == "cpu")
    keys = [c for c in ("rank", "pid", "tid") if c in ev.columns and c in th.columns]
    sel = th.loc[th["kind"] == kind, keys].drop_duplicates()
    if not len(sel):
        return np.zeros(len(ev), dtype=bool)
    return rows_in([ev[k].to_numpy() for k in keys],
                   zip(*(sel[k].tolist() for k in keys), strict=True))
