"""The ``outlier_steps`` rule: profiler steps that are not the steady state.

The steps come from :func:`~jupyter_assistant.traces.analysis.step_outliers` (a step at
least 3x the median of its rank's other steps, with at least two others; or a step mostly
outside the profiler's recording span; the module gives the reasons for both). The other
GPU rules judge the remaining steps only, so a warm-up step neither hides nor fakes the
steady state's problem. The evidence says what the host did in each outlier step: CPU self
time by op name (on every CPU thread of the rank, clipped to the step) minus the same op's
mean per steady step, largest growth first, and names the one-time work those names
reveal (:data:`WARMUP_MARKERS`).

Severity by ``share``, the time the outliers add over their reference (the steady median;
for an unrecorded step, the part outside the recording) as a fraction of all step time:
high >= 50% (the profile is mostly one-time work), medium >= 25%, else low.
"""

from __future__ import annotations

import re

import numpy as np
import pandas as pd

from .._model import Trace
from .._text import format_count, format_us, short_name
from ..analysis._hta import trace_ranks
from ..analysis.gpu_util import device_events, union_length
from ..analysis.hotspots import not_work
from ..analysis.step_outliers import OUTLIER_RATIO, recording_spans, step_outliers
from ._finding import SOURCES, Finding, grade
from ._gpu_facts import _labels_codes, _overlap, _self_by_name

__all__ = ["WARMUP_MARKERS", "outlier_step_findings"]

#: Op-name patterns of one-time work, and what to call it. ``(dynamo_timed)`` is the suffix
#: of the ``record_function`` ranges PyTorch's ``torch._dynamo.utils.dynamo_timed`` opens
#: around compilation phases; the file paths are ``with_stack`` Python frames.
WARMUP_MARKERS: tuple[tuple[str, re.Pattern[str]], ...] = (
    ("torch.compile compilation (Dynamo/Inductor/Triton)", re.compile(
        r"\(dynamo_timed\)|torch/_dynamo/|torch/_inductor/|triton/compiler|compile_fx|"
        r"async_compile|CachingAutotuner|benchmark_all_configs", re.IGNORECASE)),
    ("cuDNN autotuning or first cuDNN use", re.compile(r"cudnn", re.IGNORECASE)),
    ("memory allocation (the caching allocator growing)", re.compile(
        r"^(cudaMalloc|cudaHostAlloc|cudaMallocHost|cudaFree|cuMemCreate|cuMemMap|"
        r"hipMalloc|hipHostMalloc|hipFree)")),
    ("lazy CUDA module loading or initialisation", re.compile(
        r"^(cuModuleLoad|cuLibraryLoad|cuModuleGetFunction|cuLibraryGetKernel|cuInit|"
        r"cudaGetDeviceProperties|cudaSetDevice|cuDevicePrimaryCtx)")),
    ("NCCL communicator set-up", re.compile(r"ncclCommInit|nccl:.*init|init_process_group",
                                            re.IGNORECASE)),
)

_OUTSIDE = "ProfilerStep#*"


def _pct(x: float) -> str:
    if 0.99 < x < 1.0 or x < 0.01:
        return f"{100 * x:.2f}%"
    return f"{100 * x:.0f}%"


def _label(name: str) -> str:
    if name == _OUTSIDE:
        return "time in the step outside any recorded op (Python, waiting)"
    return f"`{short_name(name, 60)}`"


class _Cpu:
    """CPU self time by name inside windows of one rank."""

    def __init__(self, trace: Trace, rank: int) -> None:
        ev = trace.events
        drop = not_work(trace)
        stream = (ev["stream"].to_numpy(dtype=np.int64, na_value=-1) if "stream" in ev.columns
                  else np.full(len(ev), -1, dtype=np.int64))
        rows = (stream < 0) & (trace_ranks(trace) == rank)
        self.rows = rows if drop is None else rows & ~drop
        self.ts = ev["ts"].to_numpy(dtype=np.float64)
        self.end = ev["end"].to_numpy(dtype=np.float64)
        self.parent = ev["parent"].to_numpy(dtype=np.int64)
        self.labels, self.codes = _labels_codes(ev["name"])

    def self_time(self, lo: np.ndarray, hi: np.ndarray) -> pd.Series:
        """Self time (µs) by name inside the sorted, disjoint windows ``[lo, hi)``."""
        own = np.zeros(len(self.ts))
        r = np.flatnonzero(self.rows)
        if len(lo) and len(r):
            own[r] = _overlap(lo, hi, self.ts[r], self.end[r])
        return _self_by_name(own, self.parent, self.codes, self.labels, self.rows)


def _markers(names: list[str]) -> list[str]:
    return [what for what, rx in WARMUP_MARKERS if any(rx.search(n) for n in names)]


def outlier_step_findings(trace: Trace, steps: pd.DataFrame | None = None) -> list[Finding]:
    """The ``outlier_steps`` finding of a Kineto trace with profiler steps (else ``[]``);
    ``steps`` is the trace's :func:`~jupyter_assistant.traces.analysis.step_outliers` when
    already computed."""
    st = step_outliers(trace) if steps is None else steps
    if not len(st) or not st["outlier"].any():
        return []
    dev = device_events(trace)
    spans = recording_spans(trace)
    total = float(st["dur"].sum())
    excess_total = 0.0
    parts: list[tuple[float, str]] = []
    markers: list[str] = []
    first_only = True
    for rank, g in st.groupby("rank", sort=True):
        out = g[g["outlier"].to_numpy()]
        steady = g[~g["outlier"].to_numpy()]
        positions = np.flatnonzero(g["outlier"].to_numpy())
        first_only &= bool((positions == np.arange(len(positions))).all())
        cpu = _Cpu(trace, int(str(rank)))
        base = (cpu.self_time(steady["ts"].to_numpy(), steady["end"].to_numpy())
                / max(len(steady), 1)) if len(steady) else pd.Series(dtype="float64")
        d = dev[dev["rank"].to_numpy() == rank]
        for s in out.itertuples():
            lo, hi = float(s.ts), float(s.end)
            extra = (float(s.dur) - float(s.recorded) if s.reason == "unrecorded"
                     else float(s.dur) - float(s.reference))
            excess_total += max(extra, 0.0)
            if s.reason == "unrecorded":  # the part the profiler recorded
                span = spans.get(int(str(rank)), (lo, hi))
                lo_r, hi_r = max(lo, span[0]), max(min(hi, span[1]), max(lo, span[0]))
            else:
                lo_r, hi_r = lo, hi
            mine = cpu.self_time(np.array([lo_r]), np.array([hi_r]))
            grew = mine.sub(base, fill_value=0.0).sort_values(ascending=False)
            grew = grew[grew > 0]
            # one-time work shows as the ops that grew most (all ops: no steady step)
            markers += _markers([str(n) for n in grew.head(5).index])
            grew = grew.head(3)
            busy = union_length(d["ts"].to_numpy(), d["end"].to_numpy(), lo, hi)
            what = (f"`{s.name}`" + (f" (rank {rank})" if st["rank"].nunique() > 1 else ""))
            if s.reason == "unrecorded":
                text = (f"{what} lasts {format_us(float(s.dur))} but only "
                        f"{format_us(float(s.recorded))} of it lies inside the profiler's "
                        f"recording span, so {_pct(extra / float(s.dur))} of the step is not "
                        "in the trace")
            else:
                r = float(s.ratio)
                times = f"{r:.1f}x" if r < 10 else f"{r:.0f}x"
                text = (f"{what} took {format_us(float(s.dur))}, {times} the median of the "
                        f"other {format_count(len(g) - 1)} steps "
                        f"({format_us(float(s.reference))})")
            text += f"; the GPU was busy {format_us(busy)} of it"
            if len(grew):
                text += ("; CPU self time above a steady step's: " if len(steady) else
                         "; CPU self time in it: ") + ", ".join(
                    f"{_label(str(k))} {'+' if len(steady) else ''}{format_us(float(v))}"
                    for k, v in grew.items())
            parts.append((extra, text))
    parts.sort(key=lambda p: -p[0])
    n_out = int(st["outlier"].sum())
    share = min(excess_total / total, 1.0) if total > 0 else 0.0
    sev = grade(share, 0.50, 0.25) or "low"
    n_steady = int((~st["outlier"]).sum())
    ev = "; ".join(t for _, t in parts[:3]) + (
        f" (and {n_out - 3} more outlier steps)" if n_out > 3 else "") + "."
    found = list(dict.fromkeys(markers))
    if found:
        ev += " Those ops point to one-time work: " + "; ".join(found) + "."
    ev += (f" The outliers add {_pct(share)} of all step time; "
           + (f"the other findings judge the {format_count(n_steady)} steady-state step"
              f"{'s' if n_steady != 1 else ''} only." if n_steady else
              "no steady-state step is left to judge, so no other GPU finding is made."))
    fix = ("Profile the steady state: warm up before the profiler records, e.g. "
           "`torch.profiler.profile(schedule=torch.profiler.schedule(skip_first=K, wait=1, "
           "warmup=1, active=3), on_trace_ready=...)` with `prof.step()` at the end of each "
           "iteration, or run a few iterations before entering the profiler, so that "
           "`torch.compile` compilation, cuDNN autotuning (`torch.backends.cudnn.benchmark`), "
           "lazy CUDA/NCCL initialisation and the allocator's first growth are not in the "
           "recorded steps; record several steps so one slow step stands out.")
    if not first_only:
        fix += (" A slow step after the first ones is usually a recompilation (new input "
                "shapes: `TORCH_LOGS=recompiles`, `torch._dynamo.mark_dynamic`, or pad to "
                "fixed shapes), a checkpoint, an evaluation or logging step, or a "
                "garbage-collection pause: the ops named above tell which; move it out of "
                "the hot loop or out of the profiled steps.")
    if (st["reason"] == "unrecorded").any():
        fix += (" A step that runs past the recording was closed after the profiler "
                "stopped: call `prof.step()` inside the `with profile(...)` block, once per "
                "iteration.")
    return [Finding("outlier_steps", sev, share, ev, fix,
                    SOURCES["profiler_schedule"] + f"; outlier: >= {OUTLIER_RATIO:.0f}x the "
                    "median of the other steps (a robust, leave-one-out median)")]
