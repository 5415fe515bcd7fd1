"""Numbering, persisting and delivering the events of one turn.

:class:`Emitter` gives each event the next ``seq`` of its session, appends it to the store's
session log, then hands it to the consumer's memory object stream, under one lock: events
leave in ``seq`` order even when parallel tools report at the same moment, and an event is in
the store before anyone sees it (a client that reconnects resumes from the store by ``seq``).
Delivery never blocks (the stream's buffer is unbounded) and happens even if the store write
is cancelled, so a cancel cannot leave a stored event unsent.
"""

from __future__ import annotations

import logging
import time
from typing import Any

import anyio
import anyio.lowlevel
from anyio.streams.memory import MemoryObjectSendStream

from ..events import Event
from ..exceptions import AssistantError
from ..store import SessionStore

__all__ = ["YIELD_EVERY_S", "Emitter"]

log = logging.getLogger(__name__)

#: Longest time (s) the turn keeps a waiting reader from running while it emits a burst.
YIELD_EVERY_S = 0.005


class Emitter:
    """Emits the events of one turn: ``seq`` continues from ``last_seq`` of the session."""

    def __init__(self, store: SessionStore, send: MemoryObjectSendStream[Event], *, session_id: str,
                 turn_id: str, last_seq: int = 0) -> None:
        self.store = store
        self.send = send
        self.session_id = session_id
        self.turn_id = turn_id
        self.seq = last_seq
        self.count = 0  # events emitted by this turn
        self.terminal: Event | None = None
        self.persist = True
        self._lock = anyio.Lock()
        self._last_yield = 0.0

    async def emit(self, type: str, data: dict[str, Any] | None = None) -> Event:
        """Create, store and deliver one event. After a terminal event nothing more is
        emitted (a second terminal event would break the contract): it is returned unsent.

        The event is delivered even when the store write is cancelled or fails (the error
        is logged): the reader never misses an event the turn produced."""
        pass_turn = False
        try:
            self._lock.acquire_nowait()  # the fast path: no checkpoint when uncontended
        except anyio.WouldBlock:
            await self._lock.acquire()
        try:
            if self.terminal is not None:
                log.warning("event %s after the terminal event of session %s dropped",
                            type, self.session_id)
                return self.terminal
            self.seq += 1
            self.count += 1
            event = Event.create(type, session_id=self.session_id, turn_id=self.turn_id,
                                 seq=self.seq, data=data)
            if event.is_terminal:
                self.terminal = event
            try:
                if self.persist:
                    await self.store.append_event(event)
            except AssistantError as exc:
                log.error("could not store event %s of session %s: %s", event.seq,
                          self.session_id, exc)
            finally:
                # A burst of buffered SSE events is processed without awaiting I/O: let a
                # waiting reader run at least every YIELD_EVERY_S so events reach it promptly.
                now = time.perf_counter()
                if now - self._last_yield >= YIELD_EVERY_S and \
                        self.send.statistics().tasks_waiting_receive:
                    self._last_yield = now
                    pass_turn = True
                try:
                    self.send.send_nowait(event)  # unbounded buffer: never blocks
                except (anyio.BrokenResourceError, anyio.ClosedResourceError):
                    pass  # the reader stopped reading; the event is in the store
        finally:
            self._lock.release()
        if pass_turn:
            await anyio.lowlevel.checkpoint()
        return event
