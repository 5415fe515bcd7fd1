"""Analyses of a :class:`~jupyter_assistant.traces.Trace`; each returns a DataFrame whose
docstring gives its columns, units and the source of its definitions."""

from .compare import compare_traces
from .gpu import kernel_breakdown, kernel_type, kernel_type_breakdown, temporal_breakdown
from .gpu_idle import cuda_kernel_launch_stats, idle_time_breakdown
from .gpu_overlap import comm_comp_overlap, memory_bw_summary, memory_bw_time_series
from .gpu_util import device_events, gpu_utilization
from .hotspots import hotspots
from .step_outliers import step_outliers
from .steps import profiler_steps, step_breakdown, step_kernel_categories, step_phases
from .threads import idle_gaps, long_slices, thread_utilization

__all__ = [
    "comm_comp_overlap",
    "compare_traces",
    "cuda_kernel_launch_stats",
    "device_events",
    "gpu_utilization",
    "hotspots",
    "idle_gaps",
    "idle_time_breakdown",
    "kernel_breakdown",
    "kernel_type",
    "kernel_type_breakdown",
    "long_slices",
    "memory_bw_summary",
    "memory_bw_time_series",
    "profiler_steps",
    "step_breakdown",
    "step_kernel_categories",
    "step_outliers",
    "step_phases",
    "temporal_breakdown",
    "thread_utilization",
]
