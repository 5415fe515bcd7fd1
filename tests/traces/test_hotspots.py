"""Hotspots: self time equals the PyTorch profiler's own ``key_averages()``, recursion is
counted once in ``total_dur``, and the ranking options work."""

from __future__ import annotations

import csv
import re
from collections.abc import Callable
from pathlib import Path
from types import ModuleType

import numpy as np
import pandas as pd
import pytest

from jupyter_assistant import InputError, Trace, load_trace
from jupyter_assistant.traces import build_slice_table
from jupyter_assistant.traces.analysis import hotspots
from jupyter_assistant.traces.analysis.hotspots import HOTSPOT_COLUMNS

DATA = Path(__file__).resolve().parents[1] / "data"
TRACE = DATA / "torch_cpu_trace.json.gz"
KEY_AVERAGES = DATA / "torch_cpu_key_averages.csv"
_STEP = re.compile(r"^ProfilerStep#\d+$")


def _by_profiler_key(table: pd.DataFrame) -> pd.DataFrame:
    """Our hotspots keyed the way ``key_averages()`` keys ops: it folds every
    ``ProfilerStep#N`` into one key ``ProfilerStep*``."""
    keyed = table.assign(key=table["name"].where(~table["name"].str.match(_STEP),
                                                 "ProfilerStep*"))
    return keyed.groupby("key")[["count", "self_dur", "total_dur"]].sum()


def _merged_duplicates(trace: Trace) -> pd.Series:
    """Per name, the slices that ``key_averages()`` does not count on its own: torch's
    ``EventList._remove_dup_nodes`` merges an op into its parent when it is the parent's
    only child and has the same name (e.g. ``aten::sum`` calling ``aten::sum``); the self
    times add up the same, only the count differs."""
    ev = trace.events
    parent = ev["parent"].to_numpy()
    has = parent >= 0
    names = ev["name"].astype(str).to_numpy()
    children = np.bincount(parent[has], minlength=len(ev))
    dup = np.zeros(len(ev), dtype=bool)
    dup[has] = (names[has] == names[parent[has]]) & (children[parent[has]] == 1)
    return pd.Series(names[dup]).value_counts()


def _assert_matches_key_averages(trace: Trace, rows: list[dict[str, str]]) -> int:
    ours = _by_profiler_key(trace.hotspots(n=None))
    merged = _merged_duplicates(trace)
    checked = 0
    for row in rows:
        key = row["key"]
        assert key in ours.index, f"{key} missing from hotspots"
        got = ours.loc[key]
        assert int(got["count"]) - int(merged.get(key, 0)) == int(row["count"]), key
        expected = float(row["self_cpu_time_total"])
        # key_averages sums ns-precision durations and prints µs with 3 decimals; the
        # trace stores the same events with ns precision, so 1% is a wide margin
        assert got["self_dur"] == pytest.approx(expected, rel=0.01, abs=0.005), key
        assert got["total_dur"] == pytest.approx(float(row["cpu_time_total"]), rel=0.01,
                                                 abs=0.005), key
        checked += 1
    return checked


def test_self_time_equals_recorded_key_averages() -> None:
    trace = load_trace(TRACE)
    with KEY_AVERAGES.open() as fh:
        rows = list(csv.DictReader(fh))
    assert len(rows) > 30
    assert _assert_matches_key_averages(trace, rows) == len(rows)
    # the one name we have and key_averages has not: the profiler's own recording span
    # (cat "Trace", "PyTorch Profiler (0)") is not an op; hotspots leave it out
    names = set(trace.hotspots(n=None)["name"])
    assert not any(n.startswith("PyTorch Profiler") for n in names)
    assert (trace.events["cat"] == "Trace").sum() == 1


def test_self_time_equals_live_key_averages(tmp_path: Path, torch: ModuleType) -> None:
    from torch.profiler import ProfilerActivity, profile, record_function

    torch.manual_seed(0)
    model = torch.nn.Sequential(torch.nn.Linear(64, 128), torch.nn.ReLU(),
                                torch.nn.Linear(128, 8))
    x = torch.randn(32, 64)
    with profile(activities=[ProfilerActivity.CPU], record_shapes=False) as prof:
        for _ in range(3):
            with record_function("step"):
                model(x).sum().backward()
    path = tmp_path / "live.json"
    prof.export_chrome_trace(str(path))
    rows = [{"key": a.key, "count": str(a.count),
             "self_cpu_time_total": str(a.self_cpu_time_total),
             "cpu_time_total": str(a.cpu_time_total)} for a in prof.key_averages()]
    assert _assert_matches_key_averages(load_trace(path), rows) == len(rows) > 5


def _trace(rows: list[tuple[str, int, float, float]]) -> Trace:
    """Slices ``(name, tid, ts, dur)`` on pid 1."""
    cols = {"name": [r[0] for r in rows], "cat": ["" for _ in rows],
            "pid": [1 for _ in rows], "tid": [r[1] for r in rows],
            "ts": [r[2] for r in rows], "dur": [r[3] for r in rows]}
    return Trace(events=build_slice_table(cols), metadata={"format": "chrome"})


def test_recursion_counted_once_in_total() -> None:
    trace = _trace([
        ("fib", 1, 0, 100), ("fib", 1, 10, 50), ("fib", 1, 20, 10), ("add", 1, 60, 5),
        ("fib", 2, 0, 30),  # another thread: its own outermost frame
    ])
    hs = hotspots(trace, n=None).set_index("name")
    assert hs.loc["fib", "count"] == 4
    assert hs.loc["fib", "total_dur"] == 130.0          # 100 + 30, not 100+50+10+30
    assert hs.loc["fib", "self_dur"] == 50 + 40 + 10 + 30 - 5   # add runs inside the outer fib
    assert hs.loc["add", "self_dur"] == hs.loc["add", "total_dur"] == 5.0
    assert hs["self_pct"].sum() == pytest.approx(100.0)
    assert hs["self_dur"].sum() == trace.events["self_dur"].sum()


def test_ranking_options_and_columns() -> None:
    trace = _trace([("a", 1, 0, 100), ("b", 1, 0, 10), ("b", 1, 20, 10), ("b", 1, 40, 10),
                    ("c", 1, 200, 50)])
    by_self = hotspots(trace)
    assert list(by_self.columns) == list(HOTSPOT_COLUMNS)
    assert by_self.dtypes.astype(str).tolist() == ["object", "int64", "float64", "float64",
                                                   "float64"]
    assert by_self["name"].tolist() == ["a", "c", "b"]   # a: 100 - 30 = 70 self
    assert hotspots(trace, by="total_dur")["name"].tolist() == ["a", "c", "b"]
    assert hotspots(trace, by="count")["name"].tolist() == ["b", "a", "c"]
    assert len(hotspots(trace, n=2)) == 2
    with pytest.raises(InputError, match="by must be one of"):
        hotspots(trace, by="dur")
    with pytest.raises(InputError, match="kind must be one of"):
        hotspots(trace, kind="tpu")


def test_empty_trace() -> None:
    empty = hotspots(_trace([]))
    assert empty.empty and list(empty.columns) == list(HOTSPOT_COLUMNS)


def test_kineto_cpu_and_gpu_kinds(load_shared: Callable[[str], Trace]) -> None:
    trace = load_shared("hta/trace_diff/control")
    cpu = trace.hotspots(n=None, kind="cpu")
    gpu = trace.hotspots(n=None, kind="gpu")
    assert "cudaLaunchKernel" in set(cpu["name"]) and "cudaLaunchKernel" not in set(gpu["name"])
    kernels = trace.events[trace.events["cat"].isin(["kernel", "gpu_memcpy", "gpu_memset"])]
    assert gpu["count"].sum() >= len(kernels)
    # every slice is in exactly one of the kinds, and the total self time adds up
    everything = trace.hotspots(n=None)
    assert np.isclose(cpu["self_dur"].sum() + gpu["self_dur"].sum()
                      + trace.hotspots(n=None, kind="other")["self_dur"].sum(),
                      everything["self_dur"].sum())
    top = everything.iloc[0]
    assert top["self_dur"] == everything["self_dur"].max()


def test_row_order_does_not_matter() -> None:
    trace = _trace([("fib", 1, 0, 100), ("fib", 1, 10, 50), ("x", 2, 0, 7), ("fib", 1, 20, 10),
                    ("fib", 2, 10, 30), ("x", 1, 60, 5)])
    shuffled = Trace(events=trace.events.sample(frac=1.0, random_state=3)
                     .reset_index(drop=True), metadata=trace.metadata)
    pd.testing.assert_frame_equal(hotspots(trace, n=None), hotspots(shuffled, n=None))


def test_dropping_rows_by_mask_equals_removing_them(load_shared: Callable[[str], Trace]) -> None:
    from jupyter_assistant.traces.analysis.hotspots import name_stats, profiler_span

    trace = load_shared("hta/trace_diff/control")
    ev = trace.events
    span = profiler_span(trace)
    assert span is not None and span.sum() == 1
    # the profiler's span, and random rows (some sharing names with kept rows, some whole
    # subtrees' parents): exactly the stats of the table without them
    rng = np.random.default_rng(7)
    for drop in (span, rng.random(len(ev)) < 0.2, np.zeros(len(ev), dtype=bool)):
        got = name_stats(ev, drop=drop).sort_index()
        expected = name_stats(ev.loc[~drop]).sort_index()
        pd.testing.assert_frame_equal(got, expected, check_exact=True)
    assert "PyTorch Profiler (0)" not in name_stats(ev, drop=span).index
    assert hotspots(trace, n=None)["name"].tolist() == hotspots(
        Trace(events=ev.loc[~span].reset_index(drop=True), metadata={}), n=None)["name"].tolist()
