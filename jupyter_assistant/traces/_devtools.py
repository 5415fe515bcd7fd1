"""CPU samples inside Chrome traces: DevTools ``Profile``/``ProfileChunk`` events and the
Trace Event Format's own ``samples`` + ``stackFrames``.

DevTools performance recordings carry the V8 sampling profiler as trace events (as
speedscope's ``importFromChromeTimeline`` reads them): a ``Profile`` event (``args.data.
startTime``, µs) opens a profile with an ``id``; ``ProfileChunk`` events with the same
``pid`` and ``id`` add ``args.data.cpuProfile.nodes`` (new nodes; their parents may be in
earlier chunks), ``cpuProfile.samples`` (node ids) and ``args.data.timeDeltas`` (µs). Older
recordings have one ``CpuProfile`` event holding a whole profile. A chunk is often written
by the sampler thread, so the samples belong to the thread of the ``Profile`` event.

Sampled slices (``cat = "cpu_sample"``) go on that same thread, so JavaScript functions show
up in hotspots under the ``FunctionCall``/``EvaluateScript`` slices that ran them. Because a
sampled slice only ends at the next sample, it can overrun the traced slice that ran it; each
sampled slice is therefore clipped to end no later than the traced slice enclosing its start
and the next traced slice that starts after it, so traced slices never become children of
sampled ones (counted in ``metadata["cpu_profile"]["clipped"]``).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

import numpy as np
import pandas as pd

from ._cpusamples import cpu_profile_slices, first_bad_time
from ._flows import enclosing_in
from ._slices import _nest

__all__ = ["clip_to_traced", "profile_event_slices", "stack_frame_samples"]

Slices = dict[str, list[Any]]


def _data(args: Any) -> dict[str, Any]:
    data = args.get("data") if isinstance(args, Mapping) else None
    return data if isinstance(data, dict) else {}


def _dict(v: Any) -> dict[str, Any]:
    return v if isinstance(v, dict) else {}


def _list(v: Any) -> list[Any]:
    return v if isinstance(v, list) else []


def _times(start: float, deltas: list[Any]) -> np.ndarray:
    d = pd.to_numeric(pd.Series(deltas, dtype=object), errors="coerce").fillna(0.0)
    with np.errstate(over="ignore", invalid="ignore"):
        return start + np.cumsum(d.to_numpy(dtype=np.float64))


def profile_event_slices(profiles: list[tuple[Any, ...]], warn: Callable[[str], None]
                         ) -> tuple[list[Slices], list[pd.DataFrame]]:
    """Slice columns and raw samples for every profile in ``profiles`` (tuples ``(name, pid,
    tid, ts, id, args, index)`` of ``Profile``/``ProfileChunk``/``CpuProfile`` events)."""
    states: dict[Any, dict[str, Any]] = {}
    order: list[Any] = []
    for name, pid, tid, ts, ident, args, index in sorted(profiles, key=lambda p: p[3]):
        data = _data(args)
        key = (pid, str(ident)) if ident is not None else (pid, tid)
        if name == "CpuProfile":
            cp = _dict(data.get("cpuProfile"))
            start = cp.get("startTime", ts)
            states[key] = {"pid": pid, "tid": tid, "start": start if isinstance(
                start, (int, float)) else ts, "nodes": _list(cp.get("nodes")),
                "samples": _list(cp.get("samples")), "deltas": _list(cp.get("timeDeltas"))}
            order.append(key)
        elif name == "Profile":
            start = data.get("startTime", ts)
            states[key] = {"pid": pid, "tid": tid, "start": start if isinstance(
                start, (int, float)) else ts, "nodes": [], "samples": [], "deltas": []}
            order.append(key)
        else:
            st = states.get(key)
            if st is None:
                warn(f"traceEvents[{index}]: ProfileChunk for an unknown Profile "
                     f"{key[1]!r}; ignored")
                continue
            cp = _dict(data.get("cpuProfile"))
            st["nodes"].extend(_list(cp.get("nodes")))
            st["samples"].extend(_list(cp.get("samples")))
            st["deltas"].extend(_list(data.get("timeDeltas")))
    slices: list[Slices] = []
    samples: list[pd.DataFrame] = []
    for key in dict.fromkeys(order):
        st = states[key]
        if len(st["samples"]) != len(st["deltas"]):
            warn(f"CPU profile {key[1]!r}: {len(st['samples'])} samples but "
                 f"{len(st['deltas'])} time deltas; the extra ones are ignored")
        times = _times(float(st["start"]), st["deltas"])
        bad = first_bad_time(times)
        if bad is not None:
            warn(f"CPU profile {key[1]!r}: sample time {bad} is out of range (the times "
                 f"overflow a float); the {len(times) - bad} samples from there are ignored")
            times = times[:bad]
        cols, raw = cpu_profile_slices(st["nodes"], st["samples"], times, pid=st["pid"],
                                       tid=st["tid"])
        slices.append(cols)
        samples.append(raw)
    return slices, samples


def clip_to_traced(cols: Slices, traced_ts: np.ndarray, traced_end: np.ndarray) -> int:
    """Clip sampled slices ``cols`` (one thread) against that thread's traced slices (see
    the module docstring); edits ``cols["dur"]`` in place, returns how many were shortened."""
    if not cols["ts"] or not len(traced_ts):
        return 0
    order = np.lexsort((-(traced_end - traced_ts), traced_ts))
    t, e = traced_ts[order], traced_end[order]
    first = np.zeros(len(t), dtype=bool)
    first[0] = True
    parent, _ = _nest(t, e, first)
    s = np.asarray(cols["ts"], dtype=np.float64)
    end = s + np.asarray(cols["dur"], dtype=np.float64)
    inside = enclosing_in(t, e, parent, 0, len(t), s)
    bound = np.where(inside >= 0, e[np.maximum(inside, 0)], np.inf)
    nxt = np.searchsorted(t, s, side="right")
    bound = np.minimum(bound, np.where(nxt < len(t), t[np.minimum(nxt, len(t) - 1)], np.inf))
    clipped = end > bound
    cols["dur"] = np.where(clipped, bound - s, end - s).tolist()
    return int(clipped.sum())


def stack_frame_samples(header: dict[str, Any], pid_of: Callable[[Any], int],
                        tid_of: Callable[[Any], int]) -> tuple[list[Slices], list[pd.DataFrame]]:
    """Slices from the top-level ``samples`` + ``stackFrames`` of the JSON object form (spec,
    "Stack Frames" / "Samples"): per thread, a sample lasts until the thread's next one."""
    frames = header.get("stackFrames")
    raw = header.get("samples")
    if not isinstance(frames, dict) or not isinstance(raw, list) or not raw:
        return [], []
    nodes = [{"id": str(k), "parent": str(v["parent"]) if "parent" in v else None,
              "callFrame": {"functionName": str(v.get("name", ""))}}
             for k, v in frames.items() if isinstance(v, dict)]
    by_thread: dict[tuple[int, int], list[tuple[float, str]]] = {}
    for s in raw:
        if not isinstance(s, dict):
            continue
        try:
            ts = float(s.get("ts"))  # type: ignore[arg-type]
        except (TypeError, ValueError):
            continue
        if not -1e300 < ts < 1e300:  # also NaN; keeps every gap between samples finite
            continue
        key = (pid_of(s.get("pid")), tid_of(s.get("tid")))
        by_thread.setdefault(key, []).append((ts, str(s.get("sf"))))
    slices, samples = [], []
    for (pid, tid), items in sorted(by_thread.items()):
        items.sort(key=lambda x: x[0])
        cols, df = cpu_profile_slices(nodes, [sf for _, sf in items],
                                      np.array([t for t, _ in items]), pid=pid, tid=tid)
        slices.append(cols)
        samples.append(df)
    return slices, samples
