"""The kernel's assistant thread: one daemon thread with its own event loop where the
anyio-based :class:`~jupyter_assistant.Assistant` objects live and turns run.

IPython runs a cell on the kernel's main thread, inside the kernel's own event loop, so a magic
cannot ``await`` a turn there. Instead the turn runs on this thread (an anyio
:class:`~anyio.from_thread.BlockingPortal`), and hands its events to the main thread through a
thread-safe queue; the main thread updates the widgets and waits (see :mod:`._turn_view`). A
kernel interrupt (SIGINT) lands on the main thread as ``KeyboardInterrupt``, which cancels the
turn here through :meth:`TurnWorker.cancel`.

The thread is a daemon, so a kernel that shuts down never waits for it; :meth:`close` (called at
``%unload_ext`` and at exit) closes the assistants and their store first.
"""

from __future__ import annotations

import logging
import queue
import threading
from collections.abc import Callable
from concurrent.futures import Future
from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from typing import Any

import anyio
from anyio.from_thread import BlockingPortal

__all__ = ["TURN_DONE", "TurnHandle", "TurnWorker"]

log = logging.getLogger(__name__)

#: Put on a turn's queue after its last event (also when the turn failed to start).
TURN_DONE = object()


@dataclass
class TurnHandle:
    """A running turn: its ``session_id``, the ``events`` queue (Events, then
    :data:`TURN_DONE`), the ``future`` of the task driving it, and its ``assistant``."""

    session_id: str
    events: queue.SimpleQueue[Any]
    future: Future[None]
    assistant: Any
    error: list[BaseException] = field(default_factory=list)


class TurnWorker:
    """The assistant thread (see the module docstring). Thread-safe; started on first use."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._making = threading.Lock()  # one assistant is made at a time (warm-up vs turn)
        self._portal: BlockingPortal | None = None
        self._thread: threading.Thread | None = None
        self._stopped = threading.Event()
        self._assistants: dict[Any, tuple[Any, AbstractContextManager[Any]]] = {}

    # -- the thread -------------------------------------------------------------------------
    @property
    def portal(self) -> BlockingPortal:
        """The portal into the thread's event loop (starts the thread on first use)."""
        with self._lock:
            if self._portal is None:
                ready = threading.Event()
                holder: list[BlockingPortal] = []

                async def main() -> None:
                    async with BlockingPortal() as portal:
                        holder.append(portal)
                        ready.set()
                        await portal.sleep_until_stopped()

                def run() -> None:
                    try:
                        anyio.run(main)
                    finally:
                        self._stopped.set()
                        ready.set()

                self._thread = threading.Thread(target=run, name="jupyter-assistant",
                                                daemon=True)
                self._thread.start()
                ready.wait()
                if not holder:
                    raise RuntimeError("the jupyter-assistant thread did not start")
                self._portal = holder[0]
            return self._portal

    def call(self, fn: Callable[..., Any], *args: Any) -> Any:
        """Run ``fn(*args)`` (sync or async) in the thread's event loop and return its result."""
        return self.portal.call(fn, *args)

    # -- assistants -------------------------------------------------------------------------
    def assistant(self, key: Any, factory: Callable[[], Any]) -> Any:
        """The open assistant for ``key`` (e.g. the model spec), made by ``factory()`` and
        entered (``async with``) in the thread on first use."""
        with self._making:
            with self._lock:
                found = self._assistants.get(key)
            if found is not None:
                return found[0]
            made = factory()
            cm = self.portal.wrap_async_context_manager(made)
            cm.__enter__()
            with self._lock:
                self._assistants[key] = (made, cm)
            return made

    def start_turn(self, assistant: Any, message: str, *, session_id: str,
                   **kwargs: Any) -> TurnHandle:
        """Start ``assistant.run(message, session_id=..., **kwargs)`` in the thread; returns
        at once with the :class:`TurnHandle` whose queue receives the events."""
        events: queue.SimpleQueue[Any] = queue.SimpleQueue()
        errors: list[BaseException] = []

        async def drive() -> None:
            try:
                async for event in assistant.run(message, session_id=session_id, **kwargs):
                    events.put(event)
            except BaseException as exc:  # reported to the main thread, which shows it
                errors.append(exc)
                if not isinstance(exc, Exception):
                    raise
            finally:
                events.put(TURN_DONE)

        future = self.portal.start_task_soon(drive)
        return TurnHandle(session_id, events, future, assistant, errors)

    def cancel(self, handle: TurnHandle, reason: str = "user") -> bool:
        """Ask the turn of ``handle`` to stop (it ends with a ``cancelled`` event within a
        second); False when it is not running any more."""
        try:
            return bool(self.portal.call(handle.assistant.cancel, handle.session_id, reason))
        except RuntimeError:  # the loop is gone
            return False

    def close(self, timeout: float = 10.0) -> None:
        """Close every assistant (cancelling running turns, closing their store) and stop
        the thread. Idempotent."""
        with self._lock:
            portal, self._portal = self._portal, None
            assistants = list(self._assistants.values())
            self._assistants.clear()
        if portal is None:
            return
        for _, cm in assistants:
            try:
                cm.__exit__(None, None, None)
            except Exception as exc:  # a store that fails to close must not block the rest
                log.warning("closing an assistant failed: %s: %s", type(exc).__name__, exc)
        try:
            portal.call(portal.stop, True)
        except RuntimeError:
            pass
        if self._thread is not None:
            self._thread.join(timeout)
