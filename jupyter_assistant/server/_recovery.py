"""Sessions left ``running`` by a server that died: mark them ``interrupted``.

A server killed mid-turn (``kill -9``, a crash, a power cut) leaves its session ``running``
in the store, with every event up to the crash and every message completed before it (the
orchestrator stores those as they complete). :func:`recover_interrupted_sessions` finds such
sessions and, for each:

1. appends a terminal ``error`` event (``code: "interrupted"``, ``retryable: true``) with the
   next ``seq``, so a client that resumes the session gets an end instead of waiting;
2. sets the session's status to ``interrupted``;
3. keeps the answer that was streaming when the server died — the ``text_delta`` text after
   the last completed model call (the last ``usage`` event) of the session's last turn — as
   an assistant message with ``metadata.status = "interrupted"``, never as a complete one
   (the orchestrator leaves such messages out of the model's history).

The terminal event is written first and a session whose log already ends with a terminal
event only gets its status fixed, so running recovery twice never stores a partial answer
twice.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Container

from ..events import Event
from ..exceptions import AssistantError
from ..store import SessionRecord, Store

__all__ = ["INTERRUPTED_CODE", "partial_text", "recover_interrupted_sessions"]

log = logging.getLogger(__name__)

#: ``data.code`` of the ``error`` event that ends a turn whose server died.
INTERRUPTED_CODE = "interrupted"

#: Events after which the text streamed so far belongs to a stored (completed) message.
_BOUNDARY_TYPES = frozenset({"usage", "tool_use_complete", "message_complete"})


def partial_text(events: list[Event]) -> tuple[str, str]:
    """``(turn_id, text)``: the text streamed in the last turn of ``events`` after its last
    completed model call (``""`` when nothing was streaming)."""
    if not events:
        return "", ""
    turn_id = events[-1].turn_id
    pieces: list[str] = []
    for ev in events:
        if ev.turn_id != turn_id or ev.type in _BOUNDARY_TYPES:
            pieces.clear()
        elif ev.type == "text_delta":
            pieces.append(str(ev.data.get("text", "")))
    return turn_id, "".join(pieces)


async def recover_interrupted_sessions(
    store: Store, *, running_here: Container[str] = (), stale_after: float | None = None,
) -> list[str]:
    """Mark the ``running`` sessions of dead servers ``interrupted``; returns their ids.

    ``running_here`` holds the sessions this process is running (never touched).
    ``stale_after`` (seconds): when given, only sessions not updated for that long are
    taken as dead (for stores shared by several servers, where another live server may own
    a running session); ``None`` takes every running session (a store of one server, at
    its start).
    """
    now = time.time()
    recovered = []
    for sess in await store.list_sessions(status="running"):
        if sess.id in running_here:
            continue
        if stale_after is not None and sess.updated_at > now - stale_after:
            continue
        try:
            await _recover_one(store, sess)
        except AssistantError as exc:
            log.warning("could not recover interrupted session %s: %s", sess.id, exc)
            continue
        recovered.append(sess.id)
    if recovered:
        log.warning("marked %d session(s) left running by a stopped server as interrupted",
                    len(recovered))
    return recovered


async def _recover_one(store: Store, sess: SessionRecord) -> None:
    events = await store.events_after(sess.id, 0)
    if events and events[-1].is_terminal:
        # the turn ended but its status was not written; nothing was cut off
        status = {"message_complete": "complete"}.get(events[-1].type, events[-1].type)
        await store.set_session_status(sess.id, status)
        return
    turn_id, text = partial_text(events)
    last_seq = max(sess.last_seq, events[-1].seq if events else 0)
    await store.append_event(Event.create(
        "error", session_id=sess.id, turn_id=turn_id, seq=last_seq + 1,
        data={"code": INTERRUPTED_CODE, "retryable": True,
              "message": "the server stopped before this turn ended; "
                         "the answer so far was kept as interrupted"}))
    await store.set_session_status(sess.id, "interrupted")
    if text.strip() and sess.conversation_id:
        await store.add_message(
            sess.user_id, sess.conversation_id, "assistant", [{"type": "text", "text": text}],
            metadata={"status": "interrupted", "turn_id": turn_id, "session_id": sess.id})
