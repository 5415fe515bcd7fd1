"""``RedisStore``: the :class:`~jupyter_assistant.store.Store` protocol on Redis, for shared
deployments (several Jupyter servers, JupyterHub), via ``redis.asyncio``.

Keys (``P`` = the key prefix, ``jupyter_assistant:`` by default)::

    P conv:{id}                  hash: the Conversation fields (stats via HINCRBY)
    P conv:{id}:messages         list: message ids, oldest first
    P message:{id}               string: the Message as JSON
    P user:{user}:conversations  sorted set: conversation id -> updated_at
    P session:{id}               hash: the SessionRecord fields        } expire together
    P session:{id}:events        hash: seq -> event JSON (HSETNX)      } (PEXPIREAT) at
    P session:{id}:seqs          sorted set: seq -> seq                } expires_at
    P sessions                   sorted set: session id -> expires_at (for listing)
    P model_call:{id}            string: the ModelCallRecord as JSON
    P model_calls                sorted set: id -> started_at (time index)
    P model_calls:{dim}:{value}  sorted set: per session / conversation / user index
    P tool_call:{id} ...         the same for tool calls

Every read-check-write runs as ``WATCH`` + ``MULTI``/``EXEC`` (``client.transaction``,
retried on a concurrent change), so a message and its conversation's stats land together,
and nothing is written into a conversation or session that was deleted or expired meanwhile.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any, TypeVar, cast

import orjson
import redis.asyncio as aioredis
from redis.exceptions import RedisError

from ..events import Event
from ..exceptions import NotFoundError, StoreError
from ._base import SESSION_TTL_S
from ._records import Conversation, Message, Page, SessionRecord
from ._redis_telemetry import RedisTelemetry, _dumps, _Pipe, _text, _text_hash, _translate
from ._util import check_id, check_page, check_role, known_id, new_id, now, title_from_content

__all__ = ["DEFAULT_PREFIX", "RedisStore"]

#: The default key prefix.
DEFAULT_PREFIX = "jupyter_assistant:"

_T = TypeVar("_T")


async def _aclose(client: aioredis.Redis) -> None:
    # ``aclose`` (redis >= 5); cast because stale ``types-redis`` stubs, when installed,
    # shadow redis's own annotations and lack it.
    await cast(Any, client).aclose()


def _opt_float(v: str | None) -> float | None:
    return float(v) if v not in (None, "") else None


def _conversation(h: dict[str, str]) -> Conversation:
    return Conversation(
        id=h["id"], user_id=h["user_id"], title=h.get("title", ""), model=h.get("model", ""),
        total_tokens=int(h.get("total_tokens", 0)), message_count=int(h.get("message_count", 0)),
        last_message_at=_opt_float(h.get("last_message_at")),
        created_at=float(h["created_at"]), updated_at=float(h["updated_at"]))


def _session(h: dict[str, str], last_seq: int) -> SessionRecord:
    return SessionRecord(
        id=h["id"], user_id=h["user_id"], conversation_id=h.get("conversation_id") or None,
        status=h["status"], last_seq=last_seq, created_at=float(h["created_at"]),
        updated_at=float(h["updated_at"]), expires_at=float(h["expires_at"]))


class RedisStore(RedisTelemetry):
    """The store on a Redis server at ``url`` (``redis://[:password@]host:port/db``,
    ``rediss://`` for TLS, ``unix://``).

    ``prefix`` namespaces every key; ``session_ttl`` is the seconds a session and its event
    log live after their last update (default 24 h; Redis deletes them by ``PEXPIREAT``);
    ``client`` an existing ``redis.asyncio.Redis`` (with ``decode_responses=True``) to use
    instead of ``url``. Call ``await open()`` first (connects and PINGs) and ``aclose()`` at
    the end. Raises :class:`~jupyter_assistant.exceptions.NotFoundError` for objects that do
    not exist for the user, :class:`~jupyter_assistant.exceptions.InputError` for a bad id,
    role or page, :class:`~jupyter_assistant.exceptions.StoreError` when Redis fails or the
    store is not open.
    """

    def __init__(
        self, url: str = "redis://localhost:6379/0", *, prefix: str = DEFAULT_PREFIX,
        session_ttl: float = SESSION_TTL_S, client: aioredis.Redis | None = None,
    ) -> None:
        self.url = url
        self.prefix = prefix
        self.session_ttl = float(session_ttl)
        self._client = client
        self._owns_client = client is None

    def __repr__(self) -> str:
        return f"RedisStore({self.url!r}, prefix={self.prefix!r})"

    # -- plumbing ----------------------------------------------------------------------------

    @property
    def _r(self) -> aioredis.Redis:
        if self._client is None:
            raise StoreError(f"{self!r} is not open: await store.open() first")
        return self._client

    async def open(self) -> None:
        """Connect and PING; ``StoreError`` if the server cannot be reached. Idempotent."""
        if self._client is None:
            self._client = aioredis.from_url(self.url, decode_responses=True)
            self._owns_client = True
        try:
            await self._client.ping()
        except RedisError as exc:
            client, self._client = self._client, None
            if self._owns_client:
                await _aclose(client)
            raise StoreError(f"cannot reach redis at {self.url}: {exc}") from exc

    async def aclose(self) -> None:
        """Close the connection pool (when the store created it). Idempotent."""
        client, self._client = self._client, None
        if client is not None and self._owns_client:
            await _aclose(client)

    async def __aenter__(self) -> RedisStore:
        await self.open()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()

    def _k(self, *parts: str) -> str:
        return self.prefix + ":".join(parts)

    async def _transaction(self, fn: Callable[[_Pipe], Awaitable[_T]], *watches: str) -> _T:
        result: _T = await self._r.transaction(fn, *watches, value_from_callable=True)
        return result

    # -- conversations -----------------------------------------------------------------------

    @_translate
    async def create_conversation(
        self, user_id: str, *, title: str = "", model: str = "",
        conversation_id: str | None = None,
    ) -> Conversation:
        """Create an empty conversation of ``user_id``; a new id unless ``conversation_id``
        is given. ``StoreError`` (code ``conflict``) when that id exists."""
        cid = conversation_id if conversation_id is not None else new_id()
        check_id(cid, "conversation")
        key = self._k("conv", cid)

        async def fn(pipe: _Pipe) -> Conversation:
            if await pipe.exists(key):
                raise StoreError(f"conversation {cid!r} already exists", code="conflict")
            t = now()
            conv = Conversation(id=cid, user_id=user_id, title=title, model=model,
                                created_at=t, updated_at=t)
            pipe.multi()
            pipe.hset(key, mapping={k: ("" if v is None else v)
                                    for k, v in conv.to_dict().items()})
            pipe.zadd(self._k("user", user_id, "conversations"), {cid: t})
            return conv

        return await self._transaction(fn, key)

    @_translate
    async def get_conversation(self, user_id: str, conversation_id: str) -> Conversation:
        """The conversation with its stats; ``NotFoundError`` if not ``user_id``'s."""
        known_id(conversation_id, "conversation")
        h = _text_hash(await self._r.hgetall(self._k("conv", conversation_id)))
        if not h or h.get("user_id") != user_id:
            raise NotFoundError(f"conversation {conversation_id!r} not found")
        return _conversation(h)

    @_translate
    async def list_conversations(
        self, user_id: str, *, limit: int = 50, offset: int = 0
    ) -> Page[Conversation]:
        """``user_id``'s conversations, most recently updated first, with the total."""
        check_page(limit, offset)
        index = self._k("user", user_id, "conversations")
        async with self._r.pipeline(transaction=True) as pipe:
            pipe.zcard(index)
            if limit:
                pipe.zrevrange(index, offset, offset + limit - 1)
            total, *rest = await pipe.execute()
        ids = rest[0] if limit else []
        async with self._r.pipeline(transaction=False) as pipe:
            for cid in ids:
                pipe.hgetall(self._k("conv", cid))
            hashes = await pipe.execute() if ids else []
        items = [_conversation(h) for h in hashes if h and h.get("user_id") == user_id]
        return Page(items, int(total), limit, offset)

    @_translate
    async def delete_conversation(self, user_id: str, conversation_id: str) -> None:
        """Delete the conversation and its messages (one transaction); ``NotFoundError`` if
        not ``user_id``'s."""
        known_id(conversation_id, "conversation")
        key, msgs = self._k("conv", conversation_id), self._k("conv", conversation_id, "messages")

        async def fn(pipe: _Pipe) -> None:
            if await pipe.hget(key, "user_id") != user_id:
                raise NotFoundError(f"conversation {conversation_id!r} not found")
            ids = await pipe.lrange(msgs, 0, -1)
            pipe.multi()
            pipe.delete(key, msgs, *(self._k("message", m) for m in ids))
            pipe.zrem(self._k("user", user_id, "conversations"), conversation_id)

        await self._transaction(fn, key, msgs)

    @_translate
    async def add_message(
        self, user_id: str, conversation_id: str, role: str, content: Any, *,
        tokens: int = 0, metadata: dict[str, Any] | None = None,
    ) -> Message:
        """Append a message and update the stats (``message_count``, ``total_tokens``,
        ``last_message_at``, ``updated_at``; the title from the first user message when the
        conversation has none) in one MULTI/EXEC. ``InputError`` for a role other than
        ``user``/``assistant``; ``NotFoundError`` if the conversation is not ``user_id``'s."""
        check_role(role)
        known_id(conversation_id, "conversation")
        key = self._k("conv", conversation_id)
        new_title = title_from_content(content) if role == "user" else ""

        async def fn(pipe: _Pipe) -> Message:
            owner, title = await pipe.hmget(key, ["user_id", "title"])
            if owner != user_id:
                raise NotFoundError(f"conversation {conversation_id!r} not found")
            msg = Message(id=new_id(), conversation_id=conversation_id, role=role,
                          content=content, tokens=int(tokens), metadata=dict(metadata or {}),
                          created_at=now())
            stats: dict[str, Any] = {"last_message_at": msg.created_at,
                                     "updated_at": msg.created_at}
            if not title and new_title:
                stats["title"] = new_title
            pipe.multi()
            pipe.set(self._k("message", msg.id), _dumps(msg.to_dict()))
            pipe.rpush(self._k("conv", conversation_id, "messages"), msg.id)
            pipe.hincrby(key, "message_count", 1)
            pipe.hincrby(key, "total_tokens", msg.tokens)
            pipe.hset(key, mapping=stats)
            pipe.zadd(self._k("user", user_id, "conversations"), {conversation_id: msg.created_at})
            return msg

        return await self._transaction(fn, key)

    @_translate
    async def list_messages(
        self, user_id: str, conversation_id: str, *, limit: int = 100, offset: int = 0
    ) -> Page[Message]:
        """Messages of the conversation, oldest first, with the total."""
        check_page(limit, offset)
        known_id(conversation_id, "conversation")
        msgs = self._k("conv", conversation_id, "messages")
        async with self._r.pipeline(transaction=True) as pipe:
            pipe.hget(self._k("conv", conversation_id), "user_id")
            pipe.llen(msgs)
            if limit:
                pipe.lrange(msgs, offset, offset + limit - 1)
            owner, total, *rest = await pipe.execute()
        if owner != user_id:
            raise NotFoundError(f"conversation {conversation_id!r} not found")
        ids = rest[0] if limit else []
        raw = await self._r.mget([self._k("message", m) for m in ids]) if ids else []
        items = [Message.from_dict(orjson.loads(r)) for r in raw if r is not None]
        return Page(items, int(total), limit, offset)

    @_translate
    async def update_message_metadata(
        self, user_id: str, message_id: str, metadata: dict[str, Any]
    ) -> Message:
        """Merge ``metadata`` into the message's metadata (keys given replace old values);
        ``NotFoundError`` unless the message is in one of ``user_id``'s conversations."""
        known_id(message_id, "message")
        key = self._k("message", message_id)

        async def fn(pipe: _Pipe) -> Message:
            raw = await pipe.get(key)
            msg = Message.from_dict(orjson.loads(raw)) if raw else None
            if msg is None or await pipe.hget(self._k("conv", msg.conversation_id),
                                              "user_id") != user_id:
                raise NotFoundError(f"message {message_id!r} not found")
            msg.metadata.update(metadata)
            pipe.multi()
            pipe.set(key, _dumps(msg.to_dict()))
            return msg

        return await self._transaction(fn, key)

    # -- sessions ----------------------------------------------------------------------------

    def _session_keys(self, session_id: str) -> tuple[str, str, str]:
        return (self._k("session", session_id), self._k("session", session_id, "events"),
                self._k("session", session_id, "seqs"))

    def _expire_session(self, pipe: _Pipe, session_id: str, expires_at: float) -> None:
        for key in self._session_keys(session_id):
            pipe.pexpireat(key, int(expires_at * 1000))
        pipe.zadd(self._k("sessions"), {session_id: expires_at})

    async def _last_seq(self, pipe: _Pipe, seqs_key: str) -> int:
        top = await pipe.zrevrange(seqs_key, 0, 0, withscores=True)
        return int(top[0][1]) if top else 0

    @_translate
    async def create_session(
        self, user_id: str, session_id: str, *, conversation_id: str | None = None
    ) -> SessionRecord:
        """Create session ``session_id`` (status ``running``), or — when ``user_id`` already
        has it — mark it ``running`` again and renew its TTL, keeping its event log.
        ``StoreError`` (code ``conflict``) if another user has it."""
        check_id(session_id, "session")
        key, events, seqs = self._session_keys(session_id)

        async def fn(pipe: _Pipe) -> SessionRecord:
            h = await pipe.hgetall(key)
            if h and h.get("user_id") != user_id:
                raise StoreError(f"session {session_id!r} belongs to another user",
                                 code="conflict")
            t = now()
            if h:
                sess = _session(h, await self._last_seq(pipe, seqs))
                sess.status = "running"
                sess.conversation_id = conversation_id or sess.conversation_id
                sess.updated_at, sess.expires_at = t, t + self.session_ttl
            else:
                sess = SessionRecord(id=session_id, user_id=user_id,
                                     conversation_id=conversation_id, created_at=t,
                                     updated_at=t, expires_at=t + self.session_ttl)
            pipe.multi()
            if not h:
                pipe.delete(events, seqs)  # leftovers of an expired session of that id
            fields = sess.to_dict()
            del fields["last_seq"]
            pipe.hset(key, mapping={k: ("" if v is None else v) for k, v in fields.items()})
            self._expire_session(pipe, session_id, sess.expires_at)
            return sess

        return await self._transaction(fn, key)

    @_translate
    async def get_session(self, user_id: str, session_id: str) -> SessionRecord:
        """The live session; ``NotFoundError`` if unknown, expired or another user's."""
        known_id(session_id, "session")
        key, _, seqs = self._session_keys(session_id)
        async with self._r.pipeline(transaction=True) as pipe:
            pipe.hgetall(key)
            pipe.zrevrange(seqs, 0, 0, withscores=True)
            h, top = await pipe.execute()
        if not h or h.get("user_id") != user_id or float(h["expires_at"]) <= now():
            raise NotFoundError(f"session {session_id!r} not found")
        return _session(h, int(top[0][1]) if top else 0)

    async def _touch_session(
        self, session_id: str, write: Callable[[_Pipe], None] | None = None
    ) -> None:
        """In one transaction: check the session is live, run ``write``, renew the TTL."""
        known_id(session_id, "session")
        key = self._k("session", session_id)

        async def fn(pipe: _Pipe) -> None:
            expires = await pipe.hget(key, "expires_at")
            if expires is None or float(expires) <= now():
                raise NotFoundError(f"session {session_id!r} not found")
            t = now()
            pipe.multi()
            if write is not None:
                write(pipe)
            pipe.hset(key, mapping={"updated_at": t, "expires_at": t + self.session_ttl})
            self._expire_session(pipe, session_id, t + self.session_ttl)

        await self._transaction(fn, key)

    @_translate
    async def set_session_status(self, session_id: str, status: str) -> None:
        """Set the status and renew the TTL; ``NotFoundError`` if unknown or expired."""
        key = self._k("session", session_id)
        await self._touch_session(session_id, lambda pipe: pipe.hset(key, "status", status))

    @_translate
    async def append_event(self, event: Event) -> None:
        """Append ``event`` to its session's log, keyed by ``seq`` (``HSETNX`` + ``ZADD NX``:
        an event whose ``seq`` is stored already is ignored). Renews the TTL.
        ``NotFoundError`` if the session is unknown or expired."""
        _, events, seqs = self._session_keys(event.session_id)
        payload = event.to_json()

        def write(pipe: _Pipe) -> None:
            pipe.hsetnx(events, str(event.seq), payload)
            pipe.zadd(seqs, {str(event.seq): event.seq}, nx=True)

        await self._touch_session(event.session_id, write)

    @_translate
    async def events_after(self, session_id: str, after_seq: int = 0) -> list[Event]:
        """The events with ``seq > after_seq`` in ``seq`` order; ``NotFoundError`` if the
        session is unknown or expired."""
        known_id(session_id, "session")
        key, events, seqs = self._session_keys(session_id)
        async with self._r.pipeline(transaction=True) as pipe:
            pipe.hget(key, "expires_at")
            pipe.zrangebyscore(seqs, f"({int(after_seq)}", "+inf")
            expires, wanted = await pipe.execute()
        if expires is None or float(expires) <= now():
            raise NotFoundError(f"session {session_id!r} not found")
        raw = await self._r.hmget(events, wanted) if wanted else []
        return [Event.from_dict(orjson.loads(r)) for r in raw if r is not None]

    @_translate
    async def list_sessions(self, *, status: str | None = None) -> list[SessionRecord]:
        """Live sessions (optionally only those with ``status``), oldest first."""
        index = self._k("sessions")
        t = now()
        await self._r.zremrangebyscore(index, "-inf", t)
        ids = [_text(i) for i in await self._r.zrange(index, 0, -1)]
        async with self._r.pipeline(transaction=False) as pipe:
            for sid in ids:
                key, _, seqs = self._session_keys(sid)
                pipe.hgetall(key)
                pipe.zrevrange(seqs, 0, 0, withscores=True)
            replies = await pipe.execute() if ids else []
        out = [_session(h, int(top[0][1]) if top else 0)
               for h, top in zip(replies[::2], replies[1::2], strict=True)
               if h and float(h["expires_at"]) > t]
        out = [s for s in out if status is None or s.status == status]
        out.sort(key=lambda s: (s.created_at, s.id))
        return out

    @_translate
    async def purge_expired(self) -> int:
        """Delete expired sessions and their event logs (Redis also expires them on its
        own); returns how many were removed from the session index."""
        index = self._k("sessions")
        dead = [_text(i) for i in await self._r.zrangebyscore(index, "-inf", now())]
        if dead:
            async with self._r.pipeline(transaction=True) as pipe:
                for sid in dead:
                    pipe.delete(*self._session_keys(sid))
                pipe.zrem(index, *dead)
                await pipe.execute()
        return len(dead)
