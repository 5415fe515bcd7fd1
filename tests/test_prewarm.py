"""``prewarm``: the SDK and the built-in tools are imported in a background thread, so the
first turn of a fresh process does not pay for them; the caller pays nothing."""

from __future__ import annotations

import subprocess
import sys
from typing import Any

_CODE = """
import sys, threading
import jupyter_assistant as ja
before = sorted(m for m in ("anthropic", "pandas", "jupyter_assistant.orchestrator")
                if m in sys.modules)
thread = ja.prewarm({spec!r})
assert isinstance(thread, threading.Thread) and thread.daemon
thread.join(120)
assert not thread.is_alive()
after = sorted(m for m in ("anthropic", "openai", "pandas", "fastjsonschema",
                           "jupyter_assistant.tools.trace_tools") if m in sys.modules)
print(before, after)
"""


def _run(spec: str | None) -> str:
    out = subprocess.run([sys.executable, "-c", _CODE.format(spec=spec)],
                         capture_output=True, text=True, timeout=180)
    assert out.returncode == 0, out.stderr
    return out.stdout.strip()


def test_prewarm_imports_the_sdk_and_the_tools_in_the_background() -> None:
    assert _run("anthropic:claude-sonnet-5-5") == (
        "[] ['anthropic', 'fastjsonschema', 'jupyter_assistant.tools.trace_tools', 'pandas']")


def test_prewarm_offline_imports_no_sdk() -> None:
    assert _run("offline") == (
        "[] ['fastjsonschema', 'jupyter_assistant.tools.trace_tools', 'pandas']")


def test_prewarm_of_a_bad_spec_does_not_raise() -> None:
    # the turn reports an unknown provider (ConfigError); prewarm only does what it can
    assert _run("nonsense:model") == (
        "[] ['fastjsonschema', 'jupyter_assistant.tools.trace_tools', 'pandas']")


def test_the_chat_command_prewarms_its_model_first(monkeypatch: Any,
                                                   capsys: Any) -> None:
    import jupyter_assistant
    from jupyter_assistant import cli

    calls: list[tuple[Any, ...]] = []
    real = jupyter_assistant.prewarm

    def spy(model: Any = None, **kwargs: Any) -> Any:
        calls.append((model, kwargs))
        return real(model, **kwargs)

    monkeypatch.setattr(jupyter_assistant, "prewarm", spy)
    assert cli.main(["chat", "what are the hotspots?", "--model", "offline"]) == 0
    assert calls == [("offline", {"tools": False})]
    assert "No language model is configured" in capsys.readouterr().out


_GC_CODE = """
import gc, sys, threading
import jupyter_assistant as ja
if {disabled}:
    gc.disable()
runs = []
gc.callbacks.append(lambda phase, info: phase == "start" and runs.append(
    threading.current_thread().name))
ja.prewarm("anthropic:claude-sonnet-5-5", tools=False).join(120)
assert "anthropic" in sys.modules
print(gc.isenabled(), runs.count("jupyter-assistant-prewarm"))
"""


def test_the_import_runs_with_the_cyclic_gc_paused_then_restored() -> None:
    """The SDK's import makes ~160k long-lived objects: without the pause the collector ran
    some 300 times inside it, to free nothing. Afterwards the collector is as it was."""
    for disabled, enabled_after in ((False, "True"), (True, "False")):
        out = subprocess.run([sys.executable, "-c", _GC_CODE.format(disabled=disabled)],
                             capture_output=True, text=True, timeout=180)
        assert out.returncode == 0, out.stderr
        enabled, collections = out.stdout.split()
        assert enabled == enabled_after
        # at most the one young collection the allocations set off once the pause ends
        assert int(collections) <= 1
