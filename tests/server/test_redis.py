"""The server end to end on Redis (``store_url = redis://...``, the deployment for several
servers or JupyterHub) against a real ``redis-server``: an SSE chat turn, a resume after a
disconnect, the conversations list, and the rate limiter counting in Redis."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Iterator
from typing import Any

import pytest
import redis

from jupyter_assistant.server import AssistantApp
from jupyter_assistant.store import RedisStore

SLOW = "[[slow_stream chunks=30 delay=0.03]]"
DB = 3  # a database of the session's redis-server of its own, flushed per test


@pytest.fixture
def redis_db(redis_url: str) -> Iterator[str]:
    url = redis_url.rsplit("/", 1)[0] + f"/{DB}"
    client = redis.Redis.from_url(url)
    client.flushdb()
    yield url
    client.flushdb()
    client.close()


@pytest.fixture
def assistant_settings(redis_db: str) -> dict[str, Any]:
    return {"store_url": f"{redis_db}?key_prefix=srv-{uuid.uuid4().hex[:8]}:",
            "chat_rate_limit": "3/minute"}


async def test_chat_resume_and_conversations_on_redis(
        sse: Any, api: Any, assistant_app: AssistantApp, redis_db: str) -> None:
    app = assistant_app
    assert isinstance(app.store, RedisStore) and app.shared_store
    assert app.rate_limiter.storage_url == redis_db  # the store's Redis, without key_prefix

    # a turn, cut off by the client after a few deltas: the turn goes on
    first = await sse("chat", body={"message": f"on redis {SLOW}"},
                      stop=lambda r: r.types.count("text_delta") >= 3)
    assert first.disconnected and first.types[0] == "session_started"
    sid = first.events[0]["session_id"]
    cid = first.events[0]["data"]["conversation_id"]
    # resume: exactly the missed events, then the live ones to the end, read from Redis
    rest = await sse("sessions", sid, "events", method="GET",
                     headers={"Last-Event-ID": str(first.seqs[-1])})
    assert rest.code == 200 and rest.types[-1] == "message_complete"
    seqs = first.seqs + rest.seqs
    assert seqs == list(range(1, len(seqs) + 1))
    text = "".join(e["data"]["text"] for e in first.events + rest.events
                   if e["type"] == "text_delta")
    assert text == " ".join(f"w{i}" for i in range(30))
    # the whole log is in Redis, in seq order
    stored = await app.store.events_after(sid, 0)
    assert [e.seq for e in stored] == seqs and stored[-1].type == "message_complete"
    for _ in range(100):
        code, _, session = await api("sessions", sid)
        if session["status"] == "complete":
            break
        await asyncio.sleep(0.05)
    assert session["status"] == "complete"

    # the conversations list and the messages come from Redis
    code, _, page = await api("conversations")
    assert code == 200 and page["total"] == 1
    (conv,) = page["items"]
    assert conv["id"] == cid and conv["message_count"] == 2
    assert conv["title"].startswith("on redis")
    code, _, msgs = await api("conversations", cid, "messages")
    assert [m["role"] for m in msgs["items"]] == ["user", "assistant"]
    client = redis.Redis.from_url(redis_db)
    try:
        assert client.keys(f"{app.store.prefix}*")
        # the rate limiter counts in Redis: 3 chats per minute, the 4th is refused
        for _ in range(2):
            assert (await sse("chat", body={"message": "again"})).code == 200
        refused = await sse("chat", body={"message": "one too many"})
        assert refused.code == 429 and refused.error_body["error"]["code"] == "rate_limited"
        assert 1 <= int(refused.headers["Retry-After"]) <= 60
        assert client.keys("*jupyter_assistant_limits*chat*")
    finally:
        client.close()
