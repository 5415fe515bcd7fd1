"""Turns that run in the background, owned by the server, not by an HTTP request.

A chat request starts a turn here and only *reads* its events: the turn is a task of the anyio
task group the extension owns (:meth:`TurnRegistry.attach`), held by :class:`TurnRegistry`
(session id -> :class:`RunningTurn`, with the turn's own cancel scope), the orchestrator appends
every event to the store before it yields it, and the registry keeps the events of the turn
in memory for the readers that follow it live. A client that disconnects does not cancel
the turn; it resumes from the store (``GET sessions/{id}/events``) and gets exactly the
events it missed, by ``seq``.

On shutdown :meth:`TurnRegistry.shutdown` cancels every running turn through the
orchestrator (each ends with a stored ``cancelled`` event and status ``cancelled``) and waits
for them; a turn that does not finish within the grace period is cancelled hard (its cancel
scope) and its session marked ``interrupted``.
"""

from __future__ import annotations

import bisect
import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field

import anyio
import anyio.abc

from ..events import Event
from ..exceptions import AssistantError, StoreError
from ..store import Store

__all__ = ["RunningTurn", "TurnRegistry"]

log = logging.getLogger(__name__)

#: Starts the orchestrator's turn: ``run(session_id) -> async iterator of Event``.
TurnFactory = Callable[[str], AsyncIterator[Event]]
#: ``cancel(session_id, reason) -> bool``: the orchestrator's cancel of that turn
#: (``reason`` is ``"user"`` or ``"shutdown"``, the ``cancelled`` event's ``data.reason``).
CancelFn = Callable[[str, str], Awaitable[bool]]


def _seq(event: Event) -> int:
    return event.seq


@dataclass(eq=False)
class RunningTurn:
    """A turn in progress: its ``events`` so far (in ``seq`` order) and who waits for more."""

    session_id: str
    user_id: str
    cancel: CancelFn
    events: list[Event] = field(default_factory=list)
    done: bool = False
    #: Cancelling it stops the turn hard (shutdown after the grace period).
    scope: anyio.CancelScope = field(default_factory=anyio.CancelScope)
    _waiters: set[anyio.Event] = field(default_factory=set)
    _finished: anyio.Event = field(default_factory=anyio.Event)

    @property
    def last_seq(self) -> int:
        return self.events[-1].seq if self.events else 0

    @property
    def terminal(self) -> Event | None:
        """The terminal event, once the turn has one."""
        return self.events[-1] if self.events and self.events[-1].is_terminal else None

    def events_after(self, seq: int) -> list[Event]:
        """Events of this turn with ``seq`` greater than ``seq``."""
        if not self.events or self.events[-1].seq <= seq:
            return []
        return self.events[bisect.bisect_right(self.events, seq, key=_seq):]

    def publish(self, event: Event) -> None:
        self.events.append(event)
        self._wake()

    def finish(self) -> None:
        self.done = True
        self._finished.set()
        self._wake()

    async def wait_finished(self) -> None:
        """Return once the turn's task has ended."""
        await self._finished.wait()

    def add_waiter(self, waiter: anyio.Event) -> None:
        """``waiter`` is set at the next event (or at the end of the turn)."""
        if self.done:
            waiter.set()
        self._waiters.add(waiter)

    def remove_waiter(self, waiter: anyio.Event) -> None:
        self._waiters.discard(waiter)

    def _wake(self) -> None:
        waiters, self._waiters = self._waiters, set()
        for w in waiters:
            w.set()


class TurnRegistry:
    """The turns running in this server process, by session id.

    ``store`` is where the orchestrator persists sessions; the registry writes to it only
    when a turn fails outside the orchestrator's own handling (a terminal ``error`` event,
    code ``internal_error``) or is cut off at shutdown (status ``interrupted``).
    """

    def __init__(self, store: Store) -> None:
        self.store = store
        self._turns: dict[str, RunningTurn] = {}
        self._tg: anyio.abc.TaskGroup | None = None

    def attach(self, task_group: anyio.abc.TaskGroup | None) -> None:
        """Run turns in ``task_group`` (the extension's); ``None``: start no more turns."""
        self._tg = task_group

    def __len__(self) -> int:
        return len(self._turns)

    def __contains__(self, session_id: object) -> bool:
        return session_id in self._turns

    def get(self, session_id: str) -> RunningTurn | None:
        return self._turns.get(session_id)

    def running(self) -> list[RunningTurn]:
        return list(self._turns.values())

    def start(self, session_id: str, user_id: str, run: TurnFactory,
              cancel: CancelFn) -> RunningTurn:
        """Start ``run(session_id)`` as a task of the attached task group; raises
        :class:`StoreError` with code ``conflict`` when a turn of that session is already
        running, ``unavailable`` when no task group is attached (the server is stopping)."""
        if session_id in self._turns:
            raise StoreError(f"a turn of session {session_id!r} is already running",
                             code="conflict")
        if self._tg is None:
            raise StoreError("the assistant is stopping and starts no new turns; try again "
                             "in a moment", code="unavailable")
        turn = RunningTurn(session_id=session_id, user_id=user_id, cancel=cancel)
        self._turns[session_id] = turn
        self._tg.start_soon(self._drive, turn, run, name=f"assistant-turn-{session_id}")
        return turn

    async def _drive(self, turn: RunningTurn, run: TurnFactory) -> None:
        try:
            with turn.scope:
                await self._pump(turn, run)
        finally:
            self._turns.pop(turn.session_id, None)
            turn.finish()

    async def _pump(self, turn: RunningTurn, run: TurnFactory) -> None:
        events = run(turn.session_id)
        try:
            try:
                async for event in events:
                    turn.publish(event)
            finally:
                # an early exit (hard cancel) closes the orchestrator's generator, which
                # cancels its turn cleanly
                aclose = getattr(events, "aclose", None)
                if aclose is not None:
                    with anyio.move_on_after(5.0, shield=True):
                        await aclose()
            if turn.terminal is None:
                await self._fail(turn, "internal_error",
                                 "the turn ended without a terminal event")
        except anyio.get_cancelled_exc_class():
            with anyio.CancelScope(shield=True):
                await self._fail(turn, "interrupted",
                                 "the server stopped before the turn ended", status="interrupted",
                                 retryable=True)
            raise
        except AssistantError as exc:
            log.warning("turn %s failed: %s", turn.session_id, exc)
            await self._fail(turn, exc.code, exc.message)
        except Exception as exc:
            log.exception("turn %s crashed", turn.session_id)
            await self._fail(turn, "internal_error", f"{type(exc).__name__}: {exc}")

    async def _fail(self, turn: RunningTurn, code: str, message: str, *,
                    status: str = "error", retryable: bool = False) -> None:
        """End ``turn`` with an ``error`` event (stored when the session exists) and set the
        session's ``status``."""
        if turn.terminal is not None:
            return
        last = turn.last_seq
        turn_id = turn.events[-1].turn_id if turn.events else ""
        if not turn.events:
            try:
                last = (await self.store.get_session(turn.user_id, turn.session_id)).last_seq
            except AssistantError:
                last = 0
        event = Event.create("error", session_id=turn.session_id, turn_id=turn_id, seq=last + 1,
                             data={"code": code, "message": message, "retryable": retryable})
        try:
            await self.store.append_event(event)
            await self.store.set_session_status(turn.session_id, status)
        except AssistantError as exc:
            log.warning("could not store the error of turn %s: %s", turn.session_id, exc)
        turn.publish(event)

    async def cancel(self, session_id: str) -> bool:
        """Ask the orchestrator to cancel the turn of ``session_id``; False if none runs."""
        turn = self._turns.get(session_id)
        if turn is None or turn.done:
            return False
        return bool(await turn.cancel(session_id, "user"))

    async def shutdown(self, grace: float = 5.0) -> None:
        """Start no more turns; cancel every running turn and wait up to ``grace`` seconds
        for them to end; then cancel what is left hard (its session is marked
        ``interrupted``) and wait up to ``grace`` seconds more."""
        self._tg = None
        turns = self.running()
        if not turns:
            return
        log.info("cancelling %d running assistant turn(s)", len(turns))
        for turn in turns:
            try:
                await turn.cancel(turn.session_id, "shutdown")
            except Exception:
                log.exception("cancel of turn %s failed", turn.session_id)
        if not await _wait_all(turns, grace):
            for turn in turns:
                if not turn.done:
                    turn.scope.cancel()
            await _wait_all(turns, grace)


async def _wait_all(turns: list[RunningTurn], timeout: float) -> bool:
    """Wait up to ``timeout`` s for every turn's task to end; True if they all did."""
    with anyio.move_on_after(timeout):
        for turn in turns:
            await turn.wait_finished()
        return True
    return False
