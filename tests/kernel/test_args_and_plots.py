"""The magic-line parser, the input transformer and the trace pictures, without a kernel."""

from __future__ import annotations

from pathlib import Path

import pytest
from IPython.core.error import UsageError

from jupyter_assistant import load_trace
from jupyter_assistant.kernel._args import parse_line
from jupyter_assistant.kernel._plots import icicle_png, timeline_png
from jupyter_assistant.kernel._transform import assistant_question_transformer

DATA = Path(__file__).resolve().parents[1] / "data"


def test_question_is_kept_verbatim() -> None:
    cmd = parse_line("--model anthropic:claude-x --new what's slow -- really?")
    assert (cmd.sub, cmd.model, cmd.new) == ("ask", "anthropic:claude-x", True)
    assert cmd.text == "what's slow -- really?"
    assert parse_line("-- load is slow?").text == "load is slow?"
    assert parse_line('--trace "my trace.json" why').trace == "my trace.json"


def test_subcommands() -> None:
    load = parse_line("load '/tmp/a b.json' --as run1")
    assert (load.sub, load.text, load.as_name) == ("load", "/tmp/a b.json", "run1")
    prof = parse_line("profile --profiler pyinstrument --ask why is this slow?")
    assert (prof.sub, prof.profiler, prof.ask) == ("profile", "pyinstrument",
                                                  "why is this slow?")
    assert parse_line("fix use float64").text == "use float64"
    assert parse_line("stats --days 3").days == 3


@pytest.mark.parametrize("line,problem", [
    ("--bogus x", "unknown option --bogus"), ("--model", "--model needs a value"),
    ("load", "load PATH needs a value"), ("profile --profiler gprof", "--profiler must be"),
    ("stats --days many", "--days must be"), ("load a.json --as 1x", "--as needs a Python"),
    ("stats now", "unexpected text"),
])
def test_bad_lines_raise_usage_errors(line: str, problem: str) -> None:
    with pytest.raises(UsageError, match=problem.replace("-", r"\-")):
        parse_line(line)


def test_transformer_protects_trailing_question_marks() -> None:
    lines = ["x = 1\n", "%assistant why is x slow?\n", "  %assistant   what's up??\n",
             "%%assistant\n", "%assistantx?\n"]
    out = assistant_question_transformer(lines)
    assert out[0] == "x = 1\n"
    assert out[1] == "get_ipython().run_line_magic('assistant', 'why is x slow?')\n"
    assert out[2] == "  get_ipython().run_line_magic('assistant', \"what's up??\")\n"
    assert out[3:] == lines[3:]


def test_pictures_of_real_traces() -> None:
    for path in (DATA / "workload.cprofile.prof", DATA / "torch_cpu_trace.json.gz",
                 DATA / "workload.py-spy.speedscope.json"):
        trace = load_trace(path)
        for png in (timeline_png(trace), icicle_png(trace)):
            assert png is not None and png.startswith(b"\x89PNG") and len(png) > 3000, path


def test_pictures_of_an_empty_trace_are_none() -> None:
    trace = load_trace(DATA / "workload.cprofile.prof")
    empty = type(trace)(events=trace.events.iloc[:0])
    assert timeline_png(empty) is None and icicle_png(empty) is None
