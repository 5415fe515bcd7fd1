"""Shared checks for the speedscope / folded / cProfile importer tests."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from jupyter_assistant import Trace

#: ../shared/traces beside the repository (CI clones the repo with shared/ next to it).
SHARED = Path(__file__).resolve().parents[3] / "shared" / "traces"
assert SHARED.is_dir(), f"shared trace data not found at {SHARED} (clone shared/ beside the repo)"
#: Profiles recorded here by tests/data/record_profiles.py.
DATA = Path(__file__).resolve().parents[1] / "data"

CORE = ["name", "cat", "pid", "tid", "ts", "dur", "end", "depth", "parent", "self_dur"]


def check_invariants(trace: Trace) -> None:
    """The slice-table invariants every importer must keep (DESIGN.md, Trace.events)."""
    ev = trace.events
    assert list(ev.columns[: len(CORE)]) == CORE
    assert ev.index.equals(__import__("pandas").RangeIndex(len(ev)))
    ts = ev["ts"].to_numpy()
    dur = ev["dur"].to_numpy()
    end = ev["end"].to_numpy()
    self_dur = ev["self_dur"].to_numpy()
    parent = ev["parent"].to_numpy()
    depth = ev["depth"].to_numpy()
    assert np.isfinite(ts).all() and np.isfinite(dur).all()
    assert (end == ts + dur).all(), "end must be exactly ts + dur"
    assert (dur >= 0).all()
    assert (self_dur >= 0).all()
    assert (self_dur <= dur).all()
    top = parent < 0
    assert (parent[top] == -1).all()
    assert (depth[top] == 0).all()
    rows = np.flatnonzero(~top)
    par = parent[rows]
    assert (par < rows).all(), "a parent precedes its children"
    for col in ("pid", "tid"):
        values = ev[col].to_numpy()
        assert (values[par] == values[rows]).all(), f"parent on another {col}"
    assert (ts[par] <= ts[rows]).all() and (end[rows] <= end[par]).all(), \
        "a parent encloses its children"
    assert (depth[rows] == depth[par] + 1).all()
    # self time = dur - time of direct children (nothing overlaps in these importers)
    child_time = np.bincount(par, weights=dur[rows], minlength=len(ev))
    assert np.allclose(self_dur, dur - child_time, rtol=1e-9, atol=1e-6)
    # every slice's thread is named
    threads = set(zip(trace.threads["pid"], trace.threads["tid"], strict=True))
    assert set(zip(ev["pid"], ev["tid"], strict=True)) <= threads
