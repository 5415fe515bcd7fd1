"""speedscope importer: shared speedscope fixtures and files recorded with pyinstrument and
py-spy (tests/data/record_profiles.py)."""

from __future__ import annotations

import gzip
import json
from collections import Counter
from pathlib import Path

import pytest
from stack_import_checks import DATA, SHARED, check_invariants

from jupyter_assistant import TraceFormatError, detect_format, load_trace
from jupyter_assistant.traces.speedscope import read_speedscope

SPEEDSCOPE = SHARED / "speedscope" / "speedscope"
SHARED_FILES = sorted(SPEEDSCOPE.glob("*/*.json"))
PYINSTRUMENT = DATA / "workload.pyinstrument.speedscope.json"
PYSPY = DATA / "workload.py-spy.speedscope.json"
SCHEMA = "https://www.speedscope.app/file-format-schema.json"


def _doc(profiles: list[dict], frames: list[dict] | None = None) -> bytes:
    frames = frames if frames is not None else [{"name": n} for n in "abcd"]
    return json.dumps({"$schema": SCHEMA, "shared": {"frames": frames},
                       "profiles": profiles}).encode()


def _evented(events: list[tuple[str, float, int]], unit: str = "none", end: float = 10,
             start: float = 0) -> dict:
    return {"type": "evented", "name": "p", "unit": unit, "startValue": start,
            "endValue": end, "events": [{"type": t, "at": a, "frame": f} for t, a, f in events]}


def _rows(trace) -> list[tuple[str, float, float, int]]:
    ev = trace.events
    return list(zip(ev["name"].astype(str), ev["ts"], ev["end"], ev["depth"], strict=True))


@pytest.mark.parametrize("path", [*SHARED_FILES, PYINSTRUMENT, PYSPY], ids=lambda p: p.name)
def test_detected_and_invariants(path: Path) -> None:
    data = path.read_bytes()
    assert detect_format(data) == "speedscope"
    trace = load_trace(path)
    assert trace.format == "speedscope"
    check_invariants(trace)
    doc = json.loads(data)
    assert len(trace.threads) == len(doc["profiles"])
    assert list(trace.threads["thread_name"]) == [p["name"] for p in doc["profiles"]]


def test_shared_evented_file_slices() -> None:
    trace = load_trace(SPEEDSCOPE / "0.0.1" / "simple.speedscope.json")
    # events: O a0 O b0 O c0 C c2 O d2 C d6 O c6 C c9 C b14 C a14 (unit "none")
    assert _rows(trace) == [("a", 0, 14, 0), ("b", 0, 14, 1), ("c", 0, 2, 2), ("d", 2, 6, 2),
                            ("c", 6, 9, 2)]
    assert trace.metadata["unit"] == "none"
    assert trace.events.set_index("name", append=True)["self_dur"].groupby(
        level="name", observed=True).sum().to_dict() == {"a": 0, "b": 5, "c": 5, "d": 4}


def test_shared_sampled_file_merges_consecutive_samples() -> None:
    path = SPEEDSCOPE / "0.1.2" / "simple-sampled.speedscope.json"
    trace = load_trace(path)
    prof = json.loads(path.read_bytes())["profiles"][0]
    # a and b are in all 5 samples: one slice each, as long as all weights (seconds -> µs)
    assert _rows(trace)[:2] == [("a", 0, 14e6, 0), ("b", 0, 14e6, 1)]
    # c in samples 0-1 (one slice of 1 + 1 s), then d, then c again
    assert _rows(trace)[2:] == [("c", 0, 2e6, 2), ("d", 2e6, 6e6, 2), ("c", 6e6, 9e6, 2)]
    assert trace.events["self_dur"].sum() == pytest.approx(sum(prof["weights"]) * 1e6)
    assert trace.metadata["unit"] == "µs"
    assert list(trace.samples["weight"]) == [w * 1e6 for w in prof["weights"]]
    assert list(trace.samples["stack"]) == ["a;b;c", "a;b;c", "a;b;d", "a;b;c", "a;b"]


def test_two_profiles_are_two_threads() -> None:
    trace = load_trace(SPEEDSCOPE / "0.6.0" / "two-sampled.speedscope.json")
    assert list(trace.threads["tid"]) == [0, 1]
    assert list(trace.threads["thread_name"]) == ["one", "two"]
    assert trace.metadata["exporter"] == "speedscope@0.6.0"
    assert trace.metadata["active_profile_index"] == 1
    per_thread = trace.events.groupby("tid")["self_dur"].sum()
    assert list(per_thread) == [14e6, 14e6]


def _leaf_weights(prof: dict, frames: list[dict]) -> Counter:
    out: Counter = Counter()
    for stack, w in zip(prof["samples"], prof["weights"], strict=True):
        if stack:
            out[frames[stack[-1]]["name"]] += w * 1e6
    return out


def test_py_spy_sampled_file_against_its_samples() -> None:
    doc = json.loads(PYSPY.read_bytes())
    frames = doc["shared"]["frames"]
    trace = load_trace(PYSPY)
    assert doc["exporter"].startswith("py-spy")
    for tid, prof in enumerate(doc["profiles"]):
        ev = trace.events[trace.events["tid"] == tid]
        # self time per function = weight of the samples where it is the leaf
        expected = _leaf_weights(prof, frames)
        got = ev.groupby("name", observed=True)["self_dur"].sum()
        got = got[got > 0].to_dict()
        assert got.keys() == expected.keys()
        for name, value in expected.items():
            assert got[name] == pytest.approx(value, rel=1e-9)
        # one top-level slice per run of consecutive samples with the same root function
        roots = [(frames[s[0]]["name"], frames[s[0]].get("file")) for s in prof["samples"] if s]
        runs = sum(1 for i, r in enumerate(roots) if i == 0 or r != roots[i - 1])
        assert int((ev["depth"] == 0).sum()) == runs
        # samples are laid end to end; py-spy writes empty stacks (idle) too: time passes
        last = max(i for i, stack in enumerate(prof["samples"]) if stack)
        assert ev["end"].max() == pytest.approx(sum(prof["weights"][: last + 1]) * 1e6)
        busy = sum(w for s, w in zip(prof["samples"], prof["weights"], strict=True) if s)
        assert ev["self_dur"].sum() == pytest.approx(busy * 1e6)
    # the workload: the main thread spends its time in hot_loop, the worker in worker_sort
    names = list(trace.threads["thread_name"])
    worker = next(i for i, n in enumerate(names) if '"worker"' in n)
    main = 1 - worker
    for tid, fn in ((main, "hot_loop"), (worker, "worker_sort")):
        ev = trace.events[trace.events["tid"] == tid]
        top = ev.groupby("name", observed=True)["self_dur"].sum().idxmax()
        assert top.startswith(fn), (tid, top)
    assert (trace.events["file"].str.endswith("record_profiles.py")
            & (trace.events["name"] == "hot_loop")).any()


def test_pyinstrument_evented_file_against_its_events() -> None:
    doc = json.loads(PYINSTRUMENT.read_bytes())
    prof = doc["profiles"][0]
    frames = doc["shared"]["frames"]
    trace = load_trace(PYINSTRUMENT)
    ev = trace.events
    opens = [e for e in prof["events"] if e["type"] == "O"]
    assert len(ev) == len(opens)  # balanced: every O/C pair is one slice
    assert trace.metadata["repaired"] == 0
    assert sorted(ev["ts"]) == pytest.approx(sorted(e["at"] * 1e6 for e in opens), abs=1e-3)
    assert Counter(ev["name"].astype(str)) == Counter(frames[e["frame"]]["name"] for e in opens)
    # top-level slices cover the profile; all self time adds up to them
    assert ev["self_dur"].sum() == pytest.approx(ev.loc[ev["depth"] == 0, "dur"].sum())
    hot = ev.groupby("name", observed=True)["self_dur"].sum()
    assert hot.idxmax() == "hot_loop"
    assert hot["hot_loop"] > 0.8 * ev.loc[ev["depth"] == 0, "dur"].sum()
    row = ev[ev["name"] == "hot_loop"].iloc[0]
    assert row["file"] == "record_profiles.py" and row["line"] > 0


def test_gzip_and_units(tmp_path: Path) -> None:
    events = [("O", 1, 0), ("O", 1, 1), ("C", 3, 1), ("C", 4, 0)]
    for unit, factor in (("nanoseconds", 1e-3), ("microseconds", 1), ("milliseconds", 1e3),
                         ("seconds", 1e6)):
        path = tmp_path / f"{unit}.json.gz"
        path.write_bytes(gzip.compress(_doc([_evented(events, unit, start=1)])))
        trace = load_trace(path)
        assert list(trace.events["name"]) == ["a", "b"]
        assert list(trace.events["depth"]) == [0, 1]
        assert list(trace.events["ts"]) == [0, 0]
        assert list(trace.events["end"]) == pytest.approx([3 * factor, 2 * factor], rel=1e-12)
        assert trace.metadata["unit"] == "µs"
    trace = read_speedscope(_doc([_evented(events, "bytes")]), "x")
    assert trace.metadata["unit"] == "bytes"
    assert _rows(trace) == [("a", 1, 4, 0), ("b", 1, 3, 1)]


def test_profiles_keep_their_alignment() -> None:
    one = _evented([("O", 100, 0), ("C", 110, 0)], "milliseconds", start=100, end=110)
    two = _evented([("O", 105, 1), ("C", 106, 1)], "milliseconds", start=104, end=106)
    trace = read_speedscope(_doc([one, two]), "x")
    assert _rows(trace) == [("a", 0, 10_000, 0), ("b", 5_000, 6_000, 0)]


def test_unbalanced_events_are_repaired_and_counted() -> None:
    events = [("O", 0, 0), ("O", 1, 1), ("O", 2, 2), ("C", 3, 0),  # closes c, b implicitly
              ("C", 4, 3),                                          # d was never opened
              ("O", 5, 1)]                                          # never closed: ends at 10
    trace = read_speedscope(_doc([_evented(events)]), "x")
    check_invariants(trace)
    assert _rows(trace) == [("a", 0, 3, 0), ("b", 1, 3, 1), ("c", 2, 3, 2), ("b", 5, 10, 0)]
    assert trace.metadata["repaired"] == 4
    assert trace.metadata["warnings"]


def test_same_function_at_several_lines_is_one_slice() -> None:
    frames = [{"name": "main", "file": "m.py", "line": 1},
              {"name": "hot", "file": "m.py", "line": 4},
              {"name": "hot", "file": "m.py", "line": 5},
              {"name": "hot", "file": "other.py", "line": 5}]
    prof = {"type": "sampled", "name": "t", "unit": "milliseconds", "startValue": 0,
            "endValue": 4, "samples": [[0, 1], [0, 2], [0, 1], [0, 3]], "weights": [1, 1, 1, 1]}
    trace = read_speedscope(_doc([prof], frames), "x")
    ev = trace.events
    assert list(ev["name"]) == ["main", "hot", "hot"]
    assert list(ev["file"]) == ["m.py", "m.py", "other.py"]
    assert list(ev["dur"]) == [4000, 3000, 1000]
    assert list(ev["line"]) == [1, -1, 5]  # -1: sampled at lines 4 and 5


@pytest.mark.parametrize(("doc", "where"), [
    (b'{"profiles": [', "byte"),
    (b"[1, 2]", "byte 0"),
    (_doc([_evented([("O", 0, 0)])], frames=[]), "profiles[0].events[0].frame"),
    (_doc([_evented([("O", 0, 7)])]), "profiles[0].events[0].frame"),
    (_doc([_evented([("O", 5, 0), ("C", 4, 0)])]), "profiles[0].events[1]"),
    (_doc([_evented([("X", 1, 0)])]), "profiles[0].events[0].type"),
    (_doc([{"type": "sampled", "samples": [[0]], "weights": [1, 2]}]), "profiles[0].weights"),
    (_doc([{"type": "sampled", "samples": [[0], [9]], "weights": [1, 2]}]),
     "profiles[0].samples[1][0]"),
    (_doc([{"type": "sampled", "samples": [[0]], "weights": [-1]}]), "profiles[0].weights[0]"),
    (_doc([{"type": "heap"}]), "profiles[0].type"),
    (_doc([]), "profiles"),
    (_doc([_evented([])], frames=[{"name": 3}]), "shared.frames[0]"),
    (json.dumps({"profiles": []}).encode(), "shared.frames"),
])
def test_malformed_files_name_the_position(doc: bytes, where: str) -> None:
    with pytest.raises(TraceFormatError) as info:
        read_speedscope(doc, "bad.json")
    assert info.value.source == "bad.json"
    assert info.value.position is not None and info.value.position.startswith(where)
