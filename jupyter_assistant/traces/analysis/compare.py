"""Compare two traces by slice name: what got slower, what got faster."""

from __future__ import annotations

import re

import numpy as np
import pandas as pd

from .._model import Trace
from .hotspots import analysed_events, name_stats

__all__ = ["COMPARE_COLUMNS", "compare_traces"]

#: Columns of :func:`compare_traces` and their dtypes.
COMPARE_COLUMNS = {
    "name": "object", "count_a": "int64", "count_b": "int64", "self_dur_a": "float64",
    "self_dur_b": "float64", "delta_us": "float64", "delta_pct": "float64",
    "total_dur_a": "float64", "total_dur_b": "float64", "total_delta_us": "float64",
}


_STEP = re.compile(r"^ProfilerStep#\d+$")


def _steps_as_one(ev: pd.DataFrame) -> pd.DataFrame:
    """``ev`` with every ``ProfilerStep#N`` named ``ProfilerStep*`` (as the PyTorch
    profiler's ``key_averages()`` does), so that two runs whose step numbers differ line
    up; ``ev`` itself when it has no step."""
    names = ev["name"]
    cats = names.cat.categories if isinstance(names.dtype, pd.CategoricalDtype) else None
    labels = [str(c) for c in (cats if cats is not None else names.astype(str).unique())]
    if not any(_STEP.match(n) for n in labels):
        return ev
    new = names.astype(str).where(~names.astype(str).str.match(_STEP), "ProfilerStep*")
    return ev.assign(name=new.astype("category"))


def compare_traces(a: Trace, b: Trace, n: int | None = None) -> pd.DataFrame:
    """Per slice name, self and inclusive time in trace ``a`` (the baseline) and ``b``.

    Returns a DataFrame with columns ``name`` (str); ``count_a, count_b`` (int64);
    ``self_dur_a, self_dur_b`` (float64, µs, as in :func:`hotspots`); ``delta_us`` =
    ``self_dur_b - self_dur_a`` (float64, µs; positive means slower in ``b``);
    ``delta_pct`` = ``100 * delta_us / self_dur_a`` (float64, %; NaN when the name has no
    self time in ``a``, e.g. it is new in ``b``); ``total_dur_a, total_dur_b`` (inclusive
    time, recursion counted once) and ``total_delta_us`` (float64, µs).

    A name present in only one trace is included, with count 0 and time 0.0 on the other
    side (so ``delta_us`` is its whole time, and ``delta_pct`` is -100 when it vanished
    from ``b``, NaN when it is new). Rows are sorted by ``|delta_us|`` descending (ties by
    name); ``n`` keeps the first ``n`` (``None``: all). Times are raw sums, not normalised
    by span or step count: compare traces of the same workload length. The PyTorch
    profiler's ``ProfilerStep#N`` ranges are one row, ``ProfilerStep*`` (as in
    ``key_averages()``), so its ``total_dur_a``/``total_dur_b`` is the step time of the two
    runs whatever their step numbers: the gain of a fix.
    """
    sa = name_stats(_steps_as_one(analysed_events(a)))
    sb = name_stats(_steps_as_one(analysed_events(b)))
    both = sa.add_suffix("_a").join(sb.add_suffix("_b"), how="outer")
    if not len(both):
        return pd.DataFrame({c: pd.Series(dtype=t) for c, t in COMPARE_COLUMNS.items()})
    both = both.fillna(0.0)
    out = pd.DataFrame({
        "name": both.index.astype(str),
        "count_a": both["count_a"].to_numpy(dtype=np.int64),
        "count_b": both["count_b"].to_numpy(dtype=np.int64),
        "self_dur_a": both["self_dur_a"].to_numpy(),
        "self_dur_b": both["self_dur_b"].to_numpy(),
    })
    out["delta_us"] = out["self_dur_b"] - out["self_dur_a"]
    with np.errstate(divide="ignore", invalid="ignore"):
        out["delta_pct"] = np.where(out["self_dur_a"] > 0,
                                    100.0 * out["delta_us"] / out["self_dur_a"], np.nan)
    out["total_dur_a"] = both["total_dur_a"].to_numpy()
    out["total_dur_b"] = both["total_dur_b"].to_numpy()
    out["total_delta_us"] = out["total_dur_b"] - out["total_dur_a"]
    out["_abs"] = out["delta_us"].abs()
    out = out.sort_values(["_abs", "name"], ascending=[False, True], kind="stable",
                          ignore_index=True).drop(columns="_abs")
    if n is not None:
        out = out.head(int(n))
    return out.astype(COMPARE_COLUMNS)[list(COMPARE_COLUMNS)]
