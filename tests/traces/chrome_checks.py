"""Helpers for the Chrome / DevTools / Kineto importer tests."""

from __future__ import annotations

import functools
import gzip
from pathlib import Path
from typing import Any

import numpy as np
import orjson
import pandas as pd

from jupyter_assistant import Trace

CORE = ["name", "cat", "pid", "tid", "ts", "dur", "end", "depth", "parent", "self_dur"]
DATA = Path(__file__).resolve().parents[1] / "data"


@functools.lru_cache(maxsize=4)
def raw_events(path: Path) -> list[dict[str, Any]]:
    """The ``traceEvents`` of a trace file, read with gzip + a plain JSON parse."""
    data = path.read_bytes()
    if data[:2] == b"\x1f\x8b":
        data = gzip.decompress(data)
    doc = orjson.loads(data)
    return doc if isinstance(doc, list) else doc["traceEvents"]


def check_table(trace: Trace) -> None:
    """Slice-table invariants that hold for any Chrome input, well nested or not: a parent
    is on the same thread, starts first and is still open when its child starts."""
    ev = trace.events
    assert list(ev.columns[: len(CORE)]) == CORE
    assert isinstance(ev.index, pd.RangeIndex) and ev.index.start == 0
    ts, dur, end = (ev[c].to_numpy() for c in ("ts", "dur", "end"))
    self_dur, parent, depth = (ev[c].to_numpy() for c in ("self_dur", "parent", "depth"))
    assert np.isfinite(ts).all() and np.isfinite(dur).all()
    assert (end == ts + dur).all()
    assert (dur >= 0).all() and (self_dur >= 0).all() and (self_dur <= dur).all()
    top = parent < 0
    assert (parent[top] == -1).all() and (depth[top] == 0).all()
    rows = np.flatnonzero(~top)
    par = parent[rows]
    assert (par < rows).all()
    for col in ("pid", "tid"):
        v = ev[col].to_numpy()
        assert (v[par] == v[rows]).all()
    assert (ts[par] <= ts[rows]).all()
    assert ((end[par] > ts[rows]) | (ts[par] == ts[rows])).all(), "parent open at child start"
    assert (depth[rows] == depth[par] + 1).all()
    covered = np.minimum(end[rows], end[par]) - ts[rows]
    child_time = np.bincount(par, weights=covered, minlength=len(ev))
    assert np.allclose(self_dur, np.maximum(dur - child_time, 0), atol=1e-6)
    threads = set(zip(trace.threads["pid"], trace.threads["tid"], strict=True))
    assert set(zip(ev["pid"], ev["tid"], strict=True)) <= threads
    assert trace.threads["thread_name"].notna().all()
    if len(trace.flows):
        sl = trace.flows["slice"].to_numpy()
        assert ((sl >= -1) & (sl < len(ev))).all()


def nested_well(trace: Trace) -> bool:
    """True when every child ends inside its parent."""
    ev = trace.events
    par = ev["parent"].to_numpy()
    rows = np.flatnonzero(par >= 0)
    end = ev["end"].to_numpy()
    return bool((end[rows] <= end[par[rows]]).all())
