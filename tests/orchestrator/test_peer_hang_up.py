"""The local test peers (Anthropic, OpenAI-compatible) treat a client hanging up as normal:
no traceback on stderr, a ``DEBUG`` record, and the next request is served; a real error
while handling a request is still reported (``ERROR`` with its traceback).

The hang-ups are real TCP resets: the client closes its socket with ``SO_LINGER`` 0, which
is what the kernel sends when a client closes with an unread response left (a cancelled
turn, a closed SDK client)."""

from __future__ import annotations

import json
import logging
import socket
import struct
import time
import urllib.request
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from jupyter_assistant.testing import AnthropicServer, ChatReply, OpenAIServer

pytestmark = [pytest.mark.timeout(30)]

LOGGER = "jupyter_assistant.testing"


def _anthropic_request(text: str) -> tuple[str, dict[str, str], dict[str, Any]]:
    return ("/v1/messages",
            {"x-api-key": "k", "anthropic-version": "2023-06-01"},
            {"model": "claude-sonnet-5-5", "max_tokens": 50, "stream": True,
             "messages": [{"role": "user", "content": text}]})


def _openai_request(text: str) -> tuple[str, dict[str, str], dict[str, Any]]:
    return ("/v1/chat/completions", {"authorization": "Bearer k"},
            {"model": "local", "stream": True, "messages": [{"role": "user", "content": text}]})


def _raw_request(path: str, headers: dict[str, str], body: dict[str, Any], host: str) -> bytes:
    data = json.dumps(body).encode()
    head = [f"POST {path} HTTP/1.1", f"Host: {host}", "content-type: application/json",
            f"content-length: {len(data)}", *(f"{k}: {v}" for k, v in headers.items())]
    return ("\r\n".join(head) + "\r\n\r\n").encode() + data


def _hang_up(sock: socket.socket) -> None:
    """Close with a TCP reset (RST), not a FIN."""
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    sock.close()


def _read_until(sock: socket.socket, marker: bytes) -> bytes:
    data = b""
    while marker not in data:
        chunk = sock.recv(65536)
        assert chunk, data[-200:]
        data += chunk
    return data


def _post(base: str, path: str, headers: dict[str, str], body: dict[str, Any]) -> bytes:
    req = urllib.request.Request(base + path, method="POST", data=json.dumps(body).encode(),
                                 headers={"content-type": "application/json", **headers})
    with urllib.request.urlopen(req, timeout=10) as resp:
        assert resp.status == 200
        return bytes(resp.read())


#: (host, port, request builder, the last bytes of a streamed answer)
Peer = tuple[str, int, Callable[[str], tuple[str, dict[str, str], dict[str, Any]]], bytes]


@pytest.fixture(params=["anthropic", "openai"])
def peer(request: pytest.FixtureRequest) -> Iterator[Peer]:
    """A running peer. The first two answers are a slow one (many chunks, 20 ms apart) and
    a fast one: directives for the Anthropic peer, scripted for OpenAI's."""
    if request.param == "anthropic":
        with AnthropicServer() as a:
            yield "127.0.0.1", a.port, _anthropic_request, b"event: message_stop"
    else:
        with OpenAIServer() as o:
            o.enqueue(ChatReply(text="word " * 300, delay=0.02), ChatReply(text="word " * 300))
            yield "127.0.0.1", o.port, _openai_request, b"data: [DONE]"


def _wait_for(caplog: pytest.LogCaptureFixture, count: int, level: int) -> list[str]:
    deadline = time.monotonic() + 10
    while True:
        found = [r.getMessage() for r in caplog.records
                 if r.name == LOGGER and r.levelno == level]
        if len(found) >= count or time.monotonic() > deadline:
            return found
        time.sleep(0.02)


def test_a_client_hanging_up_leaves_stderr_clean_and_the_peer_serves_on(
        peer: Peer, caplog: pytest.LogCaptureFixture, capfd: pytest.CaptureFixture[str]
        ) -> None:
    host, port, build, end = peer
    caplog.set_level(logging.DEBUG, logger=LOGGER)
    # 1. mid-stream: the peer is still writing the slow answer when the client resets
    with socket.create_connection((host, port)) as sock:
        sock.sendall(_raw_request(*build("[[slow_stream chunks=300 delay=0.02]]"), host))
        _read_until(sock, b"\r\n\r\n")  # the response has started
        _hang_up(sock)
    # 2. after a whole answer: the peer waits for the next request on the kept-alive
    #    connection when the client resets it
    with socket.create_connection((host, port)) as sock:
        sock.sendall(_raw_request(*build("[[tokens n=300]]"), host))
        assert end in _read_until(sock, b"\r\n0\r\n\r\n")  # the last chunk arrived
        _hang_up(sock)
    err, deadline = "", time.monotonic() + 10
    while time.monotonic() < deadline and not err:  # until both are handled, or a traceback
        err += capfd.readouterr().err
        hung_up = [r.getMessage() for r in caplog.records
                   if r.name == LOGGER and r.levelno == logging.DEBUG]
        if len(hung_up) >= 2:
            break
        time.sleep(0.02)
    assert end in _post(f"http://{host}:{port}", *build("hello"))  # it serves on
    err += capfd.readouterr().err
    assert err == ""
    assert len(hung_up) == 2 and all("hung up" in m for m in hung_up), hung_up
    assert [r for r in caplog.records if r.levelno >= logging.WARNING] == []


def test_a_real_error_while_handling_is_still_reported(
        caplog: pytest.LogCaptureFixture) -> None:
    def broken(body: dict[str, Any]) -> Any:
        raise ZeroDivisionError("a bug in a scripted responder")

    caplog.set_level(logging.DEBUG, logger=LOGGER)
    with AnthropicServer() as server:
        server.script(broken)
        with pytest.raises(ConnectionError):  # the connection ends without a response
            _post(server.base_url, *_anthropic_request("hi"))
        errors = _wait_for(caplog, 1, logging.ERROR)
        assert len(errors) == 1
        assert errors[0].startswith("error while handling a request from 127.0.0.1:")
        (record,) = [r for r in caplog.records if r.levelno == logging.ERROR]
        assert record.exc_info is not None and record.exc_info[0] is ZeroDivisionError
        assert b"event: message_stop" in _post(server.base_url, *_anthropic_request("again"))
