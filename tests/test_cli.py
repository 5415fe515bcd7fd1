"""The command line, run as a real subprocess on real traces."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import orjson
import pytest

from jupyter_assistant import cli, load_trace
from jupyter_assistant.traces._text import estimate_tokens

HERE = Path(__file__).resolve().parent
TORCH_TRACE = HERE / "data" / "torch_cpu_trace.json.gz"
HTA = HERE.parents[1] / "shared" / "traces" / "hta"
KINETO = HTA / "trace_diff" / "control"      # the README's first command runs on this one


def _run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "jupyter_assistant", *args],
                          capture_output=True, text=True, timeout=120, check=False)


def test_summarize_markdown_on_a_real_kineto_folder() -> None:
    proc = _run("summarize", str(KINETO))
    assert proc.returncode == 0, proc.stderr
    out = proc.stdout
    assert out.startswith("## Trace `control")
    assert "GPU utilisation" in out and "## backward ##" in out
    assert estimate_tokens(out.strip()) <= 1500


def test_summarize_json_and_budget() -> None:
    proc = _run("summarize", str(TORCH_TRACE), "--max-tokens", "200", "--json")
    assert proc.returncode == 0, proc.stderr
    data = orjson.loads(proc.stdout)
    assert set(data) == {"text", "tokens", "max_tokens", "sections", "omitted"}
    assert data["max_tokens"] == 200 and data["tokens"] <= 200
    assert data["tokens"] == estimate_tokens(data["text"])
    assert "aten::mm" in data["text"]


def test_hotspots_json_matches_the_api() -> None:
    proc = _run("hotspots", str(TORCH_TRACE), "-n", "3", "--json")
    assert proc.returncode == 0, proc.stderr
    records = orjson.loads(proc.stdout)
    expected = load_trace(TORCH_TRACE).hotspots(3)
    assert [r["name"] for r in records] == expected["name"].tolist()
    assert [r["self_dur"] for r in records] == pytest.approx(expected["self_dur"].tolist())
    assert set(records[0]) == {"name", "count", "self_dur", "total_dur", "self_pct"}


def test_hotspots_table_by_count_and_kind() -> None:
    proc = _run("hotspots", str(HTA / "trace_filter"), "-n", "4", "--by", "count", "--kind",
                "cpu")
    assert proc.returncode == 0, proc.stderr
    lines = proc.stdout.strip().splitlines()
    assert lines[0].startswith("| name | count |") and len(lines) == 2 + 4
    assert "cudaLaunchKernel" in proc.stdout


def test_unreadable_trace_exits_2_without_traceback(tmp_path: Path) -> None:
    bad = tmp_path / "broken.json"
    bad.write_text('{"traceEvents": [{"ph": "X", "name": "a", "ts": 1')
    for args in (("summarize", str(bad)), ("hotspots", str(tmp_path / "missing.json"))):
        proc = _run(*args)
        assert proc.returncode == 2
        assert proc.stdout == ""
        assert "cannot read trace" in proc.stderr and "Traceback" not in proc.stderr


def test_usage_errors_exit_2() -> None:
    proc = _run("hotspots", str(TORCH_TRACE), "-n", "0")
    assert proc.returncode == 2 and "must be at least 1" in proc.stderr
    assert _run().returncode == 2


def test_other_errors_exit_1(monkeypatch: pytest.MonkeyPatch,
                             capsys: pytest.CaptureFixture[str]) -> None:
    # an unexpected failure inside a command (simulated: nothing real fails on demand)
    import jupyter_assistant.traces as traces

    def boom(*args: object, **kwargs: object) -> None:
        raise RuntimeError("disk on fire")

    monkeypatch.setattr(traces, "load_trace", boom)
    assert cli.main(["summarize", str(TORCH_TRACE)]) == 1
    err = capsys.readouterr().err
    assert err.strip() == "jupyter-assistant: error: RuntimeError: disk on fire"


def test_unknown_format_is_a_trace_error(capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.main(["hotspots", str(TORCH_TRACE), "--format", "nope"]) == 2
    assert "unknown format 'nope'" in capsys.readouterr().err


def test_main_help_lists_the_commands(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exc:
        cli.main(["--help"])
    assert exc.value.code == 0
    out = capsys.readouterr().out
    assert "summarize" in out and "hotspots" in out


def test_hotspots_table_prints_samples_not_microseconds() -> None:
    """Folded stacks without a sampling interval count samples, not µs."""
    proc = _run("hotspots", str(HERE / "data" / "workload.py-spy.folded.txt"), "-n", "3")
    assert proc.returncode == 0, proc.stderr
    rows = proc.stdout.strip().splitlines()[2:]
    assert len(rows) == 3 and all(r.endswith(" samples |") for r in rows)
    assert "µs" not in proc.stdout


def test_building_the_parser_imports_no_heavy_sdk() -> None:
    """Startup stays fast: the trace commands never import the model SDKs, the server or
    redis (each costs seconds); ``chat`` imports them only when it runs."""
    code = ("import sys, jupyter_assistant.cli as c; c.build_parser(); "
            "print(sorted({m.split('.')[0] for m in sys.modules} & {'anthropic', 'openai', "
            "'jupyter_server', 'tornado', 'redis', 'IPython', 'pandas'}))")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          timeout=60, check=True)
    assert proc.stdout.strip() == "[]"


def test_diagnose_markdown_and_json() -> None:
    import json

    path = HERE.parents[1] / "shared" / "traces" / "gpu" / "gpu_mlp_eager_small_batch.json.gz"
    proc = _run("diagnose", str(path))
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.startswith("Verdict for trace 'gpu_mlp_eager_small_batch.json.gz': "
                                  "launch_overhead (high")
    assert "   - Fix: " in proc.stdout and "reduce-overhead" in proc.stdout
    proc = _run("diagnose", str(path), "--json")
    assert proc.returncode == 0, proc.stderr
    doc = json.loads(proc.stdout)
    assert doc["findings"][0]["kind"] == "launch_overhead"
    assert set(doc["findings"][0]) == {"kind", "severity", "share", "evidence", "fix", "source"}
    assert "profiler steps" in doc["headline"]
    bad = _run("diagnose", str(HERE / "data" / "no-such-trace.json"))
    assert bad.returncode != 0


_CHAT_ENV = {k: v for k, v in os.environ.items()
             if not k.startswith(("ANTHROPIC_", "OPENAI_", "BRAVE_"))}


@pytest.mark.parametrize(("args", "status", "says"), [
    # trace commands: missing, malformed, not a trace, empty, a device, no PATH, bad options
    (("summarize", "{missing}"), 2, "cannot read trace: {missing}: no such file"),
    (("hotspots", "{missing}"), 2, "cannot read trace: {missing}: no such file"),
    (("diagnose", "{missing}"), 2, "cannot read trace: {missing}: no such file"),
    (("summarize", "{malformed}"), 2, "{malformed} at line 2 column 1 (byte 50): truncated JSON"),
    (("hotspots", "{malformed}"), 2, "{malformed} at line 2 column 1 (byte 50): truncated JSON"),
    (("diagnose", "{malformed}"), 2, "{malformed} at line 2 column 1 (byte 50): truncated JSON"),
    (("diagnose", "{text}"), 2, "{text} at byte 0: unrecognised trace format"),
    (("summarize", "{empty}"), 2, "{empty} at byte 0: the file is empty"),
    (("summarize", "/dev/null"), 2, "/dev/null: not a regular file"),
    (("diagnose",), 2, "jupyter-assistant diagnose: error: the following arguments are "
                       "required: PATH"),
    (("hotspots", "{malformed}", "-n", "abc"), 2, "argument -n: 'abc' is not a whole number"),
    (("summarize", "{malformed}", "--format", "nope"), 2, "unknown format 'nope'"),
    (("nope",), 2, "argument COMMAND: invalid choice: 'nope'"),
    ((), 2, "the following arguments are required: COMMAND"),
    # chat: a trace that is missing or malformed, a bad model, an empty or too long message
    (("chat", "why?", "--trace", "{missing}"), 1,
     "trace_not_found: trace '{missing}' is neither a known trace id nor an existing file"),
    (("chat", "why?", "--trace", "{malformed}"), 1, "trace_format: {malformed} at line 2"),
    (("chat", "why?", "--base", "{malformed}"), 2, "cannot read trace: {malformed} at line 2"),
    (("chat", "why?", "--model", "gemini:pro"), 1,
     "config: unknown model provider 'gemini' in 'gemini:pro'"),
    (("chat", "why?", "--model", ""), 2, "argument --model: is empty"),
    (("chat", "why?", "--model", "openai:"), 1, "config: model spec 'openai:' needs a model id"),
    (("chat", ""), 1, "empty_message: the message is empty"),
    (("chat", "  \n "), 1, "empty_message: the message is empty"),
    (("chat", "{long}"), 1, "message_too_long: the message is 10,001 characters long"),
    (("chat", "why?", "--deadline", "0"), 2, "argument --deadline: must be more than 0 seconds"),
    (("chat", "why?", "--deadline", "soon"), 2, "'soon' is not a number of seconds"),
    (("chat", "why?", "--root", "{missing}"), 2, "argument --root: no such directory"),
    (("chat",), 2, "the following arguments are required: question"),
])
def test_bad_input_is_one_line_naming_the_problem(
        tmp_path: Path, args: tuple[str, ...], status: int, says: str) -> None:
    """Each command on bad input, in a fresh process: a non-zero status, nothing on stdout,
    and exactly one line on stderr that names the problem (no traceback, no usage block,
    no log record repeating it)."""
    files = {"missing": tmp_path / "missing.json", "malformed": tmp_path / "broken.json",
             "text": tmp_path / "notes.txt", "empty": tmp_path / "empty.json"}
    files["malformed"].write_text('{"traceEvents": [{"ph": "X", "name": "a", "ts": 1\n')
    files["text"].write_text("hello\n")
    files["empty"].write_text("")
    fill = {**{k: str(v) for k, v in files.items()}, "long": "x" * 10_001}
    proc = subprocess.run([sys.executable, "-m", "jupyter_assistant",
                           *(a.format(**fill) for a in args)], capture_output=True, text=True,
                          timeout=120, env=_CHAT_ENV, stdin=subprocess.DEVNULL)
    assert proc.returncode == status, proc.stderr
    assert proc.stdout == ""
    lines = proc.stderr.splitlines()
    assert len(lines) == 1, proc.stderr
    assert lines[0].startswith("jupyter-assistant") and says.format(**fill) in lines[0]


@pytest.mark.parametrize(("args", "names"), [
    ((), ("summarize", "hotspots", "diagnose", "chat", "Exit status")),
    (("summarize",), ("--max-tokens", "--format", "--json", "--verbose", "PATH")),
    (("hotspots",), ("-n N", "--by", "--kind", "--json")),
    (("diagnose",), ("input_bound", "--json", "PATH")),
    (("chat",), ("--trace", "--base", "--model", "--deadline", "--root", "Exit status")),
])
def test_help_of_every_command(args: tuple[str, ...], names: tuple[str, ...]) -> None:
    proc = _run(*args, "--help")
    assert proc.returncode == 0 and proc.stderr == ""
    assert proc.stdout.startswith(" ".join(("usage: jupyter-assistant", *args)))
    assert all(n in proc.stdout for n in names), proc.stdout


def test_verbose_shows_the_log_records_with_their_level(tmp_path: Path) -> None:
    proc = subprocess.run([sys.executable, "-m", "jupyter_assistant", "chat", "why?",
                           "--trace", str(tmp_path / "missing.json"), "-v"],
                          capture_output=True, text=True, timeout=120, env=_CHAT_ENV,
                          stdin=subprocess.DEVNULL)
    assert proc.returncode == 1
    lines = proc.stderr.splitlines()
    assert "WARNING jupyter_assistant.orchestrator" in lines[0] and "failed" in lines[0]
    assert lines[-1].startswith("jupyter-assistant: trace_not_found:")
