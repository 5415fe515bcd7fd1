"""Marking the sessions of a dead server ``interrupted`` (on a real SQLite store)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import anyio

from jupyter_assistant.events import Event
from jupyter_assistant.server._recovery import partial_text, recover_interrupted_sessions
from jupyter_assistant.store import SQLiteStore


def _ev(sid: str, seq: int, type: str, turn: str = "t1", **data: Any) -> Event:
    return Event.create(type, session_id=sid, turn_id=turn, seq=seq, data=data)


async def _crashed_session(store: SQLiteStore, sid: str, *, text_after_usage: str) -> str:
    """A session as a server leaves it when killed while streaming its second model call:
    a completed tool_use message and its result are stored, the answer is half streamed."""
    conv = await store.create_conversation("u1", title="q")
    await store.create_session("u1", sid, conversation_id=conv.id)
    await store.add_message("u1", conv.id, "user", [{"type": "text", "text": "q"}])
    await store.add_message("u1", conv.id, "assistant",
                            [{"type": "text", "text": "looking"},
                             {"type": "tool_use", "id": "tu1", "name": "hotspots", "input": {}}],
                            metadata={"status": "complete"})
    events = [_ev(sid, 1, "session_started", conversation_id=conv.id),
              _ev(sid, 2, "text_delta", text="looking"),
              _ev(sid, 3, "tool_use_start", id="tu1", name="hotspots", input={}),
              _ev(sid, 4, "usage", output_tokens=3),
              _ev(sid, 5, "tool_use_complete", id="tu1", name="hotspots", is_error=False,
                  content="a 1 s"),
              ]
    for i, word in enumerate(text_after_usage.split(" ")):
        events.append(_ev(sid, 6 + i, "text_delta", text=word + " "))
    for ev in events:
        await store.append_event(ev)
    return conv.id


async def test_dead_sessions_are_marked_interrupted_once(tmp_path: Path) -> None:
    async with SQLiteStore(tmp_path / "a.db") as store:
        cid = await _crashed_session(store, "s1", text_after_usage="the answer is")
        await store.create_session("u1", "s2")  # running, owned by this process
        recovered = await recover_interrupted_sessions(store, running_here={"s2"})
        assert recovered == ["s1"]
        assert (await store.get_session("u1", "s1")).status == "interrupted"
        assert (await store.get_session("u1", "s2")).status == "running"
        events = await store.events_after("s1", 0)
        assert [e.seq for e in events] == list(range(1, 10))
        last = events[-1]
        assert last.type == "error" and last.data["code"] == "interrupted"
        assert last.data["retryable"] is True and last.turn_id == "t1"
        msgs = (await store.list_messages("u1", cid)).items
        assert [m.metadata.get("status") for m in msgs] == [None, "complete", "interrupted"]
        assert msgs[-1].content == [{"type": "text", "text": "the answer is "}]
        # a second recovery (or a sweep) changes nothing
        assert await recover_interrupted_sessions(store) == ["s2"]
        assert len((await store.list_messages("u1", cid)).items) == 3
        assert len(await store.events_after("s1", 0)) == 9


async def test_stale_after_spares_sessions_that_may_run_elsewhere(tmp_path: Path) -> None:
    async with SQLiteStore(tmp_path / "a.db") as store:
        await _crashed_session(store, "s1", text_after_usage="x")
        assert await recover_interrupted_sessions(store, stale_after=60) == []
        await anyio.sleep(0.05)
        assert await recover_interrupted_sessions(store, stale_after=0.01) == ["s1"]


async def test_a_finished_turn_whose_status_was_not_written(tmp_path: Path) -> None:
    async with SQLiteStore(tmp_path / "a.db") as store:
        await store.create_session("u1", "s1")
        await store.append_event(_ev("s1", 1, "session_started"))
        await store.append_event(_ev("s1", 2, "message_complete", text="ok"))
        assert await recover_interrupted_sessions(store) == ["s1"]
        assert (await store.get_session("u1", "s1")).status == "complete"
        assert len(await store.events_after("s1", 0)) == 2


def test_partial_text_is_the_unfinished_model_call_of_the_last_turn() -> None:
    evs = [_ev("s", 1, "text_delta", turn="t0", text="old"),
           _ev("s", 2, "session_started", turn="t1"),
           _ev("s", 3, "text_delta", turn="t1", text="done "),
           _ev("s", 4, "usage", turn="t1"),
           _ev("s", 5, "text_delta", turn="t1", text="half "),
           _ev("s", 6, "tool_use_start", turn="t1", id="x", name="n", input={}),
           _ev("s", 7, "text_delta", turn="t1", text="way")]
    assert partial_text(evs) == ("t1", "half way")
    assert partial_text(evs[:4]) == ("t1", "")
    assert partial_text([]) == ("", "")
