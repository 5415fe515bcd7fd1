"""Property-based tests of the Chrome reader: any event list (garbage included) gives a Trace
whose invariants hold, or a TraceFormatError; never another exception."""

from __future__ import annotations

from typing import Any

import orjson
import pytest
from chrome_checks import check_table, nested_well
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from jupyter_assistant import Trace, TraceFormatError
from jupyter_assistant.traces import _jsonchunks
from jupyter_assistant.traces._jsonchunks import parse_events
from jupyter_assistant.traces.chrome import read_chrome

SETTINGS = settings(max_examples=200, deadline=None,
                    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])

garbage = st.one_of(st.none(), st.booleans(), st.text(max_size=4),
                    st.lists(st.integers(-3, 3), max_size=2),
                    st.dictionaries(st.text(max_size=2), st.integers(-3, 3), max_size=2),
                    st.floats(-1e3, 1e3, allow_nan=False), st.integers(-10, 10))
time = st.one_of(st.integers(0, 60), st.floats(0, 60, allow_nan=False).map(lambda x: round(x, 3)))
maybe = st.one_of(time, garbage)  # mostly a time, sometimes anything


def _event(allow_garbage: bool) -> st.SearchStrategy[dict]:
    def v(good: st.SearchStrategy) -> st.SearchStrategy:
        return st.one_of(good, good, good, garbage) if allow_garbage else good

    return st.fixed_dictionaries({
        "ph": v(st.sampled_from(list("XXXXBEBEiIRCMstfbenSFP"))),
        "ts": v(time),
        "pid": v(st.one_of(st.integers(0, 2), st.sampled_from(["Spans", "7", ""]))),
        "tid": v(st.integers(0, 2)),
    }, optional={
        "dur": v(st.integers(0, 30)),
        "tdur": v(st.integers(0, 5)),
        "name": v(st.sampled_from(["a", "b", "c", "process_name", "thread_name",
                                   "Profile", "ProfileChunk"])),
        "cat": v(st.sampled_from(["x", "cpu_op", "kernel", "ac2g"])),
        "id": v(st.integers(0, 3)),
        "bp": st.just("e"),
        "s": v(st.sampled_from(["g", "p", "t"])),
        "args": v(st.one_of(st.just({}), st.fixed_dictionaries(
            {}, optional={"name": st.text(max_size=3), "sort_index": st.integers(-2, 2),
                          "v": st.integers(0, 9), "correlation": st.integers(0, 3),
                          "stream": st.integers(0, 2), "data": garbage}))),
    })


def _document(allow_garbage: bool) -> st.SearchStrategy[bytes]:
    events = st.lists(st.one_of(_event(allow_garbage), garbage) if allow_garbage
                      else _event(False), max_size=25)
    return st.one_of(
        events.map(orjson.dumps),
        events.map(lambda e: orjson.dumps({"traceEvents": e, "displayTimeUnit": "ns"})),
        events.map(lambda e: orjson.dumps({"traceEvents": e, "distributedInfo": {"rank": 1},
                                           "stackFrames": {"1": {"name": "f"}},
                                           "samples": [{"ts": 1, "sf": 1}, {"ts": 4, "sf": 1}]})),
        events.map(lambda e: orjson.dumps(e)[:-1]),  # array without its closing "]"
    )


def _read(data: bytes) -> Trace | None:
    try:
        trace = read_chrome(data, "fuzz")
    except TraceFormatError as exc:
        assert exc.source == "fuzz" and exc.problem
        return None
    check_table(trace)
    meta = trace.metadata
    assert meta["format"] in ("chrome", "devtools", "kineto")
    assert meta["repaired"] >= 0 and isinstance(meta["warnings"], list)
    return trace


@SETTINGS
@given(_document(allow_garbage=True))
def test_any_event_list(data: bytes) -> None:
    _read(data)


@SETTINGS
@given(_document(allow_garbage=False))
def test_well_typed_event_lists_load(data: bytes) -> None:
    try:
        doc = orjson.loads(data)
    except orjson.JSONDecodeError:  # the form without a closing "]"
        doc = orjson.loads(data + b"]")
    events = doc if isinstance(doc, list) else doc["traceEvents"]
    assume(all(e.get("ph") != "X" or e.get("dur", e.get("tdur", 0)) >= 0 for e in events))
    trace = _read(data)
    assert trace is not None
    n_x = sum(e["ph"] == "X" for e in events)
    assert (trace.events["cat"] != "cpu_sample").sum() >= n_x


@SETTINGS
@given(st.binary(max_size=300) | _document(allow_garbage=True).flatmap(
    lambda d: st.integers(0, len(d)).map(lambda k: d[:k])))
def test_truncated_or_random_bytes(data: bytes) -> None:
    _read(data)


@st.composite
def _nested(draw: st.DrawFn) -> list[dict]:
    """Well-nested X slices on a few threads (each child strictly inside its parent)."""
    out: list[dict] = []

    def tree(tid: int, start: int, end: int, depth: int) -> None:
        t = start
        while t < end and depth < 5 and draw(st.booleans()):
            a = draw(st.integers(t, end))
            b = draw(st.integers(a, end))
            out.append({"ph": "X", "pid": 1, "tid": tid, "ts": a, "dur": b - a,
                        "name": draw(st.sampled_from("pqrs"))})
            tree(tid, a, b, depth + 1)
            t = b + 1
    for tid in range(draw(st.integers(1, 3))):
        tree(tid, 0, 200, 0)
    return draw(st.permutations(out))


@SETTINGS
@given(_nested())
def test_nested_slices_nest_exactly(events: list[dict]) -> None:
    trace = read_chrome(orjson.dumps(events), "nested")
    check_table(trace)
    ev = trace.events
    assert len(ev) == len(events) and trace.metadata["overlapping"] == 0
    # zero-length slices may sit on a parent's edge; every other child is strictly inside
    assert nested_well(trace)
    children = ev[ev["parent"] >= 0].groupby("parent")["dur"].sum()
    expected = ev["dur"].sub(children.reindex(ev.index, fill_value=0.0))
    assert (ev["self_dur"] == expected.clip(lower=0)).all()


@SETTINGS
@given(st.lists(_event(True), max_size=60), st.integers(16, 400))
def test_chunked_parse_equals_one_parse(events: list, chunk: int) -> None:
    for doc in (events, {"traceEvents": events, "tail": [{"x": "},{"}, {"y": 1}]}):
        data = orjson.dumps(doc)
        parsed = parse_events(data, "c", chunk_bytes=chunk)
        got = [e for _, c, _ in parsed.chunks for e in c]
        assert got == events
        if isinstance(doc, dict):
            assert parsed.header == {"tail": doc["tail"]}


def _pieces(data: bytes, sizes: list[int]) -> list[bytes]:
    out, at, k = [], 0, 0
    while at < len(data):
        n = sizes[k % len(sizes)]
        out.append(data[at:at + n])
        at, k = at + n, k + 1
    return out


def _outcome(data: bytes | list[bytes], chunk: int) -> tuple:
    """Events, header and warnings of a chunked parse, or the error's position and problem."""
    try:
        parsed = parse_events(data, "c", chunk_bytes=chunk)
        events = [e for _, c, _ in parsed.chunks for e in c]
    except TraceFormatError as exc:
        return ("error", exc.position, exc.problem)
    return ("ok", events, parsed.header, parsed.form, parsed.warnings)


@SETTINGS
@given(st.lists(_event(True), max_size=60), st.integers(16, 400),
       st.lists(st.integers(1, 300), min_size=1, max_size=5), st.integers(0, 2),
       st.sampled_from([b"", b"\n  ", b"\xef\xbb\xbf"]), st.integers(-1, 400))
def test_parse_from_pieces_equals_parse_from_bytes(
        events: list, chunk: int, sizes: list[int], form: int, lead: bytes, cut: int) -> None:
    # pretty-printed (newlines for line numbers), sometimes cut short or broken in the middle
    doc: Any = [events, {"traceEvents": events, "tail": [{"x": "},{"}]},
                {"otherEvents": events}][form]
    data = lead + orjson.dumps(doc, option=orjson.OPT_INDENT_2)
    if cut >= 0:
        data = data[:cut] + data[cut + 1:] if cut % 3 else data[:cut]
    with pytest.MonkeyPatch.context() as mp:
        # drop parsed text after a few bytes (not 1 MiB), so that small documents exercise
        # the line counting of dropped text
        mp.setattr(_jsonchunks, "_DROP_BYTES", 8)
        got = _outcome(_pieces(data, sizes), chunk)
    # from bytes, positions come from json_position over the whole document
    assert got == _outcome(data, chunk)
    whole = _outcome(data, 1 << 30)  # one orjson.loads of the document
    assert got[0] == whole[0]
    if got[0] == "ok":
        assert got[1:3] == whole[1:3]


@pytest.mark.parametrize("cut", range(1, 40))
def test_every_truncation_of_a_small_trace(cut: int) -> None:
    data = orjson.dumps([{"ph": "B", "ts": 1, "name": "a"}, {"ph": "E", "ts": 3}])
    _read(data[:cut])


node_id = st.one_of(st.integers(1, 6), garbage)
nodes = st.lists(st.fixed_dictionaries(
    {"id": node_id},
    optional={"parent": node_id, "children": st.lists(node_id, max_size=3),
              "callFrame": st.one_of(garbage, st.fixed_dictionaries(
                  {}, optional={"functionName": st.sampled_from(
                      ["", "f", "g", "(root)", "(idle)", "(program)", "(garbage collector)"]),
                      "url": st.sampled_from(["", "a.js", "native dummy.js"]),
                      "lineNumber": st.one_of(st.integers(-1, 9), garbage)}))}), max_size=8)
samples = st.lists(node_id, max_size=30)
deltas = st.lists(st.one_of(st.integers(-5, 50), garbage), max_size=30)


@SETTINGS
@given(nodes, samples, deltas, st.integers(0, 2))
def test_devtools_profile_events(nodes: list, samples: list, deltas: list, split: int) -> None:
    chunks = [{"ph": "P", "name": "ProfileChunk", "pid": 1, "tid": 9, "ts": 5 + k, "id": "0x1",
               "args": {"data": {"cpuProfile": {"nodes": nodes[k::split + 1],
                                                "samples": samples[k::split + 1]},
                                 "timeDeltas": deltas[k::split + 1]}}}
              for k in range(split + 1)]
    events = [{"ph": "X", "name": "FunctionCall", "pid": 1, "tid": 2, "ts": 10, "dur": 200},
              {"ph": "P", "name": "Profile", "pid": 1, "tid": 2, "ts": 1, "id": "0x1",
               "args": {"data": {"startTime": 0}}}, *chunks]
    trace = _read(orjson.dumps(events))
    assert trace is not None and trace.format == "devtools"
    sampled = trace.events[trace.events["cat"] == "cpu_sample"]
    assert set(sampled["tid"]) <= {2}


@SETTINGS
@given(nodes, samples, deltas, st.booleans())
def test_cpuprofile_reader(nodes: list, samples: list, deltas: list, old: bool) -> None:
    from jupyter_assistant.traces.cpuprofile import read_cpuprofile

    doc = ({"head": nodes[0] if nodes else {}, "samples": samples, "timestamps": deltas,
            "startTime": 1} if old else
           {"nodes": nodes, "samples": samples, "timeDeltas": deltas, "startTime": 0})
    try:
        trace = read_cpuprofile(orjson.dumps(doc), "p.cpuprofile")
    except TraceFormatError as exc:
        assert exc.source == "p.cpuprofile"
        return
    check_table(trace)
    assert nested_well(trace)


rows = st.lists(st.tuples(st.integers(0, 2), st.integers(-1, 2), st.integers(0, 12),
                          st.integers(0, 6)), min_size=1, max_size=80)


@SETTINGS
@given(rows, st.booleans())
def test_fast_sort_order_equals_lexsort(data: list, big_ids: bool) -> None:
    import numpy as np

    from jupyter_assistant.traces._slices import _order

    pid, tid, ts, dur = (np.array(c) for c in zip(*data, strict=True))
    pid = pid * (1 << 41) if big_ids else pid
    ts, dur = ts.astype(float), dur.astype(float)
    assert np.array_equal(_order(pid, tid, ts, dur), np.lexsort((-dur, ts, tid, pid)))


@SETTINGS
@given(rows)
def test_vectorised_nesting_equals_the_stack_loop(data: list) -> None:
    import numpy as np

    from jupyter_assistant.traces._slices import _nest

    pid, tid, ts, dur = (np.array(c, dtype=float) for c in zip(*data, strict=True))
    order = np.lexsort((-dur, ts, tid, pid))
    pid, tid, ts, dur = pid[order], tid[order], ts[order], dur[order]
    new = np.ones(len(ts), dtype=bool)
    new[1:] = (pid[1:] != pid[:-1]) | (tid[1:] != tid[:-1])
    parent, depth = _nest(ts, ts + dur, new)
    stack: list[int] = []
    for i in range(len(ts)):  # the plain per-thread stack
        if new[i]:
            stack = []
        while stack and ts[stack[-1]] + dur[stack[-1]] <= ts[i]:
            stack.pop()
        assert parent[i] == (stack[-1] if stack else -1) and depth[i] == len(stack)
        stack.append(i)
