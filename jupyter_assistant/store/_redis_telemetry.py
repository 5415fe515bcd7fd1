"""Telemetry keys of :class:`~jupyter_assistant.store.RedisStore`: model-call and tool-call
records (JSON strings) with sorted-set indexes by ``started_at`` — global and per session,
conversation and user — their queries, and the metrics; plus helpers both halves share."""

from __future__ import annotations

import functools
from collections.abc import Awaitable, Callable, Coroutine
from typing import Any, ParamSpec, TypeVar

import orjson
import redis.asyncio as aioredis
from redis.exceptions import RedisError

from ..exceptions import AssistantError, NotFoundError, StoreError
from ._metrics import compute_metrics
from ._records import ModelCallRecord, Page, ToolCallRecord
from ._util import check_page

__all__ = ["RedisTelemetry"]

_P = ParamSpec("_P")
_T = TypeVar("_T")
_R = TypeVar("_R", ModelCallRecord, ToolCallRecord)
_Pipe = Any  # redis.asyncio.client.Pipeline (its stubs do not type the WATCH mode well)
_DIMS = ("session", "conversation", "user")  # most selective index first


def _translate(
    fn: Callable[_P, Coroutine[Any, Any, _T]],
) -> Callable[_P, Coroutine[Any, Any, _T]]:
    """Turn ``RedisError`` into :class:`StoreError` (our own errors pass through)."""

    @functools.wraps(fn)
    async def wrapper(*args: _P.args, **kwargs: _P.kwargs) -> _T:
        try:
            return await fn(*args, **kwargs)
        except AssistantError:
            raise
        except RedisError as exc:
            raise StoreError(f"redis: {exc}") from exc

    return wrapper


def _dumps(value: Any) -> str:
    return orjson.dumps(value).decode()


def _text(value: object) -> str:
    """A reply item as ``str``. The client decodes replies (``decode_responses=True``), but
    redis-py 8 types every reply as ``bytes | str`` (or a tuple, for scored replies), so this
    narrows it, and also serves a client that was built without decoding."""
    if isinstance(value, str):
        return value
    if isinstance(value, bytes):
        return value.decode()
    raise StoreError(f"redis: expected a string reply, got {type(value).__name__}")


def _text_hash(h: dict[Any, Any]) -> dict[str, str]:
    """A ``HGETALL`` reply as ``dict[str, str]`` (see :func:`_text`)."""
    return {_text(k): _text(v) for k, v in h.items()}


class RedisTelemetry:
    """The :class:`~jupyter_assistant.store.TelemetryStore` half of ``RedisStore`` (a mixin
    using the store's client ``_r``, key builder ``_k`` and ``_transaction``)."""

    @property
    def _r(self) -> aioredis.Redis:
        raise NotImplementedError

    def _k(self, *parts: str) -> str:
        raise NotImplementedError

    async def _transaction(self, fn: Callable[[_Pipe], Awaitable[_T]], *watches: str) -> _T:
        raise NotImplementedError

    # -- telemetry ---------------------------------------------------------------------------

    def _indexes(self, kind: str, rec: ModelCallRecord | ToolCallRecord) -> list[str]:
        values = {"session": rec.session_id, "conversation": rec.conversation_id,
                  "user": rec.user_id}
        return [self._k(kind + "s")] + [self._k(kind + "s", d, v)
                                        for d, v in values.items() if v is not None]

    async def _record(self, kind: str, rec: ModelCallRecord | ToolCallRecord) -> None:
        key = self._k(kind, rec.id)
        cls = type(rec)

        async def fn(pipe: _Pipe) -> None:
            old_raw = await pipe.get(key)
            pipe.multi()
            if old_raw is not None:
                for index in self._indexes(kind, cls.from_dict(orjson.loads(old_raw))):
                    pipe.zrem(index, rec.id)
            pipe.set(key, _dumps(rec.to_dict()))
            for index in self._indexes(kind, rec):
                pipe.zadd(index, {rec.id: rec.started_at})

        await self._transaction(fn, key)

    @_translate
    async def record_model_call(self, record: ModelCallRecord) -> None:
        """Store (or replace, same ``id``) a model-call record and index it."""
        await self._record("model_call", record)

    @_translate
    async def record_tool_call(self, record: ToolCallRecord) -> None:
        """Store (or replace, same ``id``) a tool-call record and index it."""
        await self._record("tool_call", record)

    @_translate
    async def get_model_call(self, call_id: str) -> ModelCallRecord:
        """The model-call record ``call_id``; ``NotFoundError`` if there is none."""
        raw = await self._r.get(self._k("model_call", call_id))
        if raw is None:
            raise NotFoundError(f"model call {call_id!r} not found")
        return ModelCallRecord.from_dict(orjson.loads(raw))

    async def _select(
        self, cls: type[_R], kind: str, filters: dict[str, str | None],
        since: float | None, until: float | None, limit: int | None, offset: int,
    ) -> tuple[list[_R], int]:
        given = [(d, v) for d in _DIMS if (v := filters.get(d)) is not None]
        index = self._k(kind + "s", *given[0]) if given else self._k(kind + "s")
        lo = "-inf" if since is None else repr(float(since))
        hi = "+inf" if until is None else f"({float(until)!r}"
        paged = len(given) <= 1 and limit is not None
        if paged:
            total = await self._r.zcount(index, lo, hi)
            ids = await self._r.zrevrangebyscore(index, hi, lo, start=offset,
                                                 num=limit) if limit else []
        else:
            ids = await self._r.zrevrangebyscore(index, hi, lo)
        records: list[_R] = []
        for i in range(0, len(ids), 1000):
            chunk = ids[i:i + 1000]
            raw = await self._r.mget([self._k(kind, _text(c)) for c in chunk])
            records += [cls.from_dict(orjson.loads(r)) for r in raw if r is not None]
        if paged:
            return records, int(total)
        records = [r for r in records
                   if all(getattr(r, f"{d}_id") == v for d, v in given)]
        end = None if limit is None else offset + limit
        return records[offset:end], len(records)

    @_translate
    async def list_model_calls(
        self, *, user_id: str | None = None, session_id: str | None = None,
        conversation_id: str | None = None, since: float | None = None,
        until: float | None = None, limit: int = 100, offset: int = 0,
    ) -> Page[ModelCallRecord]:
        """Model calls matching every filter given (``since <= started_at < until``),
        newest first, with the total."""
        check_page(limit, offset)
        items, total = await self._select(
            ModelCallRecord, "model_call",
            {"user": user_id, "session": session_id, "conversation": conversation_id},
            since, until, limit, offset)
        return Page(items, total, limit, offset)

    @_translate
    async def list_tool_calls(
        self, *, user_id: str | None = None, session_id: str | None = None,
        conversation_id: str | None = None, since: float | None = None,
        until: float | None = None, limit: int = 100, offset: int = 0,
    ) -> Page[ToolCallRecord]:
        """Tool calls matching every filter given (``since <= started_at < until``),
        newest first, with the total."""
        check_page(limit, offset)
        items, total = await self._select(
            ToolCallRecord, "tool_call",
            {"user": user_id, "session": session_id, "conversation": conversation_id},
            since, until, limit, offset)
        return Page(items, total, limit, offset)

    @_translate
    async def metrics(self, *, user_id: str | None = None, since: float | None = None,
                      until: float | None = None) -> dict[str, Any]:
        """Dashboard aggregates of the records in the window (read through the time
        indexes; shape: ``compute_metrics`` in :mod:`~jupyter_assistant.store._metrics`)."""
        calls, _ = await self._select(ModelCallRecord, "model_call", {"user": user_id},
                                      since, until, None, 0)
        tools, _ = await self._select(ToolCallRecord, "tool_call", {"user": user_id},
                                      since, until, None, 0)
        return compute_metrics(calls, tools, since=since, until=until)
