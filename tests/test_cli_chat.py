"""``jupyter-assistant chat`` as a real subprocess: offline on a real trace, ``--json``,
against the local Anthropic and OpenAI-compatible servers, errors, and Ctrl-C."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from jupyter_assistant.testing import AnthropicServer
from jupyter_assistant.testing.openai_server import OpenAIServer

TRACES = Path(__file__).resolve().parents[2] / "shared" / "traces"  # ../shared beside the repo
ALEXNET = TRACES / "hta/critical_path/alexnet/benchmark_result_2869224_1695835535_trace.json.gz"
BASE = TRACES / "hta/trace_compare/base/base.json.gz"
TEST = TRACES / "hta/trace_compare/test/test.json.gz"
NOTICE_START = "No language model is configured"


def _env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("ANTHROPIC_", "OPENAI_", "BRAVE_"))}
    env["PYTHONUNBUFFERED"] = "1"
    env.update(extra)
    return env


def chat(*args: str, env: dict[str, str] | None = None, timeout: float = 60
         ) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "jupyter_assistant", "chat", *args],
                          capture_output=True, text=True, timeout=timeout, env=env or _env(),
                          stdin=subprocess.DEVNULL)


@pytest.fixture
def anthropic() -> Iterator[AnthropicServer]:
    with AnthropicServer() as srv:
        yield srv


def test_offline_answer_on_a_real_trace(tmp_path: Path) -> None:
    p = chat("Why is it slow, and is the GPU idle?", "--trace", str(ALEXNET))
    assert p.returncode == 0, p.stderr
    assert p.stdout.startswith(NOTICE_START)
    assert "alone takes" in p.stdout and "The GPU is idle" in p.stdout
    assert "[tool] hotspots" in p.stderr and "[tool] gpu_breakdown done in" in p.stderr


def test_offline_compare_with_base_as_json() -> None:
    p = chat("compare with the base: what regressed?", "--trace", str(TEST), "--base",
             str(BASE), "--json", "--model", "offline")
    assert p.returncode == 0, p.stderr
    events = [json.loads(line) for line in p.stdout.splitlines()]
    assert events[0]["type"] == "session_started" and events[-1]["type"] == "message_complete"
    assert [e["seq"] for e in events] == list(range(events[0]["seq"],
                                                    events[0]["seq"] + len(events)))
    starts = [e["data"] for e in events if e["type"] == "tool_use_start"]
    assert starts == [{"id": starts[0]["id"], "name": "compare_traces",
                       "input": {"base": "base", "test": "current"}}]
    text = "".join(e["data"]["text"] for e in events if e["type"] == "text_delta")
    assert "The largest regression is" in text


def test_anthropic_server_answer_and_auth_error(anthropic: AnthropicServer) -> None:
    env = _env(ANTHROPIC_BASE_URL=anthropic.base_url, ANTHROPIC_API_KEY="sk-ant-test-dummy")
    p = chat("check it [[tool_then_text tool=trace_summary]]", "--trace", str(BASE), env=env)
    assert p.returncode == 0, p.stderr
    assert "[tool] trace_summary done" in p.stderr
    assert p.stdout.startswith("Tool results received") and "base.json.gz" in p.stdout
    assert anthropic.requests[0].body["model"].startswith("claude")
    p = chat("hi [[error status=401]]", env=env)
    assert p.returncode == 1
    assert "auth" in p.stderr and "sk-ant-test-dummy" not in p.stderr + p.stdout


def test_openai_model_and_missing_trace() -> None:
    with OpenAIServer() as srv:
        p = chat("hello", "--model", "openai:local-llama", env=_env(OPENAI_BASE_URL=srv.base_url))
        assert p.returncode == 0, p.stderr
        assert p.stdout.strip() == "You said: hello"
        p = chat("hi [[truncate after=3]]", "--model", "openai:local-llama",
                 env=_env(OPENAI_BASE_URL=srv.base_url))
        assert p.returncode == 1 and "incomplete_stream" in p.stderr
    p = chat("hi", "--trace", "/nonexistent/trace.json")
    assert p.returncode != 0 and "trace" in p.stderr.lower()


def test_ctrl_c_cancels_the_turn(anthropic: AnthropicServer) -> None:
    env = _env(ANTHROPIC_BASE_URL=anthropic.base_url, ANTHROPIC_API_KEY="sk-ant-test-dummy")
    proc = subprocess.Popen(
        [sys.executable, "-m", "jupyter_assistant", "chat",
         "[[slow_stream chunks=400 delay=0.05]]"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env,
        stdin=subprocess.DEVNULL)
    try:
        assert proc.stdout is not None
        first = proc.stdout.read(2)  # the answer has started streaming
        assert first
        t0 = time.monotonic()
        proc.send_signal(signal.SIGINT)
        out, err = proc.communicate(timeout=10)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert proc.returncode == 1, err
    assert time.monotonic() - t0 < 5
    assert "cancelled" in err
    assert len((first + out).split()) < 400  # stopped before the whole answer


def test_anthropic_without_a_key_ends_in_an_auth_error_saying_how_to_fix_it(
        anthropic: AnthropicServer, tmp_path: Path) -> None:
    # no ANTHROPIC_* credentials, no profile (HOME and XDG config point to an empty folder)
    env = _env(ANTHROPIC_BASE_URL=anthropic.base_url, HOME=str(tmp_path),
               XDG_CONFIG_HOME=str(tmp_path / "config"))
    p = chat("hi", "--model", "anthropic:claude-sonnet-5-5", "--json", env=env)
    assert p.returncode == 1, p.stderr
    events = [json.loads(line) for line in p.stdout.splitlines()]
    assert [e["type"] for e in events] == ["session_started", "error"]
    err = events[-1]["data"]
    assert err["code"] == "auth" and err["retryable"] is False
    assert "ANTHROPIC_API_KEY is not set" in err["message"]
    assert "export ANTHROPIC_API_KEY=" in err["message"] and "--model offline" in err["message"]
    assert "TypeError" not in err["message"]
    assert anthropic.requests == []  # nothing was sent without credentials
    # the same as plain text: one line on stderr with the code
    p = chat("hi", "--model", "anthropic:claude-sonnet-5-5", env=env)
    assert p.returncode == 1 and "jupyter-assistant: auth: No Anthropic API key" in p.stderr


def test_openai_without_a_base_url_fails_at_once_naming_the_setting() -> None:
    p = chat("hi", "--model", "openai:llama3.1", timeout=60)
    assert p.returncode == 1
    assert "jupyter-assistant: config: 'openai:llama3.1' needs the base URL" in p.stderr
    assert "OPENAI_BASE_URL" in p.stderr and "c.AssistantConfig.openai_base_url" in p.stderr
    assert "attempts" not in p.stderr  # no retries of a connection that cannot work


#: Runs ``python -m jupyter_assistant ARGS`` (through ``__main__``, like the console script)
#: and, from an ``atexit`` handler registered first (so it runs last, just before CPython's
#: finalisation), reports what that finalisation will walk: the objects the garbage
#: collector still tracks, and the threads still alive.
_EXIT_PROBE = r"""
import atexit, gc, json, sys, threading

def report():
    others = [t.name for t in threading.enumerate() if t is not threading.main_thread()]
    print("[probe] " + json.dumps({"tracked": len(gc.get_objects()),
                                   "frozen": gc.get_freeze_count(), "threads": others}),
          file=sys.stderr)

atexit.register(report)
import runpy
sys.argv = ["jupyter-assistant", *sys.argv[1:]]
runpy.run_module("jupyter_assistant", run_name="__main__", alter_sys=True)
"""


def test_after_the_answer_exit_has_nothing_left_to_collect_or_join(
        anthropic: AnthropicServer) -> None:
    """The answer is printed, then the process exits at once: no thread is left running
    (a non-daemon one would be joined, a daemon one would still be importing), and the
    ~200,000 objects of the SDK, the trace engine and the turn are frozen, so CPython's exit
    does not spend ~0.5 s in full garbage collections over them (measured in
    ``bench/cold_start.py``: "answer printed -> process exit")."""
    env = _env(ANTHROPIC_BASE_URL=anthropic.base_url, ANTHROPIC_API_KEY="sk-ant-test-dummy")
    p = subprocess.run([sys.executable, "-c", _EXIT_PROBE, "chat",
                        "check [[tool_then_text tool=trace_summary]]", "--trace", str(BASE),
                        "--base", str(TEST), "--model", "anthropic:claude-sonnet-5-5"],
                       capture_output=True, text=True, timeout=60, env=env,
                       stdin=subprocess.DEVNULL)
    assert p.returncode == 0, p.stderr
    assert p.stdout.startswith("Tool results received")  # the SDK and pandas were imported
    probe = json.loads(p.stderr.rpartition("[probe] ")[2])
    assert probe["threads"] == []
    assert probe["frozen"] > 100_000  # what the exit would otherwise collect
    assert probe["tracked"] < 1_000, probe


def test_the_console_script_is_console_main() -> None:
    from importlib.metadata import entry_points

    (script,) = entry_points(group="console_scripts", name="jupyter-assistant")
    assert script.value == "jupyter_assistant.cli:console_main"
