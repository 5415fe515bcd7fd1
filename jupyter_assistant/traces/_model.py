"""The :class:`Trace` model: a performance trace as pandas DataFrames."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import pandas as pd

from ._text import display_unit

if TYPE_CHECKING:
    from .summary import Summary

__all__ = ["THREAD_COLUMNS", "Trace", "empty_frame"]

#: Columns of :attr:`Trace.threads`.
THREAD_COLUMNS = {
    "pid": "int64",
    "tid": "int64",
    "rank": "int64",
    "process_name": "object",
    "thread_name": "object",
    "sort_index": "float64",
    "kind": "object",  # "cpu", "gpu" (device stream), "other"
}

COUNTER_COLUMNS = {"pid": "int64", "name": "object", "series": "object", "ts": "float64",
                   "value": "float64"}
INSTANT_COLUMNS = {"name": "object", "cat": "object", "pid": "int64", "tid": "int64",
                   "ts": "float64", "scope": "object"}
FLOW_COLUMNS = {"id": "object", "cat": "object", "name": "object", "ph": "object",
                "pid": "int64", "tid": "int64", "ts": "float64", "slice": "int64"}


def empty_frame(columns: dict[str, str]) -> pd.DataFrame:
    """An empty DataFrame with the given ``{column: dtype}``."""
    return pd.DataFrame({c: pd.Series(dtype=t) for c, t in columns.items()})


@dataclass
class Trace:
    """A performance trace loaded into pandas. Build one with
    :func:`~jupyter_assistant.load_trace`.

    Attributes
    ----------
    events
        One row per slice (see :mod:`jupyter_assistant.traces._slices` for the columns:
        ``name, cat, pid, tid, ts, dur, end, depth, parent, self_dur``; times in µs,
        float64; ``parent`` is the row position of the enclosing slice on the same thread,
        -1 at top level). Kineto traces add ``rank`` (int64), ``stream`` (int64, -1 for CPU
        rows), ``correlation`` (int64, -1 when absent), ``external_id`` and ``file_order``
        (int32, the slice's position in the file); every format may add ``args`` (object:
        dict or None).
    threads
        One row per (pid, tid): ``pid, tid, rank, process_name, thread_name, sort_index,
        kind`` and, for Chrome-family traces, ``process_sort_index, process_labels``.
        ``kind`` is ``"cpu"``, ``"gpu"`` (a device stream), ``"async"`` (a synthetic track of
        Chrome ``b``/``e`` async slices, ``tid >= 2**41``) or ``"other"`` (e.g. Kineto's
        whole-trace "PyTorch Profiler" span).
    counters
        Chrome ``ph: "C"`` samples: ``pid, name, series, ts, value`` (one row per series).
    instants
        Chrome ``ph: "i"/"I"`` events: ``name, cat, pid, tid, ts, scope, args``.
    flows
        Flow events (``ph: "s"/"t"/"f"``, Kineto ``ac2g``/``fwdbwd``): ``id, cat, name, ph,
        pid, tid, ts, slice`` where ``slice`` is the row of :attr:`events` the flow binds
        to (-1 if none).
    samples
        For sampled profiles, the raw samples when the format has them (DevTools and
        ``.cpuprofile``: ``pid, tid, ts, weight, stack``), else ``None``.
    metadata
        ``format`` (``chrome``, ``devtools``, ``kineto``, ``speedscope``, ``folded``,
        ``cprofile``), ``source`` (file name), ``unit`` (``"µs"``, or ``"samples"`` for folded
        stacks without an interval), ``display_time_unit``, ``ranks`` (list),
        ``repaired`` (count of unmatched B/E events closed or dropped), ``warnings`` (list
        of str), and format-specific keys (``device_properties``, ``distributed_info``).
    """

    events: pd.DataFrame
    threads: pd.DataFrame = field(default_factory=lambda: empty_frame(THREAD_COLUMNS))
    counters: pd.DataFrame = field(default_factory=lambda: empty_frame(COUNTER_COLUMNS))
    instants: pd.DataFrame = field(default_factory=lambda: empty_frame(INSTANT_COLUMNS))
    flows: pd.DataFrame = field(default_factory=lambda: empty_frame(FLOW_COLUMNS))
    samples: pd.DataFrame | None = None
    metadata: dict[str, Any] = field(default_factory=dict)

    def __repr__(self) -> str:
        fmt = self.metadata.get("format", "?")
        src = self.metadata.get("source", "?")
        return (f"<Trace {fmt} {src!s}: {len(self.events)} slices, "
                f"{len(self.threads)} threads, span {self.span_us:,.0f} "
                f"{display_unit(self.metadata.get('unit'))}>")

    # -- basic facts -----------------------------------------------------------------
    @property
    def format(self) -> str:
        """The detected format family (``metadata["format"]``)."""
        return str(self.metadata.get("format", "unknown"))

    @property
    def start_us(self) -> float:
        """Earliest slice start, µs (0.0 for an empty trace)."""
        return float(self.events["ts"].min()) if len(self.events) else 0.0

    @property
    def end_us(self) -> float:
        """Latest slice end, µs (0.0 for an empty trace)."""
        return float(self.events["end"].max()) if len(self.events) else 0.0

    @property
    def span_us(self) -> float:
        """Wall-clock span from the first slice start to the last slice end, µs."""
        return self.end_us - self.start_us

    @property
    def ranks(self) -> list[int]:
        """Distributed ranks present (``[0]`` or ``[]`` for single-process traces)."""
        return list(self.metadata.get("ranks", []))

    # -- analyses (each in its own module under traces/analysis) ----------------------
    def hotspots(self, n: int | None = 20, by: str = "self_dur", *,
                 kind: str | None = None) -> pd.DataFrame:
        """Top ``n`` slice names by ``by`` (``self_dur``, ``total_dur`` or ``count``):
        columns ``name, count, self_dur, total_dur, self_pct`` (µs, %); ``kind`` limits
        them to ``"cpu"`` threads, ``"gpu"`` streams (device work, never
        ``gpu_user_annotation`` ranges) or ``"js"`` (JavaScript functions of DevTools CPU
        samples). See
        :func:`jupyter_assistant.traces.analysis.hotspots`."""
        from .analysis.hotspots import hotspots

        return hotspots(self, n=n, by=by, kind=kind)

    def thread_utilization(self) -> pd.DataFrame:
        """Per-thread busy and idle time, busiest first; see
        :func:`jupyter_assistant.traces.analysis.threads.thread_utilization`."""
        from .analysis.threads import thread_utilization

        return thread_utilization(self)

    def idle_gaps(self, min_gap_us: float = 1000.0, n: int = 20) -> pd.DataFrame:
        """The longest idle gaps per thread; see
        :func:`jupyter_assistant.traces.analysis.threads.idle_gaps`."""
        from .analysis.threads import idle_gaps

        return idle_gaps(self, min_gap_us=min_gap_us, n=n)

    def long_slices(self, n: int = 20) -> pd.DataFrame:
        """The ``n`` longest slices; see
        :func:`jupyter_assistant.traces.analysis.threads.long_slices`."""
        from .analysis.threads import long_slices

        return long_slices(self, n=n)

    def temporal_breakdown(self, **kwargs: Any) -> pd.DataFrame:
        """HTA temporal breakdown per rank; see
        :func:`jupyter_assistant.traces.analysis.gpu.temporal_breakdown`."""
        from .analysis.gpu import temporal_breakdown

        return temporal_breakdown(self, **kwargs)

    def kernel_type_breakdown(self, **kwargs: Any) -> pd.DataFrame:
        """HTA kernel type breakdown (with overlaps); see
        :func:`jupyter_assistant.traces.analysis.gpu.kernel_type_breakdown`."""
        from .analysis.gpu import kernel_type_breakdown

        return kernel_type_breakdown(self, **kwargs)

    def kernel_breakdown(self, **kwargs: Any) -> pd.DataFrame:
        """HTA kernel breakdown; see
        :func:`jupyter_assistant.traces.analysis.gpu.kernel_breakdown`."""
        from .analysis.gpu import kernel_breakdown

        return kernel_breakdown(self, **kwargs)

    def diagnose(self) -> pd.DataFrame:
        """What bounds this trace, most important first: columns ``kind, severity,
        share, evidence, fix, source``; see
        :func:`jupyter_assistant.traces.diagnosis.diagnose`."""
        from .diagnosis import diagnose

        return diagnose(self)

    def gpu_utilization(self) -> pd.DataFrame:
        """Device busy time (union of kernel, memcpy and memset intervals, raw
        timestamps) per device; see
        :func:`jupyter_assistant.traces.analysis.gpu_util.gpu_utilization`."""
        from .analysis.gpu_util import gpu_utilization

        return gpu_utilization(self)

    def step_breakdown(self) -> pd.DataFrame:
        """One row per ``ProfilerStep#N`` with its GPU busy/idle time; see
        :func:`jupyter_assistant.traces.analysis.steps.step_breakdown` (and
        ``step_phases``, ``step_kernel_categories`` there)."""
        from .analysis.steps import step_breakdown

        return step_breakdown(self)

    def summary(self, max_tokens: int = 1500) -> Summary:
        """A markdown summary of the trace that fits ``max_tokens`` (estimated tokens).

        It is what the assistant's model reads first, and it displays as markdown in
        Jupyter: format and span, slice/thread/rank counts, the busiest threads, the top
        self-time hotspots with counts and %, GPU utilisation (HTA temporal breakdown) and
        kernel types where there is a GPU, and anomalies (thousands of short identical
        slices, long idle gaps, repaired B/E events). Less important sections shrink or
        go first when the budget is tight. Returns a
        :class:`~jupyter_assistant.traces.summary.Summary` (``.text``, ``.tokens``); see
        :func:`jupyter_assistant.traces.summary.summarize`. Raises ``ValueError`` if
        ``max_tokens < 1``."""
        from .summary import summarize

        return summarize(self, max_tokens=max_tokens)
