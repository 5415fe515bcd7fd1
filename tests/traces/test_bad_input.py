"""Bad input to the Chrome-family readers: a TraceFormatError naming file, position and
problem, or a correct result; never another exception."""

from __future__ import annotations

import gzip
import zlib
from pathlib import Path

import numpy as np
import orjson
import pytest
from chrome_checks import check_table

from jupyter_assistant import TraceFormatError, load_trace


def _error(tmp_path: Path, data: bytes, name: str = "bad.json", **kw) -> TraceFormatError:
    path = tmp_path / name
    path.write_bytes(data)
    with pytest.raises(TraceFormatError) as info:
        load_trace(path, **kw)
    err = info.value
    assert err.source == str(path) and str(path) in str(err)
    return err


@pytest.mark.parametrize("data", [b"", b"  \n\t ", gzip.compress(b"")])
def test_empty(tmp_path: Path, data: bytes) -> None:
    err = _error(tmp_path, data)
    assert err.position == "byte 0" and "empty" in err.problem


@pytest.mark.parametrize("data, position, problem", [
    (b'[{"ph": "X", "ts": 1, "dur": 2},\n {"ph": "X", "ts":', "line 2 column 19 (byte 51)",
     "truncated"),
    (b'{"traceEvents": [\n  {"ph": "X", ts: 1}\n]}', "line 2 column 15 (byte 32)",
     "invalid JSON"),
    (b'[\n{"ph": "X", "ts": 1, "dur": 2}\n{"ph": "X"}]', "line 3 column 1 (byte 33)",
     "invalid JSON"),
])
def test_json_errors_give_line_column_and_byte(tmp_path: Path, data: bytes, position: str,
                                               problem: str) -> None:
    err = _error(tmp_path, data)
    assert err.position == position and problem in err.problem


def test_not_a_trace_at_all(tmp_path: Path) -> None:
    err = _error(tmp_path, b"\x00\x01 hello, not a trace \xff")
    assert "unrecognised trace format" in err.problem


@pytest.mark.parametrize("data, position, problem", [
    (b"42", "top level", "got a int"),
    (b"null", "top level", "got a NoneType"),
    (b'{"foo": 1}', "top level", "without a 'traceEvents' key (keys: foo)"),
    (b'{"traceEvents": {"ph": "X"}}', "traceEvents", "must be a list, not dict"),
    (b'[{"ph": "X", "ts": 1, "dur": 1}, 7]', "traceEvents[1]", "must be a JSON object, not 7"),
    (b'[[1, 2]]', "traceEvents[0]", "must be a JSON object"),
    (b'[{"ph": "X", "ts": "soon", "dur": 1}]', "traceEvents[0]", "'ts' is 'soon', not a number"),
    (b'[{"ph": "X", "dur": 1}]', "traceEvents[0]", "has no 'ts'"),
    (b'[{"ph": "X", "ts": [1], "dur": 1}]', "traceEvents[0]", "not a number"),
    (b'[{"ph": "i", "ts": {}, "name": "m"}]', "traceEvents[0]", "not a number"),
    (b'[{"ph": "B", "name": "open"}]', "traceEvents[0]", "the 'B' event has no 'ts'"),
    (b'[{"ph": "X", "ts": 1, "dur": "long"}]', "traceEvents[0]", "'dur' is 'long'"),
    (b'[{"ph": "X", "ts": 0, "dur": 5}, {"ph": "X", "ts": 1, "dur": -2, "name": "neg"}]',
     "traceEvents[1]", "'X' event 'neg' has a negative 'dur' (-2 µs)"),
    (b'{"traceEvents": [{"ph": "X", "ts": 0, "dur": 1}, {"ph": "X", "ts": 1e308, '
     b'"dur": 1e308, "name": "far"}]}', "traceEvents[1]",
     "'X' event 'far' ends out of range ('ts' + 'dur' overflows)"),
])
def test_wrong_shapes_name_the_event(tmp_path: Path, data: bytes, position: str,
                                     problem: str) -> None:
    err = _error(tmp_path, data, format="chrome")
    assert err.position == position and problem in err.problem


def test_missing_dur_uses_tdur_or_zero_with_a_warning() -> None:
    trace = load_trace(b'[{"ph": "X", "ts": 1, "name": "a"}, {"ph": "X", "ts": 5, "tdur": 3,'
                       b' "name": "b"}, {"ph": "X", "ts": 9, "dur": 1, "name": "c"}]')
    check_table(trace)
    dur = dict(zip(trace.events["name"], trace.events["dur"], strict=True))
    assert dur == {"a": 0.0, "b": 3.0, "c": 1.0}
    assert trace.metadata["missing_dur"] == 1
    assert any("'a' has no 'dur'" in w for w in trace.metadata["warnings"])


def test_numeric_strings_are_numbers() -> None:
    trace = load_trace(b'[{"ph": "X", "ts": "10", "dur": "2.5", "pid": "3", "tid": "4"}]')
    row = trace.events.iloc[0]
    assert (row.ts, row.dur, row.pid, row.tid) == (10.0, 2.5, 3, 4)


def test_gzip_bomb_is_refused_without_inflating_it(tmp_path: Path) -> None:
    bomb = gzip.compress(b"[" + b" " * (64 << 20) + b"]", compresslevel=9)
    assert len(bomb) < 200_000
    err = _error(tmp_path, bomb, "bomb.json.gz", max_bytes=8 << 20)
    assert "exceeds the limit of 8,388,608 bytes" in err.problem


def test_a_refused_trace_keeps_no_frame_locals_in_its_traceback() -> None:
    # the error may end up in a reference cycle (a worker thread's future): the text the
    # reader held must not live as long as the error does
    bomb = gzip.compress(b'{"traceEvents": [], "pad": "' + b" " * (16 << 20) + b'"}')
    with pytest.raises(TraceFormatError, match="exceeds the limit") as info:
        load_trace(bomb, max_bytes=4 << 20)
    frames, tb = [], info.value.__traceback__
    while tb is not None:
        frames.append(tb.tb_frame)
        tb = tb.tb_next
    names = [f.f_code.co_name for f in frames]
    assert names[1] == "load_trace" and "_inflate" in names  # it still says where it failed
    # below load_trace, no frame keeps a local (the readers held the inflated text in
    # buffers, windows and lists of pieces)
    assert [(f.f_code.co_name, sorted(f.f_locals)) for f in frames[2:] if f.f_locals] == []


def test_corrupt_and_truncated_gzip(tmp_path: Path) -> None:
    good = gzip.compress(orjson.dumps([{"ph": "X", "ts": i, "dur": 1} for i in range(5000)]))
    err = _error(tmp_path, good[: len(good) // 2], "half.json.gz")
    assert "truncated gzip" in err.problem
    broken = good[:20] + bytes(b ^ 0xFF for b in good[20:60]) + good[60:]
    err = _error(tmp_path, broken, "broken.json.gz")
    assert "corrupt gzip" in err.problem or "invalid JSON" in err.problem
    assert isinstance(zlib.error, type)


def test_unmatched_begin_end_are_repaired_and_counted() -> None:
    events = [{"ph": "E", "pid": 1, "tid": 1, "ts": 1, "name": "lost"},
              {"ph": "B", "pid": 1, "tid": 1, "ts": 2, "name": "outer"},
              {"ph": "B", "pid": 1, "tid": 1, "ts": 3, "name": "inner"},
              {"ph": "X", "pid": 1, "tid": 1, "ts": 4, "dur": 10, "name": "x"}]
    trace = load_trace(orjson.dumps(events))
    check_table(trace)
    assert trace.metadata["repaired"] == 3  # one E dropped, two B closed at the end (ts 14)
    by = {r.name: r for r in trace.events.itertuples()}
    assert by["outer"].end == by["inner"].end == 14
    assert len(trace.metadata["warnings"]) == 3


def test_warnings_stay_bounded() -> None:
    events = [{"ph": "E", "pid": 1, "tid": 1, "ts": i} for i in range(50_000)]
    trace = load_trace(orjson.dumps(events))
    assert trace.metadata["repaired"] == 50_000
    assert len(trace.metadata["warnings"]) == 21
    assert trace.metadata["warnings"][-1] == "... and 49980 more warnings"


def test_a_million_events_on_one_thread() -> None:
    n = 1_000_000
    ts = np.arange(n, dtype=np.float64) * 2
    data = b"[" + b",".join(b'{"ph":"X","pid":1,"tid":1,"ts":%d,"dur":1,"name":"f%d"}'
                            % (t, i % 10) for i, t in enumerate(ts.astype(np.int64))) + b"]"
    trace = load_trace(data)
    ev = trace.events
    assert len(ev) == n and (ev["depth"] == 0).all() and (ev["parent"] == -1).all()
    assert (ev["self_dur"] == 1).all() and np.array_equal(ev["ts"].to_numpy(), ts)
    assert len(trace.threads) == 1


def test_deep_nesting_on_one_thread() -> None:
    n = 200_000
    events = ([{"ph": "B", "pid": 1, "tid": 1, "ts": i, "name": "r"} for i in range(n)]
              + [{"ph": "E", "pid": 1, "tid": 1, "ts": 2 * n - i} for i in range(n)])
    trace = load_trace(orjson.dumps(events))
    ev = trace.events
    assert ev["depth"].max() == n - 1 and trace.metadata["repaired"] == 0
    assert (ev["self_dur"] == 2).all()  # 1 µs before its child and 1 after (innermost: 2)


def test_begin_end_too_far_apart_is_an_error() -> None:
    data = b'[{"ph": "B", "ts": -1.7e308, "name": "a"}, {"ph": "E", "ts": 1.7e308}]'
    with pytest.raises(TraceFormatError) as info:
        load_trace(data)
    assert info.value.position == "slice 'a' at ts -1.7e+308"
    assert "duration overflows" in info.value.problem


def test_cpuprofile_times_that_overflow_are_an_error() -> None:
    data = (b'{"nodes": [{"id": 1, "callFrame": {"functionName": "a"}}], "samples": [1, 1, 1],'
            b' "timeDeltas": [1, 1e308, 1e308], "startTime": 0, "endTime": 10}')
    with pytest.raises(TraceFormatError) as info:
        load_trace(data)
    assert info.value.position == "timeDeltas[2]" and "out of range" in info.value.problem


def test_profile_chunk_times_that_overflow_are_cut_with_a_warning() -> None:
    chunk = {"cpuProfile": {"nodes": [{"id": 1, "callFrame": {"functionName": "js"}}],
                            "samples": [1, 1, 1, 1]}, "timeDeltas": [0, 5, 1e308, 1e308]}
    events = [{"ph": "P", "name": "Profile", "pid": 1, "tid": 1, "ts": 0, "id": "0x1",
               "args": {"data": {"startTime": 0}}},
              {"ph": "P", "name": "ProfileChunk", "pid": 1, "tid": 2, "ts": 1, "id": "0x1",
               "args": {"data": chunk}}]
    trace = load_trace(orjson.dumps(events))
    check_table(trace)
    # samples at 0, 5 and 1e308 are kept (the last has no duration); 1e308 + 1e308 is not
    assert trace.events[["name", "ts", "end"]].values.tolist() == [["js", 0.0, 1e308]]
    assert any("sample time 3 is out of range" in w for w in trace.metadata["warnings"])


def test_trace_event_samples_far_out_of_range_are_skipped() -> None:
    doc = {"traceEvents": [], "stackFrames": {"1": {"name": "f"}},
           "samples": [{"ts": t, "sf": 1, "tid": 1} for t in (0, 4, 8, 1.7e308, -1.7e308)]}
    trace = load_trace(orjson.dumps(doc))
    check_table(trace)
    assert trace.events[["name", "ts", "dur"]].values.tolist() == [["f", 0.0, 8.0]]


@pytest.mark.parametrize("data, position, problem", [
    (b"a;b 3\na;b;c -5\n", "line 2", "negative sample count -5"),
    (b"main;work -0.5\n", "line 1", "negative sample count -0.5"),
])
def test_folded_negative_count_names_the_line(tmp_path: Path, data: bytes, position: str,
                                              problem: str) -> None:
    err = _error(tmp_path, data, "neg.folded.txt")  # detected as folded, not "unrecognised"
    assert err.position == position and err.problem == problem


def test_folded_counts_with_an_exponent_are_detected() -> None:
    trace = load_trace(b"a;b 1e3\na 5\n")
    assert trace.metadata["format"] == "folded"
    assert trace.hotspots()["self_dur"].tolist() == [1000.0, 5.0]
