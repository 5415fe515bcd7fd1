"""Rules for CPU work in any trace: one function dominating self time (Python, native,
torch CPU ops, JavaScript), and garbage collection taking a large share.

Thresholds:

* ``cpu_hotspot``: the top function's self time is >= 20% (medium) / 50% (high) of all
  self time in the profile (Amdahl: a function with share *s* bounds any speed-up from
  elsewhere to 1/(1-s)); for a PyTorch profiler trace, a ``cpu_op``'s self time inside
  the steady-state ``ProfilerStep#N`` windows (outlier steps left out) >= 20% / 40% of
  step time while the GPU is busy under
  half of it. When most of the op's calls launch device work (a runtime call inside
  them is correlated with a kernel or copy), its self time is dispatch cost, and the fix
  says so; otherwise the op computes on the CPU. JavaScript functions come from
  the ``ProfileChunk`` CPU samples of a DevTools recording; V8's meta-nodes
  (``(program)``, ``(idle)``, ``(root)``, ``(garbage collector)``) are not functions.
  Source: self-time profiling as in pstats and DevTools' Bottom-Up view.
* ``gc_pressure``: collector time (CPython collections logged by viztracer's
  ``log_gc``, V8 ``MinorGC``/``MajorGC`` events and ``(garbage collector)`` samples,
  explicit ``gc.collect`` calls) >= 5% (medium) / 15% (high) of the profiled span; the
  usual guidance is that GC above a few percent of run time is worth tuning. Source:
  CPython ``gc`` docs, V8's GC documentation.
"""

from __future__ import annotations

import re

import numpy as np
import pandas as pd

from .._model import Trace
from .._text import format_count, format_us, short_name
from ..analysis.gpu_util import device_events, union_intervals
from ..analysis.hotspots import analysed_events, name_stats
from ._finding import SOURCES, Finding, grade

__all__ = ["cpu_findings"]

_V8_META = {"(program)", "(idle)", "(root)", "(garbage collector)", "(anonymous)"}
_GC_SLICES = re.compile(r"^(MinorGC|MajorGC|V8\.GCScavenger|V8\.GCFinalizeMC|"
                        r"V8\.GC_MC_BACKGROUND|BlinkGC\.AtomicPhase|CppGC\.AtomicMark|"
                        r"\(garbage collector\)|<built-in method gc\.collect>|gc\.collect)")
_GC_TOP = re.compile(r"^(MinorGC|MajorGC|\(garbage collector\)|<built-in method gc\.collect>"
                     r"|gc\.collect)")


def _language(trace: Trace) -> str:
    return {"devtools": "JavaScript", "cpuprofile": "JavaScript"}.get(
        trace.format, "Python" if trace.format in ("cprofile", "speedscope", "folded",
                                                  "chrome") else "")


def _where(ev: pd.DataFrame, name: str) -> str:
    """``file:line`` of the function ``name`` when the format records it."""
    if "(" in name and ":" in name.rsplit("(", 1)[-1]:
        return ""  # already "func (file:line)"
    rows = ev[ev["name"].astype(str) == name].head(1)
    if not len(rows):
        return ""
    r = rows.iloc[0]
    if "file" in ev.columns and isinstance(r.get("file"), str) and r.get("file"):
        line = r.get("line")
        ok = line is not None and not (isinstance(line, float) and np.isnan(line)) \
            and int(line) >= 0
        return f" ({r['file']}:{int(line)})" if ok else f" ({r['file']})"
    args = r.get("args") if "args" in ev.columns else None
    if isinstance(args, dict) and args.get("url"):
        return f" ({args['url']}:{int(args.get('line', 0) or 0) + 1})"
    return ""


def _profile_hotspot(trace: Trace) -> Finding | None:
    ev = trace.events
    if trace.format == "devtools":
        ev = ev[(ev["cat"] == "cpu_sample").to_numpy()]
    if not len(ev):
        return None
    every = name_stats(ev)
    total = float(every["self_dur"].sum())
    stats = every[~every.index.isin(_V8_META) & ~every.index.str.match(_GC_TOP)]
    if not len(stats) or total <= 0:
        return None
    stats = stats.sort_values("self_dur", ascending=False)
    name = str(stats.index[0])
    r = stats.iloc[0]
    share = float(r["self_dur"]) / total
    sev = grade(share, 0.5, 0.2)
    if sev is None:
        return None
    lang = _language(trace)
    others = "; ".join(f"`{short_name(str(n), 50)}` {100 * v / total:.0f}%"
                       for n, v in stats["self_dur"].iloc[1:3].items())
    unit = "samples" if trace.metadata.get("unit") == "samples" else "µs"
    amount = (f"{format_count(r['self_dur'])} samples" if unit == "samples"
              else format_us(float(r["self_dur"])))
    incl = (format_count(r["total_dur"]) if unit == "samples"
            else format_us(float(r["total_dur"])))
    what = f"{lang} function" if lang else "function"
    of_what = ("the sampled CPU time" if trace.format in ("devtools", "cpuprofile")
               else "all self time")
    ev_text = (f"{what} `{short_name(name, 90)}`{_where(ev, name)} has {100 * share:.0f}% of "
               f"{of_what} ({amount} in {format_count(r['count'])} calls/frames; "
               f"inclusive {incl})"
               + (f"; next: {others}." if others else "."))
    fix = ("Make this function cheaper or call it less: look at its loop (vectorise with "
           "numpy, hoist invariant work, cache results with `functools.lru_cache`), or move "
           "the hot loop to compiled code (numba, Cython, a C extension)."
           if lang != "JavaScript" else
           "Make this function cheaper or run it less: break the work into chunks "
           "(`scheduler.yield()`/`setTimeout`), move it to a Web Worker, memoise, and check "
           "DevTools' Bottom-Up view for what it calls.")
    return Finding("cpu_hotspot", sev, share, ev_text, fix, SOURCES["profiling"])


def _in_steps(trace: Trace, ev: pd.DataFrame,
              steps: pd.DataFrame) -> tuple[np.ndarray, float]:
    """Rows of ``ev`` that start inside a steady-state ``ProfilerStep#N`` of their rank
    (``steps``: :func:`~..analysis.step_outliers.step_outliers`; outlier steps, such as
    warm-up and compilation, are left out), and those steps' total length (µs); every row
    and the trace's span when there are no steps."""
    from ..analysis._hta import trace_ranks
    if not len(steps):
        return np.ones(len(ev), dtype=bool), trace.span_us
    steps = steps[~steps["outlier"].to_numpy()]
    ranks = trace_ranks(trace)[np.asarray(ev.index, dtype=np.int64)]
    ts = ev["ts"].to_numpy(dtype=np.float64)
    inside = np.zeros(len(ev), dtype=bool)
    for rank, st in steps.groupby("rank"):
        st = st.sort_values("ts")
        lo, hi = st["ts"].to_numpy(dtype=np.float64), st["end"].to_numpy(dtype=np.float64)
        i = np.searchsorted(lo, ts, side="right") - 1
        inside |= (ranks == rank) & (i >= 0) & (ts < hi[np.maximum(i, 0)])
    return inside, float(steps["dur"].sum())


def _launching(trace: Trace) -> np.ndarray:
    """Per row of ``trace.events``: the slice launched device work (a runtime call inside
    it, on its thread, is correlated with a kernel, memcpy or memset)."""
    ev = trace.events
    out = np.zeros(len(ev), dtype=bool)
    dev = device_events(trace)
    if not len(dev) or "correlation" not in ev.columns:
        return out
    corr = ev["correlation"].to_numpy(dtype=np.int64, na_value=-1)
    host = ev["stream"].to_numpy(dtype=np.int64, na_value=-1) < 0
    rows = np.flatnonzero(host & (corr >= 0) & np.isin(corr, dev["correlation"].to_numpy()))
    parent = ev["parent"].to_numpy(dtype=np.int64)
    anc = parent[rows]
    while len(anc):
        anc = anc[anc >= 0]
        out[anc] = True
        anc = parent[anc]
    return out


def _kineto_hotspot(trace: Trace, gpu_busy: float | None,
                    steps: pd.DataFrame | None) -> Finding | None:
    if gpu_busy is not None and gpu_busy >= 0.5:
        return None  # the GPU, not a CPU op, bounds the step
    ev = analysed_events(trace)
    if "stream" not in ev.columns:
        return None
    ops = ev[(ev["cat"] == "cpu_op").to_numpy()
             & (ev["stream"].to_numpy(dtype=np.int64, na_value=-1) < 0)]
    if not len(ops):
        return None
    from ..analysis.step_outliers import step_outliers
    steps = step_outliers(trace) if steps is None else steps
    inside, wall = _in_steps(trace, ops, steps)
    ops = ops[inside]
    if not len(ops) or wall <= 0:
        return None
    if not len(steps):
        of = "the profiled time (the trace has no `ProfilerStep#` ranges)"
    elif bool(steps["outlier"].any()):
        of = "the steady-state steps' time"
    else:
        of = "the profiled step time"
    stats = name_stats(ops).sort_values("self_dur", ascending=False)
    name = str(stats.index[0])
    r = stats.iloc[0]
    share = min(float(r["self_dur"]) / wall, 1.0)
    sev = grade(share, 0.4, 0.2)
    if sev is None:
        return None
    calls = ops.index[(ops["name"].astype(str) == name).to_numpy()]
    launched = float(_launching(trace)[np.asarray(calls, dtype=np.int64)].mean())
    per_call = format_us(float(r["self_dur"]) / max(float(r["count"]), 1.0))
    ev_text = (f"CPU op `{short_name(name, 80)}` has {format_us(float(r['self_dur']))} of "
               f"self time in {format_count(r['count'])} calls ({per_call} each), "
               f"{100 * share:.0f}% of {of}, "
               + ("while the GPU is mostly idle" if gpu_busy is not None
                  else "and the trace has no GPU activity"))
    if launched >= 0.5:
        # the op runs on the GPU: its CPU self time is PyTorch's per-call dispatch
        return Finding(
            "cpu_hotspot", sev, share,
            ev_text + f"; {100 * launched:.0f}% of its calls launch GPU work, so this is "
            "the per-call cost of dispatching it from Python, not CPU computation.",
            "Call it less often with more work per call: batch (larger tensors, "
            "`torch.bmm`/`torch.stack` instead of per-sample loops), fuse the step with "
            "`torch.compile` (mode=\"reduce-overhead\" also replays it as a CUDA graph).",
            SOURCES["profiling"] + "; " + SOURCES["pytorch_tuning"])
    return Finding(
        "cpu_hotspot", sev, share,
        ev_text + "; it launches no GPU work: its time is host work (CPU computation, "
        "allocation or waiting).",
        "Find what calls it (the op's stack with `record_shapes=True, with_stack=True`) and "
        "move the work to the GPU, batch it, or take it out of the step.",
        SOURCES["profiling"] + "; " + SOURCES["pytorch_tuning"])


def _gc_intervals(trace: Trace) -> tuple[np.ndarray, np.ndarray, int, str]:
    """GC intervals (starts, ends), their count and what recorded them."""
    starts: list[np.ndarray] = []
    ends: list[np.ndarray] = []
    n, how = 0, []
    ev = trace.events
    if len(ev):
        col = ev["name"]
        uniq = (col.cat.categories if isinstance(col.dtype, pd.CategoricalDtype)
                else pd.Index(col.unique()))
        gc_names = [n for n in uniq.astype(str) if _GC_SLICES.match(n)]
        m = col.isin(gc_names).to_numpy() if gc_names else np.zeros(len(ev), dtype=bool)
        if m.any():
            sub = ev[m]
            starts.append(sub["ts"].to_numpy(dtype=np.float64))
            ends.append(sub["end"].to_numpy(dtype=np.float64))
            top = sub[sub["name"].astype(str).str.match(_GC_TOP).to_numpy()]
            n += len(top) if len(top) else len(sub)
            how.append(", ".join(sorted(set(top["name"].astype(str)) or
                                        set(sub["name"].astype(str))))[:80])
    c = trace.counters
    if len(c) and "series" in c.columns:
        g = c[(c["name"] == "garbage collection") & (c["series"] == "collecting")]
        g = g.sort_values("ts", kind="stable")
        val = g["value"].to_numpy()
        ts = g["ts"].to_numpy(dtype=np.float64)
        on = np.flatnonzero(val > 0)
        off_idx = np.searchsorted(np.flatnonzero(val <= 0), on, side="right")
        offs = np.flatnonzero(val <= 0)
        ok = off_idx < len(offs)
        if ok.any():
            starts.append(ts[on[ok]])
            ends.append(ts[offs[off_idx[ok]]])
            n += int(ok.sum())
            how.append("CPython collections (viztracer log_gc)")
    if not starts:
        return np.zeros(0), np.zeros(0), 0, ""
    s, e = union_intervals(np.concatenate(starts), np.concatenate(ends))
    return s, e, n, "; ".join(how)


def _gc(trace: Trace) -> Finding | None:
    s, e, n, how = _gc_intervals(trace)
    if not n:
        return None
    span = trace.span_us
    if trace.format == "devtools" and len(trace.events):
        # the share of the main thread's busy time is what matters in a page
        pass
    total = float((e - s).sum())
    share = min(total / span, 1.0) if span > 0 else 0.0
    sev = grade(share, 0.15, 0.05)
    if sev is None:
        return None
    lang = _language(trace)
    fix = ("Create fewer short-lived objects in the hot loop (reuse objects and arrays, "
           "avoid temporary closures/strings), and keep big long-lived caches out of the "
           "young generation." if lang == "JavaScript" else
           "Break reference cycles (weakref for parent links, `__slots__`), allocate fewer "
           "container objects in the hot loop, or raise the threshold: "
           "`gc.set_threshold(50_000, 20, 20)` / `gc.freeze()` after start-up; profile "
           "with `gc.callbacks` to see which generation runs.")
    return Finding(
        "gc_pressure", sev, share,
        f"{format_count(n)} garbage collections took {format_us(total)}, "
        f"{100 * share:.1f}% of the {format_us(span)} profile ({how}); mean "
        f"{format_us(total / n)} each.",
        fix, SOURCES["python_gc"])


def cpu_findings(trace: Trace, gpu_busy: float | None = None,
                 steps: pd.DataFrame | None = None) -> list[Finding]:
    """``cpu_hotspot`` and ``gc_pressure`` findings; ``gpu_busy`` (0–1) is the device
    busy share of a Kineto trace, which decides whether CPU ops can bound the step;
    ``steps`` its :func:`~jupyter_assistant.traces.analysis.step_outliers` when already
    computed."""
    out = []
    if trace.format == "kineto":
        found = _kineto_hotspot(trace, gpu_busy, steps)
    else:
        found = _profile_hotspot(trace)
    if found is not None:
        out.append(found)
    gc = _gc(trace)
    if gc is not None:
        out.append(gc)
    return out
