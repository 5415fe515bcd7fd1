"""``%assistant load``, ``%%assistant profile`` and ``%assistant stats`` in a real kernel, on
real traces from ../shared/traces and real profilers."""

from __future__ import annotations

import base64
import json
from pathlib import Path

from kernel_helpers import Execution, Kernel

from jupyter_assistant.testing import AnthropicServer, Reply

PNG = b"\x89PNG\r\n\x1a\n"


def _pngs(result: Execution) -> list[bytes]:
    return [base64.b64decode(p) for p in result.data("image/png")]


def test_load_shows_summary_and_pictures_and_feeds_the_turn(
        kernel: Kernel, peer: AnthropicServer, traces_dir: Path) -> None:
    path = traces_dir / "gpu" / "gpu_h2d_per_sample.json.gz"
    result = kernel.ok(f"%assistant load {path} --as before")
    summary = result.markdown()
    assert "**Trace `before`**" in summary and "kineto" in summary
    assert "cudaMemcpyAsync" in summary  # the real top CPU hotspot
    pictures = _pngs(result)
    assert len(pictures) == 2 and all(p.startswith(PNG) and len(p) > 5000 for p in pictures)
    assert kernel.ok("print(type(before).__name__, len(before.events))").text() == \
        "Trace 10466\n"
    peer.script(Reply.tool_use("hotspots", {"trace": "current", "n": 3}), Reply.text("Copies."))
    kernel.ok("%assistant why is it slow?")
    first, second = peer.message_requests()[-2:]
    system = first["system"] if isinstance(first["system"], str) else "".join(
        b["text"] for b in first["system"])
    assert "current trace" in system and "gpu_h2d_per_sample" in system
    result_block = second["messages"][-1]["content"][0]
    assert result_block["type"] == "tool_result" and "cudaMemcpyAsync" in json.dumps(
        result_block["content"])


def test_load_errors_are_short_and_named(kernel: Kernel, tmp_path: Path) -> None:
    missing = kernel.execute(f"%assistant load {tmp_path / 'nope.json'}")
    assert missing.reply["status"] == "error" and missing.reply["ename"] == "UsageError"
    assert "nope.json" in missing.text()
    bad = tmp_path / "bad.json"
    bad.write_text('{"traceEvents": [{"ph": "X", "ts": "soon"')
    broken = kernel.execute(f"%assistant load {bad}")
    assert broken.reply["ename"] == "UsageError" and "bad.json" in broken.text()
    assert "Traceback" not in broken.text()


def test_profile_binds_the_trace_and_keeps_the_cells_variables(kernel: Kernel,
                                                                peer: AnthropicServer) -> None:
    cell = ("def busy(n):\n    return sum(i * i for i in range(n))\n"
            "answer = busy(300_000)\n")
    result = kernel.ok("%%assistant profile\n" + cell)
    assert "**Trace `profile_trace`**" in result.markdown() and len(_pngs(result)) == 2
    out = kernel.ok("names = profile_trace.hotspots(None)['name']\n"
                    "print(answer, profile_trace.format, "
                    "names.str.startswith('busy (In [').any() "
                    "and names.str.contains('genexpr').any())").text()
    assert out == f"{sum(i * i for i in range(300_000))} cprofile True\n"
    peer.script(Reply.text("It is the generator."))
    asked = kernel.ok("%%assistant profile --profiler pyinstrument --as p2 --ask what is hot?\n"
                      "answer2 = busy(300_000)")
    assert "It is the generator." in asked.markdown()
    assert kernel.ok("print(p2.format, answer2 == answer)").text() == "speedscope True\n"
    system = peer.message_requests()[-1]["system"]
    system = system if isinstance(system, str) else "".join(b["text"] for b in system)
    assert "pyinstrument" in system  # the profile is the turn's current trace


def test_profile_of_a_failing_cell_raises_and_binds_nothing(kernel: Kernel) -> None:
    result = kernel.execute("%%assistant profile --as failed\nx = 1 / 0")
    assert result.reply["status"] == "error" and result.reply["ename"] == "ZeroDivisionError"
    assert kernel.ok("print('failed' in globals())").text() == "False\n"
    missing = kernel.execute("%assistant profile")
    assert missing.reply["ename"] == "UsageError" and "cell magic" in missing.text()


def test_stats_dashboard_reads_the_store(kernel: Kernel, peer: AnthropicServer) -> None:
    empty = kernel.ok("%assistant stats")
    assert "no model or tool calls recorded yet" in empty.markdown()
    peer.script(Reply.tool_use("list_variables", {},
                               usage={"input_tokens": 1000, "output_tokens": 10}),
                Reply.text("Nothing yet.", usage={"input_tokens": 1200, "output_tokens": 20}))
    kernel.ok("%assistant what do I have")
    result = kernel.ok("%assistant stats --days 1")
    totals = result.markdown()
    assert "2 model calls (0 not ok), 1 tool calls, 2,200 input / 30 output tokens" in totals
    tables = result.data("text/html")
    assert len(tables) == 2 and "list_variables" in tables[1]
    assert "claude-sonnet" in tables[0]
    assert len(_pngs(result)) == 1


def test_trace_option_takes_a_path(kernel: Kernel, peer: AnthropicServer) -> None:
    path = Path(__file__).resolve().parents[1] / "data" / "workload.cprofile.prof"
    kernel.ok(f"%assistant --trace {path} what is hot")
    system = peer.message_requests()[-1]["system"]
    system = system if isinstance(system, str) else "".join(b["text"] for b in system)
    assert "current trace" in system and "cprofile" in system
    missing = kernel.ok("%assistant --trace /no/such/trace.json what is hot")
    assert "trace_not_found" in missing.markdown()
