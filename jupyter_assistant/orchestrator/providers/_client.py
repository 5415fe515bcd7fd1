"""The life cycle of an SDK client shared by the providers: one client per event loop.

An SDK client (``anthropic.AsyncAnthropic``, ``openai.AsyncOpenAI``) owns an HTTP connection
pool, and a pool belongs to the event loop it was opened in; a provider may be created
outside any loop and used from several (a test per loop, ``anyio.run`` per CLI call).
:class:`LoopBoundClient` makes the client on first use in a loop, in a worker thread
(building one loads certificates, which would stall the loop, a Jupyter server's say), and
makes a new one when used from another loop. No SDK is imported here: the provider's
``factory`` does that.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import anyio
import anyio.lowlevel
import anyio.to_thread

__all__ = ["LoopBoundClient"]


class LoopBoundClient:
    """``await get()`` -> the client of the current event loop, made by ``factory()`` (in a
    worker thread) on first use in that loop; ``await aclose()`` closes it (its
    ``close()`` coroutine) when called from the loop that made it, and forgets it anyway."""

    def __init__(self, factory: Callable[[], Any]) -> None:
        self._factory = factory
        self._client: Any = None
        self._token: object = None
        self._lock: anyio.Lock | None = None
        self._lock_token: object = None

    async def get(self) -> Any:
        """The client of the current event loop (made now if needed); raises what
        ``factory`` raises."""
        token = anyio.lowlevel.current_token()
        if self._client is not None and self._token == token:
            return self._client
        if self._lock is None or self._lock_token != token:  # a lock belongs to one loop
            self._lock, self._lock_token = anyio.Lock(), token
        async with self._lock:
            if self._client is None or self._token != token:
                self._client = await anyio.to_thread.run_sync(self._factory)
                self._token = token
        return self._client

    async def aclose(self) -> None:
        """Close the client (shielded from cancellation) if it belongs to this loop."""
        client, self._client = self._client, None
        if client is not None and self._token == anyio.lowlevel.current_token():
            with anyio.CancelScope(shield=True):
                await client.close()
