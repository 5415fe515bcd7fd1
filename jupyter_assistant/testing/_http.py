"""The HTTP server under the local test peers: a client hanging up is not an error.

A client that stops reading a response (a cancelled turn, a closed SDK client, a test that
times out) closes its socket; when unread data is left in its receive buffer the kernel
answers with a TCP reset, and the peer's next read or write raises ``ConnectionResetError``
or ``BrokenPipeError``. :class:`socketserver.BaseServer.handle_error` would print that as a
traceback on stderr. :class:`PeerHTTPServer` ends such a connection quietly (logged at
``DEBUG`` on the ``jupyter_assistant.testing`` logger) and logs every other exception raised
while handling a request at ``ERROR`` with its traceback (Python's last-resort handler
prints it on stderr when logging is not configured).
"""

from __future__ import annotations

import logging
import sys
from http.server import ThreadingHTTPServer
from typing import Any

__all__ = ["PeerHTTPServer", "is_hang_up", "log"]

log = logging.getLogger("jupyter_assistant.testing")


def is_hang_up(exc: BaseException | None) -> bool:
    """True when ``exc`` says the other end closed the connection (``BrokenPipeError``,
    ``ConnectionResetError``, ``ConnectionAbortedError``: the subclasses of
    ``ConnectionError``)."""
    return isinstance(exc, ConnectionError)


class PeerHTTPServer(ThreadingHTTPServer):
    """A :class:`~http.server.ThreadingHTTPServer` (one daemon thread per connection) whose
    errors go to logging: client hang-ups at ``DEBUG``, anything else at ``ERROR``."""

    daemon_threads = True

    def handle_error(self, request: Any, client_address: Any) -> None:
        exc = sys.exc_info()[1]
        if is_hang_up(exc):
            log.debug("client %s hung up: %s", _address(client_address), exc)
        else:
            log.error("error while handling a request from %s", _address(client_address),
                      exc_info=True)


def _address(client_address: Any) -> str:
    if isinstance(client_address, tuple) and len(client_address) >= 2:
        return f"{client_address[0]}:{client_address[1]}"
    return str(client_address)
