"""A finding of :func:`~jupyter_assistant.traces.diagnosis.diagnose`, and the sources its
rules cite."""

from __future__ import annotations

import math
from dataclasses import dataclass

__all__ = ["FINDING_COLUMNS", "KINDS", "SEVERITIES", "SOURCES", "Finding", "grade"]

#: Columns of the diagnosis DataFrame and their dtypes.
FINDING_COLUMNS = {"kind": "object", "severity": "object", "share": "float64",
                   "evidence": "object", "fix": "object", "source": "object"}

#: Every ``kind`` a rule may report. ``host_bound`` (HTA's idle-time breakdown calls the
#: same GPU idle time *host wait*; the PyTorch Performance Tuning Guide's remedies for a
#: host-bound loop are CUDA graphs / ``torch.compile``, larger batches and less Python in
#: the step): the GPU idles inside the steps because the host — Python, op dispatch, CPU
#: ops — does not issue work fast enough, and no more specific cause (``input_bound``,
#: ``host_to_device_copy``, ``host_sync``, ``launch_overhead``) explains that idle time.
#: ``outlier_steps``: profiler steps that are not the steady state (a step at least 3x the
#: median of the others: warm-up, ``torch.compile``, cuDNN autotuning, lazy init; or a step
#: mostly outside the profiler's recording); the GPU rules judge the other steps only.
#: Named for what the trace shows for certain, as HTA names its launch-delay *outliers*,
#: not for a cause (warm-up, compilation, a checkpoint), which the evidence names when the
#: ops reveal it.
KINDS = ("input_bound", "host_sync", "launch_overhead", "host_to_device_copy",
         "host_bound", "gpu_compute_bound", "communication_bound", "cpu_hotspot",
         "layout_thrashing", "long_tasks", "gc_pressure", "outlier_steps")

#: Most important first.
SEVERITIES = ("high", "medium", "low")

#: Where each rule's definition and threshold come from.
SOURCES = {
    "pytorch_tuning": "PyTorch Performance Tuning Guide (pytorch.org/tutorials/recipes/"
                      "recipes/tuning_guide.html)",
    "cuda_bp": "CUDA C++ Best Practices Guide, 'Data Transfer Between Host and Device' "
               "(docs.nvidia.com/cuda/cuda-c-best-practices-guide)",
    "cuda_graphs": "PyTorch CUDA Graphs (pytorch.org/docs/stable/notes/cuda.html#cuda-graphs)"
                   " and CUDA C++ Best Practices Guide",
    "hta": "Holistic Trace Analysis docs: temporal breakdown, idle time breakdown, "
           "communication computation overlap (hta.readthedocs.io)",
    "web_long_tasks": "web.dev Long Tasks / Total Blocking Time: tasks over 50 ms "
                      "(web.dev/articles/long-tasks-devtools, web.dev/articles/tbt)",
    "web_layout": "web.dev 'Avoid large, complex layouts and layout thrashing' "
                  "(web.dev/articles/avoid-large-complex-layouts-and-layout-thrashing)",
    "python_gc": "Python gc module docs (docs.python.org/3/library/gc.html); V8 'Trash "
                 "talk' GC blog (v8.dev/blog/trash-talk)",
    "profiler_schedule": "PyTorch profiler recipe, 'Using profiler to analyze long-running "
                         "jobs': torch.profiler.schedule(skip_first, wait, warmup, active) "
                         "(pytorch.org/tutorials/recipes/recipes/profiler_recipe.html)",
    "profiling": "Self-time profiling, as in cProfile/pstats (docs.python.org/3/library/"
                 "profile.html) and Chrome DevTools' Bottom-Up view",
}


@dataclass(frozen=True)
class Finding:
    """One row of the diagnosis: ``kind`` (one of :data:`KINDS`), ``severity`` (``high``,
    ``medium``, ``low``), ``share`` (0–1 of step or trace time the finding explains, NaN
    where it does not apply), ``evidence`` (the numbers, with units and names), ``fix``
    (the standard remedy) and ``source`` (where the rule comes from)."""

    kind: str
    severity: str
    share: float
    evidence: str
    fix: str
    source: str

    def __post_init__(self) -> None:
        if self.kind not in KINDS:
            raise ValueError(f"unknown finding kind {self.kind!r}")
        if self.severity not in SEVERITIES:
            raise ValueError(f"unknown severity {self.severity!r}")
        if not math.isnan(self.share) and not 0.0 <= self.share <= 1.0:
            object.__setattr__(self, "share", min(max(self.share, 0.0), 1.0))


def grade(share: float, high: float, medium: float) -> str | None:
    """``"high"`` when ``share >= high``, ``"medium"`` when ``>= medium``, else ``None``
    (no finding)."""
    if share >= high:
        return "high"
    if share >= medium:
        return "medium"
    return None
