"""Standalone V8 ``.cpuprofile`` files, current (nodes/timeDeltas) and old (head/timestamps)."""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path

import numpy as np
import orjson
import pytest
from chrome_checks import check_table, nested_well

from jupyter_assistant import TraceFormatError, detect_format, load_trace
from jupyter_assistant.traces.cpuprofile import read_cpuprofile

CURRENT = "speedscope/Chrome/65/simple.cpuprofile"
OLD = "speedscope/node/10.11.0/example.cpuprofile"


def _independent(doc: dict) -> tuple[Counter[str], Counter[str]]:
    """Self time per function (a sample lasts until the next one) and the number of slices
    per function (runs of consecutive samples with the function on the stack), from the
    raw file; frames are named functionName or "(anonymous)"."""
    if "head" in doc:
        nodes, todo = {}, [(doc["head"], None)]
        while todo:
            node, parent = todo.pop()
            nodes[node["id"]] = (node["functionName"], parent)
            todo += [(c, node["id"]) for c in node["children"]]
        times = doc["timestamps"][: len(doc["samples"])]
    else:
        nodes = {n["id"]: (n["callFrame"]["functionName"], None) for n in doc["nodes"]}
        for n in doc["nodes"]:
            for c in n.get("children", []):
                nodes[c] = (nodes[c][0], n["id"])
        times = list(doc["startTime"] + np.cumsum(doc["timeDeltas"]))

    def stack(nid: int) -> list[str]:
        out = []
        while nid is not None and nodes[nid][0] != "(root)":
            out.append(nodes[nid][0] or "(anonymous)")
            nid = nodes[nid][1]
        return out[::-1]

    self_time: Counter[str] = Counter()
    runs: Counter[str] = Counter()
    prev: list[str] = []
    samples = doc["samples"]
    for i, nid in enumerate(samples[:-1]):
        st = stack(nid)
        self_time[st[-1]] += times[i + 1] - times[i]
        common = 0
        while common < min(len(st), len(prev)) and st[common] == prev[common]:
            common += 1
        runs.update(st[common:])
        prev = st
    return self_time, runs


@pytest.mark.parametrize("rel", [CURRENT, OLD])
def test_profiles_match_an_independent_reading(shared_traces: Path, rel: str) -> None:
    path = shared_traces / rel
    doc = json.loads(path.read_text())
    assert detect_format(path.read_bytes()) == "cpuprofile"
    trace = load_trace(path)
    check_table(trace)
    assert nested_well(trace)
    assert trace.format == "cpuprofile"
    self_time, runs = _independent(doc)
    got = trace.events.groupby("name", observed=True)["self_dur"].sum()
    assert {k: v for k, v in got.items() if v} == {k: v for k, v in self_time.items() if v}
    counts = trace.events["name"].value_counts()
    assert {str(k): int(v) for k, v in counts.items()} == dict(runs)
    assert len(trace.samples) == len(doc["samples"])
    assert trace.threads["thread_name"].tolist() == ["CPU profile"]


def test_both_layouts_see_the_same_program(shared_traces: Path) -> None:
    """Both files profile the same a/b/c/d program (speedscope's sample)."""
    a, b = load_trace(shared_traces / CURRENT), load_trace(shared_traces / OLD)
    assert set(a.events["name"].astype(str)) == set(b.events["name"].astype(str))
    assert {"a", "b", "c", "d"} <= set(a.events["name"].astype(str))
    d = a.events[a.events["name"] == "d"]
    assert set(d["args"].map(lambda x: x["line"])) == {14}  # lineNumber 13, 0-based in V8
    assert a.metadata["layout"] == "nodes/timeDeltas"
    assert b.metadata["layout"].startswith("head/timestamps")


def test_gc_and_program_samples_sit_on_the_previous_stack() -> None:
    doc = {"nodes": [
        {"id": 1, "callFrame": {"functionName": "(root)"}, "children": [2, 4, 5]},
        {"id": 2, "callFrame": {"functionName": "main", "url": "a.js", "lineNumber": 0},
         "children": [3]},
        {"id": 3, "callFrame": {"functionName": "", "url": "a.js", "lineNumber": 4}},
        {"id": 4, "callFrame": {"functionName": "(garbage collector)"}},
        {"id": 5, "callFrame": {"functionName": "(idle)"}}],
        "startTime": 0, "samples": [3, 4, 3, 5, 2], "timeDeltas": [10, 10, 10, 10, 10]}
    trace = read_cpuprofile(orjson.dumps(doc), "gc.cpuprofile")
    check_table(trace)
    by = {r.name: r for r in trace.events.itertuples()}
    assert (by["main"].ts, by["main"].end) == (10, 40)   # idle at 40 ends it
    assert by["(anonymous)"].args == {"url": "a.js", "line": 5, "column": 0}
    gc = by["(garbage collector)"]
    assert trace.events.loc[gc.parent, "name"] == "(anonymous)" and gc.dur == 10
    assert len(trace.events) == 3  # main, anonymous (one run across GC), GC; the last
    # sample (main again, at 50) has no duration, as in speedscope


@pytest.mark.parametrize("doc, where", [
    (b"[1, 2]", "top level"),
    (b'{"nodes": [], "timeDeltas": []}', "samples"),
    (b'{"samples": [1]}', "top level"),
    (b'{"nodes": [], "samples": [1, 2], "timeDeltas": [1, "x"]}', "timeDeltas[1]"),
    (b'{"head": {"id": 1}, "samples": [1], "timestamps": 5}', "timestamps"),
    (b'{"nodes": [', "line 1 column 12 (byte 11)"),
])
def test_bad_profiles_raise_trace_format_error(doc: bytes, where: str) -> None:
    with pytest.raises(TraceFormatError) as info:
        read_cpuprofile(doc, "bad.cpuprofile")
    assert info.value.source == "bad.cpuprofile" and info.value.position == where
