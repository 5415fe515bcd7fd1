"""Very long names (fbgemm kernel names of ~1,650 characters in HTA's real traces) are
shortened with a middle ellipsis wherever text is rendered — markdown tables, summaries, tool
headlines (``compare_traces``), the CLI — and never in the DataFrames."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import pytest

from jupyter_assistant import Trace, load_trace
from jupyter_assistant.tools import ToolContext, default_tools
from jupyter_assistant.tools._render import MAX_CELL_CHARS
from jupyter_assistant.traces import shorten_name

TRACES = Path(__file__).resolve().parents[2] / "shared" / "traces"
CONTROL = TRACES / "hta" / "trace_diff" / "control" / "control.json.gz"
TOOLS = {t.name: t for t in default_tools()}


@pytest.fixture(scope="module")
def control() -> Trace:
    return load_trace(CONTROL, cache=False)


@pytest.fixture(scope="module")
def longest(control: Trace) -> str:
    kernels = control.hotspots(50, kind="gpu")["name"].astype(str)
    name = max(kernels, key=len)
    assert len(name) > 1000, len(name)  # the real fbgemm kernel names of this trace
    return name


@pytest.mark.parametrize("limit", [1, 2, 3, 10, 40, 79, 80, 120])
def test_shorten_name_keeps_start_and_end_within_the_limit(limit: int) -> None:
    name = "void split_embedding_backward_kernel<float, 1ul>(" + "x" * 500 + ", float, long)"
    short = shorten_name(name, limit)
    assert len(short) == limit and short.count("…") == 1
    head, _, tail = short.partition("…")
    assert name.startswith(head) and name.endswith(tail)
    assert len(head) >= len(tail)
    assert shorten_name("short", limit + 5) == "short"


def test_dataframes_keep_the_full_names(control: Trace, longest: str) -> None:
    assert longest in set(control.events["name"].astype(str))
    assert "…" not in longest


def test_summary_shortens_long_names(control: Trace, longest: str) -> None:
    text = control.summary(max_tokens=4000).text
    assert longest not in text
    assert max(len(line) for line in text.splitlines()) < 400
    kernels = control.hotspots(8, kind="gpu")["name"].astype(str)
    shown = [n for n in kernels if shorten_name(n, 60) in text]
    assert any(len(n) > 1000 for n in shown)  # a long kernel, shortened in the middle


@pytest.mark.anyio
@pytest.mark.parametrize("anyio_backend", ["asyncio"])
async def test_tool_tables_shorten_cells(control: Trace, longest: str) -> None:
    ctx = ToolContext(traces={"current": control})
    out = str(await TOOLS["hotspots"].call({"kind": "gpu", "n": 10}, ctx))
    assert longest not in out
    cells = [c.strip() for line in out.splitlines() if line.startswith("|")
             for c in re.split(r"(?<!\\)\|", line)[1:-1] if set(c.strip()) - set(":-")]
    assert max(len(c) for c in cells) <= MAX_CELL_CHARS
    assert any("…" in c and c.endswith(", long)") for c in cells)


def _one_slice_trace(name: str, dur: int) -> Trace:
    events = [{"ph": "X", "name": name, "pid": 1, "tid": 1, "ts": 0, "dur": dur},
              {"ph": "X", "name": "step", "pid": 1, "tid": 1, "ts": dur + 10, "dur": 5}]
    return load_trace(json.dumps({"traceEvents": events}).encode())


@pytest.mark.anyio
@pytest.mark.parametrize("anyio_backend", ["asyncio"])
async def test_compare_headline_shortens_the_regression(longest: str) -> None:
    ctx = ToolContext(traces={"base": _one_slice_trace(longest, 100),
                              "current": _one_slice_trace(longest, 900)})
    out = str(await TOOLS["compare_traces"].call({"base": "base"}, ctx))
    headline = out.splitlines()[0]
    assert f"Biggest regression: `{shorten_name(longest, 120)}` +800 µs" in headline
    assert longest not in out and len(headline) < 400


def test_cli_hotspots_table_shortens_names(longest: str) -> None:
    out = subprocess.run([sys.executable, "-m", "jupyter_assistant", "hotspots", str(CONTROL),
                          "--kind", "gpu", "-n", "20"], capture_output=True, text=True,
                         timeout=120)
    assert out.returncode == 0, out.stderr
    assert longest not in out.stdout
    assert max(len(line) for line in out.stdout.splitlines()) < 200
    assert "…" in out.stdout


