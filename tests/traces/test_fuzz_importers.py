"""Property-based tests of the speedscope, folded-stack and cProfile importers: any input
gives a Trace whose slice-table invariants hold, or a TraceFormatError; never another
exception."""

from __future__ import annotations

import json
import marshal
from collections.abc import Callable

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from stack_import_checks import check_invariants

from jupyter_assistant import Trace, TraceFormatError, detect_format
from jupyter_assistant.traces.cprofile import read_cprofile
from jupyter_assistant.traces.folded import read_folded
from jupyter_assistant.traces.speedscope import read_speedscope

SETTINGS = settings(max_examples=150, deadline=None,
                    suppress_health_check=[HealthCheck.too_slow])
Reader = Callable[[bytes, str], Trace]
READERS: list[Reader] = [read_speedscope, read_folded, read_cprofile]


def _read_or_refuse(reader: Reader, data: bytes) -> Trace | None:
    try:
        trace = reader(data, "fuzz")
    except TraceFormatError as exc:
        assert exc.source == "fuzz"
        return None
    check_invariants(trace)
    return trace


# -- anything at all --------------------------------------------------------------------
@SETTINGS
@given(st.binary(max_size=600))
def test_arbitrary_bytes(data: bytes) -> None:
    for reader in READERS:
        _read_or_refuse(reader, data)
    try:
        detect_format(data)
    except TraceFormatError:
        pass


# -- near-valid speedscope --------------------------------------------------------------
# half of the profiles keep to the schema (frame indices in range, events in time order,
# weights >= 0); the others draw from values that break it
bad_numbers = st.one_of(st.integers(-5, 60), st.floats(-1e3, 1e3), st.just(1e308),
                        st.just("1"), st.none())
good_numbers = st.one_of(st.integers(0, 60), st.floats(0, 1e3), st.sampled_from([0, 1e-9, 0.5]))
bad_refs = st.one_of(st.integers(-2, 6), st.just(1.0), st.just("0"), st.just(True))
UNITS = ["seconds", "milliseconds", "nanoseconds", "microseconds", "none", "bytes"]


@st.composite
def evented_profile(draw: st.DrawFn, n_frames: int, valid: bool) -> dict:
    refs = st.integers(0, n_frames - 1) if valid and n_frames else bad_refs
    nums = good_numbers if valid else bad_numbers
    events = draw(st.lists(st.fixed_dictionaries({
        "type": st.sampled_from(["O", "O", "C", "C"] if valid else ["O", "C", "X"]),
        "at": nums, "frame": refs}), max_size=25))
    if valid:
        events.sort(key=lambda e: e["at"])
    return {"type": "evented", "name": draw(st.text(max_size=5)),
            "unit": draw(st.sampled_from(UNITS if valid else [*UNITS, "furlongs", 3])),
            "startValue": draw(nums), "endValue": draw(nums), "events": events}


@st.composite
def sampled_profile(draw: st.DrawFn, n_frames: int, valid: bool) -> dict:
    refs = st.integers(0, n_frames - 1) if valid and n_frames else bad_refs
    nums = good_numbers if valid else bad_numbers
    n = draw(st.integers(0, 15))
    samples = draw(st.lists(st.lists(refs, max_size=6), min_size=n, max_size=n))
    extra = 0 if valid else draw(st.sampled_from([0, 1]))
    weights = draw(st.lists(nums, min_size=n + extra, max_size=n + extra))
    prof = {"type": "sampled", "name": "t", "unit": draw(st.sampled_from(UNITS)),
            "startValue": draw(nums), "endValue": draw(nums),
            "samples": samples, "weights": weights}
    if not valid and draw(st.booleans()):
        del prof[draw(st.sampled_from(sorted(prof)))]
    return prof


frame = st.fixed_dictionaries({"name": st.sampled_from(["a", "b", "c", "a"])},
                              optional={"file": st.sampled_from(["x.py", "y.py", None]),
                                        "line": st.one_of(st.none(), st.integers(0, 9))})


@st.composite
def speedscope_doc(draw: st.DrawFn) -> tuple[dict, bool]:
    valid = draw(st.booleans())
    frames = draw(st.lists(frame, min_size=1 if valid else 0, max_size=4))
    kinds = st.one_of(evented_profile(len(frames), valid), sampled_profile(len(frames), valid))
    profiles = draw(st.lists(kinds, min_size=1 if valid else 0, max_size=3))
    return {"$schema": "https://www.speedscope.app/file-format-schema.json",
            "shared": {"frames": frames}, "profiles": profiles}, valid


@SETTINGS
@given(speedscope_doc())
def test_near_valid_speedscope(case: tuple[dict, bool]) -> None:
    doc, valid = case
    trace = _read_or_refuse(read_speedscope, json.dumps(doc).encode())
    if valid:
        assert trace is not None, "a file that keeps to the schema is read"
        assert len(trace.threads) == len(doc["profiles"])
        weights = sum(sum(w for s, w in zip(p["samples"], p["weights"], strict=True) if s)
                      * (1e6 if p["unit"] == "seconds" else 1e3 if p["unit"] == "milliseconds"
                         else 1e-3 if p["unit"] == "nanoseconds" else 1)
                      for p in doc["profiles"] if p["type"] == "sampled")
        sampled = trace.events["tid"].isin(
            [i for i, p in enumerate(doc["profiles"]) if p["type"] == "sampled"])
        got = trace.events.loc[sampled, "self_dur"].sum()
        assert abs(got - weights) <= 1e-6 * max(1.0, weights)


# -- near-valid folded stacks ------------------------------------------------------------
fold_frame = st.sampled_from(["a", "b", "c (x.py:3)", " ", "", "thread (7)", "thread (0x1f): w",
                              'process 9:"py"', "thread (99999999999999999999)"])
count = st.one_of(st.integers(0, 50).map(str), st.integers(0, 50).map(str),
                  st.sampled_from(["1.5", "1e3", "7", "7", "7", "7", "-1", "x", "", "1e400"]))
fold_line = st.builds(lambda fs, sep, c: ";".join(fs) + sep + c,
                      st.lists(fold_frame, max_size=6),
                      st.sampled_from([" ", " ", " ", "\t", "  ", ""]),
                      count)


@SETTINGS
@given(st.lists(fold_line, max_size=12), st.sampled_from(["\n", "\r\n"]),
       st.sampled_from([None, 1.0, 10_000.0, 1e300]))
def test_near_valid_folded(lines: list[str], newline: str, interval: float | None) -> None:
    data = newline.join(lines).encode()
    try:
        trace = read_folded(data, "fuzz", interval_us=interval)
    except TraceFormatError:
        return
    check_invariants(trace)
    assert trace.samples is not None
    total = trace.metadata["total_samples"] * (interval or 1.0)
    assert abs(trace.samples["weight"].sum() - total) <= 1e-9 * total


@SETTINGS
@given(st.text(alphabet="ab;( ):0123456789.\n\t\r\x00é-", max_size=300))
def test_arbitrary_text_as_folded(text: str) -> None:
    _read_or_refuse(read_folded, text.encode())


# -- near-valid pstats -------------------------------------------------------------------
keys = st.sampled_from([("m.py", 1, "f"), ("m.py", 5, "g"), ("n.py", 2, "h"),
                        ("~", 0, "<built-in method len>"), ("", 0, "exec"), ("z.py", 9, "gone")])
times = st.one_of(st.floats(0, 2), st.integers(0, 3), st.sampled_from([-0.1, 1e300, 0.0]))
edge = st.one_of(st.tuples(st.integers(0, 5), st.integers(0, 5), times, times),
                 st.integers(0, 5))


@st.composite
def stats_dict(draw: st.DrawFn) -> dict:
    out = {}
    for key in draw(st.lists(keys, min_size=1, max_size=5, unique=True)):
        callers = draw(st.dictionaries(keys, edge, max_size=4))
        out[key] = (draw(st.integers(0, 5)), draw(st.integers(0, 5)), draw(times),
                    draw(times), callers)
    return out


@SETTINGS
@given(stats_dict(), st.integers(0, 4), st.sampled_from(["none", "cut", "flip"]),
       st.integers(0, 10_000))
def test_near_valid_pstats(stats: dict, version: int, damage: str, where: int) -> None:
    data = marshal.dumps(stats, version)
    if damage == "cut":
        data = data[: where % len(data)]
    elif damage == "flip":
        pos = where % len(data)
        data = data[:pos] + bytes([data[pos] ^ 0x5A]) + data[pos + 1:]
    trace = _read_or_refuse(read_cprofile, data)
    if trace is not None and damage == "none":
        got = trace.events.groupby("name", observed=True)["self_dur"].sum()
        assert len(got) == len(stats)
        assert (got >= 0).all()
