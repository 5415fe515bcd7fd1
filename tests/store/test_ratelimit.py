"""Per-user rate limits (``limits`` library) in memory and in a real Redis."""

from __future__ import annotations

import uuid

import anyio
import pytest

from jupyter_assistant.exceptions import ConfigError, RateLimitError
from jupyter_assistant.store import RateLimiter

pytestmark = pytest.mark.anyio


async def test_sixth_chat_in_a_minute_is_refused() -> None:
    limiter = RateLimiter()  # memory://, chat 5/minute, write 10/minute
    for _ in range(5):
        await limiter.hit("chat", "alice")
    with pytest.raises(RateLimitError) as err:
        await limiter.hit("chat", "alice")
    assert err.value.limit == "5 per 1 minute"
    assert 50 < err.value.retry_after <= 60
    assert err.value.code == "rate_limited"
    assert await limiter.remaining("chat", "alice") == 0
    # other users and the other kind are independent
    for _ in range(5):
        await limiter.hit("chat", "bob")
    for _ in range(10):
        await limiter.hit("write", "alice")
    with pytest.raises(RateLimitError):
        await limiter.hit("write", "alice")
    await limiter.reset("chat", "alice")
    await limiter.hit("chat", "alice")
    await limiter.aclose()


async def test_window_moves_on() -> None:
    limiter = RateLimiter(chat="2/second")
    await limiter.hit("chat", "alice")
    await limiter.hit("chat", "alice")
    with pytest.raises(RateLimitError) as err:
        await limiter.hit("chat", "alice")
    assert 0 < err.value.retry_after <= 1.0
    await anyio.sleep(err.value.retry_after + 0.1)
    await limiter.hit("chat", "alice")


@pytest.mark.parametrize("kwargs", [
    {"chat": "five per minute"},
    {"chat": "5/fortnight"},
    {"write": ""},
    {"strategy": "leaky-bucket"},
    {"storage_url": "mongodb://localhost"},
])
async def test_invalid_configuration(kwargs: dict[str, str]) -> None:
    with pytest.raises(ConfigError):
        RateLimiter(**kwargs)


async def test_unknown_kind() -> None:
    with pytest.raises(ConfigError):
        await RateLimiter().hit("delete-everything", "alice")


@pytest.mark.parametrize("strategy", ["moving-window", "fixed-window"])
async def test_redis_storage_is_shared(redis_url: str, strategy: str) -> None:
    prefix = f"test-limits-{uuid.uuid4().hex}"
    a = RateLimiter(redis_url, chat="5/minute", strategy=strategy, key_prefix=prefix)
    b = RateLimiter(redis_url, chat="5/minute", strategy=strategy, key_prefix=prefix)
    try:
        for _ in range(3):
            await a.hit("chat", "alice")
        for _ in range(2):
            await b.hit("chat", "alice")
        for limiter in (a, b):
            with pytest.raises(RateLimitError) as err:
                await limiter.hit("chat", "alice")
            assert 0 < err.value.retry_after <= 60
        await b.hit("chat", "bob")
        assert await a.remaining("chat", "bob") == 4
    finally:
        await a.aclose()
        await b.aclose()
