"""compare_traces: per-name deltas between two traces."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pandas as pd
import pytest

import jupyter_assistant
from jupyter_assistant import Trace
from jupyter_assistant.traces.analysis import compare_traces
from jupyter_assistant.traces.analysis.compare import COMPARE_COLUMNS


def _hot(t: Trace) -> pd.DataFrame:
    """``hotspots`` with the ``ProfilerStep#N`` rows summed into ``ProfilerStep*``."""
    h = t.hotspots(n=None)
    h["name"] = h["name"].str.replace(r"^ProfilerStep#\d+$", "ProfilerStep*", regex=True)
    return h.groupby("name")[["count", "self_dur", "total_dur"]].sum()


def _check_against_hotspots(a: Trace, b: Trace, diff: pd.DataFrame) -> None:
    ha = _hot(a)
    hb = _hot(b)
    assert set(diff["name"]) == set(ha.index) | set(hb.index)
    for row in diff.itertuples(index=False):
        in_a, in_b = row.name in ha.index, row.name in hb.index
        assert row.count_a == (ha.loc[row.name, "count"] if in_a else 0)
        assert row.count_b == (hb.loc[row.name, "count"] if in_b else 0)
        assert row.self_dur_a == pytest.approx(ha.loc[row.name, "self_dur"] if in_a else 0.0)
        assert row.self_dur_b == pytest.approx(hb.loc[row.name, "self_dur"] if in_b else 0.0)
        assert row.total_dur_b == pytest.approx(hb.loc[row.name, "total_dur"] if in_b
                                                else 0.0)
        assert row.delta_us == pytest.approx(row.self_dur_b - row.self_dur_a)
        if row.self_dur_a > 0:
            assert row.delta_pct == pytest.approx(100 * row.delta_us / row.self_dur_a)
        else:
            assert np.isnan(row.delta_pct)
    deltas = diff["delta_us"].abs().to_numpy()
    assert (deltas[:-1] >= deltas[1:]).all()


@pytest.mark.parametrize("pair", [("hta/trace_compare/base", "hta/trace_compare/test"),
                                  ("hta/trace_diff/control", "hta/trace_diff/test")])
def test_compare_real_pairs(pair: tuple[str, str],
                            load_shared: Callable[[str], Trace]) -> None:
    a, b = (load_shared(p) for p in pair)
    diff = compare_traces(a, b)
    assert list(diff.columns) == list(COMPARE_COLUMNS)
    assert diff.dtypes.astype(str).tolist() == list(COMPARE_COLUMNS.values())
    _check_against_hotspots(a, b, diff)
    assert len(compare_traces(a, b, n=5)) == 5
    assert compare_traces(a, b, n=5)["name"].tolist() == diff["name"].head(5).tolist()


def test_compare_base_vs_test_by_name(load_shared: Callable[[str], Trace]) -> None:
    a = load_shared("hta/trace_compare/base")
    b = load_shared("hta/trace_compare/test")
    diff = compare_traces(a, b).set_index("name")
    # "test" adds ops that "base" lacks (All2All_Pooled_Req, AddmmBackward0, ...)
    new = diff[(diff["count_a"] == 0) & (diff["count_b"] > 0)]
    assert {"All2All_Pooled_Req", "AddmmBackward0"} <= set(new.index)
    assert new["delta_pct"].isna().all()
    assert (new["delta_us"] == new["self_dur_b"]).all()
    assert diff.index[0] == "All2All_Pooled_Req"            # the largest |delta|
    assert diff.loc["nccl:all_reduce", "count_a"] == 2 and diff.loc[
        "nccl:all_reduce", "count_b"] == 1
    # seen the other way round, those ops vanished: -100%
    back = compare_traces(b, a).set_index("name")
    assert (back.loc[new.index, "delta_pct"] == -100.0).all()


def test_same_trace_has_no_delta(load_shared: Callable[[str], Trace]) -> None:
    a = load_shared("hta/trace_diff/control")
    diff = jupyter_assistant.compare_traces(a, a)
    assert (diff["delta_us"] == 0).all() and (diff["delta_pct"].fillna(0) == 0).all()
    assert (diff["count_a"] == diff["count_b"]).all()
