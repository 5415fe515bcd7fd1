"""POST chat / GET sessions/{id}/events / POST sessions/{id}/cancel over real HTTP + SSE,
against the real orchestrator and the local Anthropic-protocol server."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import pytest

from jupyter_assistant.store import open_store
from jupyter_assistant.testing.anthropic_server import Reply

SLOW = "[[slow_stream chunks=60 delay=0.05]]"


def _text_deltas(n: int) -> Any:
    return lambda r: r.types.count("text_delta") >= n


async def _wait_status(api: Any, session_id: str, status: str, timeout: float = 10) -> dict:
    loop = asyncio.get_running_loop()
    end = loop.time() + timeout
    while True:
        code, _, body = await api("sessions", session_id)
        assert code == 200, body
        if body["status"] == status and not body["running_here"]:
            return body
        assert loop.time() < end, f"session stayed {body['status']!r}"
        await asyncio.sleep(0.05)


async def test_chat_streams_one_turn_as_sse_frames(sse: Any, api: Any) -> None:
    r = await sse("chat", body={"message": "hello there"})
    assert r.code == 200
    assert r.headers["Content-Type"] == "text/event-stream"
    assert r.headers["Cache-Control"] == "no-cache"
    assert r.headers["X-Accel-Buffering"] == "no"
    # every frame is "id: <seq>\nevent: <type>\ndata: <event JSON>\n\n", id == data.seq
    assert r.types[0] == "session_started" and r.types[-1] == "message_complete"
    assert r.seqs == list(range(1, len(r.frames) + 1))
    for frame in r.frames:
        assert frame["data"]["seq"] == frame["id"]
        assert frame["data"]["type"] == frame["event"]
    assert r.raw.startswith(b"id: 1\nevent: session_started\ndata: {")
    text = "".join(e["data"]["text"] for e in r.events if e["type"] == "text_delta")
    assert text == "You said: hello there" == r.events[-1]["data"]["text"]
    # the conversation was stored with both messages
    cid = r.events[0]["data"]["conversation_id"]
    code, _, page = await api("conversations", cid, "messages")
    assert code == 200
    assert [m["role"] for m in page["items"]] == ["user", "assistant"]


async def test_chat_with_tools_then_continue_the_session(sse: Any, api: Any,
                                                        anthropic_peer: Any) -> None:
    anthropic_peer.script(Reply.tool_uses([("read_file", {"path": "notes.txt"}),
                                           ("list_dir", {"path": "."})]))
    r = await sse("chat", body={"message": "look around"})
    assert r.types.count("tool_use_start") == 2 and r.types.count("tool_use_complete") == 2
    assert r.types[-1] == "message_complete"
    first = r.events[0]
    sid, cid = first["session_id"], first["data"]["conversation_id"]
    # a second turn of the same session continues its seq and its conversation
    r2 = await sse("chat", body={"message": "and now?", "session_id": sid})
    assert r2.types[-1] == "message_complete"
    assert r2.seqs[0] == r.seqs[-1] + 1
    assert r2.events[0]["data"]["conversation_id"] == cid
    _, _, page = await api("conversations", cid, "messages")
    roles = [m["role"] for m in page["items"]]
    assert roles == ["user", "assistant", "user", "assistant", "user", "assistant"]


async def test_resume_with_last_event_id_gets_exactly_the_missed_events(sse: Any) -> None:
    full = await sse("chat", body={"message": "hi [[slow_stream chunks=12 delay=0.01]]"})
    sid = full.events[0]["session_id"]
    for last in (0, 3, len(full.frames) - 1, len(full.frames)):
        r = await sse("sessions", sid, "events", method="GET",
                      headers={"Last-Event-ID": str(last)})
        assert r.code == 200
        assert r.frames == full.frames[last:]
    r = await sse("sessions", sid, "events", method="GET", params={"after": 5})
    assert r.frames == full.frames[5:]
    bad = await sse("sessions", sid, "events", method="GET", headers={"Last-Event-ID": "x1"})
    assert bad.code == 400 and bad.error_body["error"]["code"] == "invalid_input"


async def test_disconnect_is_not_a_cancel_and_resume_gets_the_rest(sse: Any, api: Any) -> None:
    first = await sse("chat", body={"message": f"go {SLOW}"}, stop=_text_deltas(3))
    assert first.disconnected
    sid = first.events[0]["session_id"]
    seen = first.seqs[-1]
    # reconnect while the turn still runs: the missed events, then the live ones to the end
    rest = await sse("sessions", sid, "events", method="GET",
                     headers={"Last-Event-ID": str(seen)})
    assert rest.seqs[0] == seen + 1
    assert rest.types[-1] == "message_complete"
    seqs = first.seqs + rest.seqs
    assert seqs == list(range(1, len(seqs) + 1))  # nothing lost, nothing twice
    text = "".join(e["data"]["text"] for e in first.events + rest.events
                   if e["type"] == "text_delta")
    assert text == " ".join(f"w{i}" for i in range(60)) == rest.events[-1]["data"]["text"]
    await _wait_status(api, sid, "complete")


async def test_resume_after_the_turn_finished_while_away(sse: Any, api: Any) -> None:
    first = await sse("chat", body={"message": "bye [[slow_stream chunks=10 delay=0.02]]"},
                      stop=_text_deltas(1))
    sid = first.events[0]["session_id"]
    await _wait_status(api, sid, "complete")
    rest = await sse("sessions", sid, "events", method="GET",
                     headers={"Last-Event-ID": str(first.seqs[-1])})
    assert first.seqs + rest.seqs == list(range(1, rest.seqs[-1] + 1))
    assert rest.types[-1] == "message_complete"


async def test_cancel_ends_the_turn_with_a_cancelled_event(sse: Any, api: Any) -> None:
    first = await sse("chat", body={"message": f"long {SLOW}"}, stop=_text_deltas(2))
    sid = first.events[0]["session_id"]
    code, _, body = await api("sessions", sid, "cancel", method="POST")
    assert code == 200 and body["cancelled"] is True
    await _wait_status(api, sid, "cancelled")
    rest = await sse("sessions", sid, "events", method="GET",
                     headers={"Last-Event-ID": str(first.seqs[-1])})
    assert rest.types[-1] == "cancelled"
    assert rest.events[-1]["data"]["reason"] == "user"
    assert rest.types.count("text_delta") < 58
    # cancelling again is harmless
    code, _, body = await api("sessions", sid, "cancel", method="POST")
    assert code == 200 and body == {"session_id": sid, "cancelled": False,
                                    "status": "cancelled"}


async def test_keepalive_comments_while_a_tool_runs(sse: Any, assistant_app: Any,
                                                    anthropic_peer: Any) -> None:
    # the model stalls between events for 1.2 s; keep-alive interval is 0.5 s in tests
    anthropic_peer.script(Reply.text("slow answer", chunks=2, delay=0.6))
    r = await sse("chat", body={"message": "wait"})
    assert r.types[-1] == "message_complete"
    assert "keep-alive" in r.comments
    assert b"\n: keep-alive\n\n" in r.raw


async def test_chat_refusals(sse: Any, api: Any, assistant_app: Any) -> None:
    limit = assistant_app.max_message_chars
    r = await sse("chat", body={"message": "x" * (limit + 1)})
    assert r.code == 400 and r.error_body["error"]["code"] == "message_too_long"
    assert f"{limit:,}" in r.error_body["error"]["message"]
    assert "c.AssistantApp.max_message_chars" in r.error_body["error"]["message"]
    for body, code, err in [
        ({}, 400, "invalid_input"),
        ({"message": ["hi"]}, 400, "invalid_input"),
        ({"message": "  "}, 400, "empty_message"),
        ({"message": ""}, 400, "empty_message"),
        ({"message": "hi", "session_id": "../../etc/passwd"}, 400, "invalid_id"),
        ({"message": "hi", "conversation_id": "nope"}, 404, "not_found"),
        ({"message": "hi", "session_id": "s_unknown"}, 404, "not_found"),
        ({"message": "hi", "trace_id": "tr_" + "0" * 32}, 404, "not_found"),
        ({"message": "hi", "model": "gpt:../x"}, 400, "invalid_input"),
    ]:
        r = await sse("chat", body=body)
        assert (r.code, r.error_body["error"]["code"]) == (code, err), body
    r = await sse("chat", body=b"{not json")  # type: ignore[arg-type]
    assert r.code == 400 and r.error_body["error"]["code"] == "invalid_input"
    code, _, _ = await api("sessions", "s_nope", "events")
    assert code == 404


async def test_a_second_turn_of_a_running_session_is_refused(sse: Any, api: Any) -> None:
    first = await sse("chat", body={"message": f"busy {SLOW}"}, stop=_text_deltas(1))
    sid = first.events[0]["session_id"]
    r = await sse("chat", body={"message": "me too", "session_id": sid})
    assert r.code == 409 and r.error_body["error"]["code"] == "conflict"
    await api("sessions", sid, "cancel", method="POST")
    await _wait_status(api, sid, "cancelled")


async def test_shutdown_cancels_running_turns_and_closes_the_store(
        sse: Any, assistant_app: Any, tmp_path: Any) -> None:
    first = await sse("chat", body={"message": f"stop me {SLOW}"}, stop=_text_deltas(2))
    sid = first.events[0]["session_id"]
    assert sid in assistant_app.turns
    await assistant_app.stop_extension()
    assert len(assistant_app.turns) == 0
    store = open_store(f"sqlite:///{tmp_path / 'assistant.db'}")
    await store.open()
    try:
        session = await store.get_session("local", sid)
        events = await store.events_after(sid, 0)
    finally:
        await store.aclose()
    assert session.status == "cancelled"
    assert events[-1].type == "cancelled" and events[-1].data["reason"] == "shutdown"
    assert [e.seq for e in events] == list(range(1, len(events) + 1))


@pytest.mark.parametrize("assistant_settings", [{"chat_rate_limit": "2/minute"}])
async def test_chat_rate_limit_answers_429_with_retry_after(sse: Any) -> None:
    for _ in range(2):
        assert (await sse("chat", body={"message": "hi"})).code == 200
    r = await sse("chat", body={"message": "hi"})
    assert r.code == 429
    assert r.error_body["error"]["code"] == "rate_limited"
    assert 1 <= int(r.headers["Retry-After"]) <= 60
    assert json.dumps(r.error_body)  # a JSON body, not an HTML page


async def test_resume_follows_a_turn_that_runs_in_another_server(
        sse: Any, api: Any, assistant_app: Any) -> None:
    # with a shared store (Redis, several servers) the turn may run in another process: the
    # events endpoint then follows the session in the store until its terminal event
    from jupyter_assistant.events import Event

    store = assistant_app.store
    await api("conversations")  # the extension is ready (store open, recovery done)
    sid = "s_elsewhere"
    await store.create_session("local", sid)

    def ev(seq: int, type: str, **data: Any) -> Event:
        return Event.create(type, session_id=sid, turn_id="t_x", seq=seq, data=data)

    await store.append_event(ev(1, "session_started"))
    await store.append_event(ev(2, "text_delta", text="a"))

    async def other_server() -> None:
        for seq, text in ((3, "b"), (4, "c")):
            await asyncio.sleep(0.3)
            await store.append_event(ev(seq, "text_delta", text=text))
        await asyncio.sleep(1.3)  # longer than the keep-alive interval (0.5 s)
        await store.append_event(ev(5, "message_complete", text="abc"))
        await store.set_session_status(sid, "complete")

    writer = asyncio.ensure_future(other_server())
    r = await sse("sessions", sid, "events", method="GET", headers={"Last-Event-ID": "1"})
    await writer
    assert r.seqs == [2, 3, 4, 5] and r.types[-1] == "message_complete"
    assert "keep-alive" in r.comments
