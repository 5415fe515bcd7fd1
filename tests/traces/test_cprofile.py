"""cProfile/pstats importer: a profile recorded in the test itself and one recorded by
tests/data/record_profiles.py, checked against the stdlib's own reading (``pstats``)."""

from __future__ import annotations

import cProfile
import marshal
import profile
import pstats
import subprocess
import sys
from pathlib import Path

import pytest
from stack_import_checks import DATA, check_invariants

from jupyter_assistant import TraceFormatError, detect_format, load_trace
from jupyter_assistant.traces.cprofile import function_name, read_cprofile

RECORDED = DATA / "workload.cprofile.prof"


def spin(n: int) -> int:
    total = 0
    for i in range(n):
        total += i % 3
    return total


def via_helper(n: int) -> int:
    return spin(n // 2)


def rec(n: int) -> int:
    return 1 if n < 2 else rec(n - 1) + rec(n - 2)


def workload() -> None:
    for _ in range(3):
        spin(60_000)
        via_helper(60_000)
    rec(12)
    sorted(range(20_000), key=lambda x: -x)


@pytest.fixture(scope="module")
def fresh_prof(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("prof") / "fresh.prof"
    prof = cProfile.Profile()
    prof.runcall(workload)
    prof.dump_stats(path)
    return path


def _by_function(trace, column: str) -> dict[str, float]:
    return trace.events.groupby("name", observed=True)[column].sum().to_dict()


@pytest.mark.parametrize("which", ["fresh", "recorded"])
def test_self_time_and_calls_equal_pstats(which: str, fresh_prof: Path) -> None:
    path = fresh_prof if which == "fresh" else RECORDED
    assert detect_format(path.read_bytes()) == "cprofile"
    trace = load_trace(path)
    assert trace.format == "cprofile"
    check_invariants(trace)
    stats = pstats.Stats(str(path)).stats  # the stdlib's reading of the same file
    self_us = _by_function(trace, "self_dur")
    calls = _by_function(trace, "calls")
    assert len(self_us) == len(stats) == trace.metadata["functions"]
    for key, (_cc, nc, tt, _ct, _callers) in stats.items():
        name = function_name(key)
        assert self_us[name] == pytest.approx(tt * 1e6, abs=1e-3), name
        assert calls[name] == pytest.approx(nc, rel=1e-9), name
    assert trace.metadata["total_calls"] == sum(v[1] for v in stats.values())
    assert trace.metadata["primitive_calls"] == sum(v[0] for v in stats.values())
    # the whole layout is as long as all self time together
    total_tt = sum(v[2] for v in stats.values()) * 1e6
    assert trace.span_us == pytest.approx(total_tt, abs=1e-2)


def test_hot_function_and_call_tree(fresh_prof: Path) -> None:
    trace = load_trace(fresh_prof)
    stats = pstats.Stats(str(fresh_prof)).stats
    key = {k[2]: k for k in stats}
    top = trace.events.groupby("name", observed=True)["self_dur"].sum().idxmax()
    assert top == function_name(key["spin"])
    assert top == f"spin ({__file__}:{spin.__code__.co_firstlineno})"
    ev = trace.events
    names = ev["name"].astype(str)
    # spin is called from workload and from via_helper: one slice under each
    spin_rows = ev[names == function_name(key["spin"])]
    parents = sorted(names[spin_rows["parent"]].str.split(" ").str[0])
    assert parents == ["via_helper", "workload"]
    # each edge gets the time pstats recorded for it (no other node of spin exists)
    callers = stats[key["spin"]][4]
    for row in spin_rows.itertuples():
        caller = names[row.parent].split(" ")[0]
        edge_ct = callers[key[caller]][3] * 1e6
        assert row.dur == pytest.approx(edge_ct, rel=1e-6)
        assert row.calls == callers[key[caller]][1]
    # recursion: rec appears once, not expanded into itself; total close to its cumtime
    rec_rows = ev[names == function_name(key["rec"])]
    assert len(rec_rows) == 1
    assert rec_rows["dur"].iloc[0] == pytest.approx(stats[key["rec"]][3] * 1e6, rel=0.05)
    # workload's slice lasts about its cumulative time
    wl = ev[names == function_name(key["workload"])]
    assert wl["dur"].sum() == pytest.approx(stats[key["workload"]][3] * 1e6, rel=0.05)


def ping(n: int) -> int:
    sum(range(2_000))
    return pong(n - 1) if n > 0 else 0


def pong(n: int) -> int:
    sum(range(500))
    return ping(n - 1) if n > 0 else 0


def test_hotspots_give_pstats_ncalls_and_cumtime(fresh_prof: Path, tmp_path: Path) -> None:
    """``count`` is pstats ``ncalls`` and ``total_dur`` its ``cumtime`` (recursion counted
    once), also for the mutually recursive ping/pong, whose synthetic tree cannot hold the
    cycle."""
    prof = cProfile.Profile()
    prof.runcall(lambda: (workload(), ping(40)))  # ping -> pong -> ping ...
    prof.dump_stats(tmp_path / "mutual.prof")
    trace = load_trace(tmp_path / "mutual.prof")
    stats = pstats.Stats(str(tmp_path / "mutual.prof")).stats
    hs = trace.hotspots(n=None).set_index("name")
    for key, (_cc, nc, tt, ct, _callers) in stats.items():
        row = hs.loc[function_name(key)]
        assert row["count"] == nc, key
        assert row["self_dur"] == pytest.approx(tt * 1e6, rel=1e-6, abs=1e-3), key
        assert row["total_dur"] == pytest.approx(ct * 1e6, rel=1e-9), key
    key = {k[2]: k for k in stats}
    assert stats[key["rec"]][1] > 100 and stats[key["pong"]][1] == 20
    assert hs.loc[function_name(key["pong"]), "total_dur"] > \
        hs.loc[function_name(key["pong"]), "self_dur"] * 3  # pong's nested pings count


def test_builtins_are_named_like_pstats(fresh_prof: Path) -> None:
    names = set(load_trace(fresh_prof).events["name"].astype(str))
    assert "{built-in method builtins.sorted}" in names
    assert "{method 'disable' of '_lsprof.Profiler' objects}" in names
    row = load_trace(fresh_prof).events.query("name == '{built-in method builtins.sorted}'")
    assert row["file"].tolist() == [""] and row["line"].tolist() == [-1]


def _stats_bytes(stats: dict, version: int = 4) -> bytes:
    return marshal.dumps(stats, version)


def test_hand_made_stats_with_cycles_and_old_marshal_versions() -> None:
    a, b, c, d = ("m.py", 1, "a"), ("m.py", 5, "b"), ("m.py", 9, "c"), ("m.py", 20, "d")
    stats = {
        a: (1, 1, 0.001, 0.010, {}),
        b: (2, 2, 0.002, 0.006, {a: (2, 2, 0.002, 0.006), c: (1, 1, 0.0, 0.001)}),
        c: (1, 1, 0.003, 0.004, {b: (1, 1, 0.003, 0.004)}),  # b <-> c cycle
        d: (1, 1, 0.0005, 0.0005, {("elsewhere.py", 3, "x"): (1, 1, 0.0005, 0.0005)}),
    }
    for version in range(5):
        trace = read_cprofile(_stats_bytes(stats, version), "h.prof")
        check_invariants(trace)
        self_us = _by_function(trace, "self_dur")
        assert self_us == pytest.approx({function_name(k): v[2] * 1e6
                                         for k, v in stats.items()}, abs=1e-6)
    # d's only caller is not in the file: d is a root
    ev = trace.events
    assert ev.loc[ev["name"] == "d (m.py:20)", "depth"].tolist() == [0]


def test_profile_module_call_counts(tmp_path: Path) -> None:
    a, b = ("m.py", 1, "a"), ("m.py", 5, "b")
    stats = {a: (1, 1, 0.001, 0.004, {}), b: (3, 3, 0.003, 0.003, {a: 3})}  # profile.py style
    trace = read_cprofile(_stats_bytes(stats), "p.prof")
    assert trace.events[["name", "depth", "dur"]].values.tolist() == [
        ["a (m.py:1)", 0, pytest.approx(4000)], ["b (m.py:5)", 1, pytest.approx(3000)]]


def test_profile_module_dump(tmp_path: Path) -> None:
    """The pure-Python profiler writes call counts as caller values: read like pstats."""
    path = tmp_path / "pure.prof"
    prof = profile.Profile()
    prof.runctx("spin(20_000); via_helper(20_000)", {"spin": spin, "via_helper": via_helper}, {})
    prof.dump_stats(path)
    trace = load_trace(path)
    check_invariants(trace)
    stats = pstats.Stats(str(path)).stats
    assert any(isinstance(v, int) for s in stats.values() for v in s[4].values())
    self_us = _by_function(trace, "self_dur")
    for key, value in stats.items():
        assert self_us[function_name(key)] == pytest.approx(max(value[2], 0) * 1e6, abs=1e-3)


def test_profile_module_script_dump_with_code_objects_is_refused(tmp_path: Path) -> None:
    """``python -m profile -o`` keys the script's frame by its code object: refused."""
    script = tmp_path / "s.py"
    script.write_text("sum(range(100))\n")
    out = tmp_path / "script.prof"
    subprocess.run([sys.executable, "-m", "profile", "-o", str(out), str(script)], check=True,
                   capture_output=True)
    with pytest.raises(TraceFormatError) as info:
        load_trace(out)
    assert "code object" in info.value.problem
    assert info.value.position and info.value.position.startswith("byte ")


def _code_object_file() -> bytes:
    return marshal.dumps({("m.py", 1, "f"): (1, 1, 0.1, 0.1, {}),
                          ("x", 0, "y"): compile("print('hi')", "<evil>", "exec")})


@pytest.mark.parametrize(("data", "problem"), [
    (_code_object_file(), "code object"),
    (marshal.dumps({("m.py", 1, "f"): [1, 1, 0.1, 0.1, {}]}), "a list"),
    (marshal.dumps({("m.py", 1, "f"): (1, 1, 0.1, 0.1, {})})[:-3], "truncated"),
    (marshal.dumps({"f": (1, 1, 0.1, 0.1, {})}), "(file, line, name)"),
    (marshal.dumps({("m.py", 1, "f"): (1, 1, 0.1, {})}), "(ccalls, ncalls"),
    (marshal.dumps({("m.py", 1, "f"): (1, 1, float("nan"), 0.1, {})}), "finite"),
    (marshal.dumps({("m.py", 1, "f"): (1, 1, 0.1, 0.1, {("m.py", 2, "g"): "x"})}), "call count"),
    (marshal.dumps({}), "non-empty"),
    (b"{" + b"(" * 200, "does not fit"),
    (b"\xfb" + b")\x01" * 40 + b"N", "deeper"),
    (marshal.dumps({("m.py", 1, "f"): (1, 2**200, 0.1, 0.1, {})}), "too large"),
], ids=lambda v: v if isinstance(v, str) else "")
def test_malformed_or_unsafe_files(data: bytes, problem: str) -> None:
    with pytest.raises(TraceFormatError) as info:
        read_cprofile(data, "bad.prof")
    assert problem in info.value.problem
    assert info.value.source == "bad.prof"
