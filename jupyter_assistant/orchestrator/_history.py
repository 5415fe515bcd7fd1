"""Model history from stored messages: always a valid Anthropic Messages ``messages`` list.

The store keeps every message as it happened, including answers cut off by an error or a
cancel (``metadata.status == "interrupted"``). The history sent to the model is rebuilt from
it under the rules of the Messages API
(https://platform.claude.com/docs/en/agents-and-tools/tool-use/implement-tool-use):

- interrupted messages and empty text blocks are left out;
- consecutive messages of the same role are merged into one;
- the conversation starts with a user message;
- every ``tool_use`` is answered by a ``tool_result`` in the very next user message, with
  the results first; a ``tool_use`` that has none (a crash between the two messages) is
  paired with an ``is_error`` result ``"interrupted"``, and a ``tool_result`` with no
  ``tool_use`` before it is dropped.
"""

from __future__ import annotations

import copy
from collections.abc import Iterable
from typing import Any

from ..store import Message

__all__ = ["INTERRUPTED_RESULT", "append_message", "build_history", "tool_result_block",
           "tool_use_ids"]

#: Text of the ``tool_result`` that pairs a ``tool_use`` whose result was never stored.
INTERRUPTED_RESULT = "interrupted: the tool call did not complete"


def tool_result_block(tool_use_id: str, content: str, *, is_error: bool = False
                      ) -> dict[str, Any]:
    """A ``tool_result`` content block."""
    block: dict[str, Any] = {"type": "tool_result", "tool_use_id": tool_use_id,
                             "content": content}
    if is_error:
        block["is_error"] = True
    return block


def tool_use_ids(content: Iterable[dict[str, Any]]) -> list[str]:
    """Ids of the ``tool_use`` blocks in ``content``, in order."""
    return [b["id"] for b in content if b.get("type") == "tool_use"]


def _blocks(content: Any) -> list[dict[str, Any]]:
    if isinstance(content, str):
        content = [{"type": "text", "text": content}]
    if not isinstance(content, list):
        return []
    return [copy.deepcopy(b) for b in content if isinstance(b, dict)
            and not (b.get("type") == "text" and not b.get("text"))]


def append_message(history: list[dict[str, Any]], role: str, content: Any) -> None:
    """Append a message to ``history`` in place, merging it into the last message when that
    one has the same role (``tool_result`` blocks stay first)."""
    blocks = _blocks(content)
    if not blocks:
        return
    if history and history[-1]["role"] == role:
        merged = history[-1]["content"] + blocks
        if role == "user":
            merged = ([b for b in merged if b.get("type") == "tool_result"]
                      + [b for b in merged if b.get("type") != "tool_result"])
        history[-1]["content"] = merged
    else:
        history.append({"role": role, "content": blocks})


def _repair(messages: list[dict[str, Any]]) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    for message in messages:
        if not out and message["role"] != "user":
            continue  # the conversation must start with the user
        pending = tool_use_ids(out[-1]["content"]) if out and out[-1]["role"] == "assistant" \
            else []
        if message["role"] == "assistant":
            if pending:  # an assistant message after unanswered tool_use blocks
                out.append({"role": "user", "content": [
                    tool_result_block(t, INTERRUPTED_RESULT, is_error=True) for t in pending]})
            out.append(message)
            continue
        seen: set[str] = set()
        results = []
        for block in message["content"]:
            tid = block.get("tool_use_id")
            if block.get("type") == "tool_result" and tid in pending and tid not in seen:
                seen.add(tid)
                results.append(block)
        results += [tool_result_block(t, INTERRUPTED_RESULT, is_error=True)
                    for t in pending if t not in seen]
        others = [b for b in message["content"] if b.get("type") != "tool_result"]
        if results or others:
            out.append({"role": "user", "content": results + others})
    if out and out[-1]["role"] == "assistant" and (pending := tool_use_ids(out[-1]["content"])):
        out.append({"role": "user", "content": [
            tool_result_block(t, INTERRUPTED_RESULT, is_error=True) for t in pending]})
    return out


def build_history(messages: Iterable[Message]) -> list[dict[str, Any]]:
    """The Messages API ``messages`` for stored ``messages`` (oldest first); see the module
    docstring for the rules. The result may be empty."""
    merged: list[dict[str, Any]] = []
    for message in messages:
        if (message.metadata or {}).get("status") == "interrupted":
            continue
        if message.role in ("user", "assistant"):
            append_message(merged, message.role, message.content)
    return _repair(merged)
