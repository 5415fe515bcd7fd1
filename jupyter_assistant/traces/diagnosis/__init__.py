"""``diagnose``: name what bounds a trace, with the evidence and the fix.

Rules live in one module per family: :mod:`.steps` (outlier_steps: warm-up, compile and
other steps that are not the steady state, left out of the GPU rules), :mod:`.gpu` (PyTorch
profiler traces with device activity: input_bound, host_to_device_copy, host_sync,
launch_overhead, host_bound, gpu_compute_bound, communication_bound), :mod:`.cpu`
(cpu_hotspot, gc_pressure, any trace) and :mod:`.devtools` (long_tasks,
layout_thrashing). Each module's docstring gives its thresholds and their sources. Every
finding is computed from the trace's intervals; names only tell which API or annotation an
interval is.
"""

from __future__ import annotations

import math

import pandas as pd

from .._model import Trace
from ..analysis.step_outliers import step_outliers
from ._finding import FINDING_COLUMNS, KINDS, SEVERITIES, SOURCES, Finding
from ._gpu_facts import gpu_facts
from .cpu import cpu_findings
from .devtools import devtools_findings, devtools_headline, forced_layouts, long_tasks
from .gpu import gpu_findings, gpu_headline
from .steps import outlier_step_findings

__all__ = ["FINDING_COLUMNS", "KINDS", "SOURCES", "Finding", "diagnose", "forced_layouts",
           "long_tasks"]

# Within one severity, what has to be fixed first: outlier steps (they change how the
# rest reads: the other rules judged the steady steps only), then a sync, a pageable copy
# or a starved input pipeline inside the step stops the host from running ahead of the GPU (and CUDA
# graph capture), so they come before launch overhead and kernel efficiency.
_ORDER = {"outlier_steps": 0, "input_bound": 0, "host_to_device_copy": 0, "host_sync": 0,
          "communication_bound": 1, "launch_overhead": 1, "host_bound": 1, "layout_thrashing": 1,
          "long_tasks": 1, "gc_pressure": 1, "cpu_hotspot": 1, "gpu_compute_bound": 1}


def diagnose(trace: Trace) -> pd.DataFrame:
    """The findings about ``trace``, most important first.

    Returns a DataFrame with one row per finding and columns ``kind`` (str, one of
    :data:`KINDS`), ``severity`` (str: ``"high"``, ``"medium"`` or ``"low"``), ``share``
    (float64, 0–1: the fraction of step time — or of the profile, for CPU and browser
    traces — that the finding explains; NaN where it does not apply), ``evidence`` (str:
    the numbers with units and the names of the ops, kernels or functions involved),
    ``fix`` (str: the standard remedy, naming the API or setting) and ``source`` (str:
    where the rule and its threshold come from). Ordered by severity; within high and
    medium, problems that stop the host from running ahead (input, copies, syncs) first,
    then by share; low findings by share. ``gpu_compute_bound`` with severity ``low`` is
    the healthy state (the GPU bounds the step). An empty frame (same columns) when
    nothing stands out.
    ``attrs["headline"]`` is one line of context (the steady-state steps and GPU busy
    share of a PyTorch profiler trace, the main thread's busy share of a DevTools recording; '' for
    other traces).
    """
    findings: list[Finding] = []
    headline = ""
    busy = None
    steps = step_outliers(trace) if trace.format == "kineto" else None
    facts = gpu_facts(trace, steps)
    outliers = outlier_step_findings(trace, steps) if steps is not None else []
    findings += outliers
    if facts is not None and facts.wall > 0:
        findings += gpu_findings(trace, facts)
        headline = gpu_headline(facts, outliers=bool(outliers))
        busy = facts.busy / facts.wall
    elif outliers:
        headline = ("no steady-state profiler step: every step is an outlier "
                    "(see outlier_steps).")
    findings += cpu_findings(trace, gpu_busy=busy, steps=steps)
    if trace.format == "devtools":
        findings += devtools_findings(trace)
        headline = devtools_headline(trace)
    rank = {s: i for i, s in enumerate(SEVERITIES)}
    findings.sort(key=lambda f: (rank[f.severity],
                                 _ORDER.get(f.kind, 1) if f.severity != "low" else 0,
                                 -(f.share if not math.isnan(f.share) else -1.0)))
    out = pd.DataFrame([f.__dict__ for f in findings], columns=list(FINDING_COLUMNS))
    out = out.astype(FINDING_COLUMNS)
    out.attrs["headline"] = headline
    return out
