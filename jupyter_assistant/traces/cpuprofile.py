"""Read V8 / Chrome DevTools ``.cpuprofile`` files (Chrome, Node ``--cpu-prof``, ``--inspect``).

Two layouts exist (speedscope reads both, ``chrome.ts`` and ``v8cpuFormatter.ts``):

* current: ``{"nodes": [{"id", "callFrame", "children"?, "parent"?}], "startTime",
  "endTime", "samples": [node id], "timeDeltas": [µs]}``; times in µs, the first delta
  relative to ``startTime``;
* old (Node <= 10): ``{"head": {"functionName", "url", "lineNumber", "id", "children":
  [nested nodes]}, "startTime", "endTime" (both in **seconds**), "samples",
  "timestamps": [µs]}``.

The samples become slices as described in :mod:`jupyter_assistant.traces._cpusamples`, on
one thread (``pid = tid = 0``, named ``"CPU profile"``); the raw samples are in
:attr:`Trace.samples`.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import orjson
import pandas as pd

from ..exceptions import TraceFormatError
from ._cpusamples import cpu_profile_slices, first_bad_time
from ._jsonchunks import json_position
from ._model import THREAD_COLUMNS, Trace
from ._slices import build_slice_table

__all__ = ["read_cpuprofile"]


def _flatten_head(head: dict[str, Any]) -> list[dict[str, Any]]:
    """Nodes of the old nested ``head`` tree in the current layout (iterative, no recursion)."""
    nodes: list[dict[str, Any]] = []
    todo: list[tuple[Any, Any]] = [(head, None)]
    while todo:
        node, parent = todo.pop()
        if not isinstance(node, dict):
            continue
        call_frame = node.get("callFrame", node)
        nodes.append({"id": node.get("id"), "parent": parent, "callFrame": call_frame})
        kids = node.get("children")
        if isinstance(kids, list):
            todo.extend((k, node.get("id")) for k in reversed(kids))
    return nodes


def _numbers(values: Any, what: str, source: str) -> np.ndarray:
    if not isinstance(values, list):
        raise TraceFormatError(source, what, f"'{what}' must be a list of numbers")
    s = pd.to_numeric(pd.Series(values, dtype=object), errors="coerce")
    bad = np.flatnonzero(s.isna().to_numpy())
    if bad.size:
        k = int(bad[0])
        raise TraceFormatError(source, f"{what}[{k}]", f"{values[k]!r} is not a number")
    return s.to_numpy(dtype=np.float64)


def read_cpuprofile(data: bytes, source: str) -> Trace:
    """Read a ``.cpuprofile`` (either layout, see the module docstring) into a
    :class:`~jupyter_assistant.traces.Trace` with ``metadata["format"] == "cpuprofile"``.

    Raises :class:`~jupyter_assistant.exceptions.TraceFormatError` for invalid JSON (with its
    line/column) or a document without ``nodes``/``head`` and ``samples``.
    """
    try:
        doc = orjson.loads(data)
    except orjson.JSONDecodeError as exc:
        raise TraceFormatError(source, json_position(data, exc.pos),
                               f"invalid JSON: {exc.msg}") from None
    if not isinstance(doc, dict):
        raise TraceFormatError(source, "top level",
                               f"a .cpuprofile is a JSON object, not a {type(doc).__name__}")
    samples = doc.get("samples")
    if not isinstance(samples, list):
        raise TraceFormatError(source, "samples", "no 'samples' list of node ids")
    start = doc.get("startTime", 0)
    start = float(start) if isinstance(start, (int, float)) and not isinstance(start, bool) \
        else 0.0
    if isinstance(doc.get("head"), dict):
        nodes = _flatten_head(doc["head"])
        times = _numbers(doc.get("timestamps"), "timestamps", source)
        layout = "head/timestamps (old V8)"
    elif isinstance(doc.get("nodes"), list):
        nodes = doc["nodes"]
        with np.errstate(over="ignore", invalid="ignore"):
            times = start + np.cumsum(_numbers(doc.get("timeDeltas"), "timeDeltas", source))
        layout = "nodes/timeDeltas"
    else:
        raise TraceFormatError(source, "top level", "neither 'nodes' nor 'head': not a V8 "
                               "CPU profile")
    bad = first_bad_time(times)
    if bad is not None:
        what = "timestamps" if layout.startswith("head") else "timeDeltas"
        raise TraceFormatError(source, f"{what}[{bad}]", "sample time out of range "
                               "(the times overflow a float)")
    warnings = []
    if len(times) != len(samples):
        warnings.append(f"{len(samples)} samples but {len(times)} times; the extra ones "
                        "are ignored")
    cols, raw = cpu_profile_slices(nodes, samples, times, pid=0, tid=0)
    events = build_slice_table(cols)
    threads = pd.DataFrame([{"pid": 0, "tid": 0, "rank": 0, "process_name": "CPU profile",
                             "thread_name": "CPU profile", "sort_index": np.nan,
                             "kind": "cpu"}]).astype(THREAD_COLUMNS)
    return Trace(events=events, threads=threads, samples=raw, metadata={
        "format": "cpuprofile", "source": source, "layout": layout,
        "display_time_unit": None, "repaired": 0, "warnings": warnings,
        "sample_count": len(samples),
        "interval_us": float(np.median(np.diff(times))) if len(times) > 1 else None,
    })
