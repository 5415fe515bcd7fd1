"""Chrome DevTools performance recordings: trace events plus Profile/ProfileChunk samples."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import numpy as np
import pytest
from chrome_checks import check_table, raw_events

from jupyter_assistant import load_trace

CHROME = "speedscope/Chrome"
FILES = ["69/simple.json", "116/Trace-20230603T221323.json", "141/no-arg-data.json"]


def _leaf_time(events: list[dict]) -> tuple[Counter[str], int, set[tuple[int, int]]]:
    """Independent reading of the CPU profiles: time per leaf frame (sample i lasts until
    sample i+1; a sample of a node no chunk defined is a gap), the sample count, and the
    (pid, tid) of the Profile events."""
    profiles = {}
    for e in sorted(events, key=lambda e: e["ts"]):
        if e.get("name") == "Profile":
            profiles[(e["pid"], e["id"])] = {
                "thread": (e["pid"], e["tid"]), "start": e["args"]["data"]["startTime"],
                "nodes": {}, "samples": [], "deltas": []}
        elif e.get("name") == "ProfileChunk":
            p = profiles[(e["pid"], e["id"])]
            data = e["args"].get("data", {})
            cpu = data.get("cpuProfile", {})
            for node in cpu.get("nodes", []):
                p["nodes"][node["id"]] = node["callFrame"]
            p["samples"] += cpu.get("samples", [])
            p["deltas"] += data.get("timeDeltas", [])
    leaf: Counter[str] = Counter()
    count = 0
    threads = set()
    for p in profiles.values():
        times = np.maximum.accumulate(p["start"] + np.cumsum(p["deltas"]))
        count += len(p["samples"])
        threads.add(p["thread"])
        for i in range(len(p["samples"]) - 1):
            frame = p["nodes"].get(p["samples"][i])
            if frame is None:
                continue
            name = frame.get("functionName") or "(anonymous)"
            if name in ("(root)", "(idle)") or frame.get("url") == "native dummy.js":
                continue
            leaf[name] += times[i + 1] - times[i]
    return leaf, count, threads


@pytest.mark.parametrize("name", FILES)
def test_recordings_load_with_their_trace_events(shared_traces: Path, name: str) -> None:
    path = shared_traces / CHROME / name
    trace = load_trace(path)
    check_table(trace)
    assert trace.format == "devtools"
    raw = raw_events(path)
    ev = trace.events
    on_threads = ev[(ev["cat"] != "cpu_sample") &
                    ~ev["tid"].isin(trace.threads.loc[trace.threads["kind"] == "async", "tid"])]
    # every X is a slice, every B/E pair too (these recordings have no unmatched B/E)
    assert len(on_threads) == sum(e["ph"] == "X" for e in raw) + sum(e["ph"] == "B" for e in raw)
    names = {(e["pid"], e["tid"]): e["args"]["name"] for e in raw
             if e["ph"] == "M" and e["name"] == "thread_name"}
    th = trace.threads.set_index(["pid", "tid"])["thread_name"]
    assert all(th[k] == v for k, v in names.items())
    assert trace.metadata["event_count"] == len(raw)


@pytest.mark.parametrize("name", FILES)
def test_cpu_samples_match_an_independent_reading(shared_traces: Path, name: str) -> None:
    path = shared_traces / CHROME / name
    trace = load_trace(path)
    leaf, count, threads = _leaf_time(raw_events(path))
    assert trace.samples is not None and len(trace.samples) == count
    assert trace.metadata["cpu_profile"]["samples"] == count
    got = Counter()
    for stack, w in zip(trace.samples["stack"], trace.samples["weight"], strict=True):
        if stack:
            got[stack.split(";")[-1]] += w
    assert set(got) == {k for k, v in leaf.items() if v} | {k for k, v in got.items() if not v}
    for k, v in leaf.items():
        assert got[k] == pytest.approx(v)
    sampled = trace.events[trace.events["cat"] == "cpu_sample"]
    # the slices sit on the thread of the Profile event (not the sampler thread)
    assert set(zip(sampled["pid"], sampled["tid"], strict=True)) <= threads
    # clipping to traced slices only shortens: self time per function <= the sampled time
    per_fn = sampled.groupby("name", observed=True)["self_dur"].sum()
    for fn, t in per_fn.items():
        assert t <= leaf[fn] + 1e-6


def test_javascript_functions_are_hotspots(shared_traces: Path) -> None:
    """speedscope's sample program: alpha calls beta, gamma and delta in loops."""
    trace = load_trace(shared_traces / CHROME / "69/simple.json")
    ev = trace.events
    js = ev[ev["cat"] == "cpu_sample"]
    for fn in ("alpha", "beta", "gamma", "delta"):
        assert fn in set(js["name"].astype(str))
    assert set(js.loc[js["name"] == "gamma", "args"].map(lambda a: a["url"])) == {
        "file:///Users/jlfwong/code/speedscope/sample/programs/javascript/simple.js"}
    top = trace.hotspots(n=8)
    assert "gamma" in set(top["name"].astype(str))
    # sampled slices never become parents of traced slices
    par = ev["parent"].to_numpy()
    rows = np.flatnonzero(par >= 0)
    is_sample = (ev["cat"] == "cpu_sample").to_numpy()
    assert not (is_sample[par[rows]] & ~is_sample[rows]).any()
    # and the JS slices run inside the renderer main thread's traced slices
    tops = js[js["depth"] == js["depth"].min()]
    assert (tops["parent"] >= 0).mean() > 0.9


def test_object_form_header_and_async_tracks(shared_traces: Path) -> None:
    path = shared_traces / CHROME / "116/Trace-20230603T221323.json"
    trace = load_trace(path)
    raw = raw_events(path)
    assert trace.metadata["header"]["metadata"]["source"] == "DevTools"
    kinds = trace.threads["kind"].value_counts()
    assert kinds["async"] > 0 and kinds["cpu"] > 0
    asyncs = trace.events[trace.events["tid"].isin(
        trace.threads.loc[trace.threads["kind"] == "async", "tid"])]
    assert len(asyncs) == sum(e["ph"] == "b" for e in raw)
    flows = trace.flows
    assert len(flows) == sum(e["ph"] in "stf" and len(e["ph"]) == 1 for e in raw)
    assert (flows["slice"] >= 0).all()


def test_chunk_without_args_data_is_skipped(shared_traces: Path) -> None:
    trace = load_trace(shared_traces / CHROME / "141/no-arg-data.json")
    assert trace.metadata["cpu_profile"]["profiles"] == 2
    assert trace.metadata["repaired"] == 0
    names = set(trace.events["name"].astype(str))
    assert "(program)" in names
