"""Folded-stack importer: Brendan Gregg's stackcollapse files (shared) and py-spy ``--format
raw`` files recorded here (tests/data/record_profiles.py)."""

from __future__ import annotations

import gzip
import re
from collections import Counter
from pathlib import Path

import pytest
from stack_import_checks import DATA, SHARED, check_invariants

from jupyter_assistant import TraceFormatError, detect_format, load_trace
from jupyter_assistant.traces.folded import read_folded

COLLAPSED = SHARED / "speedscope" / "stackcollapse"
# perf-vertx-...collapsed-all.txt is CDDL data: read from ../shared only, never copied here
FILES = [*sorted(COLLAPSED.glob("*.txt")), DATA / "workload.py-spy.folded.txt",
         DATA / "workload.py-spy.threads.folded.txt"]
PY_SPY_THREAD = re.compile(r"^thread \((\d+)\)(?:: (.*))?$")


def _direct_count(path: Path) -> tuple[Counter, float]:
    """Weight per leaf frame and total weight, counted straight from the text."""
    leaves: Counter = Counter()
    total = 0.0
    for line in path.read_text().splitlines():
        if not line.strip():
            continue
        stack, _, count = line.rpartition(" ")
        frames = [f for f in stack.split(";") if f] if stack.strip() else []
        frames = [f for f in frames if not PY_SPY_THREAD.match(f)]
        total += float(count)
        if frames:
            leaves[frames[-1]] += float(count)
    return leaves, total


@pytest.mark.parametrize("path", FILES, ids=lambda p: p.name)
def test_self_time_per_leaf_equals_a_direct_count(path: Path) -> None:
    assert detect_format(path.read_bytes()) == "folded"
    trace = load_trace(path)
    assert trace.format == "folded"
    check_invariants(trace)
    leaves, total = _direct_count(path)
    got = trace.events.groupby("name", observed=True)["self_dur"].sum()
    assert got[got > 0].to_dict() == dict(leaves)
    assert trace.metadata["unit"] == "samples"
    assert trace.metadata["total_samples"] == total
    assert trace.samples["weight"].sum() == total
    assert trace.events["self_dur"].sum() == sum(leaves.values())


def test_simple_file_merges_consecutive_lines() -> None:
    trace = load_trace(COLLAPSED / "simple.txt")
    # a;b;c 1 / a;b;c 1 / a;b;d 4 / a;b;c 3 / a;b 5
    ev = trace.events
    rows = list(zip(ev["name"].astype(str), ev["ts"], ev["dur"], ev["depth"], strict=True))
    assert rows == [("a", 0, 14, 0), ("b", 0, 14, 1), ("c", 0, 2, 2), ("d", 2, 4, 2),
                    ("c", 6, 3, 2)]
    assert list(ev["self_dur"]) == [0, 5, 2, 4, 3]


def test_recursion_file() -> None:
    trace = load_trace(COLLAPSED / "recursion.txt")
    ev = trace.events
    assert ev["depth"].max() == 5  # a;b;a;b;a;b
    assert int((ev["depth"] == 0).sum()) == 3  # "a;a", "b;b", then every line from "a;b" on
    assert ev.loc[ev["depth"] == 0, "dur"].tolist() == [1, 1, 8]


def test_real_perf_file_shape() -> None:
    path = COLLAPSED / "perf-vertx-stacks-01-collapsed-all.txt"
    lines = [ln for ln in path.read_text().splitlines() if ln.strip()]
    trace = load_trace(path)
    assert trace.metadata["lines"] == len(lines)
    assert len(trace.samples) == len(lines)
    roots = [ln.split(";", 1)[0] for ln in lines]
    runs = sum(1 for i, r in enumerate(roots) if i == 0 or r != roots[i - 1])
    assert int((trace.events["depth"] == 0).sum()) == runs
    # frames with spaces in their names are kept whole
    assert "oopDesc* PSPromotionManager::copy_to_survivor_space<false>" in set(
        trace.events["name"].astype(str))


def test_py_spy_threads_become_threads() -> None:
    path = DATA / "workload.py-spy.threads.folded.txt"
    trace = load_trace(path)
    thread_frames: dict[str, str] = {}
    for line in path.read_text().splitlines():
        first = line.rpartition(" ")[0].split(";")[0]
        m = PY_SPY_THREAD.match(first)
        assert m, line  # --threads: every stack starts with its thread
        if m.group(2):
            thread_frames[m.group(1)] = m.group(2)
    assert sorted(trace.threads["tid"]) == sorted(int(t) for t in thread_frames)
    names = dict(zip(trace.threads["tid"], trace.threads["thread_name"], strict=True))
    assert {names[int(t)] for t in thread_frames} == set(thread_frames.values())
    assert "worker" in names.values() and "MainThread" in names.values()
    assert not trace.events["name"].astype(str).str.startswith("thread (").any()
    # per thread, the workload's hot function has the most self time
    for tid, want in ((k, "hot_loop") if v == "MainThread" else (k, "worker_sort")
                      for k, v in names.items()):
        ev = trace.events[trace.events["tid"] == tid]
        top = str(ev.groupby("name", observed=True)["self_dur"].sum().idxmax())
        assert top.startswith(want + " (record_profiles.py:"), top


def test_py_spy_process_prefix_and_empty_stacks() -> None:
    text = (
        'process 42:"python app.py";thread (7): MainThread;main (app.py:3);f (app.py:9) 5\n'
        ' 3\n'
        'process 42:"python app.py";thread (0x1f);main (app.py:3) 2\n'
        'process 42:"python app.py";thread (7);main (app.py:3);g (app.py:12) 4\n'
    )
    assert detect_format(text.encode()) == "folded"
    trace = read_folded(text.encode(), "raw.txt")
    check_invariants(trace)
    th = trace.threads.set_index("tid")
    assert sorted(th.index) == [0, 7, 31]
    assert th.loc[7, "thread_name"] == "MainThread" and th.loc[7, "process_name"] == "python app.py"
    assert th.loc[7, "pid"] == 42
    main7 = trace.events[(trace.events["tid"] == 7) & (trace.events["depth"] == 0)]
    assert main7[["ts", "dur"]].values.tolist() == [[0, 9]]  # two lines of thread 7, merged
    # the empty stack (" 3") is 3 samples of time on thread 0 with no slice
    assert trace.samples.loc[trace.samples["tid"] == 0, "weight"].tolist() == [3]
    assert not (trace.events["tid"] == 0).any()


def test_interval_gives_microseconds(tmp_path: Path) -> None:
    path = DATA / "workload.py-spy.folded.txt"
    plain = read_folded(path.read_bytes(), "f")
    timed = read_folded(path.read_bytes(), "f", interval_us=4000.0)  # py-spy --rate 250
    assert timed.metadata["unit"] == "µs" and timed.metadata["interval_us"] == 4000.0
    assert timed.events["dur"].tolist() == [d * 4000 for d in plain.events["dur"]]
    gz = tmp_path / "stacks.txt.gz"
    gz.write_bytes(gzip.compress(path.read_bytes()))
    assert load_trace(gz).events["dur"].tolist() == plain.events["dur"].tolist()
    with pytest.raises(TraceFormatError):
        read_folded(b"a 1", "f", interval_us=0)


def test_decimal_weights_and_blank_lines() -> None:
    trace = read_folded(b"a;b 0.5\n\n  \na;b 1.25\r\na 2\n", "w.txt")
    assert trace.events[["name", "dur", "self_dur"]].astype(str).values.tolist() == [
        ["a", "3.75", "2.0"], ["b", "1.75", "1.75"]]


@pytest.mark.parametrize(("text", "line"), [
    (b"a;b;c\n", "line 1"),
    (b"a;b 1\na;b;c many\n", "line 2"),
    (b"a;b 1\n\n\nx -3\n", "line 4"),
    (b"a;b 1\n\x00\x01 2 z\n", "line 2"),
])
def test_malformed_lines_name_the_line(text: bytes, line: str) -> None:
    with pytest.raises(TraceFormatError) as info:
        read_folded(text, "bad.txt")
    assert info.value.position == line and info.value.source == "bad.txt"


def test_blank_file_is_an_error() -> None:
    with pytest.raises(TraceFormatError):
        read_folded(b"\n \n", "blank.txt")
