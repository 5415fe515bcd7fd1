"""Helpers of the orchestrator tests: an Assistant on the local server, event checks."""

from __future__ import annotations

from typing import Any

import anyio

from jupyter_assistant import Assistant
from jupyter_assistant.events import Event

TEST_KEY = "sk-ant-test-0123456789-secret"
MODEL = "anthropic:claude-sonnet-5-5"


def make_assistant(**kwargs: Any) -> Assistant:
    """An Assistant on the local server with only the tools given (fast timeouts)."""
    kwargs.setdefault("model", MODEL)
    kwargs.setdefault("include_default_tools", False)
    kwargs.setdefault("turn_deadline", 10)
    kwargs.setdefault("stream_idle_timeout", 2)
    assistant = Assistant(**kwargs)
    assistant.retry = type(assistant.retry)(max_retries=3, base_delay=0.02, max_delay=0.2)
    return assistant


async def collect(assistant: Assistant, message: str, **kwargs: Any) -> list[Event]:
    """All events of one turn, checked for the stream invariants."""
    events = [e async for e in assistant.run(message, **kwargs)]
    check_events(events)
    return events


def check_events(events: list[Event]) -> None:
    """First ``session_started``; ``seq`` contiguous; exactly one terminal event, last."""
    assert events, "no events"
    assert events[0].type == "session_started"
    seqs = [e.seq for e in events]
    assert seqs == list(range(seqs[0], seqs[0] + len(seqs))), seqs
    terminals = [e for e in events if e.is_terminal]
    assert len(terminals) == 1 and events[-1].is_terminal, [e.type for e in events]
    assert len({e.session_id for e in events}) == 1
    assert len({e.turn_id for e in events}) == 1


def of_type(events: list[Event], kind: str) -> list[Event]:
    return [e for e in events if e.type == kind]


def text_of(events: list[Event]) -> str:
    return "".join(e.data["text"] for e in of_type(events, "text_delta"))


async def wait_for(predicate: Any, timeout: float = 5.0) -> None:
    with anyio.fail_after(timeout):
        while not predicate():
            await anyio.sleep(0.01)
