"""Fixtures for the server extension tests: a real Jupyter server (pytest-jupyter) with the
extension enabled, a real local Anthropic-protocol server behind ``ANTHROPIC_BASE_URL``, and
an SSE client that reads real streamed HTTP responses.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import pytest
from pytest_jupyter.jupyter_server import *  # noqa: F403  (jp_fetch, jp_serverapp, ...)
from tornado.httpclient import HTTPClientError

from jupyter_assistant.server import AssistantApp

API = ("assistant", "api")

@pytest.fixture
def anthropic_peer(monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    """The local Anthropic Messages API server (real HTTP on 127.0.0.1); the SDK reaches it
    through ANTHROPIC_BASE_URL with a dummy key."""
    from jupyter_assistant.testing.anthropic_server import AnthropicServer

    with AnthropicServer() as peer:
        monkeypatch.setenv("ANTHROPIC_BASE_URL", peer.base_url)
        monkeypatch.setenv("ANTHROPIC_API_KEY", "sk-ant-test-dummy")
        yield peer


@pytest.fixture
def assistant_settings() -> dict[str, Any]:
    """``c.AssistantApp`` settings of the test; override in a module to change them."""
    return {}


@pytest.fixture
def server_settings() -> dict[str, Any]:
    """Extra ``c.ServerApp`` settings of the test."""
    return {}


@pytest.fixture
def jp_server_config(tmp_path: Any, anthropic_peer: Any, assistant_settings: dict[str, Any],
                     server_settings: dict[str, Any]) -> dict[str, Any]:
    settings = {
        "store_url": f"sqlite:///{tmp_path / 'assistant.db'}",
        "traces_dir": str(tmp_path / "traces"),
        "model": "anthropic:claude-test",
        "chat_rate_limit": "1000/minute",
        "write_rate_limit": "1000/minute",
        "sse_keepalive_interval": 0.5,
        **assistant_settings,
    }
    return {"ServerApp": {"jpserver_extensions": {"jupyter_assistant": True},
                          **server_settings},
            "AssistantApp": settings}


@pytest.fixture
def assistant_app(jp_serverapp: Any) -> AssistantApp:
    """The running extension instance."""
    apps = jp_serverapp.extension_manager.extension_apps["jupyter_assistant"]
    (app,) = [a for a in apps if isinstance(a, AssistantApp)]
    return app


@pytest.fixture
def api(jp_fetch: Any) -> Callable[..., Any]:
    """``await api("conversations", method=..., body=dict|bytes, expect=200)`` -> (status,
    headers, JSON body or None). HTTP errors are returned, not raised."""

    async def call(*parts: str, method: str = "GET", body: Any = None,
                   headers: dict[str, str] | None = None, params: dict[str, Any] | None = None,
                   **kwargs: Any) -> tuple[int, Any, Any]:
        if isinstance(body, (dict, list)):
            body = json.dumps(body)
        if body is None and method in ("POST", "PUT", "PATCH"):
            body = b""
        try:
            r = await jp_fetch(*API, *parts, method=method, body=body, headers=headers,
                               params=params, allow_nonstandard_methods=True, **kwargs)
        except HTTPClientError as err:
            r = err.response
            assert r is not None, err
        payload = json.loads(r.body) if r.body else None
        return r.code, r.headers, payload

    return call


# -- SSE over real HTTP ----------------------------------------------------------------------


class Disconnect(Exception):
    """Raised from the streaming callback to drop the connection mid-stream."""


@dataclass
class SSEResult:
    """What a client read from an event stream: ``frames`` (dicts with ``id``, ``event``,
    ``data`` as parsed JSON), ``comments``, the raw bytes, and whether it hung up itself."""

    code: int = 0
    headers: Any = None
    frames: list[dict[str, Any]] = field(default_factory=list)
    comments: list[str] = field(default_factory=list)
    raw: bytes = b""
    disconnected: bool = False
    error_body: Any = None

    @property
    def events(self) -> list[dict[str, Any]]:
        return [f["data"] for f in self.frames]

    @property
    def types(self) -> list[str]:
        return [f["event"] for f in self.frames]

    @property
    def seqs(self) -> list[int]:
        return [f["id"] for f in self.frames]


class _SSEParser:
    def __init__(self, result: SSEResult) -> None:
        self.result = result
        self.buf = b""

    def feed(self, chunk: bytes) -> None:
        self.result.raw += chunk
        self.buf += chunk
        while b"\n\n" in self.buf:
            block, self.buf = self.buf.split(b"\n\n", 1)
            lines = block.decode().split("\n")
            if all(line.startswith(":") for line in lines):
                self.result.comments.extend(line[1:].strip() for line in lines)
                continue
            fields = [line.split(": ", 1) for line in lines]
            names = [f[0] for f in fields]
            assert names == ["id", "event", "data"], f"bad SSE frame: {block!r}"
            frame = dict(fields)
            data = json.loads(frame["data"])
            self.result.frames.append({"id": int(frame["id"]), "event": frame["event"],
                                       "data": data})


@pytest.fixture
def sse(jp_fetch: Any) -> Callable[..., Any]:
    """``await sse(*path, method="POST", body=dict, headers=..., stop=fn)`` reads an event
    stream over a real HTTP connection; ``stop(result)`` returning True hangs up."""

    async def open_stream(*parts: str, method: str = "POST", body: Any = None,
                          headers: dict[str, str] | None = None,
                          params: dict[str, Any] | None = None,
                          stop: Callable[[SSEResult], bool] | None = None,
                          timeout: float = 30) -> SSEResult:
        result = SSEResult()
        parser = _SSEParser(result)

        def on_chunk(chunk: bytes) -> None:
            parser.feed(chunk)
            if stop is not None and stop(result):
                result.disconnected = True
                raise Disconnect

        if isinstance(body, dict):
            body = json.dumps(body)
        try:
            r = await jp_fetch(*API, *parts, method=method, body=body, headers=headers,
                               params=params, streaming_callback=on_chunk,
                               request_timeout=timeout)
            result.code, result.headers = r.code, r.headers
        except Disconnect:
            result.code = 200
        except HTTPClientError as err:
            result.code = err.code
            if err.response is not None:
                result.headers = err.response.headers
                try:
                    result.error_body = json.loads(result.raw or err.response.body)
                except ValueError:
                    result.error_body = result.raw
        return result

    return open_stream
