"""``summarize``: the markdown a model (and a person) reads first about a trace.

The summary is built from sections in order of importance: what the trace is (format,
source, span, slice/thread/rank counts), the busiest threads, the top self-time
hotspots, GPU utilisation (HTA temporal breakdown) and kernel types where there is a GPU,
and anomalies (thousands of short identical slices, long idle gaps, repaired B/E events).
Each section has several detail levels; to fit ``max_tokens`` the least important
sections shrink first, then are left out, and the summary says what it left out. Token
counts are the conservative estimate of :func:`~jupyter_assistant.traces._text.estimate_tokens`.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import pandas as pd

from ..exceptions import InputError
from ._model import Trace
from ._text import (
    display_unit,
    estimate_tokens,
    format_count,
    format_pct,
    format_us,
    md_table,
    short_name,
    value_unit,
)
from .analysis._hta import hta_gpu_events
from .analysis.gpu import _kernel_type_times, _temporal
from .analysis.hotspots import hotspots
from .analysis.threads import idle_gaps, thread_utilization
from .verdict import verdict_render

__all__ = ["SHORT_SLICE_COUNT", "SHORT_SLICE_US", "Summary", "summarize"]

#: A name with at least this many slices whose median duration is under
#: :data:`SHORT_SLICE_US` µs is reported as an anomaly (per-call overhead dominates).
SHORT_SLICE_COUNT = 1000
SHORT_SLICE_US = 10.0


@dataclass(frozen=True)
class Summary:
    """A trace summary. ``text`` is markdown; ``tokens`` its estimated size in tokens
    (never above ``max_tokens``); ``sections`` the sections included, ``omitted`` those
    left out to fit. ``str(summary)`` and Jupyter's markdown display give ``text``."""

    text: str
    tokens: int
    max_tokens: int
    sections: tuple[str, ...] = ()
    omitted: tuple[str, ...] = ()

    def __str__(self) -> str:
        return self.text

    def _repr_markdown_(self) -> str:
        return self.text

    def to_dict(self) -> dict[str, Any]:
        """``text, tokens, max_tokens, sections, omitted`` as JSON-ready values."""
        return {"text": self.text, "tokens": self.tokens, "max_tokens": self.max_tokens,
                "sections": list(self.sections), "omitted": list(self.omitted)}


# A section renders at detail level 0, 1, ... (fewer rows each time); None = nothing.
Render = Callable[[int], "str | None"]


@dataclass
class _Section:
    name: str
    render: Render
    levels: int
    level: int = field(default=0)

    def text(self) -> str | None:
        return self.render(self.level) if self.level < self.levels else None


def _has_kinds(trace: Trace) -> set[str]:
    th = trace.threads
    if th is None or not len(th) or "kind" not in th.columns:
        return set()
    return {str(k) for k in th["kind"].dropna().unique()}


def _thread_label(row: pd.Series, multi_rank: bool) -> str:
    name = row.get("thread_name")
    label = (f"{short_name(str(name).strip(), 40)} (pid {row['pid']}, tid {row['tid']})"
             if isinstance(name, str) and name else f"pid {row['pid']}, tid {row['tid']}")
    if multi_rank and "rank" in row:
        label = f"rank {row['rank']}: " + label
    return label


# -- sections ------------------------------------------------------------------------
def _header(trace: Trace) -> Render:
    ev = trace.events
    src = os.path.basename(str(trace.metadata.get("source", "?")).rstrip("/")) or "?"
    kinds = trace.threads["kind"].value_counts().to_dict() if _has_kinds(trace) else {}
    n_threads = len(trace.threads) if len(trace.threads) else (
        len(ev[["pid", "tid"]].drop_duplicates()) if len(ev) else 0)
    ranks = trace.ranks
    facts = [f"format **{trace.format}**", f"span **{format_us(trace.span_us)}**",
             f"**{format_count(len(ev))}** slices",
             f"**{format_count(n_threads)}** thread{'s' if n_threads != 1 else ''}"]
    if kinds.get("gpu"):
        facts[-1] += f" ({kinds['gpu']} GPU streams)"
    if len(ranks) > 1:
        facts.append(f"**{len(ranks)}** ranks ({ranks[0]}–{ranks[-1]})")
    total_self = float(ev["self_dur"].sum()) if len(ev) else 0.0

    def render(level: int) -> str:
        if level == 2:
            return (f"Trace `{short_name(src, 40)}`: {trace.format}, "
                    f"{format_us(trace.span_us)}, {format_count(len(ev))} slices.")
        line = f"## Trace `{short_name(src, 80)}`\n\n" + ", ".join(facts) + "."
        if level == 0 and len(ev):
            line += (f" Total self time {format_us(total_self)} (all threads; times below "
                     "are wall-clock sums).")
        return line
    return render


def _threads(trace: Trace) -> tuple[Render, int]:
    util = thread_utilization(trace)
    real = util["kind"].isin(["cpu", "gpu"]) if len(util) else util["kind"]
    if real.any():  # async tracks and the profiler's span are not threads
        util = util[real]
    multi = len(trace.ranks) > 1

    def render(level: int) -> str:
        if level == 2:
            r = util.iloc[0]
            return (f"Busiest thread: {_thread_label(r, multi)}, {r['kind']}, busy "
                    f"{format_us(r['busy_us'])} ({format_pct(r['busy_pct'])} of its span).")
        rows = [[_thread_label(r, multi), str(r["kind"]), format_us(r["busy_us"]),
                 format_pct(r["busy_pct"]), format_count(r["slices"])]
                for _, r in util.head(6 if level == 0 else 3).iterrows()]
        return "### Busiest threads\n" + md_table(
            ["thread", "kind", "busy", "busy % of its span", "slices"], rows, "llrrr")
    return render, (3 if len(util) else 0)


def _hotspot_table(title: str, hs: pd.DataFrame, sizes: list[int], note: str) -> Render:
    """Tables of ``sizes[level]`` rows, then one line with the top 3."""
    def render(level: int) -> str:
        if level >= len(sizes):
            items = [f"`{short_name(r['name'], 40)}` {format_us(r['self_dur'])} "
                     f"({format_pct(r['self_pct'])}, {format_count(r['count'])}x)"
                     for _, r in hs.head(3).iterrows()]
            return f"{title}: " + "; ".join(items) + "."
        rows = [[short_name(r["name"], 60 if level < 2 else 40), format_count(r["count"]),
                 format_us(r["self_dur"]), format_pct(r["self_pct"]), format_us(r["total_dur"])]
                for _, r in hs.head(sizes[level]).iterrows()]
        return f"### {title}\n" + md_table(
            ["name", "count", "self time", f"% of {note}", "total (incl. children)"], rows,
            "lrrrr")
    return render


def _gpu_sections(trace: Trace) -> list[_Section]:
    gpu = hta_gpu_events(trace)
    if gpu.empty:
        return []
    out: list[_Section] = []
    tb = _temporal(gpu)

    def temporal(level: int) -> str:
        if level == 1 or len(tb) > 8:
            cols = (("compute_time_pctg", "compute"), ("non_compute_time_pctg", "non-compute"),
                    ("idle_time_pctg", "idle"))
            if len(tb) == 1:
                r = tb.iloc[0]
                return (f"GPU (HTA temporal breakdown, rank {int(r['rank'])}): "
                        + ", ".join(f"{lab} {r[c]:.2f}%" for c, lab in cols)
                        + f" of {format_us(r['kernel_time(us)'])} kernel time.")
            ranks = tb["rank"].to_numpy()
            parts = [f"{lab} {tb[c].mean():.2f}% (rank {ranks[tb[c].to_numpy().argmin()]} "
                     f"{tb[c].min():.2f}% .. rank {ranks[tb[c].to_numpy().argmax()]} "
                     f"{tb[c].max():.2f}%)" for c, lab in cols]
            return f"GPU (HTA temporal breakdown, mean of {len(tb)} ranks): " + "; ".join(
                parts) + "."
        lines = [f"- rank {int(r['rank'])}: kernel time {format_us(r['kernel_time(us)'])}; "
                 f"compute {r['compute_time_pctg']:.2f}%, non-compute "
                 f"{r['non_compute_time_pctg']:.2f}%, idle {r['idle_time_pctg']:.2f}%"
                 for _, r in tb.iterrows()]
        return ("### GPU utilisation (HTA temporal breakdown; events from the start of the "
                "last ProfilerStep excluded, as HTA does)\n" + "\n".join(lines))
    out.append(_Section("gpu utilisation", temporal, 2))

    kt = _kernel_type_times(gpu)
    if len(kt):
        def ktypes(level: int) -> str:
            n = 7 if level == 0 else 3
            parts = [f"{r['kernel_type']} {format_us(r['sum'])} ({r['percentage']:.1f}%)"
                     for _, r in kt.head(n).iterrows()]
            return ("### GPU kernel types (HTA kernel type breakdown, overlaps apart)\n"
                    + "; ".join(parts) + ".")
        out.append(_Section("kernel types", ktypes, 2))
    return out


def _anomalies(trace: Trace) -> tuple[Render, int]:
    ev = trace.events
    items: list[str] = []
    if len(ev):
        counts = ev["name"].value_counts()
        many = counts[counts >= SHORT_SLICE_COUNT]
        if len(many):
            sub = ev.loc[ev["name"].isin(many.index), ["name", "dur"]]
            stats = sub.groupby("name", observed=True)["dur"].agg(["size", "median", "sum"])
            stats = stats[stats["median"] < SHORT_SLICE_US].sort_values("sum", ascending=False)
            for name, r in stats.head(3).iterrows():
                items.append(
                    f"{format_count(r['size'])} short `{short_name(str(name), 50)}` slices "
                    f"(median {format_us(r['median'])}, {format_us(r['sum'])} in all): "
                    "per-call overhead may dominate; batch or fuse them.")
        span = trace.span_us
        gaps = idle_gaps(trace, min_gap_us=max(1000.0, 0.05 * span), n=None)
        gaps = gaps[gaps["kind"] != "gpu"].head(3)  # GPU idle time: see GPU utilisation
        multi = len(trace.ranks) > 1
        for _, g in gaps.iterrows():
            items.append(
                f"Idle gap of {format_us(g['gap_us'])} on {_thread_label(g, multi)} between "
                f"`{short_name(g['before'], 40)}` and `{short_name(g['after'], 40)}`.")
    repaired = int(trace.metadata.get("repaired", 0) or 0)
    if repaired:
        items.append(f"{format_count(repaired)} unmatched B/E events were repaired "
                     "(closed at the end of their thread or dropped).")
    missing = int(trace.metadata.get("missing_dur", 0) or 0)
    if missing:
        items.append(f"{format_count(missing)} 'X' events had no duration (counted as 0).")
    warnings = trace.metadata.get("warnings") or []
    if warnings:
        plural = "s" if len(warnings) > 1 else ""
        items.append(f"{format_count(len(warnings))} loader warning{plural}"
                     f"{', first' if plural else ''}: {short_name(str(warnings[0]), 100)}")
    sizes = [len(items), 3, 1]

    def render(level: int) -> str:
        return "### Anomalies\n" + "\n".join(f"- {i}" for i in items[: sizes[level]])
    return render, (len(sizes) if items else 0)


def _sections(trace: Trace) -> list[_Section]:
    sections = [_Section("header", _header(trace), 3),
                _Section("verdict", *verdict_render(trace))]
    render, levels = _threads(trace)
    sections.append(_Section("busiest threads", render, levels))
    kinds = _has_kinds(trace)
    sizes = [12, 8, 5]
    if not len(trace.events):
        sections.append(_Section("no slices", lambda level: (
            "No slices: the trace holds no duration events (`X`, `B`/`E`) or samples, so "
            "there are no hotspots or busy times to report."), 1))
    else:
        if kinds - {"cpu"}:  # GPU streams, async tracks, profiler spans: CPU work apart
            cpu = hotspots(trace, n=sizes[0], kind="cpu")
            sections.append(_Section("hotspots", _hotspot_table(
                "Top self time, CPU threads", cpu, sizes, "CPU self time"),
                len(sizes) + 1 if len(cpu) else 0))
        else:
            hs = hotspots(trace, n=sizes[0])
            sections.append(_Section("hotspots", _hotspot_table(
                "Top self time", hs, sizes, "all self time"), len(sizes) + 1))
    if trace.format in ("devtools", "cpuprofile") and len(trace.events):
        js = hotspots(trace, n=sizes[0], kind="js")
        if len(js):
            sections.append(_Section("javascript", _hotspot_table(
                "Top JavaScript functions (CPU samples)", js, sizes, "sampled JS time"),
                len(sizes) + 1))
    gpu_sections = _gpu_sections(trace) if ("gpu" in kinds or trace.format == "kineto") \
        else []
    if gpu_sections and "gpu" in kinds:
        kern = hotspots(trace, n=8, kind="gpu")
        if len(kern):
            gpu_sections.insert(1, _Section("gpu kernels", _hotspot_table(
                "Top GPU kernels (time on device streams)", kern, [8, 4], "GPU time"), 3))
    sections += gpu_sections
    render, levels = _anomalies(trace)
    sections.append(_Section("anomalies", render, levels))
    return sections


def _target(s: _Section, phase: int, sections: list[_Section]) -> int:
    if phase == 0:
        return min(1, s.levels - 1)
    if phase == 1 or s is sections[0]:
        return s.levels - 1
    return s.levels


def _compose(sections: list[_Section]) -> tuple[str, list[str], list[str]]:
    parts, shown, omitted = [], [], []
    for s in sections:
        t = s.text()
        if t:
            parts.append(t)
            shown.append(s.name)
        elif s.levels:
            omitted.append(s.name)
    return "\n\n".join(parts), shown, omitted


def _with_note(text: str, omitted: list[str], max_tokens: int) -> str:
    if not omitted:
        return text
    noted = text + f"\n\n_Left out to fit {max_tokens} tokens: {', '.join(omitted)}._"
    return noted if estimate_tokens(noted) <= max_tokens else text


def _hard_fit(text: str, max_tokens: int) -> str:
    """Cut ``text`` (line by line, then character by character) until it fits."""
    lines = text.split("\n")
    while len(lines) > 1 and estimate_tokens("\n".join(lines)) > max_tokens:
        lines.pop()
    text = "\n".join(lines)
    while text and estimate_tokens(text) > max_tokens:
        text = text[: max(0, int(len(text) * 0.9) - 1)]
    return text


def summarize(trace: Trace, max_tokens: int = 1500) -> Summary:
    """Summarise ``trace`` in markdown that fits ``max_tokens`` (estimated, conservative).

    The sections, most important first: what the trace is (format, source, span, slice,
    thread and rank counts), the busiest threads, the top self-time hotspots (a CPU table
    and a GPU kernel table for Kineto traces), GPU utilisation (HTA temporal breakdown)
    and kernel types where there is a GPU, and anomalies (>= 1000 slices of one name with
    median duration < 10 µs, long idle gaps, repaired B/E events, loader warnings). Less
    important sections shrink, then go, until the text fits; it then says what it left
    out. Times use µs/ms/s as fits; percentages are of the quantity the table names.

    For traces whose values are not times (folded stacks without a sampling interval:
    ``metadata["unit"] == "samples"``), every duration is printed in that unit.

    Raises :class:`~jupyter_assistant.exceptions.InputError` (a ``ValueError``) if
    ``max_tokens`` is below 1.
    """
    if max_tokens < 1:
        raise InputError(f"max_tokens must be at least 1, not {max_tokens}")
    token = value_unit.set(display_unit(trace.metadata.get("unit")))
    try:
        return _summarize(trace, max_tokens)
    finally:
        value_unit.reset(token)


def _summarize(trace: Trace, max_tokens: int) -> Summary:
    sections = _sections(trace)
    text, shown, omitted = _compose(sections)
    # three passes, each from the least important section up: (1) every section to its
    # second level, (2) to its most compact level, (3) leave sections out; the header
    # stays
    while estimate_tokens(text) > max_tokens:
        for phase in range(3):
            cands = [s for s in reversed(sections) if s.level < _target(s, phase, sections)]
            if cands:
                cands[0].level += 1
                break
        else:
            break
        text, shown, omitted = _compose(sections)
    text = _with_note(text, omitted, max_tokens)
    if estimate_tokens(text) > max_tokens:
        text = _hard_fit(text, max_tokens)
    return Summary(text=text, tokens=estimate_tokens(text), max_tokens=max_tokens,
                   sections=tuple(shown), omitted=tuple(omitted))
