"""Per-step breakdown of a PyTorch profiler (Kineto) trace: each ``ProfilerStep#N``, its
CPU phases and its GPU time by kernel category.

``torch.profiler.profile(schedule=...)`` wraps every step of the training loop in a
``ProfilerStep#N`` ``user_annotation`` on the thread that calls ``prof.step()``; the user's
``record_function`` ranges (``forward``, ``backward``, ``optimizer``, PyTorch's own
``Optimizer.step#...`` and ``enumerate(DataLoader)#...``) nest in it. ``loss.backward()``
runs on autograd's own thread, whose ops (``autograd::engine::evaluate_function: ...``)
carry no step annotation, so they are assigned to a step by time. Device activity is
assigned to the step whose window holds its start. All times are float64 µs on the
trace's raw timestamps (no HTA rounding; every step counts, the last included).
"""

from __future__ import annotations

import re
from typing import NamedTuple

import numpy as np
import pandas as pd

from .._model import Trace
from ._hta import trace_ranks
from .gpu_util import device_events, union_length
from .hotspots import analysed_events

__all__ = ["STEP_RE", "kernel_category", "profiler_steps", "step_breakdown",
           "step_kernel_categories", "step_phases"]

#: A step annotation's name: ``ProfilerStep#<N>`` (N of at most 18 digits, an int64, as the
#: Kineto reader reads step numbers; a longer number is not a step).
STEP_RE = re.compile(r"^ProfilerStep#(\d{1,18})$")

# Kernel families by name, first match wins: labels for the per-step GPU breakdown (the
# time itself always comes from the device intervals, never from the name).
_CATEGORIES: tuple[tuple[str, re.Pattern[str]], ...] = tuple(
    (label, re.compile(rx, re.IGNORECASE)) for label, rx in (
        ("communication", r"^nccl|ncclKernel|^hccl|^rccl"),
        ("memcpy HtoD", r"^Memcpy HtoD"),
        ("memcpy DtoH", r"^Memcpy DtoH"),
        ("memcpy DtoD", r"^Memcpy (DtoD|PtoP)"),
        ("memset", r"^Memset"),
        ("attention", r"flash|fmha|attention|sdpa"),
        ("conv", r"conv|wgrad|dgrad|fprop|nchw|nhwc"),
        ("gemm", r"gemm|matmul|cublas|cutlass|xmma|nvjet|Cijk_"),
        ("norm", r"norm"),
        ("softmax", r"softmax"),
        ("optimizer", r"multi_tensor_apply|adam|foreach"),
        ("reduce", r"reduce"),
        ("elementwise", r"elementwise|vectorized|unrolled|dropout"),
        ("triton", r"^triton_"),
    ))


def kernel_category(name: str) -> str:
    """A coarse family for a device activity's name: ``communication``, ``memcpy HtoD``,
    ``memcpy DtoH``, ``memcpy DtoD``, ``memset``, ``attention``, ``conv``, ``gemm``,
    ``norm``, ``softmax``, ``optimizer``, ``reduce``, ``elementwise``, ``triton`` or
    ``other`` (first match wins, in that order)."""
    for label, rx in _CATEGORIES:
        if rx.search(name):
            return label
    return "other"


STEP_COLUMNS = {"rank": "int64", "step": "int64", "name": "object", "pid": "int64",
                "tid": "int64", "ts": "float64", "end": "float64", "dur": "float64",
                "row": "int64"}


def profiler_steps(trace: Trace) -> pd.DataFrame:
    """The ``ProfilerStep#N`` ranges on CPU threads, one row per step and rank, in time
    order: ``rank, step`` (N), ``name``, ``pid, tid`` (the thread that ran the loop),
    ``ts, end, dur`` (float64, µs) and ``row`` (the row of :attr:`Trace.events`). Empty
    (same columns) when the trace has no steps, e.g. it was not recorded with a
    ``schedule``, or is not a PyTorch profiler trace."""
    ev = trace.events
    if not len(ev) or trace.format != "kineto":
        return pd.DataFrame({c: pd.Series(dtype=t) for c, t in STEP_COLUMNS.items()})
    names = ev["name"]
    cats = names.cat.categories if isinstance(names.dtype, pd.CategoricalDtype) else \
        pd.Index(names.astype(str).unique())
    step_names = [str(c) for c in cats if STEP_RE.match(str(c))]
    mask = names.isin(step_names).to_numpy().copy()
    if "stream" in ev.columns:
        mask &= ev["stream"].to_numpy(dtype=np.int64, na_value=-1) < 0
    mask &= (ev["cat"] != "gpu_user_annotation").to_numpy()
    rows = np.flatnonzero(mask)
    sub = ev.iloc[rows]
    out = pd.DataFrame({
        "rank": trace_ranks(trace)[rows],
        "step": [int(STEP_RE.match(str(n)).group(1)) for n in sub["name"]],  # type: ignore[union-attr]
        "name": sub["name"].astype(str).to_numpy(),
        "pid": sub["pid"].to_numpy(dtype=np.int64), "tid": sub["tid"].to_numpy(dtype=np.int64),
        "ts": sub["ts"].to_numpy(dtype=np.float64), "end": sub["end"].to_numpy(dtype=np.float64),
        "dur": sub["dur"].to_numpy(dtype=np.float64), "row": rows.astype(np.int64)})
    return out.sort_values(["rank", "ts"], kind="stable", ignore_index=True).astype(STEP_COLUMNS)


class _Step(NamedTuple):
    step: int
    ts: float
    end: float
    dur: float
    row: int


def _rows(steps: pd.DataFrame) -> list[_Step]:
    """The rows of a :func:`profiler_steps` frame as typed tuples."""
    return [_Step(int(a), float(b), float(c), float(d), int(e)) for a, b, c, d, e in zip(
        steps["step"].tolist(), steps["ts"].tolist(), steps["end"].tolist(),
        steps["dur"].tolist(), steps["row"].tolist(), strict=True)]


def _assign(ts: np.ndarray, starts: np.ndarray, ends: np.ndarray) -> np.ndarray:
    """Index of the window (sorted, disjoint ``[starts, ends)``) holding each ``ts``, -1
    for none."""
    if not len(starts):
        return np.full(len(ts), -1, dtype=np.int64)
    i = np.searchsorted(starts, ts, side="right") - 1
    ok = (i >= 0) & (ts < ends[np.maximum(i, 0)])
    return np.where(ok, i, -1).astype(np.int64)


BREAKDOWN_COLUMNS = ["rank", "step", "ts", "dur", "gpu_busy_us", "gpu_busy_pct",
                     "compute_us", "communication_us", "memory_us", "gpu_idle_us",
                     "kernels", "memcpys", "memsets"]


def step_breakdown(trace: Trace) -> pd.DataFrame:
    """One row per profiler step: ``rank, step`` (int64), ``ts, dur`` (float64, µs: the
    step's window on its CPU thread), ``gpu_busy_us`` (the union of kernel, memcpy and
    memset intervals inside the window, every device of the rank), ``gpu_busy_pct``
    (100·busy/dur, in [0, 100]), ``compute_us, communication_us, memory_us`` (the union
    of each HTA kernel type inside the window), ``gpu_idle_us`` (dur − busy), and the
    counts ``kernels, memcpys, memsets`` (int64) of device activities that start in it.
    Empty (same columns) without ``ProfilerStep#N`` ranges."""
    steps = profiler_steps(trace)
    dev = device_events(trace)
    rows = []
    for rank, st in steps.groupby("rank", sort=True):
        d = dev[dev["rank"] == rank]  # sorted by ts
        ts, end, kt = d["ts"].to_numpy(), d["end"].to_numpy(), d["kernel_type"].to_numpy()
        cat = np.asarray(d["cat"].to_numpy(), dtype=object)
        longest = float((end - ts).max()) if len(ts) else 0.0
        which = _assign(ts, st["ts"].to_numpy(), st["end"].to_numpy())
        for i, s in enumerate(_rows(st)):
            lo, hi = float(s.ts), float(s.end)
            a, b = np.searchsorted(ts, [lo - longest, hi])  # every interval that can overlap
            wts, wend, wkt = ts[a:b], end[a:b], kt[a:b]
            busy = union_length(wts, wend, lo, hi)
            parts = [union_length(wts[wkt == k], wend[wkt == k], lo, hi)
                     for k in ("COMPUTATION", "COMMUNICATION", "MEMORY")]
            mine = which == i
            dur = hi - lo
            rows.append((int(str(rank)), int(s.step), lo, dur, busy,
                         min(100.0, 100.0 * busy / dur) if dur > 0 else 0.0, *parts,
                         max(dur - busy, 0.0), int((mine & (cat == "kernel")).sum()),
                         int((mine & (cat == "gpu_memcpy")).sum()),
                         int((mine & (cat == "gpu_memset")).sum())))
    out = pd.DataFrame(rows, columns=BREAKDOWN_COLUMNS)
    return out.astype({"rank": "int64", "step": "int64", "kernels": "int64",
                       "memcpys": "int64", "memsets": "int64"}
                      | {c: "float64" for c in BREAKDOWN_COLUMNS[2:10]})


PHASE_COLUMNS = {"rank": "int64", "step": "int64", "tid": "int64", "thread": "object",
                 "phase": "object", "count": "int64", "dur_us": "float64",
                 "step_pct": "float64"}


def step_phases(trace: Trace) -> pd.DataFrame:
    """The CPU phases of each profiler step, long format: ``rank, step, tid`` (int64),
    ``thread`` (str: ``"main"`` for the thread that runs the loop, else ``"autograd"`` when
    its top-level ops are ``autograd::engine::...``, else ``"thread <tid>"``), ``phase``
    (str), ``count`` (int64), ``dur_us`` (float64, µs) and ``step_pct`` (float64, % of the
    step's duration, in [0, 100]).

    On the main thread the phases are the annotations directly inside the step
    (``record_function`` ranges such as ``forward``/``backward``/``optimizer``, PyTorch's
    ``Optimizer.step#...`` and ``enumerate(DataLoader)#...``), summed per name, and
    ``(not annotated)`` for the rest of the step. On every other CPU thread, one phase
    ``busy``: the union of its top-level slices inside the step window (autograd's
    backward pass, DataLoader pin-memory threads...). Empty without steps."""
    steps = profiler_steps(trace)
    ev = analysed_events(trace)
    if not len(steps) or "stream" not in ev.columns:
        return pd.DataFrame({c: pd.Series(dtype=t) for c, t in PHASE_COLUMNS.items()})
    cpu = ev[ev["stream"].to_numpy(dtype=np.int64, na_value=-1) < 0]
    ranks = trace_ranks(trace)[cpu.index.to_numpy()] if len(cpu) else np.zeros(0, np.int64)
    parent = cpu["parent"].to_numpy(dtype=np.int64)
    out: list[tuple] = []
    for rank, st in steps.groupby("rank", sort=True):
        rmask = ranks == rank
        main_tid = int(st["tid"].iloc[0])
        step_rows = set(st["row"].tolist())
        starts, ends = st["ts"].to_numpy(), st["end"].to_numpy()
        # main thread: direct children of each step that are annotations
        child = rmask & np.isin(parent, list(step_rows)) & (
            cpu["cat"] == "user_annotation").to_numpy()
        kids = cpu[child].assign(step_row=parent[child])
        for s in _rows(st):
            k = kids[kids["step_row"] == s.row]
            per = k.groupby(k["name"].astype(str), sort=False)["dur"].agg(["size", "sum"])
            for name, size, total in zip(per.index.tolist(), per["size"].tolist(),
                                         per["sum"].tolist(), strict=True):
                out.append((int(str(rank)), int(s.step), main_tid, "main", str(name),
                            int(size), float(total), 100.0 * float(total) / s.dur))
            rest = max(float(s.dur) - union_length(k["ts"].to_numpy(), k["end"].to_numpy()),
                       0.0)
            out.append((int(str(rank)), int(s.step), main_tid, "main", "(not annotated)", 1,
                        rest, 100.0 * rest / s.dur if s.dur > 0 else 0.0))
        # other threads: their top-level work inside each step window
        others = cpu[rmask & (cpu["tid"].to_numpy() != main_tid)
                     & (cpu["depth"].to_numpy() == 0)]
        for tid, g in others.groupby("tid", sort=True):
            gts, gend = g["ts"].to_numpy(), g["end"].to_numpy()
            names = g["name"].astype(str)
            label = ("autograd" if names.str.startswith("autograd::engine").mean() > 0.5
                     else f"thread {tid}")
            which = _assign(gts, starts, ends)
            for i, s in enumerate(_rows(st)):
                mine = which == i
                if not mine.any():
                    continue
                busy = union_length(gts[mine], gend[mine], float(s.ts), float(s.end))
                out.append((int(str(rank)), int(s.step), int(str(tid)), label, "busy",
                            int(mine.sum()), busy,
                            min(100.0, 100.0 * busy / s.dur) if s.dur > 0 else 0.0))
    return pd.DataFrame(out, columns=list(PHASE_COLUMNS)).astype(PHASE_COLUMNS)


KCAT_COLUMNS = {"rank": "int64", "step": "int64", "category": "object", "count": "int64",
                "time_us": "float64", "step_pct": "float64"}


def step_kernel_categories(trace: Trace) -> pd.DataFrame:
    """GPU time of each profiler step by kernel category (:func:`kernel_category`), long
    format: ``rank, step`` (int64), ``category`` (str), ``count`` (int64), ``time_us``
    (float64, µs: the union of that category's intervals inside the step window) and
    ``step_pct`` (float64, % of the step's duration). Largest first within a step. Empty
    without steps or device activity."""
    steps = profiler_steps(trace)
    dev = device_events(trace)
    out: list[tuple] = []
    if len(steps) and len(dev):
        names = dev["name"].to_numpy()
        uniq, inv = np.unique(names, return_inverse=True)
        cats = np.asarray([kernel_category(str(n)) for n in uniq], dtype=object)[inv]
        for rank, st in steps.groupby("rank", sort=True):
            rm = dev["rank"].to_numpy() == rank
            ts, end, c = dev["ts"].to_numpy()[rm], dev["end"].to_numpy()[rm], cats[rm]
            which = _assign(ts, st["ts"].to_numpy(), st["end"].to_numpy())
            for i, s in enumerate(_rows(st)):
                mine = which == i
                rows = []
                for cat in np.unique(c[mine]):
                    m = mine & (c == cat)
                    t = union_length(ts[m], end[m], float(s.ts), float(s.end))
                    rows.append((int(str(rank)), int(s.step), str(cat), int(m.sum()), t,
                                 min(100.0, 100.0 * t / s.dur) if s.dur > 0 else 0.0))
                out += sorted(rows, key=lambda r: -r[4])
    return pd.DataFrame(out, columns=list(KCAT_COLUMNS)).astype(KCAT_COLUMNS)
