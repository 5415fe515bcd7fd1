"""Per-thread analyses: busy and idle time, idle gaps, the longest slices."""

from __future__ import annotations

import numpy as np
import pandas as pd

from .._model import Trace
from .hotspots import analysed_events, not_work, thread_keys

__all__ = ["idle_gaps", "long_slices", "thread_utilization"]


def _thread_cols(events: pd.DataFrame) -> list[str]:
    return [c for c in ("rank", "pid", "tid") if c in events.columns]


def _thread_info(trace: Trace, frame: pd.DataFrame) -> pd.DataFrame:
    """Add ``thread_name`` and ``kind`` from :attr:`Trace.threads` to ``frame``."""
    keys = _thread_cols(frame)
    th = trace.threads
    if th is not None and len(th) and all(k in th.columns for k in keys):
        info = th[[*keys, "thread_name", "kind"]].drop_duplicates(keys)
        out = frame.merge(info, on=keys, how="left")
    else:
        out = frame.copy()
        out["thread_name"] = None
        out["kind"] = None
    out["thread_name"] = out["thread_name"].where(out["thread_name"].notna(),
                                                  "tid " + out["tid"].astype(str))
    out["kind"] = out["kind"].fillna("cpu")
    return out


def _top_level(trace: Trace) -> pd.DataFrame:
    """Top-level work slices sorted by thread and start, with a ``thread`` id column: the
    depth-0 slices, and the slices whose parent is not work (:func:`not_work`: a GPU
    kernel nested in a ``gpu_user_annotation`` range is top-level device work)."""
    ev = analysed_events(trace)
    top_mask = ev["depth"].to_numpy() == 0
    dropped = not_work(trace)
    if dropped is not None:
        parent = ev["parent"].to_numpy(dtype=np.int64)
        top_mask |= (parent >= 0) & dropped[np.maximum(parent, 0)]
    top = ev.loc[top_mask, [*_thread_cols(ev), "name", "ts", "end"]]
    top = top.assign(thread=thread_keys(top))
    return top.sort_values(["thread", "ts"], kind="stable", ignore_index=True)


def _merge_top(top: pd.DataFrame) -> pd.DataFrame:
    """Union of the top-level intervals of each thread: one row per busy period, with the
    names of its first and last slice."""
    if not len(top):
        return top.assign(first_name=top["name"], last_name=top["name"])
    thread = top["thread"].to_numpy()
    ts = top["ts"].to_numpy()
    end = top["end"].to_numpy()
    run_end = pd.Series(end).groupby(thread).cummax().to_numpy()
    new = np.ones(len(top), dtype=bool)
    new[1:] = (thread[1:] != thread[:-1]) | (ts[1:] > run_end[:-1])
    period = np.cumsum(new) - 1
    starts = np.flatnonzero(new)
    last = np.append(starts[1:], len(top)) - 1
    names = top["name"].astype(str).to_numpy()
    per_end = np.maximum.reduceat(end, starts)
    # name of the slice that ends the period last
    ender = pd.Series(end).groupby(period).idxmax().to_numpy()
    out = top.iloc[starts][[c for c in top.columns if c not in ("name", "end")]].copy()
    out["end"] = per_end
    out["first_name"] = names[starts]
    out["last_name"] = names[ender]
    out["slices"] = last - starts + 1
    return out.reset_index(drop=True)


def thread_utilization(trace: Trace) -> pd.DataFrame:
    """Busy and idle time of every thread, busiest first.

    A thread is busy while one of its top-level slices runs (the union of the depth-0
    slices, so overlapping top-level slices count once), idle between them, over its span
    from its first slice start to its last slice end. On a Kineto trace a GPU stream is a
    thread too (``kind == "gpu"``), busy while a kernel, memcpy or memset runs: the
    ``gpu_user_annotation`` ranges on it are annotations, not work, and never count.

    Returns columns ``rank`` (when the events have one, as Kineto traces do), ``pid,
    tid`` (int64), ``thread_name`` (str), ``kind`` (``"cpu"``, ``"gpu"``, ``"async"``,
    ``"other"``), ``first_ts``,
    ``last_end``, ``span_us``, ``busy_us``, ``idle_us`` (float64, µs), ``busy_pct``
    (float64, % of the span) and ``slices`` (int64, all slices on the thread), sorted by
    ``busy_us`` descending.
    """
    ev = analysed_events(trace)
    keys = _thread_cols(ev)
    cols = [*keys, "thread_name", "kind", "first_ts", "last_end", "span_us", "busy_us",
            "idle_us", "busy_pct", "slices"]
    if not len(ev):
        return pd.DataFrame({c: pd.Series(dtype="float64") for c in cols})
    periods = _merge_top(_top_level(trace))
    periods["busy"] = periods["end"] - periods["ts"]
    busy = periods.groupby(keys, sort=False).agg(busy_us=("busy", "sum")).reset_index()
    per = ev.groupby(keys, sort=False, observed=True).agg(
        first_ts=("ts", "min"), last_end=("end", "max"), slices=("ts", "size")).reset_index()
    out = per.merge(busy, on=keys, how="left")
    out["busy_us"] = out["busy_us"].fillna(0.0)
    out["span_us"] = out["last_end"] - out["first_ts"]
    out["idle_us"] = (out["span_us"] - out["busy_us"]).clip(lower=0.0)
    with np.errstate(divide="ignore", invalid="ignore"):
        pct = np.where(out["span_us"] > 0, 100.0 * out["busy_us"] / out["span_us"], 100.0)
    out["busy_pct"] = pct
    out = _thread_info(trace, out)
    out["slices"] = out["slices"].astype("int64")
    return out[cols].sort_values(["busy_us", *keys], ascending=[False] + [True] * len(keys),
                                 kind="stable", ignore_index=True)


def idle_gaps(trace: Trace, min_gap_us: float = 1000.0, n: int | None = 20) -> pd.DataFrame:
    """The longest idle gaps between top-level slices of one thread.

    A gap is the time between the end of one busy period of a thread (a union of
    overlapping depth-0 slices) and the start of the next. Gaps shorter than
    ``min_gap_us`` are left out; the ``n`` longest are returned (``n=None``: all).

    Returns columns ``rank`` (when the events have one, as Kineto traces do), ``pid,
    tid`` (int64), ``thread_name`` (str), ``kind`` (str), ``gap_start``, ``gap_end``, ``gap_us``
    (float64, µs), ``before`` and ``after`` (str: the slice that ends before the gap and
    the one that starts after it), sorted by ``gap_us`` descending.
    """
    ev = trace.events
    keys = _thread_cols(ev)
    cols = [*keys, "thread_name", "kind", "gap_start", "gap_end", "gap_us", "before",
            "after"]
    periods = _merge_top(_top_level(trace)) if len(ev) else None
    if periods is None or len(periods) < 2:
        return pd.DataFrame({c: pd.Series(dtype="float64") for c in cols})
    same = periods["thread"].to_numpy()[1:] == periods["thread"].to_numpy()[:-1]
    prev = periods.iloc[:-1].reset_index(drop=True)[same]
    nxt = periods.iloc[1:].reset_index(drop=True)[same]
    gaps = prev[keys].copy()
    gaps["gap_start"] = prev["end"].to_numpy()
    gaps["gap_end"] = nxt["ts"].to_numpy()
    gaps["gap_us"] = gaps["gap_end"] - gaps["gap_start"]
    gaps["before"] = prev["last_name"].to_numpy()
    gaps["after"] = nxt["first_name"].to_numpy()
    gaps = gaps[gaps["gap_us"] >= min_gap_us]
    gaps = gaps.sort_values(["gap_us", "gap_start"], ascending=[False, True], kind="stable")
    if n is not None:
        gaps = gaps.head(int(n))
    return _thread_info(trace, gaps.reset_index(drop=True))[cols]


def long_slices(trace: Trace, n: int | None = 20) -> pd.DataFrame:
    """The ``n`` longest slices (by ``dur``; ``n=None``: all, longest first).

    Returns columns ``rank`` (when the events have one, as Kineto traces do), ``name,
    cat`` (str), ``pid, tid`` (int64), ``thread_name`` (str), ``ts, dur, self_dur``
    (float64, µs), ``depth`` (int32) and ``row`` (int64: the row of
    :attr:`Trace.events`).
    """
    ev = analysed_events(trace)
    keys = _thread_cols(ev)
    cols = [*keys, "name", "cat", "thread_name", "ts", "dur", "self_dur", "depth", "row"]
    if not len(ev):
        return pd.DataFrame({c: pd.Series(dtype="float64") for c in cols})
    k = len(ev) if n is None else min(int(n), len(ev))
    dur = ev["dur"].to_numpy()
    top = np.argpartition(-dur, k - 1)[:k] if 0 < k < len(ev) else np.arange(len(ev))
    top = top[np.lexsort((top, -dur[top]))][:k]
    sel = ev.iloc[top][[*keys, "name", "cat", "ts", "dur", "self_dur", "depth"]].copy()
    sel["row"] = ev.index.to_numpy()[top].astype(np.int64)
    sel["name"] = sel["name"].astype(str)
    sel["cat"] = sel["cat"].astype(str)
    out = _thread_info(trace, sel.reset_index(drop=True))
    return out[cols]
