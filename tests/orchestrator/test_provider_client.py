"""``LoopBoundClient``: the SDK client life cycle both providers share."""

from __future__ import annotations

import threading

import anyio

from jupyter_assistant.orchestrator.providers._client import LoopBoundClient


class _Client:
    def __init__(self) -> None:
        self.thread = threading.current_thread()
        self.closed = False

    async def close(self) -> None:
        self.closed = True


def test_one_client_per_event_loop_made_off_the_loop() -> None:
    made: list[_Client] = []

    def factory() -> _Client:
        made.append(_Client())
        return made[-1]

    holder = LoopBoundClient(factory)

    async def use() -> _Client:
        async with anyio.create_task_group() as tg:  # concurrent first uses make one client
            for _ in range(5):
                tg.start_soon(holder.get)
        first = await holder.get()
        assert await holder.get() is first
        return first  # type: ignore[no-any-return]

    a = anyio.run(use)
    assert len(made) == 1 and a.thread is not threading.current_thread()
    b = anyio.run(use)  # another loop: a new client; the old one is not closed from here
    assert b is not a and len(made) == 2 and not a.closed

    async def close() -> None:
        await holder.get()
        await holder.aclose()

    anyio.run(close)  # a third loop: a third client, closed in its own loop
    assert made[2].closed and not b.closed
