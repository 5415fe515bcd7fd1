"""rows_in (set membership of key tuples) and arg_ints (integer args as columns)."""

from __future__ import annotations

import numpy as np
import orjson
import pandas as pd
import pytest

from jupyter_assistant.traces._chrome_events import arg_ints
from jupyter_assistant.traces._rows import rows_in


@pytest.mark.parametrize("seed", range(5))
def test_rows_in_equals_multiindex_isin(seed: int) -> None:
    rng = np.random.default_rng(seed)
    n = 5_000
    pid = rng.integers(0, 7, n)
    tid = rng.integers(0, 2**62, 40)[rng.integers(0, 40, n)]  # a few huge thread ids
    rank = rng.integers(0, 3, n)
    rows = rng.integers(0, n, 25)
    keys = {(int(rank[i]), int(pid[i]), int(tid[i])) for i in rows} | {(9, 9, 9)}
    expected = pd.MultiIndex.from_arrays([rank, pid, tid]).isin(list(keys))
    got = rows_in([rank, pid, tid], keys)
    assert got.dtype == bool and got.sum() >= 25
    assert np.array_equal(got, expected)


def test_rows_in_many_groups_and_missing_values() -> None:
    a = np.arange(100_000) % 50_000  # 50,000 x 50,000 pairs: combined codes are re-factorised
    b = np.arange(100_000) // 2
    got = rows_in([a, b], {(0, 0), (1, 0), (49_999, 49_999), (3, 4)})
    assert np.flatnonzero(got).tolist() == [0, 1, 99_999]
    f = np.array([1.0, np.nan, 1.0, 2.0])
    assert rows_in([f, np.zeros(4)], {(1.0, 0.0), (2.0, 0.0)}).tolist() == [True, False, True,
                                                                             True]
    assert not rows_in([f], set()).any()
    with pytest.raises(ValueError, match="differ in length"):
        rows_in([np.zeros(3), np.zeros(4)], {(0, 0)})
    with pytest.raises(ValueError, match="2 values"):
        rows_in([np.zeros(3), np.zeros(3)], {(0,)})


def test_arg_ints_reads_kineto_keys_and_refuses_nothing() -> None:
    args = [{"correlation": 7, "External id": 3, "stream": 13}, None,
            {"external id": 5, "correlation": "12", "stream": 2.9},
            {"correlation": "n/a", "stream": None, "External id": 1e30},
            {"Ev Idx": 1}]
    text = orjson.dumps(args)
    got = arg_ints(args, text)
    assert isinstance(got, dict)
    assert got["correlation"].tolist() == [7, -1, 12, -1, -1]
    assert got["external_id"].tolist() == [3, -1, 5, -1, -1]
    assert got["stream"].tolist() == [13, -1, 2, -1, -1]
    assert all(v.dtype == np.int64 for v in got.values())
    without_text = arg_ints(args)
    assert isinstance(without_text, dict)
    assert all(np.array_equal(without_text[k], got[k]) for k in got)


def test_arg_ints_skips_a_chunk_without_the_keys() -> None:
    args = [{"name": "x"}, None]
    assert arg_ints(args, orjson.dumps(args)) == 2
    # without the text it looks, and finds nothing
    got = arg_ints(args)
    assert isinstance(got, dict) and got["stream"].tolist() == [-1, -1]
