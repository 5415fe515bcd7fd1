"""Worker threads for sync tools, counted until they really return.

``anyio.to_thread.run_sync(..., abandon_on_cancel=True)`` gives its limiter token back as soon
as the caller is cancelled, although the abandoned thread keeps running: a sync tool that
hangs forever holds an OS thread that no limiter counts, and every timed-out call of it adds
one more. :func:`run_sync_tool` runs the function on a :class:`anyio.CapacityLimiter` of the
sync tools' own (never anyio's default limiter, which the store and the SDK clients use) and
keeps the token until the thread returns, so the limiter's ``total_tokens`` bounds the threads
tools occupy, hung ones included. A call that cannot get a token waits; under the
orchestrator's per-tool timeout that wait ends as an ``is_error`` ``timeout`` result.
"""

from __future__ import annotations

import math
import threading
from collections.abc import Callable
from typing import Any, TypeVar

import anyio
import anyio.lowlevel
import anyio.to_thread

__all__ = ["run_sync_tool"]

T = TypeVar("T")

_QUEUED, _RUNNING, _DONE, _ABANDONED, _ABANDONED_RUNNING = range(5)


async def run_sync_tool(fn: Callable[[], T], limiter: anyio.CapacityLimiter) -> T:
    """``fn()`` in a worker thread holding one token of ``limiter`` until ``fn`` returns.

    Waits for a token first (a cancellable wait). When the caller is cancelled while ``fn``
    runs, the thread is abandoned (the caller returns at once) and the token is given back
    by the thread when ``fn`` finally returns. Raises whatever ``fn`` raises.
    """
    borrower = object()
    await limiter.acquire_on_behalf_of(borrower)
    token = anyio.lowlevel.current_token()
    lock = threading.Lock()
    state = [_QUEUED]

    def release() -> None:
        limiter.release_on_behalf_of(borrower)

    def release_from_thread() -> None:
        try:
            token.backend_class.run_sync_soon(release, (), token.native_token)
        except Exception:  # the event loop is gone: so is the limiter
            pass

    def work() -> Any:
        with lock:
            if state[0] == _ABANDONED:
                return None
            state[0] = _RUNNING
        try:
            return fn()
        finally:
            with lock:
                abandoned, state[0] = state[0] == _ABANDONED_RUNNING, _DONE
            if abandoned:
                release_from_thread()

    try:
        # The thread pool's own limiter never blocks: ``limiter`` above is the bound.
        result: T = await anyio.to_thread.run_sync(
            work, abandon_on_cancel=True, limiter=anyio.CapacityLimiter(math.inf))
    except BaseException:
        with lock:
            running = state[0] == _RUNNING
            state[0] = _ABANDONED_RUNNING if running else _ABANDONED
        if not running:  # not started (it never will) or already done
            release()
        raise
    release()
    return result
