"""The Chrome Trace Event Format reader: speedscope's fixtures, every phase, a trace recorded
here with viztracer, and the chunked parser on a large document."""

from __future__ import annotations

import gzip
import itertools
import json
from collections import Counter
from pathlib import Path

import numpy as np
import orjson
import pytest
from chrome_checks import DATA, check_table, nested_well, raw_events

from jupyter_assistant import TraceFormatError, load_trace
from jupyter_assistant.traces import FORMATS
from jupyter_assistant.traces._jsonchunks import CHUNK_BYTES, parse_events
from jupyter_assistant.traces.chrome import ASYNC_TID_BASE, read_chrome


def _slices(trace) -> dict[str, tuple[float, float]]:
    return {r.name: (r.ts, r.end) for r in trace.events.itertuples()}


def _stack_match(events: list[dict]) -> dict[str, tuple[float, float]]:
    """Plain B/E matching and X slices of a well-formed single-thread trace."""
    out, stack = {}, []
    for e in sorted(events, key=lambda e: e["ts"]):
        if e["ph"] == "B":
            stack.append(e)
        elif e["ph"] == "E":
            b = stack.pop()
            out[b["name"]] = (b["ts"], e["ts"])
        elif e["ph"] == "X":
            out[e.get("name", "(unnamed)")] = (e["ts"], e["ts"] + e.get("dur", e.get("tdur")))
    return out


def test_registry_points_the_three_flavours_at_one_reader() -> None:
    for fmt in ("chrome", "devtools", "kineto"):
        assert FORMATS[fmt] == "jupyter_assistant.traces.chrome:read_chrome"


@pytest.mark.parametrize("name", ["simple.json", "simple-object.json", "simple-partial.json"])
def test_speedscope_simple_forms(shared_traces: Path, name: str) -> None:
    path = shared_traces / "speedscope/trace-event" / name
    trace = load_trace(path)
    check_table(trace)
    assert trace.format == "chrome" and nested_well(trace)
    text = path.read_text()
    try:
        doc = json.loads(text)
    except json.JSONDecodeError:  # the partial form: no closing "]"
        doc = json.loads(text + "]")
    events = doc if isinstance(doc, list) else doc["traceEvents"]
    assert _slices(trace) == _stack_match(events)
    by = {r.name: r for r in trace.events.itertuples()}
    assert trace.events.loc[by["beta"].parent, "name"] == "alpha"
    # epsilon has only "tdur" in simple.json: speedscope's fallback is used
    key = "epsilon" if "epsilon" in by else "(unnamed)"
    assert by[key].dur == 4 and trace.events.loc[by[key].parent, "name"] == "beta"
    assert by["alpha"].self_dur == 14 - 12
    partial = "no closing ']'" in " ".join(trace.metadata["warnings"])
    assert partial == (name == "simple-partial.json")


def test_speedscope_matching_x_ties(shared_traces: Path) -> None:
    path = shared_traces / "speedscope/trace-event/matching-x.json"
    trace = load_trace(path)
    check_table(trace)
    assert len(trace.events) == sum(e["ph"] == "X" for e in raw_events(path))
    ev = trace.events
    parent_name = {(r.name, r.ts): ev.loc[r.parent, "name"] if r.parent >= 0 else None
                   for r in ev.itertuples()}
    # equal (ts, dur): the later one in the file nests in the earlier one (as speedscope)
    assert parent_name[("gamma", 1.0)] == "beta" and parent_name[("beta", 1.0)] == "alpha"
    assert parent_name[("beta", 5.0)] == "gamma"


def test_speedscope_multiprocess_names(shared_traces: Path) -> None:
    path = shared_traces / "speedscope/trace-event/multiprocess.json"
    trace = load_trace(path)
    check_table(trace)
    raw = raw_events(path)
    th = trace.threads.set_index(["pid", "tid"])
    for e in raw:
        if e["ph"] == "M" and e["name"] == "thread_name":
            assert th.loc[(e["pid"], e["tid"]), "thread_name"] == e["args"]["name"]
        if e["ph"] == "M" and e["name"] == "process_name":
            assert (th.loc[e["pid"], "process_name"] == e["args"]["name"]).all()
    assert th.loc[(2, 0), "process_name"] == "pid 2"      # no process_name event
    assert th.loc[(3, 1), "thread_name"] == "tid 1"       # no thread_name event
    assert len(trace.events) == sum(e["ph"] == "X" for e in raw)
    assert (trace.threads["kind"] == "cpu").all()


def test_unbalanced_name_is_repaired_not_fatal(shared_traces: Path) -> None:
    trace = load_trace(shared_traces / "speedscope/trace-event/unbalanced-name.json")
    check_table(trace)
    assert trace.metadata["repaired"] == 2
    warnings = " ".join(trace.metadata["warnings"])
    assert "'beta'" in warnings and "no open 'B'" in warnings
    # E alpha closes beta (above it on the stack) and alpha at ts 9; E beta is dropped
    assert _slices(trace) == {"alpha": (0.0, 9.0), "beta": (1.0, 9.0)}


def test_zero_duration_begin_end_pairs(shared_traces: Path) -> None:
    trace = load_trace(shared_traces / "speedscope/trace-event/zero-duration-events.json")
    check_table(trace)
    assert trace.metadata["repaired"] == 0
    assert _slices(trace) == {"A": (0, 10), "B": (1, 1), "C": (2, 2), "D": (3, 3)}


@pytest.mark.parametrize("name", ["simple-with-samples.json", "multi-thread-with-samples.json"])
def test_trace_event_samples_and_stack_frames(shared_traces: Path, name: str) -> None:
    path = shared_traces / "speedscope/trace-event" / name
    doc = json.loads(path.read_text())
    trace = load_trace(path)
    check_table(trace)
    frames = doc["stackFrames"]
    # independent: each sample lasts until the next one on its thread; time goes to its leaf
    expected: Counter[str] = Counter()
    by_thread: dict[str, list[dict]] = {}
    for s in doc["samples"]:
        by_thread.setdefault(s["tid"], []).append(s)
    for samples in by_thread.values():
        samples.sort(key=lambda s: float(s["ts"]))
        for a, b in itertools.pairwise(samples):
            expected[frames[str(a["sf"])]["name"]] += float(b["ts"]) - float(a["ts"])
    sampled = trace.events[trace.events["cat"] == "cpu_sample"]
    got = sampled.groupby("name", observed=True)["self_dur"].sum()
    assert {k: v for k, v in got.items() if v} == {k: v for k, v in expected.items() if v}
    assert trace.samples is not None and len(trace.samples) == len(doc["samples"])
    # the string tids ("1", "7695") became ints; M events named the threads
    names = dict(zip(trace.threads["tid"], trace.threads["thread_name"], strict=True))
    assert names[int(doc["traceEvents"][1]["tid"])] == doc["traceEvents"][1]["args"]["name"]


def _read(events: list | dict) -> object:
    return read_chrome(orjson.dumps(events), "inline.json")


def test_every_phase_lands_in_its_table() -> None:
    events = [
        {"ph": "M", "pid": 1, "tid": 2, "name": "thread_name", "args": {"name": "main"}},
        {"ph": "M", "pid": 1, "tid": 2, "name": "thread_sort_index", "args": {"sort_index": 5}},
        {"ph": "M", "pid": 1, "name": "process_name", "args": {"name": "app"}},
        {"ph": "M", "pid": 1, "name": "process_sort_index", "args": {"sort_index": -3}},
        {"ph": "X", "pid": 1, "tid": 2, "ts": 0, "dur": 100, "name": "run", "cat": "top",
         "args": {"k": 1}},
        {"ph": "B", "pid": 1, "tid": 2, "ts": 10, "name": "step", "args": {"a": 1}},
        {"ph": "s", "pid": 1, "tid": 2, "ts": 15, "id": 7, "name": "f", "cat": "flow"},
        {"ph": "E", "pid": 1, "tid": 2, "ts": 30, "args": {"b": 2}},
        {"ph": "X", "pid": 1, "tid": 3, "ts": 40, "dur": 5, "name": "work", "args": {}},
        {"ph": "f", "pid": 1, "tid": 3, "ts": 38, "id": 7, "name": "f", "cat": "flow"},
        {"ph": "f", "pid": 1, "tid": 3, "ts": 42, "id": 8, "bp": "e", "name": "g"},
        {"ph": "i", "pid": 1, "tid": 2, "ts": 50, "name": "mark", "s": "g"},
        {"ph": "I", "pid": 1, "tid": 2, "ts": 51, "name": "mark2"},
        {"ph": "C", "pid": 1, "ts": 60, "name": "mem", "args": {"heap": 10, "rss": 20.5,
                                                               "label": "x"}},
        {"ph": "C", "pid": 1, "ts": 61, "name": "mem", "id": 3, "args": {"heap": 11}},
        {"ph": "b", "pid": 1, "tid": 2, "ts": 5, "id": "0xa", "cat": "net", "name": "req"},
        {"ph": "b", "pid": 1, "tid": 9, "ts": 6, "id": "0xa", "cat": "net", "name": "dns"},
        {"ph": "e", "pid": 1, "tid": 9, "ts": 9, "id": "0xa", "cat": "net", "name": "dns"},
        {"ph": "n", "pid": 1, "tid": 2, "ts": 7, "id": "0xa", "cat": "net", "name": "hop"},
        {"ph": "e", "pid": 1, "tid": 2, "ts": 200, "id": "0xa", "cat": "net", "name": "req"},
        {"ph": "v", "pid": 1, "ts": 1, "name": "memory dump"},
    ]
    trace = _read({"traceEvents": events, "displayTimeUnit": "ns"})
    check_table(trace)
    ev = trace.events
    by = {r.name: r for r in ev.itertuples()}
    # B/E on thread 2 nests in the X "run"; E args are merged into the slice's args
    assert ev.loc[by["step"].parent, "name"] == "run"
    assert by["step"].args == {"a": 1, "b": 2} and by["run"].args == {"k": 1}
    assert by["work"].args is None  # empty args -> None
    # async slices: one synthetic track per (process, cat, id), nested there, never in tid 2
    assert by["req"].tid == by["dns"].tid >= ASYNC_TID_BASE
    assert ev.loc[by["dns"].parent, "name"] == "req" and by["req"].dur == 195
    th = trace.threads.set_index(["pid", "tid"])
    assert th.loc[(1, by["req"].tid), "kind"] == "async"
    assert th.loc[(1, 2), "thread_name"] == "main" and th.loc[(1, 2), "sort_index"] == 5
    assert th.loc[(1, 2), "process_name"] == "app"
    assert th.loc[(1, 2), "process_sort_index"] == -3
    # flows: "s" binds to the enclosing slice, "f" to the next one, "f" + bp "e" encloses
    fl = trace.flows.set_index(["id", "ph"])
    assert ev.loc[fl.loc[("7", "s"), "slice"], "name"] == "step"
    assert ev.loc[fl.loc[("7", "f"), "slice"], "name"] == "work"
    assert ev.loc[fl.loc[("8", "f"), "slice"], "name"] == "work"
    # instants, with the async "n" among them
    inst = trace.instants.set_index("name")
    assert inst.loc["mark", "scope"] == "g" and inst.loc["mark2", "scope"] == "t"
    assert inst.loc["hop", "scope"] == "async"
    # counters: one row per numeric args key; the id joins the name
    c = trace.counters
    assert sorted(zip(c["name"], c["series"], c["value"], strict=True)) == [
        ("mem", "heap", 10.0), ("mem", "rss", 20.5), ("mem[3]", "heap", 11.0)]
    assert trace.metadata["display_time_unit"] == "ns"
    assert trace.metadata["ignored_phases"] == {"v": 1}
    assert trace.metadata["event_count"] == len(events)


def test_string_pids_and_tids_map_to_stable_ints_and_keep_their_names() -> None:
    events = [{"ph": "X", "pid": "Spans", "tid": "PyTorch Profiler", "ts": 0, "dur": 9,
               "name": "span"},
              {"ph": "X", "pid": "42", "tid": "7", "ts": 1, "dur": 1, "name": "num"},
              {"ph": "X", "pid": "Spans", "tid": "other", "ts": 0, "dur": 1, "name": "b"}]
    a, b = _read(events), _read(events)
    assert a.events[["pid", "tid"]].equals(b.events[["pid", "tid"]])
    by = {r.name: r for r in a.events.itertuples()}
    assert (by["num"].pid, by["num"].tid) == (42, 7)
    assert by["span"].pid == by["b"].pid != by["num"].pid
    th = a.threads.set_index(["pid", "tid"])
    assert th.loc[(by["span"].pid, by["span"].tid), "process_name"] == "Spans"
    assert th.loc[(by["span"].pid, by["span"].tid), "thread_name"] == "PyTorch Profiler"
    assert th.loc[(by["span"].pid, by["span"].tid), "kind"] == "other"


def test_viztracer_recording_counts_and_nesting() -> None:
    """tests/data/viztracer_small.json.gz: a real viztracer run of make_viztracer_trace.py."""
    path = DATA / "viztracer_small.json.gz"
    trace = load_trace(path)
    check_table(trace)
    assert nested_well(trace)
    ev = trace.events
    raw = raw_events(path)
    assert len(ev) == sum(e["ph"] == "X" for e in raw)
    short = ev["name"].astype(str).str.split(" ").str[0]
    counts = short.value_counts()
    assert (counts["leaf"], counts["middle"], counts["outer"], counts["sleepy"]) == (120, 6, 1, 3)
    parents = short.to_numpy()[ev["parent"].to_numpy()]
    assert set(parents[short == "leaf"]) == {"middle"}
    assert set(parents[short == "middle"]) == {"outer"} == set(parents[short == "sleepy"])
    # each middle() has exactly its 20 leaf() children; sleepy() slept >= 2 ms
    kids = ev.loc[short == "leaf", "parent"].value_counts()
    assert len(kids) == 6 and (kids == 20).all()
    assert (ev.loc[short == "sleepy", "self_dur"] >= 2000).all()
    outer = ev[short == "outer"].iloc[0]
    direct = ev.loc[ev["parent"] == outer.name, "dur"].sum()
    assert outer.self_dur == pytest.approx(outer.dur - direct)
    assert trace.threads["thread_name"].tolist() == ["MainThread"]
    assert trace.threads["process_name"].tolist() == ["MainProcess"]


def test_chunked_parser_cuts_only_between_events() -> None:
    # names and args that look like event boundaries, nested objects in args
    events = [{"ph": "X", "pid": 1, "tid": i % 3, "ts": float(i), "dur": 0.5,
               "name": f"n{i % 7}}},{{", "args": {"l": [{"x": i}, {"y": "},{"}]}}
              for i in range(20_000)]
    for doc in (orjson.dumps(events), orjson.dumps({"a": 1, "traceEvents": events,
                                                    "z": [{"q": 1}, {"r": 2}]})):
        parsed = parse_events(doc, "x", chunk_bytes=40_000)
        chunks = list(parsed.chunks)
        assert len(chunks) > 10
        got = [e for _, c, _ in chunks for e in c]
        assert got == events
        assert [first for first, _, _ in chunks] == list(
            np.cumsum([0] + [len(c) for _, c, _ in chunks])[:-1])
    assert parsed.header == {"a": 1, "z": [{"q": 1}, {"r": 2}]}


@pytest.mark.parametrize("lead", [b"", b" \n\t", b"\xef\xbb\xbf", b"\n\xef\xbb\xbf  "])
def test_chunked_parser_skips_leading_space_and_byte_order_mark(lead: bytes) -> None:
    events = [{"ph": "X", "pid": 1, "tid": 1, "ts": float(i), "dur": 0.5, "name": f"n{i % 5}"}
              for i in range(5_000)]
    for body in (orjson.dumps(events), orjson.dumps({"traceEvents": events, "z": 1})):
        parsed = parse_events(lead + body, "x", chunk_bytes=20_000)
        chunks = list(parsed.chunks)
        assert len(chunks) > 3
        assert [e for _, c, _ in chunks for e in c] == events


def test_instant_strings_are_shared_across_events() -> None:
    # the parser makes a new str per event; a trace of many identical instants keeps one
    events = [{"ph": "i", "pid": 1, "tid": 1, "ts": float(i), "s": "t", "name": "[memory]",
               "cat": "cpu_instant_event", "args": {"Bytes": i}} for i in range(3_000)]
    events += [{"ph": "s", "id": i, "pid": 1, "tid": 1, "ts": float(i), "name": "ac2g",
                "cat": "ac2g"} for i in range(3_000)]
    events += [{"ph": "f", "id": i, "bp": "e", "pid": 1, "tid": 2, "ts": float(i) + 0.5,
                "name": "ac2g", "cat": "ac2g"} for i in range(3_000)]
    trace = load_trace(orjson.dumps(events))
    inst = trace.instants
    assert len(inst) == 3_000 and inst["name"].eq("[memory]").all()
    for col in ("name", "cat", "scope"):
        assert len({id(v) for v in inst[col]}) == 1, col
    assert inst["args"].map(lambda a: a["Bytes"]).tolist() == list(range(3_000))
    fl = trace.flows
    assert len(fl) == 6_000 and fl["id"].nunique() == 3_000
    assert len({id(v) for v in fl["id"]}) == 3_000  # each s/f pair shares its id string


def test_large_document_goes_through_chunks_and_matches_plain_json() -> None:
    rng = np.random.default_rng(3)
    n = 120_000
    names = [f"func_{k} (/src/mod.py:{k})" for k in range(50)]
    events = []
    for i in range(n):
        events.append({"pid": 1, "tid": int(rng.integers(0, 4)), "ts": float(i * 10),
                       "dur": float(rng.integers(1, 9)), "ph": "X", "cat": "fee",
                       "name": names[int(rng.integers(0, 50))],
                       **({"args": {"i": i}} if i % 1000 == 0 else {})})
    doc = json.dumps({"traceEvents": events, "displayTimeUnit": "ms"}).encode()
    assert len(doc) > 2 * CHUNK_BYTES  # the chunked path runs
    trace = load_trace(gzip.compress(doc, compresslevel=1))
    check_table(trace)
    ev = trace.events
    assert len(ev) == n
    expected = Counter()
    for e in events:
        expected[e["name"]] += e["dur"]
    got = ev.groupby("name", observed=True)["dur"].sum().to_dict()
    assert got == dict(expected)
    assert ev["args"].notna().sum() == n // 1000
    assert trace.metadata["display_time_unit"] == "ms"


def test_truncated_large_document_names_the_byte(tmp_path: Path) -> None:
    events = [{"ph": "X", "pid": 1, "tid": 1, "ts": i, "dur": 1, "name": "x" * 40}
              for i in range(250_000)]
    doc = orjson.dumps(events)
    cut = len(doc) - 1000
    path = tmp_path / "cut.json"
    path.write_bytes(doc[:cut])
    with pytest.raises(TraceFormatError) as info:
        load_trace(path)
    assert info.value.source == str(path)
    assert f"(byte {cut})" in info.value.position and "truncated" in info.value.problem
