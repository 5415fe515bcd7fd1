"""Per-thread busy/idle time, idle gaps and the longest slices."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pytest

from jupyter_assistant import Trace
from jupyter_assistant.traces import build_slice_table
from jupyter_assistant.traces.analysis import idle_gaps, long_slices, thread_utilization


def _trace() -> Trace:
    rows = [  # (name, tid, ts, dur)
        ("main", 1, 0, 10), ("child", 1, 2, 3),   # busy [0, 10)
        ("io", 1, 40, 20),                         # gap 30 µs, busy [40, 60)
        ("late", 1, 100, 5),                       # gap 40 µs
        ("w", 2, 0, 90), ("x", 2, 50, 50),         # x starts inside w: nested, so busy [0, 90)
    ]
    cols = {"name": [r[0] for r in rows], "cat": ["" for _ in rows], "pid": [7] * len(rows),
            "tid": [r[1] for r in rows], "ts": [float(r[2]) for r in rows],
            "dur": [float(r[3]) for r in rows]}
    return Trace(events=build_slice_table(cols), metadata={"format": "chrome"})


def test_thread_utilization_by_hand() -> None:
    util = thread_utilization(_trace())
    assert util["tid"].tolist() == [2, 1]                       # busiest first
    t1 = util[util["tid"] == 1].iloc[0]
    assert (t1["first_ts"], t1["last_end"], t1["span_us"]) == (0.0, 105.0, 105.0)
    assert t1["busy_us"] == 10 + 20 + 5 and t1["idle_us"] == 105 - 35
    assert t1["busy_pct"] == pytest.approx(100 * 35 / 105)
    assert t1["slices"] == 4 and t1["kind"] == "cpu" and t1["thread_name"] == "tid 1"
    t2 = util[util["tid"] == 2].iloc[0]
    assert t2["busy_us"] == 90.0 and t2["span_us"] == 100.0   # x's tail past w is not top level


def test_idle_gaps_by_hand() -> None:
    gaps = idle_gaps(_trace(), min_gap_us=0, n=None)
    assert gaps["gap_us"].tolist() == [40.0, 30.0]
    first = gaps.iloc[0]
    assert (first["gap_start"], first["gap_end"], first["before"], first["after"]) == (
        60.0, 100.0, "io", "late")
    assert gaps.iloc[1]["before"] == "main" and gaps.iloc[1]["after"] == "io"
    assert idle_gaps(_trace(), min_gap_us=35)["gap_us"].tolist() == [40.0]
    assert len(idle_gaps(_trace(), min_gap_us=0, n=1)) == 1


def test_long_slices_by_hand() -> None:
    trace = _trace()
    top = long_slices(trace, n=3)
    assert top["name"].tolist() == ["w", "x", "io"]
    assert top["dur"].tolist() == [90.0, 50.0, 20.0]
    ev = trace.events
    assert ev.loc[top["row"], "name"].astype(str).tolist() == top["name"].tolist()
    assert len(long_slices(trace, n=None)) == len(ev)


def test_real_kineto_trace(load_shared: Callable[[str], Trace]) -> None:
    trace = load_shared("hta/trace_filter")
    util = thread_utilization(trace)
    assert set(util["rank"]) == {0, 1}
    assert set(util["kind"]) == {"cpu", "gpu"}             # the profiler span is left out
    assert (util["busy_us"] <= util["span_us"] + 1e-6).all()
    assert np.allclose(util["busy_us"] + util["idle_us"], util["span_us"])
    assert util["busy_us"].is_monotonic_decreasing
    # a GPU stream's busy time is the union of its kernels (they do not overlap)
    gpu = util[util["kind"] == "gpu"].iloc[0]
    ev = trace.events
    rows = ev[(ev["rank"] == gpu["rank"]) & (ev["pid"] == gpu["pid"]) & (ev["tid"] == gpu["tid"])]
    assert gpu["busy_us"] == pytest.approx(rows.loc[rows["depth"] == 0, "dur"].sum())
    assert gpu["slices"] == len(rows)
    gaps = idle_gaps(trace, min_gap_us=1000, n=5)
    assert len(gaps) == 5 and gaps["gap_us"].is_monotonic_decreasing
    assert (gaps["gap_us"] >= 1000).all()
    longest = long_slices(trace, n=5)
    assert longest["dur"].iloc[0] == ev.loc[ev["cat"] != "Trace", "dur"].max()
