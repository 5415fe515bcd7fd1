"""Web search: the Brave backend against a local HTTP server serving Brave's JSON shape."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, ClassVar
from urllib.parse import parse_qs, urlparse

import pytest

from jupyter_assistant.exceptions import ConfigError, ToolError
from jupyter_assistant.tools import ToolContext
from jupyter_assistant.tools.web_search import (
    BraveSearchBackend,
    WebSearchBackend,
    web_search_backend_from_env,
    web_search_tool,
)

pytestmark = pytest.mark.anyio


class _Brave(BaseHTTPRequestHandler):
    requests: ClassVar[list[dict[str, Any]]] = []

    def log_message(self, *args: Any) -> None:
        pass

    def do_GET(self) -> None:
        url = urlparse(self.path)
        q = parse_qs(url.query)
        type(self).requests.append({"path": url.path, "q": q,
                                    "token": self.headers.get("X-Subscription-Token")})
        if self.headers.get("X-Subscription-Token") != "good-key":
            return self._send(401, {"error": {"code": "SUBSCRIPTION_TOKEN_INVALID"}})
        query = q["q"][0]
        if query == "slow":
            time.sleep(1.5)
        if query == "garbage":
            body = b"<html>not json"
            self.send_response(200)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)
            return None
        count = int(q["count"][0])
        results = [{"title": f"<strong>{query}</strong> result {i}",
                    "url": f"https://example.org/{i}",
                    "description": f"About <strong>{query}</strong> &amp; more #{i}"}
                   for i in range(1, 16)]
        return self._send(200, {"type": "search", "query": {"original": query},
                                "web": {"type": "search", "results": results[:count]}})

    def _send(self, status: int, payload: dict[str, Any]) -> None:
        body = json.dumps(payload).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        try:
            self.wfile.write(body)
        except BrokenPipeError:  # the client gave up (the timeout test)
            pass


@pytest.fixture(scope="module")
def brave_url() -> Iterator[str]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Brave)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}/res/v1"
    server.shutdown()
    server.server_close()


async def test_brave_backend_parses_results(brave_url: str) -> None:
    backend = BraveSearchBackend("good-key", base_url=brave_url)
    assert isinstance(backend, WebSearchBackend)
    results = await backend.search("torch profiler", 3)
    assert [r["url"] for r in results] == [f"https://example.org/{i}" for i in (1, 2, 3)]
    assert results[0]["title"] == "torch profiler result 1"
    assert results[0]["snippet"] == "About torch profiler & more #1"
    last = _Brave.requests[-1]
    assert last["path"] == "/res/v1/web/search" and last["q"]["count"] == ["3"]
    assert "good-key" not in repr(backend)


async def test_tool_output_and_errors(brave_url: str) -> None:
    tool = web_search_tool(BraveSearchBackend("good-key", base_url=brave_url))
    assert tool.name == "web_search" and tool.timeout == 10 and tool.category == "web"
    out = await tool.call({"query": "nccl hang", "n": 2}, ToolContext())
    assert out.splitlines()[1] == "1. [nccl hang result 1](https://example.org/1)"
    assert "3." not in out
    bad = web_search_tool(BraveSearchBackend("wrong", base_url=brave_url))
    with pytest.raises(ToolError, match="HTTP 401"):
        await bad.call({"query": "x"}, ToolContext())
    with pytest.raises(ToolError, match="expected JSON"):
        await tool.call({"query": "garbage"}, ToolContext())


async def test_timeout_and_unreachable(brave_url: str) -> None:
    slow = BraveSearchBackend("good-key", base_url=brave_url, timeout=0.3)
    t0 = time.monotonic()
    with pytest.raises(ToolError, match="timed out"):
        await slow.search("slow", 1)
    assert time.monotonic() - t0 < 1.4
    closed = BraveSearchBackend("good-key", base_url="http://127.0.0.1:9/res/v1")
    with pytest.raises(ToolError, match="failed"):
        await closed.search("x", 1)


def test_backend_from_env_only_with_a_key() -> None:
    assert web_search_backend_from_env({}) is None
    b = web_search_backend_from_env({"BRAVE_SEARCH_API_KEY": "k",
                                     "BRAVE_SEARCH_BASE_URL": "http://127.0.0.1:1/x"})
    assert isinstance(b, BraveSearchBackend) and b.base_url == "http://127.0.0.1:1/x"
    with pytest.raises(ConfigError):
        BraveSearchBackend("")
    with pytest.raises(ConfigError):
        web_search_tool(object())  # type: ignore[arg-type]


async def test_assistant_offers_web_search_only_when_configured(
        brave_url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """The documented way to turn it on (BRAVE_SEARCH_API_KEY, endpoint from
    BRAVE_SEARCH_BASE_URL) works end to end: a real turn with the default tools, the real
    Anthropic SDK on the local Anthropic server, the search served by the local Brave API."""
    from jupyter_assistant import Assistant
    from jupyter_assistant.testing import AnthropicServer, Reply

    with AnthropicServer() as model:
        monkeypatch.setenv("ANTHROPIC_BASE_URL", model.base_url)
        monkeypatch.setenv("ANTHROPIC_API_KEY", "sk-ant-test-key")
        monkeypatch.delenv("BRAVE_SEARCH_API_KEY", raising=False)
        model.script(Reply.text("no search"))
        async with Assistant() as assistant:  # not configured: not offered
            assert "web_search" not in assistant.tools
            events = [e async for e in assistant.run("hi")]
        assert events[-1].type == "message_complete"
        names = [t["name"] for t in model.message_requests()[-1]["tools"]]
        assert "web_search" not in names and "trace_summary" in names

        monkeypatch.setenv("BRAVE_SEARCH_API_KEY", "good-key")
        monkeypatch.setenv("BRAVE_SEARCH_BASE_URL", brave_url)
        model.script(Reply.tool_use("web_search", {"query": "cuda sync", "n": 2}),
                     Reply.text("found it"))
        async with Assistant() as assistant:
            events = [e async for e in assistant.run("search the web for cuda sync")]
    assert events[-1].type == "message_complete"
    (done,) = [e for e in events if e.type == "tool_use_complete"]
    assert done.data["is_error"] is False
    first, second = model.message_requests()[-2:]
    assert "web_search" in [t["name"] for t in first["tools"]]
    result = second["messages"][-1]["content"][0]
    assert result["type"] == "tool_result" and not result.get("is_error")
    assert "1. [cuda sync result 1](https://example.org/1)" in result["content"]
    assert "About cuda sync & more #2" in result["content"]
    assert "result 3" not in result["content"]
    assert _Brave.requests[-1]["token"] == "good-key"
