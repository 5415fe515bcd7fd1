"""The store contract: one suite, run on every backend (memory, SQLite file, real Redis)."""

from __future__ import annotations

import random
from collections.abc import Awaitable, Callable

import anyio
import numpy as np
import pytest

from jupyter_assistant.events import Event
from jupyter_assistant.exceptions import InputError, NotFoundError, StoreError
from jupyter_assistant.store import MAX_PAGE_VALUE, ModelCallRecord, Store, ToolCallRecord

pytestmark = pytest.mark.anyio

MakeStore = Callable[..., Awaitable[Store]]  # the ``make_store`` fixture (conftest.py)


def ev(session_id: str, seq: int, text: str = "x", type: str = "text_delta") -> Event:
    return Event.create(type, session_id=session_id, turn_id="t1", seq=seq, data={"text": text})


# -- conversations ---------------------------------------------------------------------------


async def test_conversation_crud(store: Store) -> None:
    conv = await store.create_conversation("alice", title="Profiling", model="anthropic:x")
    got = await store.get_conversation("alice", conv.id)
    assert got == conv
    assert (got.title, got.model, got.message_count, got.total_tokens) == (
        "Profiling", "anthropic:x", 0, 0)
    assert got.last_message_at is None and got.created_at == got.updated_at > 0

    named = await store.create_conversation("alice", conversation_id="conv-1")
    assert named.id == "conv-1"
    with pytest.raises(StoreError) as err:
        await store.create_conversation("bob", conversation_id="conv-1")
    assert err.value.code == "conflict"
    for bad in ("a:b", "", "x/y", "a" * 200):
        with pytest.raises(InputError):
            await store.create_conversation("alice", conversation_id=bad)

    page = await store.list_conversations("alice")
    assert page.total == 2 and {c.id for c in page.items} == {conv.id, "conv-1"}

    await store.delete_conversation("alice", conv.id)
    with pytest.raises(NotFoundError):
        await store.get_conversation("alice", conv.id)
    with pytest.raises(NotFoundError):
        await store.delete_conversation("alice", conv.id)
    assert (await store.list_conversations("alice")).total == 1
    with pytest.raises(NotFoundError):
        await store.get_conversation("alice", "no:such/id")


async def test_messages_and_stats(store: Store) -> None:
    conv = await store.create_conversation("alice")
    blocks = [{"type": "text", "text": "Why is step 3 slow? — ünïcode ✓"}]
    m1 = await store.add_message("alice", conv.id, "user", blocks, tokens=12,
                                 metadata={"turn_id": "t1"})
    tool_use = [{"type": "tool_use", "id": "toolu_1", "name": "hotspots", "input": {"n": 5}}]
    m2 = await store.add_message("alice", conv.id, "assistant", tool_use, tokens=30)
    m3 = await store.add_message("alice", conv.id, "user", "plain text", tokens=0)
    with pytest.raises(InputError):
        await store.add_message("alice", conv.id, "system", "nope")

    got = await store.get_conversation("alice", conv.id)
    assert got.message_count == 3
    assert got.total_tokens == 42
    assert got.last_message_at == m3.created_at == got.updated_at
    assert m1.created_at <= m2.created_at <= m3.created_at

    page = await store.list_messages("alice", conv.id)
    assert page.total == 3 and [m.id for m in page.items] == [m1.id, m2.id, m3.id]
    assert page.items[0].content == blocks and page.items[0].metadata == {"turn_id": "t1"}
    assert page.items[1].content == tool_use and page.items[1].role == "assistant"
    assert page.items[2].content == "plain text" and page.items[2].metadata == {}

    updated = await store.update_message_metadata("alice", m2.id, {"status": "interrupted"})
    assert updated.metadata == {"status": "interrupted"}
    updated = await store.update_message_metadata("alice", m1.id, {"status": "complete"})
    assert updated.metadata == {"turn_id": "t1", "status": "complete"}
    stored = (await store.list_messages("alice", conv.id)).items
    assert [m.metadata for m in stored] == [{"turn_id": "t1", "status": "complete"},
                                            {"status": "interrupted"}, {}]
    with pytest.raises(NotFoundError):
        await store.update_message_metadata("alice", "nosuchmessage", {"a": 1})


async def test_title_from_first_user_message(store: Store) -> None:
    conv = await store.create_conversation("alice")
    await store.add_message("alice", conv.id, "assistant", "Hello! Load a trace.")
    assert (await store.get_conversation("alice", conv.id)).title == ""
    long_line = "Why   is the  dataloader " + "very " * 30 + "slow?"
    await store.add_message("alice", conv.id, "user", [
        {"type": "image", "source": {}},
        {"type": "text", "text": f"\n\n  {long_line}\nsecond line"}])
    title = (await store.get_conversation("alice", conv.id)).title
    assert title.startswith("Why is the dataloader very very")
    assert len(title) == 80 and title.endswith("…") and "\n" not in title
    await store.add_message("alice", conv.id, "user", "another question")
    assert (await store.get_conversation("alice", conv.id)).title == title

    titled = await store.create_conversation("alice", title="Mine")
    await store.add_message("alice", titled.id, "user", "short question")
    assert (await store.get_conversation("alice", titled.id)).title == "Mine"
    plain = await store.create_conversation("alice")
    await store.add_message("alice", plain.id, "user", "short question")
    assert (await store.get_conversation("alice", plain.id)).title == "short question"


async def test_delete_cascades_to_messages(store: Store) -> None:
    conv = await store.create_conversation("alice")
    keep = await store.create_conversation("alice")
    msgs = [await store.add_message("alice", conv.id, "user", f"m{i}") for i in range(5)]
    kept = await store.add_message("alice", keep.id, "user", "stay")
    await store.delete_conversation("alice", conv.id)
    with pytest.raises(NotFoundError):
        await store.list_messages("alice", conv.id)
    for m in msgs:
        with pytest.raises(NotFoundError):
            await store.update_message_metadata("alice", m.id, {"x": 1})
    with pytest.raises(NotFoundError):
        await store.add_message("alice", conv.id, "user", "late")
    assert [m.id for m in (await store.list_messages("alice", keep.id)).items] == [kept.id]


async def test_pagination_totals_and_order(store: Store) -> None:
    ids = []
    for i in range(7):
        c = await store.create_conversation("alice", title=f"c{i}")
        ids.append(c.id)
        await anyio.sleep(0.002)  # distinct updated_at
    await store.create_conversation("bob")
    # touching c2 moves it to the front
    await store.add_message("alice", ids[2], "user", "bump")
    expected = [ids[2]] + [i for i in reversed(ids) if i != ids[2]]

    seen = []
    for offset in range(0, 9, 3):
        page = await store.list_conversations("alice", limit=3, offset=offset)
        assert (page.total, page.limit, page.offset) == (7, 3, offset)
        seen += [c.id for c in page.items]
    assert seen == expected
    empty = await store.list_conversations("alice", limit=3, offset=50)
    assert empty.items == [] and empty.total == 7
    assert (await store.list_conversations("alice", limit=0)).items == []
    with pytest.raises(InputError):
        await store.list_conversations("alice", limit=-1)
    # past int64 SQLite raised OverflowError: every backend refuses past MAX_PAGE_VALUE
    page = await store.list_conversations("alice", limit=3, offset=MAX_PAGE_VALUE)
    assert page.items == [] and page.total == 7
    for listing in (lambda: store.list_conversations("alice", offset=2**63),
                    lambda: store.list_messages("alice", ids[0], offset=2**63),
                    lambda: store.list_model_calls(user_id="alice", offset=2**63),
                    lambda: store.list_tool_calls(user_id="alice", limit=2**64)):
        with pytest.raises(InputError, match="between 0 and 9007199254740991"):
            await listing()

    conv = ids[0]
    msg_ids = [(await store.add_message("alice", conv, "user", f"m{i}")).id for i in range(5)]
    page = await store.list_messages("alice", conv, limit=2, offset=2)
    assert page.total == 5 and [m.id for m in page.items] == msg_ids[2:4]
    page = await store.list_messages("alice", conv, limit=10, offset=4)
    assert [m.id for m in page.items] == msg_ids[4:]


async def test_user_scoping(store: Store) -> None:
    conv = await store.create_conversation("alice")
    msg = await store.add_message("alice", conv.id, "user", "secret")
    with pytest.raises(NotFoundError):
        await store.get_conversation("bob", conv.id)
    with pytest.raises(NotFoundError):
        await store.list_messages("bob", conv.id)
    with pytest.raises(NotFoundError):
        await store.add_message("bob", conv.id, "user", "intrusion")
    with pytest.raises(NotFoundError):
        await store.delete_conversation("bob", conv.id)
    with pytest.raises(NotFoundError):
        await store.update_message_metadata("bob", msg.id, {"status": "pwned"})
    assert (await store.list_conversations("bob")).total == 0
    # nothing changed for alice
    got = await store.get_conversation("alice", conv.id)
    assert got.message_count == 1
    [only] = (await store.list_messages("alice", conv.id)).items
    assert only.metadata == {} and only.content == "secret"

    await store.create_session("alice", "sess-a")
    with pytest.raises(NotFoundError):
        await store.get_session("bob", "sess-a")
    with pytest.raises(StoreError):
        await store.create_session("bob", "sess-a")
    assert (await store.get_session("alice", "sess-a")).user_id == "alice"


async def test_concurrent_add_message_keeps_stats(store: Store) -> None:
    conv = await store.create_conversation("alice")
    tasks, per_task = 8, 10
    ids: list[str] = []

    async def writer(k: int) -> None:
        for i in range(per_task):
            role = "user" if i % 2 == 0 else "assistant"
            m = await store.add_message("alice", conv.id, role, f"{k}-{i}", tokens=k + i)
            ids.append(m.id)

    async with anyio.create_task_group() as tg:
        for k in range(tasks):
            tg.start_soon(writer, k)
    got = await store.get_conversation("alice", conv.id)
    assert got.message_count == tasks * per_task == len(set(ids))
    assert got.total_tokens == sum(k + i for k in range(tasks) for i in range(per_task))
    page = await store.list_messages("alice", conv.id, limit=1000)
    assert page.total == len(page.items) == tasks * per_task
    assert {m.id for m in page.items} == set(ids)
    assert got.last_message_at == max(m.created_at for m in page.items)
    # per writer, messages are stored in the order they were added
    for k in range(tasks):
        mine = [m.content for m in page.items if m.content.startswith(f"{k}-")]
        assert mine == [f"{k}-{i}" for i in range(per_task)]


# -- sessions --------------------------------------------------------------------------------


async def test_session_event_log_resume(store: Store) -> None:
    conv = await store.create_conversation("alice")
    sess = await store.create_session("alice", "s1", conversation_id=conv.id)
    assert (sess.status, sess.last_seq, sess.conversation_id) == ("running", 0, conv.id)
    assert sess.expires_at > sess.created_at
    appended = [ev("s1", seq, f"t{seq}") for seq in range(1, 11)]
    for event in appended:
        await store.append_event(event)
    assert await store.events_after("s1") == appended
    missed = await store.events_after("s1", 4)
    assert missed == appended[4:]  # exactly what a client that saw seq 4 missed
    assert await store.events_after("s1", 10) == []

    # idempotent: the same seq again (e.g. a retried write) is ignored
    await store.append_event(ev("s1", 3, "DIFFERENT"))
    again = await store.events_after("s1", 2)
    assert [e.seq for e in again] == list(range(3, 11)) and again[0].data["text"] == "t3"
    # out of order appends still come back in seq order
    await store.append_event(ev("s1", 12, "t12"))
    await store.append_event(ev("s1", 11, "t11"))
    assert [e.seq for e in await store.events_after("s1", 9)] == [10, 11, 12]
    assert (await store.get_session("alice", "s1")).last_seq == 12

    await store.set_session_status("s1", "complete")
    assert (await store.get_session("alice", "s1")).status == "complete"
    # a new turn in the same session keeps the log
    again_sess = await store.create_session("alice", "s1")
    assert (again_sess.status, again_sess.last_seq, again_sess.conversation_id) == (
        "running", 12, conv.id)
    assert len(await store.events_after("s1")) == 12

    await store.create_session("bob", "s2")
    await store.set_session_status("s2", "error")
    assert [s.id for s in await store.list_sessions()] == ["s1", "s2"]
    assert [s.id for s in await store.list_sessions(status="error")] == ["s2"]
    assert [s.id for s in await store.list_sessions(status="running")] == ["s1"]

    for call in (store.events_after("nope"), store.append_event(ev("nope", 1)),
                 store.set_session_status("nope", "complete"), store.get_session("alice", "nope")):
        with pytest.raises(NotFoundError):
            await call


async def test_session_ttl(make_store: MakeStore) -> None:
    store = await make_store(session_ttl=0.8)
    await store.create_session("alice", "live")
    await store.create_session("alice", "idle")
    await store.append_event(ev("live", 1))
    await store.append_event(ev("idle", 1))
    await anyio.sleep(0.5)
    await store.append_event(ev("live", 2))  # renews the TTL of "live" only
    await anyio.sleep(0.5)
    assert (await store.get_session("alice", "live")).last_seq == 2
    assert [s.id for s in await store.list_sessions()] == ["live"]
    with pytest.raises(NotFoundError):
        await store.get_session("alice", "idle")
    with pytest.raises(NotFoundError):
        await store.events_after("idle")
    with pytest.raises(NotFoundError):
        await store.append_event(ev("idle", 2))
    await anyio.sleep(0.5)
    with pytest.raises(NotFoundError):
        await store.get_session("alice", "live")
    assert await store.list_sessions() == []
    # an expired id can be used again, with an empty log
    fresh = await store.create_session("bob", "live")
    assert fresh.user_id == "bob" and fresh.last_seq == 0
    assert await store.events_after("live") == []


async def test_purge_expired(make_store: MakeStore) -> None:
    store = await make_store(session_ttl=0.3)
    for sid in ("a", "b"):
        await store.create_session("alice", sid)
        await store.append_event(ev(sid, 1))
    await anyio.sleep(0.45)
    await store.create_session("alice", "c")
    assert await store.purge_expired() == 2  # type: ignore[attr-defined]
    assert await store.purge_expired() == 0  # type: ignore[attr-defined]
    assert [s.id for s in await store.list_sessions()] == ["c"]


# -- telemetry -------------------------------------------------------------------------------

T0 = 1_700_000_000.0  # 2023-11-14 22:13:20 UTC


def model_call(i: int, **kw: object) -> ModelCallRecord:
    base: dict[str, object] = dict(id=f"call-{i:03d}", provider="anthropic", model="claude-a",
                                   started_at=T0 + i, duration_ms=100.0 + i)
    base.update(kw)
    return ModelCallRecord(**base)  # type: ignore[arg-type]


async def test_telemetry_queries(store: Store) -> None:
    for i in range(12):
        await store.record_model_call(model_call(
            i, session_id=f"s{i % 3}", conversation_id=f"c{i % 2}",
            user_id="alice" if i < 8 else "bob",
            request={"model": "claude-a", "messages": [{"role": "user", "content": f"q{i}"}]}))
        await store.record_tool_call(ToolCallRecord(
            id=f"tool-{i:03d}", name="hotspots", tool_use_id=f"toolu_{i}", session_id=f"s{i % 3}",
            conversation_id=f"c{i % 2}", user_id="alice" if i < 8 else "bob",
            started_at=T0 + i + 0.5, duration_ms=5.0, input={"n": i}))

    got = await store.get_model_call("call-004")
    assert got == model_call(4, session_id="s1", conversation_id="c0", user_id="alice",
                             request={"model": "claude-a",
                                      "messages": [{"role": "user", "content": "q4"}]})
    with pytest.raises(NotFoundError):
        await store.get_model_call("call-999")

    page = await store.list_model_calls()
    assert page.total == 12 and [r.id for r in page.items] == [
        f"call-{i:03d}" for i in range(11, -1, -1)]  # newest first
    by_session = await store.list_model_calls(session_id="s1")
    assert [r.id for r in by_session.items] == ["call-010", "call-007", "call-004", "call-001"]
    by_conv = await store.list_model_calls(conversation_id="c1", limit=2, offset=1)
    assert by_conv.total == 6 and [r.id for r in by_conv.items] == ["call-009", "call-007"]
    window = await store.list_model_calls(since=T0 + 3, until=T0 + 6)
    assert [r.id for r in window.items] == ["call-005", "call-004", "call-003"]
    both = await store.list_model_calls(user_id="alice", session_id="s1", since=T0 + 2)
    assert both.total == 2 and [r.id for r in both.items] == ["call-007", "call-004"]
    bob = await store.list_model_calls(user_id="bob", limit=1)
    assert bob.total == 4 and [r.id for r in bob.items] == ["call-011"]

    tools = await store.list_tool_calls(conversation_id="c0", until=T0 + 5)
    assert [t.id for t in tools.items] == ["tool-004", "tool-002", "tool-000"]
    assert tools.items[0].input == {"n": 4} and tools.total == 3
    assert (await store.list_tool_calls(session_id="s2", user_id="bob")).total == 2

    # re-recording an id replaces the record and its index entries
    await store.record_model_call(model_call(4, session_id="s9", status="error",
                                             error_code="overloaded"))
    assert (await store.get_model_call("call-004")).status == "error"
    assert [r.id for r in (await store.list_model_calls(session_id="s1")).items] == [
        "call-010", "call-007", "call-001"]
    assert (await store.list_model_calls(session_id="s9")).total == 1
    assert (await store.list_model_calls()).total == 12


async def test_metrics_match_hand_computation(store: Store) -> None:
    rng = random.Random(7)
    calls: list[ModelCallRecord] = []
    for i in range(60):
        status = rng.choice(["ok"] * 6 + ["error", "cancelled"])
        calls.append(ModelCallRecord(
            id=f"m{i}", provider="anthropic" if i % 3 else "openai",
            model="claude-a" if i % 3 else "gpt-b",
            user_id="alice" if i % 4 else "bob", started_at=T0 + i * 3600.0,  # spans 3 days
            ttft_ms=rng.uniform(50, 900) if status == "ok" else None,
            duration_ms=rng.uniform(200, 9000), input_tokens=rng.randint(10, 5000),
            output_tokens=rng.randint(1, 800), cache_read_input_tokens=rng.randint(0, 100),
            cost_usd=round(rng.uniform(0, 0.05), 6) if i % 5 else None, status=status,
            error_code=rng.choice(["overloaded", "rate_limited"]) if status == "error" else None))
    tools = [ToolCallRecord(id=f"t{i}", name=rng.choice(["hotspots", "read_file"]),
                            user_id="alice", started_at=T0 + i * 1800.0,
                            duration_ms=rng.uniform(1, 500),
                            status=rng.choice(["ok", "ok", "ok", "error", "timeout", "refused"]))
             for i in range(40)]
    for c in calls:
        await store.record_model_call(c)
    for t in tools:
        await store.record_tool_call(t)

    since, until = T0 + 5 * 3600, T0 + 50 * 3600
    m = await store.metrics(since=since, until=until)
    sel = [c for c in calls if since <= c.started_at < until]
    ok = [c for c in sel if c.status == "ok"]
    errors = [c for c in sel if c.status == "error"]
    s = m["model_calls"]
    assert (s["count"], s["ok"], s["errors"]) == (len(sel), len(ok), len(errors))
    assert s["error_rate"] == pytest.approx(len(errors) / len(sel))
    lat = np.array([c.duration_ms for c in ok])
    assert s["latency_ms"]["p50"] == pytest.approx(np.percentile(lat, 50))
    assert s["latency_ms"]["p95"] == pytest.approx(np.percentile(lat, 95))
    ttft = np.array([c.ttft_ms for c in ok])
    assert s["ttft_ms"]["p50"] == pytest.approx(np.percentile(ttft, 50))
    assert s["ttft_ms"]["p95"] == pytest.approx(np.percentile(ttft, 95))
    assert s["input_tokens"] == sum(c.input_tokens for c in sel)
    assert s["output_tokens"] == sum(c.output_tokens for c in sel)
    assert s["cost_usd"] == pytest.approx(sum(c.cost_usd or 0 for c in sel))
    codes = {code: sum(1 for c in errors if c.error_code == code)
             for code in {c.error_code for c in errors}}
    assert {k: v["count"] for k, v in m["errors_by_code"].items()} == codes

    days: dict[str, list[ModelCallRecord]] = {}
    for c in sel:
        days.setdefault(str(np.datetime64(int(c.started_at), "s").astype("datetime64[D]")),
                        []).append(c)
    assert [d["day"] for d in m["by_day"]] == sorted(days)
    for d in m["by_day"]:
        group = days[d["day"]]
        assert d["calls"] == len(group)
        assert d["output_tokens"] == sum(c.output_tokens for c in group)
        assert d["cost_usd"] == pytest.approx(sum(c.cost_usd or 0 for c in group))
    by_model = {row["model"]: row for row in m["by_model"]}
    assert set(by_model) == {"claude-a", "gpt-b"}
    gpt = [c for c in ok if c.model == "gpt-b"]
    assert by_model["gpt-b"]["latency_ms"]["p95"] == pytest.approx(
        np.percentile([c.duration_ms for c in gpt], 95))
    assert by_model["gpt-b"]["calls"] == sum(1 for c in sel if c.model == "gpt-b")

    tsel = [t for t in tools if since <= t.started_at < until]
    tm = m["tool_calls"]
    assert tm["count"] == len(tsel)
    assert tm["errors"] == sum(1 for t in tsel if t.status in ("error", "timeout"))
    by_name = {row["name"]: row for row in tm["by_name"]}
    for name in ("hotspots", "read_file"):
        mine = [t for t in tsel if t.name == name]
        assert by_name[name]["calls"] == len(mine)
        assert by_name[name]["duration_ms"]["p50"] == pytest.approx(
            np.percentile([t.duration_ms for t in mine], 50))

    bob = await store.metrics(user_id="bob")
    assert bob["model_calls"]["count"] == sum(1 for c in calls if c.user_id == "bob")
    assert bob["tool_calls"]["count"] == 0
    empty = await store.metrics(since=T0 - 100, until=T0 - 1)
    assert empty["model_calls"]["count"] == 0 and empty["model_calls"]["latency_ms"]["p50"] is None
