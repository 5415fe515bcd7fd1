"""History rebuilt from stored messages is always valid for the Messages API (checked by the
local server's validator, which follows the API's rules)."""

from __future__ import annotations

from typing import Any

from jupyter_assistant.orchestrator import build_history
from jupyter_assistant.orchestrator._history import INTERRUPTED_RESULT, append_message
from jupyter_assistant.store import Message
from jupyter_assistant.testing.anthropic_server import validate_body


def msg(role: str, content: Any, status: str = "complete") -> Message:
    return Message(id="m", conversation_id="c", role=role, content=content,
                   metadata={"status": status})


def text(t: str) -> dict[str, Any]:
    return {"type": "text", "text": t}


def use(i: str) -> dict[str, Any]:
    return {"type": "tool_use", "id": i, "name": "t", "input": {}}


def result(i: str, content: str = "ok") -> dict[str, Any]:
    return {"type": "tool_result", "tool_use_id": i, "content": content}


def valid(history: list[dict[str, Any]]) -> bool:
    return validate_body({"model": "claude-x", "max_tokens": 10,
                          "messages": history}) is None


def test_plain_conversation_unchanged() -> None:
    stored = [msg("user", "hi"), msg("assistant", [text("hello")]), msg("user", [text("q")])]
    assert build_history(stored) == [
        {"role": "user", "content": [text("hi")]},
        {"role": "assistant", "content": [text("hello")]},
        {"role": "user", "content": [text("q")]}]


def test_interrupted_messages_are_skipped_and_users_merged() -> None:
    stored = [msg("user", [text("q1")]), msg("assistant", [text("par")], status="interrupted"),
              msg("user", [text("q2")])]
    history = build_history(stored)
    assert history == [{"role": "user", "content": [text("q1"), text("q2")]}]
    assert valid(history)


def test_dangling_tool_use_is_paired() -> None:
    stored = [msg("user", [text("q")]), msg("assistant", [text("let me"), use("a"), use("b")]),
              msg("user", [result("a")])]
    history = build_history(stored)
    assert valid(history)
    results = history[2]["content"]
    assert results[0] == result("a")
    assert results[1]["tool_use_id"] == "b" and results[1]["is_error"]
    assert results[1]["content"] == INTERRUPTED_RESULT


def test_dangling_tool_use_at_the_end_then_new_question() -> None:
    history = build_history([msg("user", [text("q")]), msg("assistant", [use("a")])])
    append_message(history, "user", [text("next")])
    assert valid(history)
    assert [b["type"] for b in history[-1]["content"]] == ["tool_result", "text"]


def test_orphan_results_and_leading_assistant_are_dropped() -> None:
    stored = [msg("assistant", [text("stray")]), msg("user", [result("zzz"), text("q")]),
              msg("assistant", [text("a")]), msg("assistant", [use("x")])]
    history = build_history(stored)
    assert history[0] == {"role": "user", "content": [text("q")]}
    assert history[1]["content"] == [text("a"), use("x")]  # consecutive assistants merged
    assert history[2]["content"][0]["tool_use_id"] == "x"
    assert valid(history)


def test_empty_text_blocks_are_dropped() -> None:
    history = build_history([msg("user", [text("q")]), msg("assistant", [text(""), use("a")]),
                             msg("user", [result("a"), text("")])])
    assert history[1]["content"] == [use("a")]
    assert valid(history)


def test_results_come_first_after_merge() -> None:
    history: list[dict[str, Any]] = [{"role": "user", "content": [text("q")]},
                                     {"role": "assistant", "content": [use("a")]}]
    append_message(history, "user", [text("later")])
    append_message(history, "user", [result("a")])
    assert [b["type"] for b in history[-1]["content"]] == ["tool_result", "text"]
