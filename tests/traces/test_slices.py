"""The slice-table builder: nesting, self time, and sampled stacks -> slices."""

from __future__ import annotations

import types

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from jupyter_assistant.traces import build_slice_table, slices_from_stacks


def _cols(rows: list[tuple[str, int, float, float]]) -> dict[str, list]:
    return {"name": [r[0] for r in rows], "cat": ["c"] * len(rows), "pid": [1] * len(rows),
            "tid": [r[1] for r in rows], "ts": [r[2] for r in rows],
            "dur": [r[3] for r in rows]}


def test_nesting_and_self_time_on_two_threads() -> None:
    df = build_slice_table(_cols([
        ("b", 1, 10.0, 20.0),   # child of a
        ("a", 1, 0.0, 100.0),
        ("c", 1, 15.0, 5.0),    # child of b
        ("d", 1, 50.0, 10.0),   # child of a
        ("x", 2, 0.0, 7.0),     # other thread, top level
        ("e", 1, 100.0, 1.0),   # starts exactly where a ends: a sibling
    ]))
    by = {r.name: r for r in df.itertuples()}
    assert list(df.columns[:10]) == ["name", "cat", "pid", "tid", "ts", "dur", "end", "depth",
                                     "parent", "self_dur"]
    assert df.loc[by["b"].parent, "name"] == "a" and by["b"].depth == 1
    assert df.loc[by["c"].parent, "name"] == "b" and by["c"].depth == 2
    assert by["e"].parent == -1 and by["x"].parent == -1
    assert by["a"].self_dur == 100 - 20 - 10
    assert by["b"].self_dur == 15
    assert by["c"].end == 20.0
    assert str(df["name"].dtype) == "category"


def test_overlapping_child_never_makes_negative_self_time() -> None:
    df = build_slice_table(_cols([("p", 1, 0.0, 10.0), ("q", 1, 5.0, 20.0)]))
    p = df[df.name == "p"].iloc[0]
    assert p.self_dur == 5.0
    assert (df.self_dur >= 0).all()


def test_empty_and_extra_columns_kept() -> None:
    empty = build_slice_table(_cols([]))
    assert len(empty) == 0 and "self_dur" in empty
    cols = _cols([("a", 1, 0.0, 1.0)])
    cols["correlation"] = [7]
    assert build_slice_table(cols)["correlation"].tolist() == [7]


def test_consume_empties_the_input_and_gives_the_same_table() -> None:
    rows = [("b", 1, 10.0, 20.0), ("a", 1, 0.0, 100.0), ("x", 2, 0.0, 7.0)]
    cols = {**_cols(rows), "correlation": np.array([3, 2, 1]),
            "args": [{"k": 1}, None, {"k": 3}]}
    kept = build_slice_table(dict(cols))
    owned = dict(cols)
    got = build_slice_table(owned, consume=True)
    assert owned == {}
    assert got.equals(kept)
    assert got.loc[got["name"] == "b", "args"].item() == {"k": 1}
    with pytest.raises(TypeError, match="dict"):
        build_slice_table(types.MappingProxyType(cols), consume=True)


@st.composite
def nested_intervals(draw: st.DrawFn) -> list[tuple[str, int, float, float]]:
    """Properly nested intervals (a random call tree laid out in time)."""
    rows: list[tuple[str, int, float, float]] = []

    def build(tid: int, start: float, length: float, level: int) -> None:
        t = start
        n = draw(st.integers(0, 3 if level < 4 else 0))
        for _ in range(n):
            gap = draw(st.integers(0, 3))
            dur = draw(st.integers(0, 20))
            if t + gap + dur > start + length:
                break
            rows.append((draw(st.sampled_from("abcde")), tid, float(t + gap), float(dur)))
            build(tid, t + gap, dur, level + 1)
            t += gap + dur

    for tid in (1, 2):
        build(tid, 0.0, 200.0, 0)
    return rows


@settings(max_examples=150, deadline=None)
@given(nested_intervals())
def test_matches_brute_force_reference(rows: list[tuple[str, int, float, float]]) -> None:
    df = build_slice_table(_cols(rows))
    assert len(df) == len(rows)
    ts, end, tid = df.ts.to_numpy(), df.end.to_numpy(), df.tid.to_numpy()
    dur = df.dur.to_numpy()
    for i in range(len(df)):
        # the reference parent: the innermost earlier row on the same thread enclosing i
        enclosing = [j for j in range(i) if tid[j] == tid[i] and ts[j] <= ts[i]
                     and end[i] <= end[j] and ts[i] < end[j]]
        expected = max(enclosing, key=lambda j: (ts[j], -dur[j], j)) if enclosing else -1
        assert df.parent[i] == expected
        assert df.depth[i] == (0 if expected < 0 else df.depth[expected] + 1)
    children_time = np.zeros(len(df))
    for i in range(len(df)):
        if df.parent[i] >= 0:
            children_time[df.parent[i]] += dur[i]
    assert np.allclose(df.self_dur.to_numpy(), dur - children_time)


def test_slices_from_stacks_merges_identical_prefixes() -> None:
    out = slices_from_stacks([["main", "f"], ["main", "f"], ["main", "g"], ["h"]],
                             [1.0, 2.0, 3.0, 4.0], start=100.0)
    got = sorted(zip(out["name"], out["ts"], out["dur"], out["depth"], strict=True))
    assert got == [("f", 100.0, 3.0, 1), ("g", 103.0, 3.0, 1), ("h", 106.0, 4.0, 0),
                   ("main", 100.0, 6.0, 0)]


@settings(max_examples=100, deadline=None)
@given(st.lists(st.tuples(st.lists(st.sampled_from("abc"), min_size=1, max_size=4),
                          st.integers(0, 5)), max_size=30))
def test_sampled_self_time_equals_leaf_weight(samples: list[tuple[list[str], int]]) -> None:
    stacks = [s for s, _ in samples]
    weights = [w for _, w in samples]
    cols = slices_from_stacks(stacks, weights)
    n = len(cols["name"])
    cols.update(cat=[""] * n, pid=[0] * n, tid=[0] * n)
    df = build_slice_table(cols)
    # total self time is the total weight, and each leaf frame's self time its weight
    assert df.self_dur.sum() == sum(w for w in weights if w > 0)
    expected: dict[str, float] = {}
    for s, w in samples:
        if w > 0:
            expected[s[-1]] = expected.get(s[-1], 0) + w
    got = df.groupby("name", observed=True).self_dur.sum()
    assert {k: v for k, v in got.items() if v} == {k: v for k, v in expected.items() if v}
