"""Background turns run in the anyio task group the extension owns (``TurnRegistry.attach``),
each in its own cancel scope: a turn that ignores the orchestrator's cancel is cancelled hard
at shutdown and ends ``interrupted``; no turn starts without a task group."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import anyio
import pytest

from jupyter_assistant.events import Event
from jupyter_assistant.exceptions import StoreError
from jupyter_assistant.server._turns import TurnRegistry
from jupyter_assistant.store import MemoryStore

pytestmark = pytest.mark.anyio


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


async def test_a_stuck_turn_is_cancelled_hard_and_no_turn_starts_without_a_group() -> None:
    store = MemoryStore()
    await store.open()
    registry = TurnRegistry(store)
    started = anyio.Event()
    cancels: list[str] = []

    async def stuck(session_id: str) -> AsyncIterator[Event]:
        yield Event.create("session_started", session_id=session_id, turn_id="t1", seq=1)
        started.set()
        await anyio.sleep_forever()  # ignores the orchestrator's cancel

    async def cancel(session_id: str, reason: str) -> bool:
        cancels.append(reason)
        return True

    with pytest.raises(StoreError) as info:  # not attached yet: the server is not running
        registry.start("s1", "alice", stuck, cancel)
    assert info.value.code == "unavailable"
    async with anyio.create_task_group() as tg:
        registry.attach(tg)
        turn = registry.start("s1", "alice", stuck, cancel)
        await started.wait()
        assert "s1" in registry and not turn.done
        with anyio.fail_after(10):
            await registry.shutdown(grace=0.2)
        assert cancels == ["shutdown"] and turn.done and "s1" not in registry
        assert turn.terminal is not None and turn.terminal.type == "error"
        assert turn.terminal.data["code"] == "interrupted" and turn.terminal.seq == 2
        with pytest.raises(StoreError, match="stopping"):  # shutdown detached the group
            registry.start("s2", "alice", stuck, cancel)
    await store.aclose()


async def test_a_turn_that_ends_runs_to_its_terminal_event_in_the_group() -> None:
    store = MemoryStore()
    await store.open()
    registry = TurnRegistry(store)

    async def quick(session_id: str) -> AsyncIterator[Event]:
        yield Event.create("session_started", session_id=session_id, turn_id="t1", seq=1)
        yield Event.create("message_complete", session_id=session_id, turn_id="t1", seq=2,
                           data={"text": "done"})

    async def cancel(session_id: str, reason: str) -> Any:
        raise AssertionError("not cancelled")

    async with anyio.create_task_group() as tg:
        registry.attach(tg)
        turn = registry.start("s1", "alice", quick, cancel)
        with anyio.fail_after(10):
            await turn.wait_finished()
    assert [e.type for e in turn.events] == ["session_started", "message_complete"]
    assert len(registry) == 0
    await registry.shutdown(grace=0.1)  # nothing running: returns at once
    await store.aclose()
