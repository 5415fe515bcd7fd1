"""Rules for Chrome DevTools performance recordings: long tasks and forced layouts.

* ``long_tasks``: a main-thread (``CrRendererMain``) task over 50 ms is a long task
  (web.dev, the Long Tasks API); its blocking time is what exceeds 50 ms, summed as Total
  Blocking Time. Medium for any long task; high when one task reaches 200 ms (past which
  an interaction cannot get a "good" INP) or TBT reaches 300 ms. Share: long-task time /
  the main thread's span.
* ``layout_thrashing``: ``Layout``, ``UpdateLayoutTree`` (style recalc; ``RecalculateStyles``
  in older Chrome) that run *inside* script (an ancestor slice is ``FunctionCall``,
  ``EvaluateScript``, ``TimerFire``, ``EventDispatch``, ``FireAnimationFrame``,
  ``v8.callFunction``, ``RunMicrotasks``...) are forced synchronous layouts: script read a
  layout property after writing styles. Medium when one task forces >= 2 (repeated
  forcing is thrashing), high when one task forces >= 30 or forced work is >= 10% of the
  main thread's busy time. Share: forced time / main-thread busy time. The function that
  forced them comes from ``args.beginData.stackTrace`` when Chrome recorded it.
  Source: web.dev 'Avoid large, complex layouts and layout thrashing'.
"""

from __future__ import annotations

from collections import Counter

import numpy as np
import pandas as pd

from .._model import Trace
from .._text import format_count, format_us, short_name
from ..analysis.gpu_util import union_intervals
from ..analysis.hotspots import name_stats
from ._finding import SOURCES, Finding

__all__ = ["devtools_findings", "devtools_headline", "forced_layouts", "long_tasks"]

LONG_TASK_US = 50_000.0
_LAYOUT = ("Layout", "UpdateLayoutTree", "RecalculateStyles", "RecalcStyle")
_SCRIPT = ("FunctionCall", "EvaluateScript", "TimerFire", "EventDispatch",
           "FireAnimationFrame", "v8.callFunction", "v8.evaluateModule", "RunMicrotasks",
           "V8.Execute", "v8.run", "FireIdleCallback", "XHRReadyStateChange")
_V8_META = {"(program)", "(idle)", "(root)", "(garbage collector)"}


def _main_threads(trace: Trace) -> list[tuple[int, int]]:
    th = trace.threads
    if th is None or not len(th) or "thread_name" not in th.columns:
        return []
    m = th["thread_name"].astype(str).isin(["CrRendererMain", "CrRendererMain thread"])
    return list(zip(th.loc[m, "pid"].tolist(), th.loc[m, "tid"].tolist(), strict=True))


def long_tasks(trace: Trace) -> pd.DataFrame:
    """Main-thread tasks over 50 ms: ``pid, tid`` (int64), ``name`` (str), ``ts, dur,
    blocking_us`` (float64, µs; blocking = dur − 50 ms) and ``top_function`` (str: the
    JavaScript function with the most sampled self time inside it, '' if none), longest
    first."""
    ev = trace.events
    cols = {"pid": "int64", "tid": "int64", "name": "object", "ts": "float64",
            "dur": "float64", "blocking_us": "float64", "top_function": "object"}
    rows = []
    for pid, tid in _main_threads(trace):
        on = ((ev["pid"] == pid) & (ev["tid"] == tid)).to_numpy()
        top = ev[on & (ev["depth"].to_numpy() == 0) & (ev["cat"] != "cpu_sample").to_numpy()
                 & (ev["dur"].to_numpy() > LONG_TASK_US)]
        samples = ev[on & (ev["cat"] == "cpu_sample").to_numpy()]
        for r in top.itertuples(index=False):
            inside = samples[(samples["ts"] >= r.ts) & (samples["ts"] < r.end)]
            stats = name_stats(inside) if len(inside) else None
            fn = ""
            if stats is not None:
                stats = stats[~stats.index.isin(_V8_META)]
                if len(stats):
                    fn = str(stats["self_dur"].idxmax())
            rows.append((pid, tid, str(r.name), float(r.ts), float(r.dur),
                         float(r.dur) - LONG_TASK_US, fn))
    out = pd.DataFrame(rows, columns=list(cols)).astype(cols)
    return out.sort_values("dur", ascending=False, ignore_index=True)


def forced_layouts(trace: Trace) -> pd.DataFrame:
    """Style and layout work forced by script on the main thread: ``pid, tid`` (int64),
    ``name`` (str), ``ts, dur`` (float64, µs), ``task`` (int64: the row of the top-level
    task holding it) and ``function`` (str: the JavaScript function that forced it, from
    the recorded stack, '' when Chrome did not record one)."""
    ev = trace.events
    cols = {"pid": "int64", "tid": "int64", "name": "object", "ts": "float64",
            "dur": "float64", "task": "int64", "function": "object"}
    mains = _main_threads(trace)
    if not mains or not len(ev):
        return pd.DataFrame({c: pd.Series(dtype=t) for c, t in cols.items()})
    on = np.zeros(len(ev), dtype=bool)
    for pid, tid in mains:
        on |= ((ev["pid"] == pid) & (ev["tid"] == tid)).to_numpy()
    names = ev["name"].astype(str).to_numpy()
    lay = np.flatnonzero(on & np.isin(names, _LAYOUT))
    parent = ev["parent"].to_numpy(dtype=np.int64)
    is_script = np.isin(names, _SCRIPT)
    anc = parent[lay]
    inside = np.zeros(len(lay), dtype=bool)
    task = lay.copy()
    while (anc >= 0).any():
        ok = anc >= 0
        inside[ok] |= is_script[anc[ok]]
        task[ok] = anc[ok]
        anc = np.where(ok, parent[np.maximum(anc, 0)], -1)
    rows = lay[inside]
    args = ev["args"].to_numpy() if "args" in ev.columns else np.full(len(ev), None)
    fns = []
    for a in args[rows]:
        st = ((a or {}).get("beginData") or {}).get("stackTrace") if isinstance(a, dict) else None
        if isinstance(st, list) and st and isinstance(st[0], dict):
            f = st[0]
            fns.append(f"{f.get('functionName') or '(anonymous)'} "
                       f"({f.get('url', '')}:{int(f.get('lineNumber', 0) or 0) + 1})")
        else:
            fns.append("")
    out = pd.DataFrame({"pid": ev["pid"].to_numpy()[rows], "tid": ev["tid"].to_numpy()[rows],
                        "name": names[rows], "ts": ev["ts"].to_numpy()[rows],
                        "dur": ev["dur"].to_numpy()[rows], "task": task[inside],
                        "function": fns})
    return out.astype(cols)


def _main_busy(trace: Trace) -> tuple[float, float]:
    """(busy, span) of the main threads' top-level slices, µs."""
    ev = trace.events
    busy = span = 0.0
    for pid, tid in _main_threads(trace):
        m = ((ev["pid"] == pid) & (ev["tid"] == tid)).to_numpy() & (
            ev["depth"].to_numpy() == 0) & (ev["cat"] != "cpu_sample").to_numpy()
        if m.any():
            s, e = union_intervals(ev["ts"].to_numpy()[m], ev["end"].to_numpy()[m])
            busy += float((e - s).sum())
            span += float(e.max() - s.min())
    return busy, span


def _long_tasks(trace: Trace, span: float) -> Finding | None:
    lt = long_tasks(trace)
    if not len(lt):
        return None
    tbt = float(lt["blocking_us"].sum())
    longest = lt.iloc[0]
    sev = "high" if longest["dur"] >= 200_000 or tbt >= 300_000 else "medium"
    share = min(float(lt["dur"].sum()) / span, 1.0) if span > 0 else float("nan")
    fn = f", mostly in `{short_name(longest['top_function'], 60)}`" if longest[
        "top_function"] else ""
    return Finding(
        "long_tasks", sev, share,
        f"{format_count(len(lt))} main-thread tasks over 50 ms (longest "
        f"{format_us(float(longest['dur']))}, `{longest['name']}`{fn}); Total Blocking Time "
        f"{format_us(tbt)}; long tasks cover {100 * share:.0f}% of the main thread's span.",
        "Break long work into chunks that yield to the event loop (`await "
        "scheduler.yield()`, `setTimeout`, `requestIdleCallback`), move computation to a "
        "Web Worker, and defer non-critical script.",
        SOURCES["web_long_tasks"])


def _layouts(trace: Trace, busy: float) -> Finding | None:
    fl = forced_layouts(trace)
    if not len(fl):
        return None
    per_task = fl.groupby("task").size()
    worst = int(per_task.max())
    total = float(fl["dur"].sum())
    share = min(total / busy, 1.0) if busy > 0 else float("nan")
    if worst < 2:
        return None
    sev = "high" if worst >= 30 or (share == share and share >= 0.10) else "medium"
    kinds = Counter(fl["name"])
    fns = Counter(f for f in fl["function"] if f)
    by = (f"; forced by `{short_name(fns.most_common(1)[0][0], 80)}`" if fns else "")
    return Finding(
        "layout_thrashing", sev, share,
        f"{format_count(len(fl))} forced synchronous style/layout passes inside script ("
        + ", ".join(f"{k} x{format_count(v)}" for k, v in kinds.most_common())
        + f"), {format_us(total)} in all, up to {format_count(worst)} in one task{by}; "
        f"{100 * share:.0f}% of the main thread's busy time.",
        "Batch DOM reads before writes: read layout properties (`offsetHeight`, "
        "`getBoundingClientRect`, `getComputedStyle`) once, then write styles; or move the "
        "writes into `requestAnimationFrame`; prefer `transform`/classes to per-element "
        "style writes in loops.",
        SOURCES["web_layout"])


def devtools_headline(trace: Trace) -> str:
    """One line: how busy the page's main thread was."""
    busy, span = _main_busy(trace)
    if span <= 0:
        return ""
    return (f"The main thread (CrRendererMain) is busy {format_us(busy)} of "
            f"{format_us(span)} ({100 * busy / span:.0f}%).")


def devtools_findings(trace: Trace) -> list[Finding]:
    """``long_tasks`` and ``layout_thrashing`` findings of a DevTools recording."""
    if not _main_threads(trace):
        return []
    busy, span = _main_busy(trace)
    out = [f for f in (_long_tasks(trace, span), _layouts(trace, busy)) if f is not None]
    return out
