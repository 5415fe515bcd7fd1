"""A cell edit proposed through the server: the sidebar's assistant offers
``propose_cell_edit``; the SSE stream carries the proposal (``cell_id``, ``new_source``) in
``tool_use_start`` and a non-error ``tool_use_complete``; no file changes."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from jupyter_assistant.testing.anthropic_server import Reply


async def test_the_proposal_reaches_the_stream_and_changes_nothing(
        sse: Any, anthropic_peer: Any, jp_root_dir: Path) -> None:
    nb = jp_root_dir / "nb.ipynb"
    nb.write_text('{"cells": [], "metadata": {}, "nbformat": 4, "nbformat_minor": 5}')
    before = nb.read_bytes()
    anthropic_peer.script(
        Reply.tool_use("propose_cell_edit", {"cell_id": "cell-1", "new_source": "y = 2",
                                             "explanation": "use y"}),
        Reply.text("I proposed the change."))
    r = await sse("chat", body={"message": "fix cell cell-1"})
    offered = anthropic_peer.message_requests()[0]["tools"]
    assert "propose_cell_edit" in [t["name"] for t in offered]
    start = next(e for e in r.events if e["type"] == "tool_use_start")
    assert start["data"]["name"] == "propose_cell_edit"
    assert start["data"]["input"] == {"cell_id": "cell-1", "new_source": "y = 2",
                                      "explanation": "use y"}
    done = next(e for e in r.events if e["type"] == "tool_use_complete")
    assert done["data"]["is_error"] is False
    assert "Nothing has changed yet" in done["data"]["content"]
    assert r.types[-1] == "message_complete"
    assert nb.read_bytes() == before
