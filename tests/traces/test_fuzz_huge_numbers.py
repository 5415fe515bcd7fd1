"""Property-based tests with huge integers and floats in every numeric field of every
importer: past int64 (``2**63``, ``99999999999999999999``), past uint64, near the float
limits (``1e308``, subnormals), negative ones. Each input gives a Trace whose invariants hold
*and whose analyses run* (summary, hotspots, thread and GPU breakdowns), or a
TraceFormatError; never another exception. (A Kineto trace with ``"args": {"stream":
99999999999999999999}`` once loaded and then failed every ``summary()`` with OverflowError.)

Documents are written with the standard library's ``json`` (orjson cannot write integers past
64 bits); the readers parse them with orjson, which reads integers up to 2**64 - 1 as int,
larger ones as float, and refuses numbers that overflow a double.
"""

from __future__ import annotations

import json
import marshal
from typing import Any

import pytest
from chrome_checks import check_table
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from stack_import_checks import check_invariants

from jupyter_assistant import Trace, TraceFormatError, load_trace
from jupyter_assistant.traces.cprofile import read_cprofile
from jupyter_assistant.traces.cpuprofile import read_cpuprofile
from jupyter_assistant.traces.folded import read_folded
from jupyter_assistant.traces.speedscope import read_speedscope

SETTINGS = settings(max_examples=80, deadline=None,
                    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])

HUGE_INTS = [2**63 - 1, 2**63, -(2**63), -(2**63) - 1, 2**64 - 1, 2**64, 10**20,
             99999999999999999999, -(10**20), 10**308, 10**400]
HUGE_FLOATS = [1e308, -1e308, 1.7976931348623157e308, 1e300, 1e20, 9.3e18, 2.0**63,
               5e-324, -5e-324, 1e-300]
huge = st.one_of(st.sampled_from(HUGE_INTS + HUGE_FLOATS), st.integers(2**53, 10**30),
                 st.integers(-(10**30), -(2**53)), st.floats(1e15, 1e308),
                 st.floats(-1e308, -1e15))


def num(normal: st.SearchStrategy[Any]) -> st.SearchStrategy[Any]:
    """Mostly ``normal``, often huge."""
    return st.one_of(normal, normal, huge)


small = st.integers(0, 50)


def _analyse(trace: Trace) -> None:
    """Everything a user (or the model's tools) runs on a loaded trace."""
    trace.summary(max_tokens=600)
    trace.hotspots(n=5)
    trace.thread_utilization()
    trace.idle_gaps(min_gap_us=1.0)
    trace.long_slices(n=5)
    trace.temporal_breakdown()
    trace.kernel_type_breakdown()
    trace.kernel_breakdown()


def _load_or_refuse(data: bytes) -> Trace | None:
    try:
        trace = load_trace(data)
    except TraceFormatError as exc:
        assert exc.problem
        return None
    check_table(trace)
    _analyse(trace)
    return trace


# -- Chrome / Kineto ---------------------------------------------------------------------
@st.composite
def kineto_doc(draw: st.DrawFn) -> dict[str, Any]:
    """A small Kineto trace (CPU op -> runtime launch -> kernel, a memcpy, a flow, a
    counter, metadata) with huge numbers drawn into every numeric field."""
    def n(normal: st.SearchStrategy[Any] = small) -> Any:
        return draw(num(normal))

    corr, ext, dev = n(), n(), n(st.integers(0, 3))
    events = [
        {"ph": "M", "name": "process_name", "pid": dev, "tid": 0, "args": {"name": "GPU 0"}},
        {"ph": "M", "name": "process_sort_index", "pid": dev, "args": {"sort_index": n()}},
        {"ph": "M", "name": "thread_name", "pid": n(), "tid": n(), "args": {"name": "main"}},
        {"ph": "X", "cat": "user_annotation", "name": f"ProfilerStep#{n()}", "pid": 1,
         "tid": 1, "ts": n(), "dur": n()},
        {"ph": "X", "cat": "cpu_op", "name": "aten::mm", "pid": n(), "tid": n(), "ts": n(),
         "dur": n(), "args": {"External id": ext, "Sequence number": n(), "Fwd thread id": n(),
                              "Record function id": n()}},
        {"ph": "X", "cat": "cuda_runtime", "name": "cudaLaunchKernel", "pid": 1, "tid": 1,
         "ts": n(), "dur": n(), "args": {"correlation": corr, "External id": ext,
                                         "cbid": n()}},
        {"ph": "X", "cat": "kernel", "name": "sgemm", "pid": dev, "tid": n(st.integers(7, 9)),
         "ts": n(), "dur": n(), "args": {
             "stream": n(st.integers(7, 9)), "correlation": corr, "External id": ext,
             "device": dev, "context": n(), "registers per thread": n(),
             "shared memory": n(), "blocks per SM": n(st.floats(0, 8)),
             "warps per SM": n(st.floats(0, 64)), "grid": [n(), n(), n()],
             "block": [n(), n(), n()], "est. achieved occupancy %": n()}},
        {"ph": "X", "cat": "gpu_memcpy", "name": "Memcpy HtoD (Pageable -> Device)",
         "pid": dev, "tid": 7, "ts": n(), "dur": n(),
         "args": {"stream": n(), "correlation": n(), "bytes": n(), "memory bandwidth (GB/s)": n(
             st.floats(0, 100))}},
        {"ph": "X", "cat": "gpu_user_annotation", "name": "nccl:all_reduce", "pid": dev,
         "tid": 7, "ts": n(), "dur": n(), "args": {"stream": n()}},
        {"ph": "s", "cat": "ac2g", "name": "ac2g", "id": corr, "pid": 1, "tid": 1, "ts": n()},
        {"ph": "f", "cat": "ac2g", "name": "ac2g", "id": corr, "pid": dev, "tid": 7,
         "ts": n(), "bp": "e"},
        {"ph": "C", "name": "memory", "pid": n(), "tid": 0, "ts": n(),
         "args": {"Total Allocated": n(), "Total Reserved": n()}},
        {"ph": "i", "cat": "cpu_instant_event", "name": "[memory]", "pid": 1, "tid": 1,
         "ts": n(), "s": "t", "args": {"Bytes": n(), "Addr": n(), "Device Id": n()}},
        {"ph": "B", "name": "b", "pid": 2, "tid": n(), "ts": n()},
        {"ph": "E", "name": "b", "pid": 2, "tid": n(), "ts": n()},
    ]
    keep = draw(st.lists(st.booleans(), min_size=len(events), max_size=len(events)))
    doc: dict[str, Any] = {
        "schemaVersion": n(), "traceEvents": [e for e, k in zip(events, keep, strict=True) if k],
        "deviceProperties": [{"id": dev, "name": "NVIDIA H200", "totalGlobalMem": n(),
                              "computeMajor": n(), "numSms": n(), "maxThreadsPerBlock": n()}],
        "baseTimeNanoseconds": n()}
    if draw(st.booleans()):
        doc["distributedInfo"] = {"rank": n(st.integers(0, 7)), "world_size": n(),
                                  "backend": "nccl"}
    if draw(st.booleans()):
        doc["displayTimeUnit"] = "ns"
    return doc


@SETTINGS
@given(kineto_doc())
def test_kineto_with_huge_numbers_loads_and_analyses_or_refuses(doc: dict[str, Any]) -> None:
    _load_or_refuse(json.dumps(doc).encode())


def test_the_reported_cases_load_and_analyse() -> None:
    # "args": {"stream": 99999999999999999999} and distributedInfo.rank 2**63
    base = {"ph": "X", "cat": "kernel", "name": "k", "pid": 0, "tid": 7, "ts": 10, "dur": 5}
    stream = {"traceEvents": [{**base, "args": {"stream": 99999999999999999999,
                                                "correlation": 1}}], "schemaVersion": 1}
    trace = _load_or_refuse(json.dumps(stream).encode())
    # a stream that fits no int64 is read as absent: HTA then counts no GPU kernel
    assert trace is not None and len(trace.temporal_breakdown()) == 0
    assert trace.events["stream"].tolist() == [7]  # the reader fell back to the tid
    ranked = {"traceEvents": [base], "distributedInfo": {"rank": 9223372036854775808}}
    trace = _load_or_refuse(json.dumps(ranked).encode())
    assert trace is not None and trace.metadata["rank"] is None
    assert any("9223372036854775808 is out of range" in w for w in trace.metadata["warnings"])
    step = {"traceEvents": [{**base, "cat": "user_annotation",
                             "name": "ProfilerStep#" + "9" * 5000}], "schemaVersion": 1}
    trace = _load_or_refuse(json.dumps(step).encode())
    assert trace is not None and trace.metadata["profiler_steps"] == []


@st.composite
def chrome_doc(draw: st.DrawFn) -> Any:
    """Plain Chrome / DevTools events, huge numbers in ts, dur, tdur, pid, tid, id, args,
    and in a CPU profile's timeDeltas, ids and line numbers."""
    def n(normal: st.SearchStrategy[Any] = small) -> Any:
        return draw(num(normal))

    events = [{"ph": draw(st.sampled_from(list("XBEiICbens"))), "name": "f", "pid": n(),
               "tid": n(), "ts": n(), "dur": n(), "tdur": n(), "id": n(),
               "args": {"v": n(), "sort_index": n()}}
              for _ in range(draw(st.integers(0, 6)))]
    node = {"id": n(st.integers(1, 3)), "parent": n(st.integers(1, 3)),
            "callFrame": {"functionName": "g", "url": "a.js", "lineNumber": n(),
                          "columnNumber": n()}}
    events += [
        {"ph": "P", "name": "Profile", "pid": 1, "tid": 2, "ts": n(), "id": "0x1",
         "args": {"data": {"startTime": n()}}},
        {"ph": "P", "name": "ProfileChunk", "pid": 1, "tid": 2, "ts": n(), "id": "0x1",
         "args": {"data": {"cpuProfile": {"nodes": [node], "samples": [n(), n()]},
                           "timeDeltas": [n(), n()]}}},
    ]
    return {"traceEvents": events} if draw(st.booleans()) else events


@SETTINGS
@given(chrome_doc())
def test_chrome_with_huge_numbers_loads_and_analyses_or_refuses(doc: Any) -> None:
    _load_or_refuse(json.dumps(doc).encode())


# -- the other importers -------------------------------------------------------------------
@st.composite
def cpuprofile_doc(draw: st.DrawFn) -> dict[str, Any]:
    def n(normal: st.SearchStrategy[Any] = small) -> Any:
        return draw(num(normal))

    nodes = [{"id": n(st.integers(1, 4)), "children": [n(st.integers(1, 4))],
              "hitCount": n(), "callFrame": {"functionName": f"f{i}", "url": "", "lineNumber":
                                             n(), "columnNumber": n(), "scriptId": n()}}
             for i in range(draw(st.integers(1, 4)))]
    return {"nodes": nodes, "startTime": n(), "endTime": n(),
            "samples": [n(st.integers(1, 4)) for _ in range(draw(st.integers(0, 6)))],
            "timeDeltas": [n() for _ in range(draw(st.integers(0, 6)))]}


@SETTINGS
@given(cpuprofile_doc())
def test_cpuprofile_with_huge_numbers(doc: dict[str, Any]) -> None:
    try:
        trace = read_cpuprofile(json.dumps(doc).encode(), "p.cpuprofile")
    except TraceFormatError:
        return
    check_table(trace)
    _analyse(trace)


@st.composite
def speedscope_doc(draw: st.DrawFn) -> dict[str, Any]:
    def n(normal: st.SearchStrategy[Any] = small) -> Any:
        return draw(num(normal))

    frames = [{"name": f"f{i}", "line": n(), "col": n()} for i in range(3)]
    evented = {"type": "evented", "name": "e", "unit": draw(st.sampled_from(
        ["microseconds", "seconds", "nanoseconds", "none"])), "startValue": n(),
        "endValue": n(), "events": [{"type": t, "at": n(), "frame": n(st.integers(0, 2))}
                                    for t in "OOCC"]}
    sampled = {"type": "sampled", "name": "s", "unit": "milliseconds", "startValue": n(),
               "endValue": n(), "samples": [[n(st.integers(0, 2))], [0, 1]],
               "weights": [n(), n()]}
    return {"$schema": "https://www.speedscope.app/file-format-schema.json",
            "shared": {"frames": frames}, "profiles": [evented, sampled],
            "activeProfileIndex": n()}


@SETTINGS
@given(speedscope_doc())
def test_speedscope_with_huge_numbers(doc: dict[str, Any]) -> None:
    try:
        trace = read_speedscope(json.dumps(doc).encode(), "p.speedscope.json")
    except TraceFormatError:
        return
    check_invariants(trace)
    _analyse(trace)


huge_text = huge.map(lambda v: str(v) if not isinstance(v, int) or abs(v) < 10**4000
                     else "9" * 5000)


@SETTINGS
@given(st.lists(st.tuples(st.sampled_from(["a;b", "a", "thread (7);c", "b;c;d"]),
                          st.one_of(small.map(str), huge_text, st.just("9" * 5000))),
                max_size=8),
       st.one_of(st.none(), st.sampled_from([1e20, 1e300, 1.7976931348623157e308]),
                 st.floats(1e15, 1e308)))
def test_folded_with_huge_counts(lines: list[tuple[str, str]], interval: float | None) -> None:
    data = "\n".join(f"{stack} {count}" for stack, count in lines).encode()
    try:
        trace = read_folded(data, "fuzz", interval_us=interval)
    except TraceFormatError:
        return
    check_invariants(trace)
    _analyse(trace)


def test_folded_count_at_the_float_maximum() -> None:
    """Found by the test above: a count just below the float maximum passed the sum check,
    then snapping it to the time grid rounded it up to 2**1024 (an overflow, inf)."""
    count = str(int(1.7976931348623157e308))
    for data in (f"a {count}", f"a;b {count}\na 5"):
        with pytest.raises(TraceFormatError, match="more than a float can hold"):
            read_folded(data.encode(), "fuzz")
    trace = read_folded(f"a {int(2.0**1000)}".encode(), "fuzz")  # large but on the grid
    check_invariants(trace)
    _analyse(trace)


@SETTINGS
@given(st.lists(st.tuples(num(small), num(small), num(st.floats(0, 2)), num(st.floats(0, 2))),
                min_size=1, max_size=3))
def test_pstats_with_huge_counts_and_times(rows: list[tuple[Any, ...]]) -> None:
    keys = [("m.py", 1, "f"), ("m.py", 5, "g"), ("n.py", 2, "h")]
    stats = {}
    for i, (cc, nc, tt, ct) in enumerate(rows):
        callers = {keys[(i + 1) % 3]: (cc, nc, tt, ct)} if i else {}
        stats[keys[i]] = (cc, nc, tt, ct, callers)
    try:
        data = marshal.dumps(stats)
    except ValueError:  # marshal cannot write it
        return
    try:
        trace = read_cprofile(data, "fuzz")
    except TraceFormatError:
        return
    check_invariants(trace)
    _analyse(trace)
