"""The read-only events query: what it computes, and everything it refuses."""

from __future__ import annotations

import pandas as pd
import pytest

from jupyter_assistant.exceptions import ToolError
from jupyter_assistant.tools import _query
from jupyter_assistant.tools._query import filter_events, run_query
from jupyter_assistant.traces import build_slice_table


@pytest.fixture(scope="module")
def events() -> pd.DataFrame:
    rows = [  # name, tid, ts, dur
        ("step", 1, 0.0, 100.0),
        ("aten::mm", 1, 10.0, 30.0),
        ("aten::add", 1, 50.0, 5.0),
        ("aten::mm", 1, 60.0, 20.0),
        ("io|read", 2, 0.0, 40.0),
        ("sleep", 2, 50.0, 50.0),
    ]
    return build_slice_table({
        "name": [r[0] for r in rows], "cat": ["cpu_op"] * len(rows), "pid": [7] * len(rows),
        "tid": [r[1] for r in rows], "ts": [r[2] for r in rows], "dur": [r[3] for r in rows],
        "args": [{"k": 1}] * len(rows)})


def names(df: pd.DataFrame, where: str) -> list[str]:
    return sorted(df[filter_events(df, where)]["name"].astype(str))


def test_comparisons_booleans_and_methods(events: pd.DataFrame) -> None:
    assert names(events, "name == 'aten::mm'") == ["aten::mm", "aten::mm"]
    assert names(events, "dur >= 40 and tid == 2") == ["io|read", "sleep"]
    assert names(events, "10 < dur < 50") == ["aten::mm", "aten::mm", "io|read"]
    assert names(events, "not (tid == 1) or name.str.startswith('aten::a')") == [
        "aten::add", "io|read", "sleep"]
    assert names(events, "name.str.contains('MM', case=False)") == ["aten::mm", "aten::mm"]
    assert names(events, "name.str.contains('|')") == ["io|read"]  # literal, not a regex
    assert names(events, "name.str.contains('^aten::(mm|add)$', regex=True)") == [
        "aten::add", "aten::mm", "aten::mm"]
    assert names(events, "name.isin(['sleep', 'step'])") == ["sleep", "step"]
    assert names(events, "name not in ['sleep', 'step'] and depth == 0") == ["io|read"]
    assert names(events, "ts.between(45, 55)") == ["aten::add", "sleep"]
    assert names(events, "dur - self_dur > 0") == ["step"]
    assert names(events, "name.str.endswith('read') or -dur < -60") == ["io|read", "step"]
    assert names(events, "name > 'sleep'") == ["step"]


@pytest.mark.parametrize("expr", [
    "__import__('os').system('true')",
    "name.__class__",
    "name.str.contains('a').__class__",
    "events.query('x')",
    "name.apply(print)",
    "[x for x in name]",
    "lambda: 1",
    "dur ** 2 > 1",
    "name[0] == 'a'",
    "f'{name}' == 'x'",
    "args == 1",
    "nope > 1",
    "name * 3 == 'x'",
    "name.str.contains('(?=a)b', regex=True)",  # lookaround: not RE2
    "name.str.contains('(a)\\\\1', regex=True)",  # backreference: not RE2
    "name.str.contains('x' * 201, regex=True)",
    "name.str.contains(name)",
    "dur",
    "name.str.contains('a', **{'regex': True})",
    "1 +",
    "x" * 1001,
])
def test_refused(events: pd.DataFrame, expr: str) -> None:
    with pytest.raises(ToolError):
        filter_events(events, expr)


def test_group_by_agg_sort_limit(events: pd.DataFrame) -> None:
    out, total = run_query(events, where="tid == 1", group_by=["name"],
                           agg=["count", "sum(dur)", "mean(self_dur)"], sort_by="sum(dur)",
                           limit=2)
    assert total == 3 and len(out) == 2
    assert list(out.columns) == ["name", "count", "sum(dur)", "mean(self_dur)"]
    first = out.iloc[0]
    assert (str(first["name"]), first["count"], first["sum(dur)"]) == ("step", 1, 100.0)
    assert out.iloc[1]["sum(dur)"] == 50.0 and out.iloc[1]["count"] == 2
    # no group: one row of aggregates over the filtered set
    out, _ = run_query(events, where="tid == 2", agg=["max(dur)", "count"])
    assert out.to_dict("records") == [{"max(dur)": 50.0, "count": 2}]


def test_rows_keep_their_index_and_bad_parts_are_refused(events: pd.DataFrame) -> None:
    out, total = run_query(events, where="name == 'aten::mm'", sort_by="ts", descending=False)
    assert total == 2 and list(out["ts"]) == [10.0, 60.0]
    assert all(events.loc[i, "name"] == "aten::mm" for i in out.index)
    with pytest.raises(ToolError, match="unknown column"):
        run_query(events, columns=["zzz"])
    with pytest.raises(ToolError, match="bad aggregation"):
        run_query(events, agg=["eval(dur)"])
    with pytest.raises(ToolError, match="at most 100 characters"):  # no quadratic backtracking
        run_query(events, agg=["count" + " " * 100_000 + "!"])
    with pytest.raises(ToolError, match="cannot aggregate"):
        run_query(events, agg=["sum(name)"])
    with pytest.raises(ToolError, match="cannot sort"):
        run_query(events, sort_by="nope")
    with pytest.raises(ToolError, match="columns names 'name' more than once"):
        run_query(events, columns=["name", "dur", "name"])
    with pytest.raises(ToolError, match="group_by names 'tid' more than once"):
        run_query(events, group_by=["tid", "tid"], agg=["count"])
    out, total = run_query(events, limit=10_000)
    assert total == 6 and len(out) == 6


def test_regexes_run_on_re2_in_linear_time() -> None:
    # on Python's re these backtrack for minutes (exponential in the name's length)
    long_names = ["x" * 5000, "a" * 5000 + "!", "aten::mm Z"]
    df = build_slice_table({"name": long_names, "cat": ["c"] * 3, "pid": [1] * 3,
                            "tid": [1] * 3, "ts": [0.0, 10.0, 20.0], "dur": [1.0] * 3})
    assert names(df, "name.str.contains('(.|.)*Z', regex=True)") == ["aten::mm Z"]
    assert names(df, "name.str.contains('^(a+)+$', regex=True)") == []
    assert names(df, "name.str.contains('^(a+)+!$', regex=True)") == ["a" * 5000 + "!"]
    assert names(df, "name.str.contains('ATEN::(mm|add)', case=False, regex=True)") == [
        "aten::mm Z"]
    with pytest.raises(ToolError, match=r"RE2 syntax.*lookaround"):
        filter_events(df, "name.str.contains('(?<=a)b', regex=True)")


def test_a_regex_stops_at_its_time_budget(monkeypatch: pytest.MonkeyPatch) -> None:
    n = 3 * _query.REGEX_BATCH_BYTES // 100  # distinct names for three batches
    df = build_slice_table({"name": [f"{i:0100d}" for i in range(n)], "cat": ["c"] * n,
                            "pid": [1] * n, "tid": [1] * n,
                            "ts": [float(i) for i in range(n)], "dur": [1.0] * n})
    assert len(names(df, "name.str.contains('7$', regex=True)")) == n // 10
    monkeypatch.setattr(_query, "REGEX_BUDGET_S", -1.0)  # spent before the first batch ends
    with pytest.raises(ToolError, match=r"too costly on this trace.*on 655 of 1,966 distinct"):
        filter_events(df, "name.str.contains('7$', regex=True)")


def test_missing_values_never_match() -> None:
    col = pd.Series(["ab", None, "cab"], dtype=object)
    assert _query.string_match(col, "contains", "a").tolist() == [True, False, True]
    assert _query.string_match(col, "startswith", "", regex=False).tolist() == [
        True, False, True]
    assert _query.string_match(col, "contains", "^c", regex=True).tolist() == [
        False, False, True]
