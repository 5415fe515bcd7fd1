"""A local OpenAI-compatible chat-completions server for tests: a real HTTP peer on 127.0.0.1.

It speaks ``POST /v1/chat/completions`` the way OpenAI, vLLM, Ollama and llama.cpp do: with
``"stream": true`` a ``text/event-stream`` of ``data: {chat.completion.chunk}`` lines (a role
chunk, content deltas, ``tool_calls`` deltas whose ``function.arguments`` arrive in fragments,
a chunk with ``finish_reason``, a usage chunk with empty ``choices`` when
``stream_options.include_usage`` is set) and ``data: [DONE]``; without it, one
``chat.completion`` object. Errors are ``{"error": {"message", "type", "code"}}`` bodies with
the HTTP status (and ``retry-after`` / ``retry-after-ms`` headers); a mid-stream error is a
``data: {"error": {...}}`` line, as OpenAI sends it. The body is sent chunked
(``Transfer-Encoding: chunked``), so a dropped connection and a cleanly truncated stream are
different things to the client.

What the server answers is, in order: the next :class:`ChatReply` queued with
:meth:`OpenAIServer.enqueue`; else a directive in the last user message; else, when the
request ends with ``tool`` messages, a text answer that quotes them; else an echo.

Directives (``[[name key=value ...]]`` in the last user text):

==========================================  ==================================================
``[[tool_then_text tool=NAME input=JSON]]``  call the tool (default: the first tool offered),
                                             then answer from its result
``[[parallel_tools n=3 tool=NAME]]``         ``n`` calls of the tool in one response
``[[malformed_tool_json tool=NAME]]``        a tool call whose arguments are not JSON
``[[tools_forever tool=NAME]]``              call the tool on every request
``[[slow_stream chunks=200 delay=0.05]]``    a text answer in ``chunks`` deltas
``[[error status=429 retry_after=1]]``       an HTTP error (``retry_after_ms`` too; ``times=N``
                                             fails only the first N requests)
``[[stall after=3 seconds=30]]``             send ``after`` chunks, then nothing
``[[drop after=3]]``                         close the TCP connection after ``after`` chunks
``[[truncate after=3]]``                     end the body cleanly after ``after`` chunks: no
                                             ``finish_reason``, no ``[DONE]``
``[[midstream_error after=3 type=server_error]]``  an ``{"error": ...}`` data line mid-stream
==========================================  ==================================================

Run it alone with ``python -m jupyter_assistant.testing.openai_server --port 8001``.
"""

from __future__ import annotations

import argparse
import itertools
import json
import re
import shlex
import socket
import threading
import time
from collections import Counter
from dataclasses import dataclass, field, replace
from http.server import BaseHTTPRequestHandler
from typing import Any

from ._http import PeerHTTPServer, log

__all__ = ["ChatReply", "OpenAIServer"]

_ids = itertools.count(1)
_DIRECTIVE = re.compile(r"\[\[(\w+)([^\]]*)\]\]")
_ERROR_TYPES = {400: "invalid_request_error", 401: "invalid_api_key", 404: "model_not_found",
                429: "rate_limit_exceeded", 500: "server_error", 503: "service_unavailable"}


def _new_id(prefix: str) -> str:
    return f"{prefix}-{next(_ids):08d}"


@dataclass
class ChatReply:
    """One scripted answer.

    ``text`` streams in ``chunks`` deltas (default one per word) with ``delay`` s between
    chunks; ``tool_calls`` is a list of ``(name, arguments)`` where ``arguments`` is a dict or
    raw (possibly malformed) JSON text, streamed in fragments. ``finish_reason`` defaults to
    ``tool_calls`` with tool calls, else ``stop``. ``usage`` overrides ``prompt_tokens`` /
    ``completion_tokens``.

    Faults: ``status`` (non-200: an error body, ``retry_after`` s / ``retry_after_ms``
    headers); ``stall_after`` chunks then silence for ``stall_seconds``; ``drop_after``
    chunks then a TCP close; ``truncate_after`` chunks then a clean end without
    ``finish_reason``; ``error_after`` chunks then a ``data: {"error": ...}`` line of type
    ``stream_error_type``.
    """

    text: str = ""
    tool_calls: list[tuple[str, dict[str, Any] | str]] = field(default_factory=list)
    finish_reason: str | None = None
    usage: dict[str, int] = field(default_factory=dict)
    chunks: int | None = None
    delay: float = 0.0
    status: int = 200
    message: str | None = None
    retry_after: float | None = None
    retry_after_ms: float | None = None
    stall_after: int | None = None
    stall_seconds: float = 30.0
    drop_after: int | None = None
    truncate_after: int | None = None
    error_after: int | None = None
    stream_error_type: str = "server_error"

    @classmethod
    def error(cls, status: int, message: str | None = None, *,
              retry_after: float | None = None, retry_after_ms: float | None = None) -> ChatReply:
        """An HTTP error response."""
        return cls(status=status, message=message, retry_after=retry_after,
                   retry_after_ms=retry_after_ms)

    def with_options(self, **options: Any) -> ChatReply:
        """A copy with ``options`` changed."""
        return replace(self, **options)

    def chunks_for(self, model: str, include_usage: bool, prompt_tokens: int
                   ) -> list[dict[str, Any]]:
        """The ``chat.completion.chunk`` objects of this reply, in order."""
        cid, created = _new_id("chatcmpl"), int(time.time())

        def chunk(delta: dict[str, Any], finish: str | None = None) -> dict[str, Any]:
            return {"id": cid, "object": "chat.completion.chunk", "created": created,
                    "model": model, "system_fingerprint": "fp_local",
                    "choices": [{"index": 0, "delta": delta, "logprobs": None,
                                 "finish_reason": finish}]}

        out = [chunk({"role": "assistant", "content": ""})]
        words = re.findall(r"\S+\s*|\s+", self.text)
        n = max(1, min(self.chunks or len(words) or 1, len(self.text) or 1))
        step = max(1, -(-len(words) // n)) if words else 1
        for i in range(0, len(words), step):
            out.append(chunk({"content": "".join(words[i:i + step])}))
        for index, (name, args) in enumerate(self.tool_calls):
            raw = args if isinstance(args, str) else json.dumps(args)
            out.append(chunk({"tool_calls": [{"index": index, "id": _new_id("call"),
                                              "type": "function",
                                              "function": {"name": name, "arguments": ""}}]}))
            for j in range(0, len(raw), 8):
                out.append(chunk({"tool_calls": [{"index": index,
                                                  "function": {"arguments": raw[j:j + 8]}}]}))
        finish = self.finish_reason or ("tool_calls" if self.tool_calls else "stop")
        out.append(chunk({}, finish))
        if include_usage:
            completion = self.usage.get("completion_tokens", max(1, len(words)))
            prompt = self.usage.get("prompt_tokens", prompt_tokens)
            out.append({"id": cid, "object": "chat.completion.chunk", "created": created,
                        "model": model, "choices": [],
                        "usage": {"prompt_tokens": prompt, "completion_tokens": completion,
                                  "total_tokens": prompt + completion}})
        return out


def _last_user_text(messages: list[dict[str, Any]]) -> str:
    for m in reversed(messages):
        if m.get("role") == "user":
            c = m.get("content")
            if isinstance(c, list):
                return " ".join(p.get("text", "") for p in c if isinstance(p, dict))
            return str(c or "")
    return ""


def _trailing_tool_messages(messages: list[dict[str, Any]]) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    for m in reversed(messages):
        if m.get("role") != "tool":
            break
        out.insert(0, m)
    return out


def _answer_from_tools(results: list[dict[str, Any]]) -> ChatReply:
    parts = [f"{m.get('tool_call_id')}: {str(m.get('content'))[:200]}" for m in results]
    return ChatReply(text="Tool results received. " + " | ".join(parts))


def directive_reply(body: dict[str, Any], seen: int) -> ChatReply:
    """The reply for a request without a queued reply (see the module docstring); ``seen``
    counts earlier requests with the same directive (for ``times=N``)."""
    messages = body.get("messages") or []
    results = _trailing_tool_messages(messages)
    user = _last_user_text(messages)
    m = _DIRECTIVE.search(user)
    default = _answer_from_tools(results) if results else ChatReply(text=f"You said: {user[:500]}")
    if not m:
        return default
    name = m.group(1)
    p = dict(tok.partition("=")[::2] for tok in shlex.split(m.group(2)))
    if "times" in p and seen >= int(p["times"]):
        return default
    tools = [t.get("function", {}).get("name") for t in body.get("tools") or []]
    tool = p.get("tool") or (tools[0] if tools else "probe")
    args: dict[str, Any] = json.loads(p["input"]) if p.get("input") else {}
    if name in ("tool_then_text", "parallel_tools", "malformed_tool_json") and results:
        return _answer_from_tools(results)
    if name in ("tool_then_text", "tools_forever"):
        return ChatReply(tool_calls=[(tool, args)])
    if name == "parallel_tools":
        return ChatReply(tool_calls=[(tool, args)] * int(p.get("n", 3)))
    if name == "malformed_tool_json":
        return ChatReply(tool_calls=[(tool, '{"seconds": 1,,')])
    if name == "slow_stream":
        n = int(p.get("chunks", 50))
        return ChatReply(text=" ".join(f"w{i}" for i in range(n)), chunks=n,
                         delay=float(p.get("delay", 0.05)))
    if name == "error":
        return ChatReply.error(int(p.get("status", 503)),
                               retry_after=float(p["retry_after"]) if "retry_after" in p else None,
                               retry_after_ms=(float(p["retry_after_ms"])
                                               if "retry_after_ms" in p else None))
    base = default.with_options(chunks=int(p.get("chunks", 20)), delay=float(p.get("delay", 0.01)))
    after = int(p.get("after", 3))
    if name == "stall":
        return base.with_options(stall_after=after, stall_seconds=float(p.get("seconds", 30)))
    if name == "drop":
        return base.with_options(drop_after=after)
    if name == "truncate":
        return base.with_options(truncate_after=after)
    if name == "midstream_error":
        return base.with_options(error_after=after,
                                 stream_error_type=p.get("type", "server_error"))
    return default


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: _Server

    def log_message(self, *args: Any) -> None:
        pass

    def do_POST(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        try:
            body = json.loads(self.rfile.read(length) or b"{}")
        except ValueError:
            return self._json(400, {"error": {"message": "invalid JSON body",
                                              "type": "invalid_request_error", "code": None}})
        if self.path.rstrip("/") not in ("/v1/chat/completions", "/chat/completions"):
            return self._json(404, {"error": {"message": f"no route {self.path}",
                                              "type": "invalid_request_error", "code": None}})
        reply = self.server.owner._next_reply(body, dict(self.headers))
        if reply.status != 200:
            return self._error(reply)
        model = str(body.get("model") or "local-model")
        prompt_tokens = max(1, len(json.dumps(body.get("messages") or [])) // 4)
        include_usage = bool((body.get("stream_options") or {}).get("include_usage"))
        chunks = reply.chunks_for(model, include_usage, prompt_tokens)
        if not body.get("stream"):
            return self._json(200, _completion(chunks, model))
        self._stream(reply, chunks)
        return None

    def _json(self, status: int, payload: dict[str, Any],
              headers: dict[str, str] | None = None) -> None:
        data = json.dumps(payload).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.send_header("x-request-id", _new_id("req"))
        for k, v in (headers or {}).items():
            self.send_header(k, v)
        self.end_headers()
        self.wfile.write(data)

    def _error(self, reply: ChatReply) -> None:
        headers = {}
        if reply.retry_after is not None:
            headers["retry-after"] = f"{reply.retry_after:g}"
        if reply.retry_after_ms is not None:
            headers["retry-after-ms"] = f"{reply.retry_after_ms:g}"
        etype = _ERROR_TYPES.get(reply.status, "server_error")
        self._json(reply.status, {"error": {"message": reply.message or f"scripted {etype}",
                                            "type": etype, "param": None, "code": etype}},
                   headers)

    def _write_chunk(self, data: bytes) -> None:
        self.wfile.write(f"{len(data):x}\r\n".encode() + data + b"\r\n")
        self.wfile.flush()

    def _stream(self, reply: ChatReply, chunks: list[dict[str, Any]]) -> None:
        self.send_response(200)
        self.send_header("Content-Type", "text/event-stream; charset=utf-8")
        self.send_header("Cache-Control", "no-cache")
        self.send_header("Transfer-Encoding", "chunked")
        self.send_header("x-request-id", _new_id("req"))
        self.end_headers()
        closed = self.server.owner._closed
        try:
            for sent, chunk in enumerate(chunks):
                if sent == reply.stall_after:
                    closed.wait(reply.stall_seconds)
                    if closed.is_set():
                        return self._hard_close()
                if sent == reply.drop_after:
                    return self._hard_close()
                if sent == reply.truncate_after:
                    self.wfile.write(b"0\r\n\r\n")
                    return None
                if sent == reply.error_after:
                    err = {"error": {"message": f"scripted {reply.stream_error_type}",
                                     "type": reply.stream_error_type, "code": None}}
                    self._write_chunk(f"data: {json.dumps(err)}\n\n".encode())
                    self.wfile.write(b"0\r\n\r\n")
                    return None
                self._write_chunk(f"data: {json.dumps(chunk)}\n\n".encode())
                if reply.delay and closed.wait(reply.delay):
                    return self._hard_close()
            self._write_chunk(b"data: [DONE]\n\n")
            self.wfile.write(b"0\r\n\r\n")
        except ConnectionError as exc:  # the client hung up: a normal end (a cancel)
            log.debug("client %s hung up mid-stream: %s", self.address_string(), exc)
            self.close_connection = True
        return None

    def _hard_close(self) -> None:
        self.close_connection = True
        try:
            self.wfile.flush()
            self.connection.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass


def _completion(chunks: list[dict[str, Any]], model: str) -> dict[str, Any]:
    text, finish, usage = "", "stop", None
    calls: dict[int, dict[str, Any]] = {}
    for c in chunks:
        usage = c.get("usage") or usage
        for ch in c["choices"]:
            d = ch["delta"]
            text += d.get("content") or ""
            for tc in d.get("tool_calls") or []:
                cur = calls.setdefault(tc["index"], {"id": tc.get("id"), "type": "function",
                                                     "function": {"name": "", "arguments": ""}})
                fn = tc.get("function") or {}
                cur["function"]["name"] += fn.get("name") or ""
                cur["function"]["arguments"] += fn.get("arguments") or ""
            finish = ch.get("finish_reason") or finish
    message: dict[str, Any] = {"role": "assistant", "content": text or None}
    if calls:
        message["tool_calls"] = [calls[i] for i in sorted(calls)]
    return {"id": _new_id("chatcmpl"), "object": "chat.completion", "created": int(time.time()),
            "model": model, "choices": [{"index": 0, "message": message,
                                         "finish_reason": finish, "logprobs": None}],
            "usage": usage}


class _Server(PeerHTTPServer):  # a client hanging up is logged at DEBUG, not printed
    block_on_close = False
    owner: OpenAIServer


class OpenAIServer:
    """The server; a context manager that serves on ``127.0.0.1`` (random port unless
    ``port``) in a background thread. ``base_url`` ends in ``/v1`` (give it to the ``openai``
    SDK or ``OPENAI_BASE_URL``); ``requests`` holds every request body received, with its
    headers under ``"_headers"``."""

    def __init__(self, replies: list[ChatReply] | None = None, *, port: int = 0) -> None:
        self._queue: list[ChatReply] = list(replies or [])
        self._lock = threading.Lock()
        self._seen: Counter[str] = Counter()
        self._closed = threading.Event()
        self.requests: list[dict[str, Any]] = []
        self._httpd = _Server(("127.0.0.1", port), _Handler)
        self._httpd.owner = self
        self._thread: threading.Thread | None = None

    @property
    def port(self) -> int:
        return int(self._httpd.server_address[1])

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/v1"

    def enqueue(self, *replies: ChatReply) -> None:
        """Answer the next requests with ``replies``, in order, before any directive."""
        with self._lock:
            self._queue.extend(replies)

    def _next_reply(self, body: dict[str, Any], headers: dict[str, str]) -> ChatReply:
        with self._lock:
            self.requests.append({**body, "_headers": headers})
            if self._queue:
                return self._queue.pop(0)
            m = _DIRECTIVE.search(_last_user_text(body.get("messages") or []))
            key = m.group(0) if m else ""
            seen = self._seen[key]
            self._seen[key] += 1
        return directive_reply(body, seen)

    def start(self) -> OpenAIServer:
        self._thread = threading.Thread(target=self._httpd.serve_forever, args=(0.05,),
                                        daemon=True, name=f"openai-server-{self.port}")
        self._thread.start()
        return self

    def close(self) -> None:
        """Stop serving; stalled streams are cut at once."""
        self._closed.set()
        if self._thread is not None:
            self._httpd.shutdown()
            self._thread.join(5)
        self._httpd.server_close()

    def __enter__(self) -> OpenAIServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.close()


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, default=8001)
    args = parser.parse_args(argv)
    server = OpenAIServer(port=args.port).start()
    print(f"OpenAI-compatible test server on {server.base_url}", flush=True)
    try:
        while True:
            time.sleep(3600)
    except KeyboardInterrupt:
        server.close()


if __name__ == "__main__":
    main()
