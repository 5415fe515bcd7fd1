"""Cold start: a turn without a trace does not import what only trace tools need.

The built-in tools are offered to the model (their names and input schemas are in the
request), but pandas, numpy, pyarrow and the trace engine are imported only when a trace
tool runs or a trace is loaded (issue 9: first text of ``jupyter-assistant chat`` soon after
process start). The speed itself is measured in ``bench/cold_start.py``.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from jupyter_assistant.testing import AnthropicServer

HEAVY = ("pandas", "numpy", "pyarrow", "jupyter_assistant.traces")

_CHAT = """
import json, sys
from jupyter_assistant import cli
status = cli.main(["chat", "Why is step 3 slow?", "--model", "anthropic:claude-sonnet-5-5"])
print(json.dumps({"status": status, "heavy": [m for m in HEAVY if m in sys.modules]}))
"""

_TOOL = """
import json, sys
import anyio
from jupyter_assistant.tools import ToolContext, default_tools

async def main():
    tools = {t.name: t for t in default_tools()}
    before = [m for m in HEAVY if m in sys.modules]
    from jupyter_assistant.traces import load_trace
    trace = load_trace(PATH)
    ctx = ToolContext(traces={"current": trace})
    hot = await tools["hotspots"].call({"n": 3}, ctx)
    query = await tools["query_events"].call({"group_by": ["name"], "agg": ["count"],
                                              "limit": 2}, ctx)
    print(json.dumps({"before": before, "hotspots": hot, "query": query}))

anyio.run(main)
"""


def _python(code: str, env: dict[str, str] | None = None) -> dict[str, object]:
    out = subprocess.run([sys.executable, "-c", f"HEAVY = {HEAVY!r}\n" + code],
                         capture_output=True, text=True, timeout=120, env=env,
                         stdin=subprocess.DEVNULL)
    assert out.returncode == 0, out.stderr[-2000:]
    return dict(json.loads(out.stdout.strip().splitlines()[-1]))


def test_a_chat_turn_without_a_trace_offers_the_tools_without_importing_pandas() -> None:
    with AnthropicServer() as server:
        env = {k: v for k, v in os.environ.items() if not k.startswith("ANTHROPIC_")}
        env.update(ANTHROPIC_BASE_URL=server.base_url, ANTHROPIC_API_KEY="sk-ant-test-dummy")
        result = _python(_CHAT, env)
        body = server.requests[0].body
    assert result == {"status": 0, "heavy": []}
    offered = {t["name"]: t for t in body["tools"]}
    assert {"hotspots", "query_events", "gpu_breakdown", "read_file"} <= set(offered)
    assert offered["hotspots"]["input_schema"]["properties"]["by"]["enum"] == [
        "self_dur", "total_dur", "count"]


def test_trace_tools_import_what_they_need_when_they_run() -> None:
    trace = (Path(__file__).resolve().parents[2] / "shared" / "traces" / "hta" / "trace_compare"
             / "base" / "base.json.gz")
    result = _python(_TOOL.replace("PATH", repr(str(trace))))
    assert result["before"] == []
    assert str(result["hotspots"]).startswith("Top 3 slice names of trace 'current' by self_dur")
    lines = str(result["query"]).splitlines()
    assert lines[0] == "16 groups of trace 'current'; showing 2."
    assert lines[2].replace(" ", "") == "|name|count|" and len(lines) == 6
