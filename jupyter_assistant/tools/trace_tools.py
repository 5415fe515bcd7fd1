"""Trace tools: the trace engine's analyses as tools a model can call.

Every tool takes ``trace``, a trace id of ``ToolContext.traces`` (``"current"`` is the trace
of the turn); an unknown id is a :class:`~jupyter_assistant.exceptions.ToolError` naming the
ids that are loaded. Results are markdown: a first line that states the finding in plain
words with its numbers (the offline provider quotes it), then compact tables (at most
:data:`~jupyter_assistant.tools._render.MAX_TABLE_ROWS` rows). Times are µs unless a column
or text says otherwise. The definitions are those of :mod:`jupyter_assistant.traces.analysis`
(hotspots: self/inclusive time per slice name; threads: busy/idle from top-level slices;
GPU: HTA's temporal, kernel type and kernel breakdowns).

``query_events`` (in :mod:`.query_tools`) runs read-only queries on ``Trace.events``.

Importing this module defines the tools (their names, descriptions and input schemas)
without importing pandas, numpy or the trace engine: a tool imports what it uses when it
runs, by which time a trace is loaded and they are imported anyway. A turn without a trace
(``jupyter-assistant chat "..."``) so never pays for pandas before its first answer.
"""

from __future__ import annotations

import json
import math
import re
from typing import TYPE_CHECKING, Any, Literal

from ..exceptions import ToolError
from ._base import Tool, ToolContext, tool
from ._render import fmt_us, render_table

if TYPE_CHECKING:  # pragma: no cover
    import numpy as np
    import pandas as pd

__all__ = ["compare_traces", "diagnose", "get_trace", "gpu_breakdown", "hotspots",
           "render_diagnosis", "slice_details", "thread_breakdown", "trace_summary",
           "trace_tools"]

_NO_TRACE_HINT = ("none (load one with `%assistant load PATH`, `--trace PATH` on the command "
                  "line, or the `trace=` argument)")


#: Longest slice name in a tool's first line (the headline the offline provider quotes);
#: tables cut at ``MAX_CELL_CHARS``. Longer names get a middle ellipsis.
HEADLINE_NAME_CHARS = 120


def _name(name: Any) -> str:
    from ..traces import shorten_name

    return shorten_name(name, HEADLINE_NAME_CHARS)


def get_trace(ctx: ToolContext, trace_id: str = "current") -> Any:
    """The trace ``trace_id`` of the call's context; raises :class:`ToolError` naming the
    loaded ids when it is not there."""
    traces = ctx.traces or {}
    found = traces.get(str(trace_id))
    if found is None or not hasattr(found, "events"):
        loaded = ", ".join(repr(k) for k in sorted(traces)) or _NO_TRACE_HINT
        raise ToolError(f"no trace {trace_id!r}; loaded traces: {loaded}")
    return found


def _bounded(n: Any, hi: int, name: str = "n") -> int:
    try:
        value = int(n)
    except (TypeError, ValueError):
        raise ToolError(f"{name} must be an integer, got {n!r}") from None
    return max(1, min(value, hi))


@tool(category="trace")
def trace_summary(trace: str = "current", max_tokens: int = 1500, *, ctx: ToolContext) -> str:
    """Markdown overview of a trace within a token budget: format, span, threads, the top
    hotspots, thread utilisation and GPU breakdown where there is one.

    Args:
        trace: Trace id ("current" is the trace of this conversation turn).
        max_tokens: Size budget of the summary, in tokens (200-8000).
    """
    t = get_trace(ctx, trace)
    return str(t.summary(max_tokens=max(200, min(int(max_tokens), 8000))).text)


def _thread_mask(t: Any, ev: pd.DataFrame, thread: str | None, kind: str | None) -> np.ndarray:
    import numpy as np
    import pandas as pd

    mask = np.ones(len(ev), dtype=bool)
    th = t.threads
    keys = [c for c in ("rank", "pid", "tid") if c in ev.columns and c in th.columns]
    if kind == "js":  # JavaScript functions of DevTools CPU samples
        from ..traces.analysis.hotspots import V8_META

        mask &= (ev["cat"] == "cpu_sample").to_numpy() & ~ev["name"].isin(V8_META).to_numpy()
        kind = None
    if kind:
        if kind not in ("cpu", "gpu", "other"):
            raise ToolError(f"kind must be cpu, gpu, other or js, not {kind!r}")
        sel = th.loc[th["kind"] == kind, keys] if len(th) and "kind" in th.columns else \
            th.loc[[], keys]
        mask &= pd.MultiIndex.from_frame(ev[keys]).isin(pd.MultiIndex.from_frame(sel))
    if thread:
        text = str(thread).strip()
        if re.fullmatch(r"-?\d+", text):
            mask &= (ev["tid"] == int(text)).to_numpy()
        else:
            names = th["thread_name"].astype(str) if len(th) else pd.Series(dtype=str)
            sel = th.loc[names.str.contains(text, case=False, regex=False), keys]
            if not len(sel):
                raise ToolError(f"no thread named like {text!r}; threads: "
                                + ", ".join(sorted(set(names.tolist())))[:1000])
            mask &= pd.MultiIndex.from_frame(ev[keys]).isin(pd.MultiIndex.from_frame(sel))
    return mask


@tool(category="trace")
def hotspots(trace: str = "current", n: int = 15,
             by: Literal["self_dur", "total_dur", "count"] = "self_dur",
             thread: str | None = None, name: str | None = None, regex: bool = False,
             start_us: float | None = None, end_us: float | None = None,
             kind: Literal["cpu", "gpu", "other", "js"] | None = None, *,
             ctx: ToolContext) -> str:
    """Where the time goes: the top slice names by self time (time in a slice minus its
    children), inclusive time or count, optionally only on some threads, names or a time
    window.

    Args:
        trace: Trace id ("current" is the trace of this conversation turn).
        n: Number of names to show (1-100).
        by: Rank by self_dur, total_dur (inclusive, recursion counted once) or count.
        thread: Only this thread: a tid number, or part of a thread name.
        name: Only slice names containing this text (case-insensitive), or matching it as
            a regular expression when regex is true.
        regex: Treat name as a regular expression.
        start_us: Only slices starting at or after this timestamp (µs, the trace's clock).
        end_us: Only slices starting before this timestamp (µs).
        kind: Only threads of this kind (cpu threads, gpu streams: device work only,
            other), or js: JavaScript functions of a DevTools recording's CPU samples.
    """
    from ..traces.analysis.hotspots import analysed_events, name_stats
    from ..traces.analysis.hotspots import hotspots as _hotspots
    from ._query import string_match

    t = get_trace(ctx, trace)
    if by not in ("self_dur", "total_dur", "count"):
        raise ToolError(f"by must be self_dur, total_dur or count, not {by!r}")
    k = _bounded(n, 100)
    filters = []
    if thread is None and name is None and start_us is None and end_us is None:
        table = _hotspots(t, n=k, by=by, kind=kind)
        considered = "all slices" + (f" on {kind} threads" if kind else "")
    else:
        ev = analysed_events(t)
        mask = _thread_mask(t, ev, thread, kind)
        if name:
            mask &= string_match(ev["name"], "contains", name, case=False,
                                 regex=bool(regex)).to_numpy()
            filters.append(f"name {'~' if regex else 'contains'} {name!r}")
        if start_us is not None:
            mask &= (ev["ts"] >= float(start_us)).to_numpy()
        if end_us is not None:
            mask &= (ev["ts"] < float(end_us)).to_numpy()
        if start_us is not None or end_us is not None:
            filters.append(f"starting in [{start_us if start_us is not None else '-inf'}, "
                           f"{end_us if end_us is not None else 'inf'}) µs")
        if thread:
            filters.append(f"thread {thread!r}")
        if kind:
            filters.append(f"{kind} threads")
        sub = ev.loc[mask]
        stats = name_stats(sub).reset_index()
        total = float(stats["self_dur"].sum())
        stats["self_pct"] = 100.0 * stats["self_dur"] / total if total > 0 else 0.0
        table = stats.sort_values([by, "name"], ascending=[False, True],
                                  kind="stable").head(k)
        considered = f"{int(mask.sum()):,} slices with " + ", ".join(filters)
    if not len(table):
        return f"No slices match ({considered}) in trace {trace!r}."
    top = table.iloc[0]
    head = (f"Top {len(table)} slice names of trace {trace!r} by {by} ({considered}): "
            f"`{_name(top['name'])}` leads with {fmt_us(top['self_dur'])} self time "
            f"({top['self_pct']:.1f}% of the self time considered), "
            f"{fmt_us(top['total_dur'])} inclusive, {int(top['count']):,} calls.")
    shown = table.rename(columns={"self_dur": "self (µs)", "total_dur": "total (µs)",
                                  "self_pct": "self %"})
    return head + "\n\n" + render_table(shown, max_rows=k)


def _slice_line(ev: pd.DataFrame, row: int) -> dict[str, Any]:
    r = ev.loc[row]
    return {"row": row, "name": str(r["name"]), "depth": int(r["depth"]), "ts": r["ts"],
            "dur": r["dur"], "self_dur": r["self_dur"]}


@tool(category="trace")
def slice_details(trace: str = "current", row: int | None = None, name: str | None = None,
                  children: int = 10, *, ctx: ToolContext) -> str:
    """Details of one slice: its fields and args, the chain of slices that enclose it and
    its longest children. Pick it by ``row`` (the row number other tools show) or by
    ``name`` (its longest slice with that exact name, else containing that text); with
    neither, lists the longest slices of the trace with their rows.

    Args:
        trace: Trace id ("current" is the trace of this conversation turn).
        row: Row number of the slice in the trace's events table.
        name: Slice name (exact, else substring, case-insensitive).
        children: Number of children to list (1-50).
    """
    import pandas as pd

    t = get_trace(ctx, trace)
    ev = t.events
    if row is None and not name:
        longest = t.long_slices(n=15)
        cols = [c for c in ("row", "name", "thread_name", "ts", "dur", "self_dur", "depth")
                if c in longest.columns]
        return (f"The {len(longest)} longest slices of trace {trace!r} (pass a row to "
                f"slice_details for one of them):\n\n"
                + render_table(longest[cols].rename(columns={"ts": "ts (µs)",
                                                              "dur": "dur (µs)",
                                                              "self_dur": "self (µs)"})))
    if row is None:
        names = ev["name"].astype(str)
        hits = ev.index[names == name]
        if not len(hits):
            hits = ev.index[names.str.contains(str(name), case=False, regex=False)]
        if not len(hits):
            raise ToolError(f"no slice named like {name!r} in trace {trace!r}")
        row = int(ev.loc[hits, "dur"].idxmax())
    row = int(row)
    if row < 0 or row >= len(ev):
        raise ToolError(f"row {row} is out of range: trace {trace!r} has {len(ev):,} slices "
                        f"(rows 0-{len(ev) - 1})")
    r = ev.loc[row]
    same = ev.loc[ev["name"] == r["name"], "dur"]
    thread = ""
    if len(t.threads):
        m = t.threads[(t.threads["pid"] == r["pid"]) & (t.threads["tid"] == r["tid"])]
        if len(m):
            thread = f" ({m.iloc[0]['thread_name']}, {m.iloc[0]['kind']})"
    lines = [f"Slice row {row}: `{_name(r['name'])}` (cat {str(r['cat']) or '-'}) on pid "
             f"{r['pid']} tid {r['tid']}{thread}: starts at {r['ts']:,.3f} µs, lasts "
             f"{fmt_us(r['dur'])}, self time {fmt_us(r['self_dur'])}, depth {int(r['depth'])}. "
             f"The name occurs {len(same):,} times: total {fmt_us(same.sum())}, mean "
             f"{fmt_us(same.mean())}, max {fmt_us(same.max())}."]
    args = r.get("args") if "args" in ev.columns else None
    if isinstance(args, dict) and args:
        text = json.dumps(args, default=str)
        lines.append(f"\nargs: {text[:1500]}{' …' if len(text) > 1500 else ''}")
    chain: list[dict[str, Any]] = []
    p = int(r["parent"])
    while p >= 0 and len(chain) < 50:
        chain.append(_slice_line(ev, p))
        p = int(ev.at[p, "parent"])
    if chain:
        lines.append("\nEnclosing slices (innermost first):\n\n"
                     + render_table(pd.DataFrame(chain), max_rows=50))
    kids = ev.loc[ev["parent"] == row]
    if len(kids):
        k = _bounded(children, 50, "children")
        top = kids.sort_values("dur", ascending=False, kind="stable").head(k)
        rows = pd.DataFrame([_slice_line(ev, int(i)) for i in top.index])
        lines.append(f"\n{len(kids):,} direct children covering {fmt_us(kids['dur'].sum())}; "
                     f"the longest:\n\n" + render_table(rows, max_rows=k))
    else:
        lines.append("\nNo children: all of its time is self time.")
    return "\n".join(lines)


@tool(category="trace")
def thread_breakdown(trace: str = "current", n: int = 15, min_gap_us: float = 1000.0, *,
                     ctx: ToolContext) -> str:
    """Busy and idle time per thread (busy = covered by top-level slices) and the longest
    idle gaps between slices of one thread, with the slices around each gap.

    Args:
        trace: Trace id ("current" is the trace of this conversation turn).
        n: Number of threads and of gaps to show (1-100).
        min_gap_us: Shortest idle gap to report, in µs.
    """
    t = get_trace(ctx, trace)
    k = _bounded(n, 100)
    util = t.thread_utilization()
    if not len(util):
        return f"Trace {trace!r} has no slices, so no thread time."
    gaps = t.idle_gaps(min_gap_us=float(min_gap_us), n=k)
    top = util.iloc[0]
    head = (f"{len(util)} threads in trace {trace!r}; the busiest, {top['thread_name']} "
            f"({top['kind']}), is busy {fmt_us(top['busy_us'])} = {top['busy_pct']:.1f}% of "
            f"its span {fmt_us(top['span_us'])}.")
    if len(gaps):
        g = gaps.iloc[0]
        head += (f" Longest idle gap: {fmt_us(g['gap_us'])} on {g['thread_name']}, after "
                 f"`{_name(g['before'])}` and before `{_name(g['after'])}`.")
    cols = [c for c in ("rank", "thread_name", "kind", "pid", "tid", "busy_us", "idle_us",
                        "busy_pct", "slices") if c in util.columns]
    out = [head, "", render_table(util[cols].rename(columns={
        "busy_us": "busy (µs)", "idle_us": "idle (µs)", "busy_pct": "busy %"}), max_rows=k)]
    if len(gaps):
        gcols = [c for c in ("rank", "thread_name", "gap_us", "gap_start", "before", "after")
                 if c in gaps.columns]
        out += ["", f"Idle gaps of at least {fmt_us(float(min_gap_us))}, longest first:", "",
                render_table(gaps[gcols].rename(columns={"gap_us": "gap (µs)",
                                                         "gap_start": "starts at (µs)"}),
                             max_rows=k)]
    else:
        out += ["", f"No idle gap of at least {fmt_us(float(min_gap_us))}."]
    return "\n".join(out)


_GPU_KINDS = ("all", "temporal", "kernel_type", "kernel", "idle", "launch", "overlap",
              "steps")


@tool(category="trace")
def gpu_breakdown(trace: str = "current",
                  kind: Literal["all", "temporal", "kernel_type", "kernel", "idle", "launch",
                                "overlap", "steps"] = "all",
                  n: int = 15, *, ctx: ToolContext) -> str:
    """GPU time breakdowns with Holistic Trace Analysis' definitions: temporal (idle /
    compute / non-compute share of GPU time per rank), by kernel type (computation,
    communication, memory) and by kernel name; idle time per stream by cause (host wait,
    kernel wait, other); kernel launch statistics (CPU launch time, GPU time, launch
    delay); communication/computation overlap; and the per-step breakdown (each
    ProfilerStep#N: GPU busy time and GPU time by kernel category).

    Args:
        trace: Trace id ("current" is the trace of this conversation turn).
        kind: Which breakdown: all (temporal, kernel_type, kernel), temporal, kernel_type,
            kernel, idle, launch, overlap or steps.
        n: Number of kernels to show (1-100).
    """
    from ..traces.analysis import kernel_breakdown, kernel_type_breakdown, temporal_breakdown

    t = get_trace(ctx, trace)
    if kind not in _GPU_KINDS:
        raise ToolError(f"kind must be one of {', '.join(_GPU_KINDS)}, not {kind!r}")
    if kind in ("idle", "launch", "overlap", "steps"):
        return _gpu_more(t, trace, kind, _bounded(n, 100))
    k = _bounded(n, 100)
    temporal = temporal_breakdown(t)
    if not len(temporal):
        note = temporal.attrs.get("note") or "no GPU events in this trace"
        return f"No GPU breakdown for trace {trace!r}: {note}."
    parts = []
    r = temporal.iloc[0]
    head = (f"GPU time of trace {trace!r}"
            + (f" (rank {int(r['rank'])} of {len(temporal)})" if len(temporal) > 1 else "")
            + f": over {fmt_us(r['kernel_time(us)'])} from first to last kernel, the GPU is "
            f"idle {r['idle_time_pctg']:.1f}%, computing {r['compute_time_pctg']:.1f}% and in "
            f"non-compute work (communication, memory) {r['non_compute_time_pctg']:.1f}%.")
    parts.append(head)
    if kind in ("all", "temporal"):
        parts += ["", "Temporal breakdown (µs, %):", "", render_table(temporal, max_rows=k)]
    if kind in ("all", "kernel_type"):
        kt = kernel_type_breakdown(t)
        parts += ["", "Kernel time by type (µs; overlapping types apart):", "",
                  render_table(kt.rename(columns={"sum": "sum (µs)", "percentage": "%"}),
                               max_rows=k)]
    if kind in ("all", "kernel"):
        kb = kernel_breakdown(t).sort_values("sum (us)", ascending=False, kind="stable")
        parts += ["", f"Kernels by total time (top {min(k, len(kb))} of {len(kb)}):", "",
                  render_table(kb, max_rows=k)]
    return "\n".join(parts)


def _gpu_more(t: Any, trace: str, kind: str, k: int) -> str:
    from ..traces.analysis import (
        comm_comp_overlap,
        cuda_kernel_launch_stats,
        idle_time_breakdown,
        step_breakdown,
        step_kernel_categories,
    )

    if kind == "idle":
        df = idle_time_breakdown(t)
        if df.empty:
            return f"No GPU events in trace {trace!r}."
        top = df.sort_values("idle_time", ascending=False).iloc[0]
        head = (f"GPU idle time by cause (HTA idle time breakdown) of trace {trace!r}: the "
                f"largest is {top['idle_category']} on stream {top['stream']} (rank "
                f"{top['rank']}), {fmt_us(top['idle_time'])}.")
        return head + "\n\n" + render_table(df, max_rows=k)
    if kind == "launch":
        df = cuda_kernel_launch_stats(t)
        if df.empty:
            return f"No kernel launches in trace {trace!r}."
        short = df[(df["cpu_duration"] <= 50) & (df["gpu_duration"] < df["cpu_duration"])]
        desc = df[["cpu_duration", "gpu_duration", "launch_delay"]].describe().round(2)
        head = (f"{len(df):,} launches in trace {trace!r}: median CPU launch call "
                f"{fmt_us(df['cpu_duration'].median())}, median GPU time "
                f"{fmt_us(df['gpu_duration'].median())}, median launch delay "
                f"{fmt_us(df['launch_delay'].median())}; {len(short):,} "
                f"({100 * len(short) / len(df):.0f}%) are short kernels (GPU time < the "
                "launch call's), and "
                f"{int((df['launch_delay'] > 100).sum()):,} wait over 100 µs to start.")
        return head + "\n\n" + render_table(desc.reset_index(names="stat"), max_rows=k)
    if kind == "overlap":
        df = comm_comp_overlap(t)
        if df["comp_comm_overlap_pctg"].isna().all():
            return f"No communication (NCCL) kernels in trace {trace!r}."
        return (f"Communication/computation overlap of trace {trace!r} (% of NCCL time "
                "during which compute kernels run too):\n\n" + render_table(df, max_rows=k))
    df = step_breakdown(t)
    if df.empty:
        return f"Trace {trace!r} has no ProfilerStep#N ranges."
    cats = step_kernel_categories(t)
    head = (f"{len(df)} profiler steps in trace {trace!r}: mean {fmt_us(df['dur'].mean())}, "
            f"GPU busy {df['gpu_busy_pct'].mean():.1f}% on average.")
    return (head + "\n\n" + render_table(df.drop(columns=["ts"]), max_rows=k)
            + "\n\nGPU time by kernel category per step:\n\n"
            + render_table(cats, max_rows=k))


@tool(category="trace")
def compare_traces(base: str, test: str = "current", n: int = 15, *, ctx: ToolContext) -> str:
    """Compare two loaded traces by slice name: self time in each, the change in µs and %,
    biggest changes first (regressions and improvements).

    Args:
        base: Trace id of the baseline (before).
        test: Trace id of the trace to compare with it (after).
        n: Number of names to show (1-100).
    """
    import pandas as pd

    from ..traces.analysis import compare_traces as _compare

    a, b = get_trace(ctx, base), get_trace(ctx, test)
    k = _bounded(n, 100)
    diff = _compare(a, b)
    if not len(diff):
        return f"Neither {base!r} nor {test!r} has slices to compare."
    tot_a, tot_b = float(diff["self_dur_a"].sum()), float(diff["self_dur_b"].sum())
    change = f"{100 * (tot_b - tot_a) / tot_a:+.1f}%" if tot_a > 0 else "n/a"
    worse = diff[diff["delta_us"] > 0].head(1)
    better = diff[diff["delta_us"] < 0].head(1)
    head = (f"{base!r} -> {test!r}: total self time {fmt_us(tot_a)} -> {fmt_us(tot_b)} "
            f"({change}).")
    if len(worse):
        w = worse.iloc[0]
        pct = "" if pd.isna(w["delta_pct"]) else f", {w['delta_pct']:+.1f}%"
        head += f" Biggest regression: `{_name(w['name'])}` +{fmt_us(w['delta_us'])}{pct}."
    if len(better):
        g = better.iloc[0]
        head += (f" Biggest improvement: `{_name(g['name'])}` -{fmt_us(-g['delta_us'])}, "
                 f"{g['delta_pct']:+.1f}%.")
    cols = ["name", "count_a", "count_b", "self_dur_a", "self_dur_b", "delta_us", "delta_pct"]
    return head + "\n\n" + render_table(diff[cols].rename(columns={
        "self_dur_a": f"self {base} (µs)", "self_dur_b": f"self {test} (µs)",
        "delta_us": "delta (µs)", "delta_pct": "delta %"}), max_rows=k)


def render_diagnosis(d: pd.DataFrame, label: str = "current") -> str:
    """Markdown of a :func:`~jupyter_assistant.traces.diagnosis.diagnose` frame: a first
    line with the verdict (the top finding and its evidence), then every finding with
    its evidence, fix and source."""
    headline = str(d.attrs.get("headline") or "")
    if not len(d):
        return (f"No bottleneck rule fired for trace {label!r}: no single cause stands out "
                f"(input, copies, syncs, launches, host wait, communication, a dominant "
                f"function, GC, long tasks, forced layouts). {headline}").rstrip()
    top = d.iloc[0]
    top_share = float(d["share"].iloc[0])
    share = "" if math.isnan(top_share) else f", explains {100 * top_share:.0f}% of the time"
    lines = [f"Verdict for trace {label!r}: {top['kind']} ({top['severity']}{share}). "
             f"{top['evidence']}"]
    if headline:
        lines += ["", headline]
    for i, r in enumerate(d.to_dict(orient="records"), 1):
        sh = float(r["share"])
        part = "" if math.isnan(sh) else f", {100 * sh:.0f}% of the time"
        lines += ["", f"{i}. **{r['kind']}** ({r['severity']}{part})",
                  f"   - Evidence: {r['evidence']}", f"   - Fix: {r['fix']}",
                  f"   - Source: {r['source']}"]
    return "\n".join(lines)


@tool(category="trace")
def diagnose(trace: str = "current", n: int = 6, *, ctx: ToolContext) -> str:
    """What bounds this trace and what to change: findings such as input_bound, host_sync,
    launch_overhead, host_to_device_copy, host_bound, gpu_compute_bound (healthy),
    communication_bound, cpu_hotspot, layout_thrashing, long_tasks, gc_pressure,
    outlier_steps (warm-up/compile steps, left out of the other rules), each
    with its share of step time, the evidence (numbers, op/kernel/function names), the
    standard fix and the rule's source. Most important first. Call this first for "why is it slow?".

    Args:
        trace: Trace id ("current" is the trace of this conversation turn).
        n: Number of findings to show (1-20).
    """
    t = get_trace(ctx, trace)
    d = t.diagnose()
    out = d.head(_bounded(n, 20))
    out.attrs = dict(d.attrs)
    return render_diagnosis(out, label=trace)


def trace_tools() -> list[Tool]:
    """The trace tools, ``query_events`` included."""
    from .query_tools import query_events

    return [diagnose, trace_summary, hotspots, slice_details, thread_breakdown,
            gpu_breakdown, compare_traces, query_events]
