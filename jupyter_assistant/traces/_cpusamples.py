"""V8 CPU profiles (``nodes`` + ``samples`` + ``timeDeltas``) to slices.

Shared by the standalone ``.cpuprofile`` reader and the ``Profile``/``ProfileChunk`` events
of Chrome DevTools performance recordings. The format is the V8 inspector's ``Profile``
type (``js_protocol.json``: ``ProfileNode{id, callFrame, parent?, children?}``, ``samples``
node ids, ``timeDeltas`` in µs, the first relative to ``startTime``).

The conversion follows speedscope's ``importFromChromeCPUProfile``:

* a frame is named ``callFrame.functionName`` or ``"(anonymous)"``; its ``url``, 1-based
  ``line`` and ``column`` go to ``args``; frames are told apart by (name, url, line,
  column), so two anonymous functions in different files do not merge;
* ``(root)``, ``(idle)`` and ``native dummy.js`` frames are dropped (an idle sample is a gap);
* ``(program)`` and ``(garbage collector)`` samples sit on top of the previous sample's stack;
* sample ``i`` lasts until sample ``i + 1``; the last sample has no duration; negative time
  deltas are clamped (the clock never goes backwards);
* consecutive samples sharing a stack prefix become one slice
  (:func:`~jupyter_assistant.traces.slices_from_stacks`).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd

from ._slices import slices_from_stacks

__all__ = ["SAMPLE_COLUMNS", "cpu_profile_slices", "first_bad_time", "frame_key"]

#: Columns of :attr:`Trace.samples` for sampled CPU profiles.
SAMPLE_COLUMNS = {"pid": "int64", "tid": "int64", "ts": "float64", "weight": "float64",
                  "stack": "object"}

_IGNORED = ("(root)", "(idle)")
_ON_TOP = ("(program)", "(garbage collector)")

FrameKey = tuple[str, str, int, int]


def frame_key(call_frame: Any) -> FrameKey:
    """``(name, url, line, column)`` of a V8 ``callFrame`` (1-based line/column, 0 if absent)."""
    cf = call_frame if isinstance(call_frame, Mapping) else {}
    name = cf.get("functionName")
    name = name if isinstance(name, str) and name else "(anonymous)"
    url = cf.get("url")
    url = url if isinstance(url, str) else ""
    line, col = cf.get("lineNumber"), cf.get("columnNumber")
    line = line + 1 if isinstance(line, int) and line >= 0 else 0
    col = col + 1 if isinstance(col, int) and col >= 0 else 0
    return name, url, line, col


def first_bad_time(times: np.ndarray) -> int | None:
    """Index of the first sample time that is not finite or lies out of float range of the
    one before it (their gap overflows), ``None`` when all are usable."""
    with np.errstate(over="ignore", invalid="ignore"):
        ok = np.isfinite(times)
        ok[1:] &= np.isfinite(np.diff(times))
    bad = np.flatnonzero(~ok)
    return int(bad[0]) if bad.size else None


def _node_table(nodes: Sequence[Any]) -> tuple[dict[Any, Any], dict[Any, FrameKey]]:
    """Parent id and frame of every node; ``children`` lists override a missing ``parent``."""
    parent: dict[Any, Any] = {}
    frame: dict[Any, FrameKey] = {}
    for node in nodes:
        if not isinstance(node, Mapping) or "id" not in node:
            continue
        nid = node["id"]
        if isinstance(nid, (list, dict)):
            continue
        frame[nid] = frame_key(node.get("callFrame", node))
        if "parent" in node and not isinstance(node["parent"], (list, dict)):
            parent[nid] = node["parent"]
    for node in nodes:
        if isinstance(node, Mapping) and isinstance(node.get("children"), list) \
                and not isinstance(node.get("id"), (list, dict)):
            for child in node["children"]:
                if not isinstance(child, (list, dict)):
                    parent.setdefault(child, node.get("id"))
    return parent, frame


def _ignored(key: FrameKey) -> bool:
    return key[0] in _IGNORED or key[1] == "native dummy.js"


def cpu_profile_slices(
    nodes: Sequence[Any],
    samples: Sequence[Any],
    times: Sequence[float] | np.ndarray,
    *,
    pid: int,
    tid: int,
    cat: str = "cpu_sample",
) -> tuple[dict[str, list[Any]], pd.DataFrame]:
    """Slices and raw samples from a V8 CPU profile.

    ``times`` are the absolute sample times in µs (``startTime`` + cumulative
    ``timeDeltas``), one per sample. Returns slice columns ``name, cat, pid, tid, ts, dur,
    args`` (``args`` = ``{"url", "line", "column"}``) for
    :func:`~jupyter_assistant.traces.build_slice_table`, and a samples frame with
    :data:`SAMPLE_COLUMNS` (``stack`` is ``"root;...;leaf"``, ``weight`` the sample's µs).
    """
    parent, frame = _node_table(nodes)
    n = min(len(samples), len(times))
    t = np.maximum.accumulate(np.asarray(times[:n], dtype=np.float64)) if n else np.empty(0)
    memo: dict[Any, tuple[FrameKey, ...]] = {}

    def stack_of(nid: Any) -> tuple[FrameKey, ...]:
        if nid in memo:
            return memo[nid]
        path: list[FrameKey] = []
        cur, seen = nid, set()
        while cur in frame and cur not in seen:
            seen.add(cur)
            key = frame[cur]
            if _ignored(key):
                break
            path.append(key)
            cur = parent.get(cur)
        # a frame below an ignored one starts a fresh stack (speedscope stops there too)
        result = tuple(reversed(path))
        memo[nid] = result
        return result

    stacks: list[tuple[FrameKey, ...]] = []
    prev: tuple[FrameKey, ...] = ()
    for i in range(n):
        nid = samples[i]
        if isinstance(nid, (list, dict)):
            nid = None
        key = frame.get(nid)
        if key is not None and key[0] in _ON_TOP:
            st = prev if prev and prev[-1] == key else (*prev, key)
        else:
            st = stack_of(nid)
        stacks.append(st)
        prev = st
    weights = np.diff(t, append=t[-1]) if n else np.empty(0)
    labels = {k: "\x1f".join(map(str, k)) for st in set(stacks) for k in st}
    by_label = {v: k for k, v in labels.items()}
    cols = slices_from_stacks([[labels[k] for k in st] for st in stacks], weights.tolist(),
                              times=t.tolist())
    keys = [by_label[lab] for lab in cols["name"]]
    m = len(keys)
    out: dict[str, list[Any]] = {
        "name": [k[0] for k in keys],
        "cat": [cat] * m,
        "pid": [pid] * m,
        "tid": [tid] * m,
        "ts": cols["ts"],
        "dur": cols["dur"],
        "args": [{"url": k[1], "line": k[2], "column": k[3]} for k in keys],
    }
    samples_df = pd.DataFrame({
        "pid": np.full(n, pid, dtype=np.int64),
        "tid": np.full(n, tid, dtype=np.int64),
        "ts": t,
        "weight": weights,
        "stack": np.array([";".join(k[0] for k in st) for st in stacks], dtype=object),
    })
    return out, samples_df
