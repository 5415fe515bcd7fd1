"""``diagnose()`` on every trace the project has (``../shared/traces`` and ``tests/data``),
each file and each HTA folder (several ranks), and on cut-down real traces (a few events,
no steps, no GPU, a DevTools recording without CPU samples, an empty recording): it never
raises and every frame keeps its contract."""

from __future__ import annotations

import gzip
import json
import math
import re
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from jupyter_assistant import diagnose, load_trace
from jupyter_assistant.traces.diagnosis import FINDING_COLUMNS, KINDS

DATA = Path(__file__).resolve().parents[1] / "data"
TRACES = Path(__file__).resolve().parents[3] / "shared" / "traces"  # as conftest.SHARED_DIR

# files beside the traces that are not traces in a format the project reads (heap
# profiles, HTA's execution trace and memory timeline, Firefox/Safari/Instruments/
# callgrind/JFR/v8.log/pprof/stackprof/haskell profiles, the workloads description)
_NOT_READ = re.compile(
    r"(\.heapprofile|\.log|\.jfr|\.zip|\.prof|\.md|\.txt|\.csv|\.py|LICENSE-\w+)$"
    r"|workloads\.json$|_et\.json\.gz$|memory_timeline|Firefox/|Safari/|stackprof/")
_NOT_READ_DIRS = ("execution_trace", "memory_analysis")


def _cases() -> list[Path]:
    files = [p for root in (TRACES, DATA) for p in sorted(root.rglob("*"))
             if p.is_file() and not _NOT_READ.search(p.as_posix())]
    # cProfile output is a trace here
    files += sorted(DATA.glob("*.prof"))
    folders = [d for d in sorted((TRACES / "hta").rglob("*"))
               if d.is_dir() and d.name not in _NOT_READ_DIRS
               and any(f.is_file() for f in d.iterdir())]
    return files + folders


CASES = _cases() if TRACES.is_dir() else []


def check_frame(d: pd.DataFrame) -> None:
    """The contract of a diagnosis frame."""
    assert list(d.columns) == list(FINDING_COLUMNS)
    assert d["kind"].isin(KINDS).all(), d["kind"].tolist()
    assert d["severity"].isin(["high", "medium", "low"]).all()
    assert d["share"].dtype == np.float64
    for share in d["share"]:
        assert math.isnan(share) or 0.0 <= share <= 1.0, share
    for col in ("evidence", "fix", "source"):
        assert (d[col].str.len() > 10).all(), d[col].tolist()
    for text in d["evidence"]:
        # no number that did not exist: a division by zero or an empty mean
        assert not re.search(r"\b(nan|inf)\b", text, re.IGNORECASE), text
        assert "-0 µs" not in text and "−" not in text, text
    order = d["severity"].map({"high": 0, "medium": 1, "low": 2}).to_numpy()
    assert (np.diff(order) >= 0).all(), "most important first"
    assert isinstance(d.attrs.get("headline"), str)
    assert not re.search(r"\b(nan|inf)\b", d.attrs["headline"], re.IGNORECASE)


def test_the_shared_traces_are_all_there() -> None:
    assert len(CASES) >= 70, len(CASES)  # 60-odd files and 20-odd HTA folders


@pytest.mark.parametrize("path", CASES, ids=lambda p: p.relative_to(p.parents[2]).as_posix())
def test_diagnose_every_trace(path: Path) -> None:
    trace = load_trace(path)
    check_frame(diagnose(trace))


def _write_kineto(path: Path, events: list[dict[str, object]], base: dict[str, object]
                  ) -> Path:
    out = dict(base)
    out["traceEvents"] = events
    path.write_text(json.dumps(out))
    return path


@pytest.fixture(scope="module")
def kineto() -> dict[str, object]:
    with gzip.open(TRACES / "gpu" / "gpu_mlp_eager_small_batch.json.gz", "rt") as f:
        data: dict[str, object] = json.load(f)
    return data


@pytest.mark.parametrize("n", [1, 5, 40, 400])
def test_a_few_events_of_a_real_gpu_trace(n: int, kineto: dict[str, object],
                                          tmp_path: Path) -> None:
    events = kineto["traceEvents"]
    assert isinstance(events, list)
    # the first n complete events of the trace, steps cut off or not
    xs = [e for e in events if e.get("ph") == "X"][:n]
    meta = [e for e in events if e.get("ph") == "M"]
    trace = load_trace(_write_kineto(tmp_path / "few.json", meta + xs, kineto),
                       format="kineto")
    check_frame(diagnose(trace))


def test_gpu_trace_without_steps_or_without_gpu(kineto: dict[str, object],
                                                tmp_path: Path) -> None:
    events = kineto["traceEvents"]
    assert isinstance(events, list)
    no_steps = [e for e in events if not str(e.get("name", "")).startswith("ProfilerStep#")]
    d = diagnose(load_trace(_write_kineto(tmp_path / "nosteps.json", no_steps, kineto),
                            format="kineto"))
    check_frame(d)
    assert "host_bound" not in d["kind"].tolist()  # the window holds start-up too
    cpu = [e for e in events if e.get("cat") not in (
        "kernel", "gpu_memcpy", "gpu_memset", "gpu_user_annotation")]
    d = diagnose(load_trace(_write_kineto(tmp_path / "cpu.json", cpu, kineto),
                            format="kineto"))
    check_frame(d)
    assert not d["kind"].isin(["launch_overhead", "host_bound", "gpu_compute_bound",
                               "host_sync", "input_bound"]).any()


def test_devtools_recording_without_cpu_samples(tmp_path: Path) -> None:
    with gzip.open(DATA / "devtools_forced_layout.json.gz", "rt") as f:
        data = json.load(f)
    data["traceEvents"] = [e for e in data["traceEvents"]
                           if e.get("name") not in ("Profile", "ProfileChunk")]
    path = tmp_path / "nosamples.json"
    path.write_text(json.dumps(data))
    d = diagnose(load_trace(path))
    check_frame(d)
    # the forced layouts are found from the trace events alone
    assert "layout_thrashing" in d["kind"].tolist()


@pytest.mark.parametrize("text", ['{"traceEvents": []}', "[]",
                                  '{"traceEvents": [{"ph": "M", "name": "process_name", '
                                  '"pid": 1, "args": {"name": "x"}}]}'])
def test_empty_recordings(text: str, tmp_path: Path) -> None:
    path = tmp_path / "empty.json"
    path.write_text(text)
    d = diagnose(load_trace(path))
    check_frame(d)
    assert d.empty
