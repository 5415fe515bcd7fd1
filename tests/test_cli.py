"""The command line, run as a real subprocess on real traces."""

from __future__ import annotations

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
