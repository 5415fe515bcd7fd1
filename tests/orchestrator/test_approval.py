"""``apply_edit`` and ``undo`` through real turns (real SDK, local Anthropic server): refused
without an approver, refused when the approver says no, done when it says yes, undone by
``undo``; each result reaches the model in its next request."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from orch_helpers import collect, make_assistant, of_type

from jupyter_assistant.testing import AnthropicServer, Reply
from jupyter_assistant.tools.file_tools import apply_edit, undo

pytestmark = [pytest.mark.anyio, pytest.mark.timeout(30)]

ORIGINAL = "def step():\n    return slow()\n"
EDIT = {"path": "model.py", "search": "slow()", "replace": "fast()"}


def _last_result(server: AnthropicServer) -> dict[str, Any]:
    """The last tool_result the model was sent."""
    block: dict[str, Any] = server.message_requests()[-1]["messages"][-1]["content"][0]
    assert block["type"] == "tool_result"
    return block


async def test_apply_edit_needs_approval_then_undo(server: AnthropicServer,
                                                   tmp_path: Path) -> None:
    target = tmp_path / "model.py"
    target.write_text(ORIGINAL)
    answers: list[bool] = []
    asked: list[tuple[str, dict[str, Any]]] = []

    async def approve(name: str, details: dict[str, Any]) -> bool:
        asked.append((name, details))
        return answers.pop(0)

    def edit_turn() -> None:
        server.script(Reply.tool_use("apply_edit", EDIT), Reply.text("ok"))

    # no approver, no auto_approve: refused, file unchanged
    async with make_assistant(tools=[apply_edit, undo], root=tmp_path) as assistant:
        edit_turn()
        events = await collect(assistant, "fix it", session_id="s-edit")
    (done,) = of_type(events, "tool_use_complete")
    assert done.data["is_error"] and done.data["error_code"] == "approval_required"
    assert target.read_text() == ORIGINAL
    assert _last_result(server)["is_error"] is True
    assert "approval" in _last_result(server)["content"]

    async with make_assistant(tools=[apply_edit, undo], root=tmp_path,
                              approve=approve) as assistant:
        # the approver says no: refused, file unchanged
        answers.append(False)
        edit_turn()
        events = await collect(assistant, "fix it", session_id="s-edit")
        (done,) = of_type(events, "tool_use_complete")
        assert done.data["error_code"] == "refused" and target.read_text() == ORIGINAL
        assert _last_result(server)["is_error"] is True
        assert asked == [("apply_edit", EDIT)]
        # yes: edited, the model gets the diff
        answers.append(True)
        edit_turn()
        events = await collect(assistant, "fix it", session_id="s-edit")
        (done,) = of_type(events, "tool_use_complete")
        assert done.data["is_error"] is False
        assert target.read_text() == "def step():\n    return fast()\n"
        result = _last_result(server)
        assert not result.get("is_error") and "-    return slow()" in result["content"]
        assert "+    return fast()" in result["content"]
        # undo (in a later turn of the same session) restores the file
        answers.append(True)
        server.script(Reply.tool_use("undo"), Reply.text("reverted"))
        events = await collect(assistant, "undo that", session_id="s-edit")
        (done,) = of_type(events, "tool_use_complete")
        assert done.data["is_error"] is False and done.data["name"] == "undo"
        assert target.read_text() == ORIGINAL
        assert [name for name, _ in asked] == ["apply_edit", "apply_edit", "undo"]
