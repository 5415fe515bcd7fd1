"""Per-user rate limits with the ``limits`` library (async API), in memory or in Redis.

Limits are written in the ``limits`` notation (``"5/minute"``, ``"10 per 60 seconds"``,
``"5/minute;100/day"``; https://limits.readthedocs.io/en/stable/quickstart.html#rate-limit-string-notation).
The default strategy is the *moving window* (every hit is timestamped; at most N hits in any
window of the given length), so a burst cannot straddle a window boundary and pass 2N.
"""

from __future__ import annotations

import time
from typing import Any

from limits import RateLimitItem, parse_many
from limits.aio import strategies
from limits.aio.storage import MemoryStorage, RedisStorage, Storage

from ..exceptions import ConfigError, RateLimitError

__all__ = ["RATE_LIMIT_KINDS", "RateLimiter"]

#: The kinds of request that are limited: ``chat`` (a model turn) and ``write`` (any other
#: state-changing request: create/delete a conversation, upload a trace, replay a call).
RATE_LIMIT_KINDS = ("chat", "write")

_STRATEGIES: dict[str, type[strategies.RateLimiter]] = {
    "moving-window": strategies.MovingWindowRateLimiter,
    "fixed-window": strategies.FixedWindowRateLimiter,
}


def _parse(kind: str, spec: str) -> list[RateLimitItem]:
    try:
        items = parse_many(spec)
    except ValueError as exc:
        raise ConfigError(f"invalid {kind} rate limit {spec!r}: {exc} "
                          "(use the limits notation, e.g. '5/minute')") from None
    if not items:
        raise ConfigError(f"invalid {kind} rate limit {spec!r}: no limit given")
    return items


class RateLimiter:
    """Per-user limits for ``chat`` and ``write`` requests.

    ``storage_url``: ``"memory://"`` (one process; the default) or ``"redis://host:port/db"``
    / ``"rediss://..."`` (shared by every server using that Redis, through ``redis.asyncio``;
    ``async+redis://`` URLs of ``limits`` are accepted too). ``chat`` / ``write``: limits in
    the ``limits`` notation (several separated by ``;``). ``strategy``: ``"moving-window"``
    (default) or ``"fixed-window"``. ``key_prefix`` namespaces the Redis keys.

    Raises :class:`~jupyter_assistant.exceptions.ConfigError` at construction for an invalid
    limit string, strategy or storage URL.
    """

    def __init__(
        self, storage_url: str = "memory://", chat: str = "5/minute", write: str = "10/minute",
        *, strategy: str = "moving-window", key_prefix: str = "jupyter_assistant_limits",
    ) -> None:
        self.limits: dict[str, list[RateLimitItem]] = {"chat": _parse("chat", chat),
                                                       "write": _parse("write", write)}
        if strategy not in _STRATEGIES:
            raise ConfigError(f"unknown rate limit strategy {strategy!r}; "
                              f"expected one of {sorted(_STRATEGIES)}")
        self.storage_url = storage_url
        self._pool: Any = None
        self._storage = self._make_storage(storage_url, key_prefix)
        self._limiter = _STRATEGIES[strategy](self._storage)

    def __repr__(self) -> str:
        specs = {k: "; ".join(str(i) for i in v) for k, v in self.limits.items()}
        return (f"RateLimiter({self.storage_url!r}, chat={specs['chat']!r}, "
                f"write={specs['write']!r})")

    def _make_storage(self, url: str, key_prefix: str) -> Storage:
        scheme = url.split("://", 1)[0].lower() if "://" in url else ""
        if scheme in ("memory", "async+memory"):
            return MemoryStorage()
        if scheme in ("redis", "rediss", "unix", "async+redis", "async+rediss"):
            import redis.asyncio as aioredis

            plain = url.removeprefix("async+")
            # Our own pool, so that aclose() can release its connections.
            self._pool = aioredis.ConnectionPool.from_url(plain)
            return RedisStorage("async+" + plain if scheme != "unix" else "async+redis+" + plain,
                                implementation="redispy", key_prefix=key_prefix,
                                connection_pool=self._pool)
        raise ConfigError(f"unsupported rate limit storage {url!r}; "
                          "use 'memory://' or 'redis://host:port/db'")

    def _items(self, kind: str) -> list[RateLimitItem]:
        try:
            return self.limits[kind]
        except KeyError:
            raise ConfigError(f"unknown rate limit kind {kind!r}; expected one of "
                              f"{list(RATE_LIMIT_KINDS)}") from None

    async def hit(self, kind: str, user_id: str) -> None:
        """Count one ``kind`` request of ``user_id``; raises
        :class:`~jupyter_assistant.exceptions.RateLimitError` with ``retry_after`` (seconds
        until a request would be accepted again) and ``limit`` (e.g. ``"5 per 1 minute"``)
        when the limit is exhausted. A request refused by a limit is not counted by it (with
        several limits, those checked before the refusing one have counted it)."""
        for item in self._items(kind):
            if not await self._limiter.hit(item, kind, user_id):
                stats = await self._limiter.get_window_stats(item, kind, user_id)
                retry_after = max(0.0, stats.reset_time - time.time())
                raise RateLimitError(
                    f"rate limit for {kind} requests exceeded ({item}); "
                    f"retry in {retry_after:.0f} s", retry_after=retry_after, limit=str(item))

    async def remaining(self, kind: str, user_id: str) -> int:
        """How many more ``kind`` requests ``user_id`` may make now (the tightest limit)."""
        stats = [await self._limiter.get_window_stats(item, kind, user_id)
                 for item in self._items(kind)]
        return min(s.remaining for s in stats)

    async def reset(self, kind: str, user_id: str) -> None:
        """Forget ``user_id``'s ``kind`` requests (e.g. in tests or by an admin)."""
        for item in self._items(kind):
            await self._limiter.clear(item, kind, user_id)

    async def aclose(self) -> None:
        """Release the Redis connections (nothing to do for memory storage). Idempotent."""
        pool, self._pool = self._pool, None
        if pool is not None:
            await pool.aclose()
