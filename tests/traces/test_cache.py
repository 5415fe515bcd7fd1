"""The Parquet cache behind ``load_trace(path, cache=...)``."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import orjson
import pandas as pd
import pytest

from jupyter_assistant import TraceFormatError, load_trace
from jupyter_assistant.traces import _cache

HTA = Path(__file__).resolve().parents[3] / "shared" / "traces" / "hta"
TABLES = ("events", "threads", "counters", "instants", "flows", "samples")


@pytest.fixture
def cache_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    d = tmp_path / "cache"
    monkeypatch.setenv("JUPYTER_ASSISTANT_CACHE_DIR", str(d))
    return d


def _same(a, b) -> None:
    for name in TABLES:
        x, y = getattr(a, name), getattr(b, name)
        if x is None:
            assert y is None
        else:
            pd.testing.assert_frame_equal(x, y)
    meta = dict(b.metadata)
    assert meta.pop("cached") is True
    assert meta == a.metadata


@pytest.mark.parametrize("rel", [
    "ns_resolution_trace/rank-0.Apr_03_18_51_38.1102.pt.trace.json.gz",   # args, flows
    "../speedscope/Chrome/69/simple.json",                                 # samples, async
    "../speedscope/trace-event/simple-with-samples.json",
])
def test_round_trip_is_identical(cache_dir: Path, tmp_path: Path, rel: str) -> None:
    src = tmp_path / Path(rel).name
    shutil.copy(HTA / rel, src)
    fresh = load_trace(src, cache=True)
    assert "cached" not in fresh.metadata and len(list(cache_dir.iterdir())) == 1
    again = load_trace(src, cache=True)
    _same(fresh, again)


def test_a_repeat_load_is_served_from_the_cache_without_parsing(
    cache_dir: Path, tmp_path: Path
) -> None:
    """The speed of a cached load is measured in bench/ (cold / cached ratio); here: a repeat
    load of a file over 1 MiB comes from the cache and never reads the file's text again."""
    src = tmp_path / "big.json"
    events = [{"ph": "X", "pid": 1, "tid": i % 4, "ts": i * 3.0, "dur": 2.0 + (i % 5),
               "name": f"fn{i % 300}", "cat": "c"} for i in range(120_000)]
    src.write_bytes(orjson.dumps({"traceEvents": events}))
    fresh = load_trace(src)  # conftest turns the automatic cache off: a plain load
    assert "cached" not in fresh.metadata
    os.environ.pop("JUPYTER_ASSISTANT_TRACE_CACHE", None)
    try:
        load_trace(src)  # default: a file over 1 MiB is cached
        # Same size and mtime (the cache key), but text no parser accepts: only a load that
        # never parses the file can succeed.
        st = src.stat()
        src.write_bytes(b"\x00" * st.st_size)
        os.utime(src, ns=(st.st_atime_ns, st.st_mtime_ns))
        again = load_trace(src)
    finally:
        os.environ["JUPYTER_ASSISTANT_TRACE_CACHE"] = "0"
    assert again.metadata["cached"] is True
    pd.testing.assert_frame_equal(fresh.events, again.events)
    with pytest.raises(TraceFormatError):
        load_trace(src)  # without the cache the same bytes are refused


def test_a_changed_file_is_read_again(cache_dir: Path, tmp_path: Path) -> None:
    src = tmp_path / "t.json"
    src.write_bytes(orjson.dumps([{"ph": "X", "ts": 0, "dur": 1, "name": "old"}]))
    assert load_trace(src, cache=True).events["name"].tolist() == ["old"]
    src.write_bytes(orjson.dumps([{"ph": "X", "ts": 0, "dur": 1, "name": "new!"}]))
    again = load_trace(src, cache=True)
    assert again.events["name"].tolist() == ["new!"] and "cached" not in again.metadata
    assert load_trace(src, cache=True).metadata["cached"] is True


def test_a_damaged_entry_is_ignored(cache_dir: Path, tmp_path: Path) -> None:
    src = tmp_path / "t.json"
    src.write_bytes(orjson.dumps([{"ph": "X", "ts": 0, "dur": 1, "name": "a"}]))
    load_trace(src, cache=True)
    (entry,) = cache_dir.iterdir()
    (entry / "events.parquet").write_bytes(b"not parquet")
    trace = load_trace(src, cache=True)
    assert "cached" not in trace.metadata and trace.events["name"].tolist() == ["a"]
    assert load_trace(src, cache=True).metadata["cached"] is True  # rewritten


def test_folders_are_cached_as_one_multi_rank_trace(cache_dir: Path, tmp_path: Path) -> None:
    folder = tmp_path / "ranks"
    shutil.copytree(HTA / "trace_filter", folder)
    fresh = load_trace(folder, cache=True)
    again = load_trace(folder, cache=True)
    assert again.ranks == [0, 1]
    _same(fresh, again)


def test_cache_false_and_small_files_write_nothing(cache_dir: Path, tmp_path: Path) -> None:
    src = tmp_path / "small.json"
    src.write_bytes(orjson.dumps([{"ph": "X", "ts": 0, "dur": 1}]))
    assert load_trace(src, cache=False).metadata.get("cached") is None
    os.environ.pop("JUPYTER_ASSISTANT_TRACE_CACHE", None)
    try:
        load_trace(src)  # auto: under CACHE_MIN_BYTES
    finally:
        os.environ["JUPYTER_ASSISTANT_TRACE_CACHE"] = "0"
    load_trace(src.read_bytes(), cache=True)  # bytes are never cached
    assert not cache_dir.exists() or not any(cache_dir.iterdir())
    load_trace(src, cache=True)
    assert _cache.clear_cache() == 1 and not any(cache_dir.iterdir())


def test_unwritable_cache_dir_still_loads(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    blocker = tmp_path / "file-not-dir"
    blocker.write_text("x")
    monkeypatch.setenv("JUPYTER_ASSISTANT_CACHE_DIR", str(blocker / "cache"))
    src = tmp_path / "t.json"
    src.write_bytes(orjson.dumps([{"ph": "X", "ts": 0, "dur": 1, "name": "a"}]))
    assert load_trace(src, cache=True).events["name"].tolist() == ["a"]
