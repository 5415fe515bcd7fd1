"""A model's tool call cannot freeze the server: a backtracking regex sent to ``query_events``
(exponential on Python's ``re``, which holds the GIL for the whole match) runs on RE2 in a
worker thread, the server keeps answering, and the turn ends with the tool's answer.

Real ``jupyter server`` (pytest-jupyter), real HTTP, the local Anthropic-protocol peer scripted
to send the malicious ``tool_use``, and a real Kineto trace with 1,600-character kernel names.
"""

from __future__ import annotations

import asyncio
import gc
import statistics
from pathlib import Path
from typing import Any

from jupyter_assistant import load_trace
from jupyter_assistant.testing.anthropic_server import Reply

CONTROL = (Path(__file__).resolve().parents[3] / "shared" / "traces" / "hta" / "trace_diff"
           / "control" / "control.json.gz")
#: Backtracks for hours on Python's re against a 1,600-character name without a "Z".
BACKTRACKING = 'name.str.contains("(.|.)*Z", regex=True)'


async def test_a_backtracking_regex_from_the_model_does_not_freeze_the_server(
        api: Any, sse: Any, jp_fetch: Any, anthropic_peer: Any) -> None:
    code, _, up = await api("traces", method="POST", body=CONTROL.read_bytes(),
                            params={"name": "control.json.gz"})
    assert code == 201, up
    # a first turn pays the process's cold start (imports of the SDK and the validators),
    # which is not what this test measures
    warm = await sse("chat", body={"message": "warm up", "trace_id": up["id"]})
    assert warm.types[-1] == "message_complete"
    anthropic_peer.script(Reply.tool_use("query_events", {"where": BACKTRACKING}),
                          Reply.text("Done looking."))
    loop = asyncio.get_running_loop()
    latencies: list[float] = []
    finished = asyncio.Event()

    async def probe_status() -> None:  # Jupyter's own status route, as a client would
        while not finished.is_set():
            t0 = loop.time()
            r = await jp_fetch("api", "status")
            latencies.append(loop.time() - t0)
            assert r.code == 200
            await asyncio.sleep(0.02)

    # a full collection of this test process's objects (after a thousand tests) can pause
    # every thread for a few tenths of a second: collect before, not while, measuring
    gc.collect()
    prober = asyncio.create_task(probe_status())
    t0 = loop.time()
    try:
        r = await sse("chat", body={"message": "which kernels mention Z?",
                                    "trace_id": up["id"]}, timeout=60)
    finally:
        finished.set()
        await prober
    took = loop.time() - t0
    assert r.types[-1] == "message_complete", r.events[-1]
    (done,) = [e["data"] for e in r.events if e["type"] == "tool_use_complete"]
    assert not done["is_error"], done["content"]
    names = load_trace(CONTROL).events["name"].astype(str)
    expected = int(names.str.contains("Z", regex=False).sum())
    assert done["content"].startswith(f"{expected:,} slices of trace 'current' match")
    # frozen, the server would not answer for the regex's hours (or the tool's 30 s
    # timeout): every status answer comes within a second, the typical one at once
    assert len(latencies) >= 3, (took, latencies)
    assert max(latencies) < 1.0 and statistics.median(latencies) < 0.1, (took, latencies)
