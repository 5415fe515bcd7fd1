"""A local HTTP server that speaks the Anthropic Messages API, for tests and benchmarks.

It implements ``POST /v1/messages`` as documented at
https://platform.claude.com/docs/en/build-with-claude/streaming and
https://platform.claude.com/docs/en/api/errors: with ``"stream": true`` a ``text/event-stream``
of ``message_start``, ``ping``, ``content_block_start`` / ``content_block_delta``
(``text_delta``, ``input_json_delta``, ``thinking_delta``, ``signature_delta``) /
``content_block_stop``, ``message_delta`` (``stop_reason``, cumulative ``usage``) and
``message_stop`` (HTTP/1.1 chunked); without it, one JSON ``Message``. Errors are
``{"type": "error", "error": {"type", "message"}, "request_id"}`` with the matching status
(400 ``invalid_request_error``, 401 ``authentication_error``, 404 ``not_found_error``, 429
``rate_limit_error``, 500 ``api_error``, 529 ``overloaded_error``), a ``request-id`` header,
and ``retry-after`` / ``retry-after-ms`` on 429/529 when the reply sets them. Requests are
checked like the real API does: credentials (``x-api-key`` or ``Authorization: Bearer``),
``anthropic-version``, ``model``, ``max_tokens``, non-empty text blocks, the first message
from the user, and every ``tool_use`` answered by a ``tool_result`` in the next message
(results first). Every request is recorded (:attr:`AnthropicServer.requests`) with secret
headers redacted; the key itself is never logged. A client that hangs up mid-response (a
cancelled turn) ends that response quietly (``DEBUG`` on the ``jupyter_assistant.testing``
logger); any other error while handling a request is logged at ``ERROR`` with its traceback.

Use it in-process::

    with AnthropicServer() as server:          # 127.0.0.1, random port
        server.script(Reply.tool_use("probe", {"seconds": 1}), Reply.text("done"))
        os.environ["ANTHROPIC_BASE_URL"] = server.base_url

or as a subprocess: ``python -m jupyter_assistant.testing.anthropic_server --port 8765``.

When the script queue is empty, the reply is chosen by a directive in the last user text
(``[[name key=value ...]]``), else the server echoes the user (``You said: ...``) or, after
tool results, summarises them (``Tool results received. ...``). Directives:

- ``[[slow_stream chunks=200 delay=0.05]]`` text in ``chunks`` deltas, ``delay`` s apart.
- ``[[tokens n=2000 delay=0]]`` an answer of ``n`` one-token deltas (usage says ``n``).
- ``[[tool_then_text tool=NAME input=JSON n=1]]`` ``n`` tool_use blocks (default tool: the
  first of the request's ``tools``), then, once the results come back, text about them.
  ``[[parallel_tools n=3 tool=NAME]]`` is the same with several calls.
- ``[[tools_forever tool=NAME input=JSON]]`` always answers with a tool_use.
- ``[[malformed_tool_json tool=NAME]]`` a tool_use whose input JSON does not parse, then text.
- ``[[error status=529 type=overloaded_error retry_after_ms=100 times=1]]`` an HTTP error
  (``times``: only for the first N requests carrying this directive; default every time).
- ``[[stall after=4 seconds=30 ping=1]]`` stop sending after 4 SSE events (optionally
  pinging every ``ping`` s). ``[[drop after=0]]`` close the connection (0: before any
  response). ``[[truncate after=4]]`` end the stream without ``message_stop``.
  ``[[midstream_error after=4 type=overloaded_error]]`` an ``event: error`` mid-stream.
  These accept ``times=N`` as well.
"""

from __future__ import annotations

import argparse
import json
import signal
import socket
import threading
import time
from collections import Counter, deque
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler
from typing import Any
from urllib.parse import urlsplit

from ._http import PeerHTTPServer, log
from ._protocol import sse, stream_events, usage_of, validate_body
from ._replies import ERROR_STATUS, Reply, directive_reply, find_directive, new_id

__all__ = ["AnthropicServer", "RecordedRequest", "Reply", "main", "validate_body"]

Responder = Callable[[dict[str, Any]], Reply]
_SECRET_HEADERS = frozenset({"x-api-key", "authorization"})


@dataclass
class RecordedRequest:
    """One request the server received: ``headers`` with ``x-api-key`` / ``authorization``
    replaced by ``"<redacted>"``, the parsed JSON ``body`` (``None`` if unparsable),
    ``api_key_sent`` (a credential header was present), ``received_at`` (Unix s), and the
    ``status`` answered."""

    method: str
    path: str
    headers: dict[str, str]
    body: dict[str, Any] | None
    api_key_sent: bool
    received_at: float = field(default_factory=time.time)
    status: int = 0


class AnthropicServer:
    """The local Anthropic Messages API peer (see the module docstring).

    ``api_key``: when set, requests with another key get 401 ``authentication_error``.
    Start with ``with AnthropicServer() as s`` or :meth:`start`; stop with :meth:`close`.
    """

    def __init__(self, host: str = "127.0.0.1", port: int = 0, *, api_key: str | None = None,
                 verbose: bool = False) -> None:
        self.host = host
        self._port = port
        self.api_key = api_key
        self.verbose = verbose
        self.access_log: list[str] = []
        self._queue: deque[Reply | Responder] = deque()
        self._default: Responder | None = None
        self._requests: list[RecordedRequest] = []
        self._directive_counts: Counter[str] = Counter()
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._httpd: PeerHTTPServer | None = None
        self._thread: threading.Thread | None = None

    # -- lifecycle ------------------------------------------------------------------------
    def start(self) -> AnthropicServer:
        """Bind and serve in a background thread; returns ``self``."""
        httpd = PeerHTTPServer((self.host, self._port), _Handler)
        httpd.peer = self  # type: ignore[attr-defined]
        self._httpd = httpd
        self._port = httpd.server_address[1]
        self._thread = threading.Thread(target=httpd.serve_forever, kwargs={"poll_interval": 0.05},
                                        name=f"anthropic-server-{self._port}", daemon=True)
        self._thread.start()
        return self

    def close(self) -> None:
        """Stop serving; wakes stalled responses so their threads end."""
        self._stop.set()
        if self._httpd is not None:
            self._httpd.shutdown()
            self._httpd.server_close()
            self._httpd = None

    def __enter__(self) -> AnthropicServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.close()

    @property
    def port(self) -> int:
        return self._port

    @property
    def base_url(self) -> str:
        """``http://127.0.0.1:<port>`` (what ``ANTHROPIC_BASE_URL`` should be)."""
        return f"http://{self.host}:{self._port}"

    # -- scripting ------------------------------------------------------------------------
    def script(self, *replies: Reply | Responder) -> None:
        """Queue replies (or callables ``body -> Reply``), used one per request in order."""
        with self._lock:
            self._queue.extend(replies)

    def set_default(self, responder: Responder | None) -> None:
        """Reply used when the queue is empty (``None``: directives / echo)."""
        self._default = responder

    @property
    def pending(self) -> int:
        """Number of queued replies not used yet."""
        with self._lock:
            return len(self._queue)

    @property
    def requests(self) -> list[RecordedRequest]:
        """Every request received so far (a copy)."""
        with self._lock:
            return list(self._requests)

    def message_requests(self) -> list[dict[str, Any]]:
        """Bodies of the ``POST /v1/messages`` requests received, in order."""
        return [r.body for r in self.requests if r.path == "/v1/messages" and r.body]

    def clear(self) -> None:
        """Forget recorded requests, queued replies and directive counts."""
        with self._lock:
            self._requests.clear()
            self._queue.clear()
            self._directive_counts.clear()

    def _record(self, rec: RecordedRequest) -> None:
        with self._lock:
            self._requests.append(rec)

    def _next_reply(self, body: dict[str, Any]) -> Reply:
        with self._lock:
            item = self._queue.popleft() if self._queue else None
        if item is not None:
            return item if isinstance(item, Reply) else item(body)
        if self._default is not None:
            return self._default(body)
        found = find_directive(body)
        with self._lock:
            count = self._directive_counts[found[2]] if found else 0
            if found:
                self._directive_counts[found[2]] += 1
        return directive_reply(body, count)

    def _sleep(self, seconds: float) -> bool:
        """Sleep unless the server stops; True when it stopped."""
        return self._stop.wait(seconds) if seconds > 0 else self._stop.is_set()


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "anthropic-local/1.0"
    disable_nagle_algorithm = True  # each SSE event leaves at once, as from a real server
    server: Any

    def log_message(self, format: str, *args: Any) -> None:  # never logs headers
        line = f"{self.address_string()} {format % args}"
        self.server.peer.access_log.append(line)
        if self.server.peer.verbose:
            super().log_message(format, *args)

    @property
    def peer(self) -> AnthropicServer:
        return self.server.peer

    def do_GET(self) -> None:
        self._error_json(404, "not_found_error", f"Not found: {self.path}", new_id("req"))

    def do_POST(self) -> None:
        raw = self.rfile.read(int(self.headers.get("content-length") or 0))
        path = urlsplit(self.path).path
        headers = {k.lower(): ("<redacted>" if k.lower() in _SECRET_HEADERS else v)
                   for k, v in self.headers.items()}
        key = self.headers.get("x-api-key") or (self.headers.get("authorization") or "") \
            .removeprefix("Bearer ").strip()
        try:
            body = json.loads(raw) if raw else None
        except ValueError:
            body = None
        rec = RecordedRequest("POST", path, headers, body, api_key_sent=bool(key))
        self.peer._record(rec)
        rid = new_id("req")
        problem = self._check(path, key, body, raw)
        if problem is not None:
            rec.status = ERROR_STATUS.get(problem[0], 400)
            self._error_json(rec.status, problem[0], problem[1], rid)
            return
        assert body is not None
        reply = self.peer._next_reply(body)
        rec.status = reply.status
        if self.peer._sleep(reply.first_delay):
            return
        if reply.drop_after == 0:
            self._drop()
        elif reply.status != 200:
            self._error_reply(reply, rid)
        elif body.get("stream"):
            self._stream(body, reply, rid)
        else:
            self._message_json(body, reply, rid)

    def _check(self, path: str, key: str, body: Any, raw: bytes) -> tuple[str, str] | None:
        if path != "/v1/messages":
            return "not_found_error", f"Not found: {path}"
        if not key:
            return "authentication_error", "x-api-key header is required"
        if self.peer.api_key is not None and key != self.peer.api_key:
            return "authentication_error", "invalid x-api-key"
        if not self.headers.get("anthropic-version"):
            return "invalid_request_error", "anthropic-version: header is required"
        if body is None:
            return "invalid_request_error", f"request body is not valid JSON: {raw[:80]!r}"
        problem = validate_body(body)
        if problem:
            return "invalid_request_error", problem
        if not body["model"].startswith("claude-"):
            return "not_found_error", f"model: {body['model']}"
        return None

    def _send_json(self, status: int, payload: dict[str, Any], rid: str,
                   extra: dict[str, str] | None = None) -> None:
        data = json.dumps(payload).encode()
        self.send_response(status)
        self.send_header("content-type", "application/json")
        self.send_header("request-id", rid)
        for name, value in (extra or {}).items():
            self.send_header(name, value)
        self.send_header("content-length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def _error_json(self, status: int, etype: str, message: str, rid: str) -> None:
        self._send_json(status, Reply.error(status, etype, message).error_body(rid), rid)

    def _error_reply(self, reply: Reply, rid: str) -> None:
        extra = {}
        if reply.retry_after is not None:
            extra["retry-after"] = f"{reply.retry_after:g}"
        if reply.retry_after_ms is not None:
            extra["retry-after-ms"] = f"{reply.retry_after_ms:g}"
        self._send_json(reply.status, reply.error_body(rid), rid, extra)

    def _message_json(self, body: dict[str, Any], reply: Reply, rid: str) -> None:
        usage, output = usage_of(body, reply)
        content = [{k: v for k, v in b.items() if k != "raw_json"} for b in reply.blocks]
        self._send_json(200, {"id": new_id("msg"), "type": "message", "role": "assistant",
                              "model": body["model"], "content": content,
                              "stop_reason": reply.final_stop_reason, "stop_sequence": None,
                              "usage": {**usage, "output_tokens": output}}, rid)

    def _drop(self) -> None:
        self.close_connection = True
        try:
            self.connection.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass

    def _chunk(self, data: bytes) -> None:
        self.wfile.write(b"%x\r\n%s\r\n" % (len(data), data))

    def _stream(self, body: dict[str, Any], reply: Reply, rid: str) -> None:
        self.send_response(200)
        self.send_header("content-type", "text/event-stream; charset=utf-8")
        self.send_header("cache-control", "no-cache")
        self.send_header("request-id", rid)
        self.send_header("transfer-encoding", "chunked")
        self.end_headers()
        sent = 0
        try:
            for event, data in stream_events(body, reply):
                if reply.drop_after is not None and sent >= reply.drop_after:
                    self._drop()
                    return
                if reply.truncate_after is not None and sent >= reply.truncate_after:
                    break
                if reply.error_after is not None and sent >= reply.error_after:
                    self._chunk(sse("error", Reply.error(
                        529, reply.stream_error_type).error_body(rid)))
                    break
                if reply.stall_after is not None and sent == reply.stall_after:
                    if self._stall(reply):
                        return
                self._chunk(sse(event, data))
                sent += 1
                if event == "content_block_delta" and self.peer._sleep(reply.delay):
                    return
            self.wfile.write(b"0\r\n\r\n")
        except ConnectionError as exc:  # the client hung up: a normal end (a cancel)
            log.debug("client %s hung up mid-stream: %s", self.address_string(), exc)
            self.close_connection = True

    def _stall(self, reply: Reply) -> bool:
        end = time.monotonic() + reply.stall_seconds
        while (left := end - time.monotonic()) > 0:
            if self.peer._sleep(min(left, reply.stall_ping or left)):
                return True
            if reply.stall_ping and end - time.monotonic() > 0:
                self._chunk(sse("ping", {"type": "ping"}))
        return False


def main(argv: list[str] | None = None) -> int:
    """``python -m jupyter_assistant.testing.anthropic_server [--host H] [--port N]
    [--api-key K] [--verbose]``: serve until SIGINT/SIGTERM. Prints ``listening on URL``."""
    parser = argparse.ArgumentParser(description="Local Anthropic Messages API test server.")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--api-key", default=None, help="require this x-api-key")
    parser.add_argument("--verbose", action="store_true", help="log requests to stderr")
    args = parser.parse_args(argv)
    stop = threading.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: stop.set())
    with AnthropicServer(args.host, args.port, api_key=args.api_key,
                         verbose=args.verbose) as server:
        print(f"listening on {server.base_url}", flush=True)
        stop.wait()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
