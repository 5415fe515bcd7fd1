"""A trace folder with a file that is not a trace beside the Kineto trace (HTA's
``execution_trace``: a PyTorch execution trace next to the Kineto file) loads the Kineto
trace and warns about the other file, instead of failing."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from jupyter_assistant import TraceFormatError, load_trace
from jupyter_assistant.traces import TraceLoadWarning


def test_the_kineto_trace_loads_and_the_execution_trace_is_left_out_with_a_warning(
        shared_traces: Path) -> None:
    folder = shared_traces / "hta" / "execution_trace"
    alone = load_trace(folder / "benchmark_simple_add_trace.json.gz", cache=False)
    with pytest.warns(TraceLoadWarning, match=r"left out benchmark_simple_add_et\.json\.gz: "
                      r"not a trace .*traceEvents") as record:
        trace = load_trace(folder, cache=False)
    assert len(record) == 1
    assert trace.format == "kineto"
    assert len(trace.events) == len(alone.events) > 0
    (note,) = trace.metadata["skipped"]
    assert note.startswith("left out benchmark_simple_add_et.json.gz")
    assert trace.metadata["warnings"][0] == note
    text = trace.summary(max_tokens=2000).text
    assert "1 loader warning: left out benchmark_simple_add_et" in text


def test_a_cached_folder_warns_again(shared_traces: Path, tmp_path: Path,
                                     monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("JUPYTER_ASSISTANT_CACHE_DIR", str(tmp_path / "cache"))
    folder = shared_traces / "hta" / "execution_trace"
    for _ in range(2):
        with pytest.warns(TraceLoadWarning, match="benchmark_simple_add_et"):
            trace = load_trace(folder, cache=True)
    assert trace.metadata.get("cached") is True


def test_a_folder_of_no_trace_at_all_still_fails(shared_traces: Path, tmp_path: Path) -> None:
    shutil.copy(shared_traces / "hta" / "execution_trace" / "benchmark_simple_add_et.json.gz",
                tmp_path)
    (tmp_path / "notes.json").write_text('{"hello": 1}')
    with pytest.raises(TraceFormatError, match=r"benchmark_simple_add_et\.json\.gz"):
        load_trace(tmp_path, cache=False)


def test_the_cli_prints_the_warning_as_one_line(shared_traces: Path) -> None:
    out = subprocess.run([sys.executable, "-m", "jupyter_assistant", "summarize",
                          str(shared_traces / "hta" / "execution_trace")],
                         capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    assert out.stderr.startswith("jupyter-assistant: warning: left out "
                                 "benchmark_simple_add_et.json.gz: not a trace")
    assert len(out.stderr.splitlines()) == 1
    assert out.stdout.startswith("## Trace `benchmark_simple_add_trace.json.gz`")
