"""Crash safety: ``kill -9`` a real ``jupyter server`` mid-stream, restart it on the same
SQLite store, and find everything that was completed, with the cut turn marked interrupted.
Shutdown: SIGTERM / SIGINT stop it cleanly, the running turn ending ``cancelled``."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import anyio
import httpx2
import pytest

from jupyter_assistant.testing.anthropic_server import AnthropicServer, Reply

pytestmark = pytest.mark.slow

TOKEN = "crash-test-token"
AUTH = {"Authorization": f"token {TOKEN}"}
ANSWER = " ".join(f"word{i}" for i in range(200))


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class JupyterServer:
    """A ``jupyter server`` subprocess on 127.0.0.1 with the extension enabled."""

    def __init__(self, home: Path, env: dict[str, str]) -> None:
        self.home, self.env = home, env
        self.proc: subprocess.Popen[bytes] | None = None
        self.port = 0

    def start(self) -> JupyterServer:
        self.port = _free_port()
        log = open(self.home / f"server-{self.port}.log", "wb")
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "jupyter_server", "--ServerApp.ip=127.0.0.1",
             f"--ServerApp.port={self.port}", "--ServerApp.port_retries=0",
             f"--IdentityProvider.token={TOKEN}", "--ServerApp.open_browser=False",
             "--ServerApp.allow_root=True", f"--ServerApp.root_dir={self.home / 'root'}"],
            env=self.env, stdout=log, stderr=subprocess.STDOUT)
        log.close()
        deadline = time.monotonic() + 90
        while time.monotonic() < deadline:
            assert self.proc.poll() is None, self.log()
            try:
                if httpx2.get(self.url("api/status"), headers=AUTH, timeout=2).is_success:
                    return self
            except httpx2.TransportError:
                pass
            time.sleep(0.2)
        raise AssertionError("jupyter server did not start:\n" + self.log())

    def url(self, path: str) -> str:
        return f"http://127.0.0.1:{self.port}/{path}"

    def api(self, method: str, path: str, **kwargs: Any) -> httpx2.Response:
        return httpx2.request(method, self.url(f"assistant/api/{path}"), headers=AUTH,
                              timeout=30, **kwargs)

    def stream(self, method: str, path: str, **kwargs: Any) -> Any:
        return httpx2.stream(method, self.url(f"assistant/api/{path}"), headers=AUTH,
                             timeout=30, **kwargs)

    def log(self) -> str:
        return "\n".join(p.read_text(errors="replace")[-4000:]
                         for p in sorted(self.home.glob("server-*.log")))

    def kill9(self) -> None:
        assert self.proc is not None
        os.kill(self.proc.pid, signal.SIGKILL)
        self.proc.wait(10)

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)


def sse_frames(response: httpx2.Response) -> Iterator[dict[str, Any]]:
    """Parse an SSE body into ``{"id", "event", "data"}`` frames as they arrive."""
    frame: dict[str, Any] = {}
    for line in response.iter_lines():
        if not line:
            if frame:
                yield frame
            frame = {}
        elif not line.startswith(":"):
            key, _, value = line.partition(": ")
            frame[key] = json.loads(value) if key == "data" else value


@pytest.fixture
def server_env(tmp_path: Path) -> Iterator[tuple[dict[str, str], AnthropicServer]]:
    (tmp_path / "root").mkdir()
    (tmp_path / "config").mkdir()
    (tmp_path / "config" / "jupyter_server_config.json").write_text(json.dumps({
        "ServerApp": {"jpserver_extensions": {"jupyter_assistant": True}},
        "AssistantApp": {"store_url": f"sqlite:///{tmp_path / 'assistant.db'}",
                         "traces_dir": str(tmp_path / "traces"),
                         "model": "anthropic:claude-test", "chat_rate_limit": "100/minute"},
    }))
    with AnthropicServer() as peer:
        env = {**os.environ, "JUPYTER_CONFIG_DIR": str(tmp_path / "config"),
               "JUPYTER_DATA_DIR": str(tmp_path / "data"),
               "JUPYTER_RUNTIME_DIR": str(tmp_path / "runtime"),
               "ANTHROPIC_BASE_URL": peer.base_url, "ANTHROPIC_API_KEY": "sk-ant-dummy"}
        yield env, peer


def test_kill_9_mid_stream_then_restart(tmp_path: Path, server_env: Any) -> None:
    env, peer = server_env
    # the model first calls a tool (a complete assistant message + a tool result are
    # stored), then streams a long answer slowly: the server dies in the middle of it
    peer.script(Reply.tool_use("list_dir", {"path": "."}),
                Reply.text(ANSWER, chunks=200, delay=0.05))
    server = JupyterServer(tmp_path, env).start()
    try:
        seen: list[dict[str, Any]] = []
        with server.stream("POST", "chat", json={"message": "crash me"}) as r:
            assert r.status_code == 200
            try:
                for frame in sse_frames(r):
                    seen.append(frame)
                    if [f["event"] for f in seen].count("text_delta") == 5:
                        server.kill9()
            except httpx2.TransportError:
                pass  # the connection died with the server
        assert server.proc is not None and server.proc.returncode == -signal.SIGKILL
        events = [f["event"] for f in seen]
        assert events[:4] == ["session_started", "tool_use_start", "usage",
                              "tool_use_complete"]
        assert events.count("text_delta") >= 5 and not set(events) & {
            "message_complete", "error", "cancelled"}
        sid = seen[0]["data"]["session_id"]
        cid = seen[0]["data"]["data"]["conversation_id"]
        streamed = "".join(f["data"]["data"]["text"] for f in seen if f["event"] == "text_delta")

        server.start()  # same store, new process
        session = server.api("GET", f"sessions/{sid}").json()
        assert session["status"] == "interrupted" and not session["running_here"]
        convs = server.api("GET", "conversations").json()
        assert [c["id"] for c in convs["items"]] == [cid]
        msgs = server.api("GET", f"conversations/{cid}/messages").json()["items"]
        assert [m["role"] for m in msgs] == ["user", "assistant", "user", "assistant"]
        user, call, result, partial = msgs
        assert user["content"] == [{"type": "text", "text": "crash me"}]
        assert [b["type"] for b in call["content"]] == ["tool_use"]
        assert call["metadata"].get("status", "complete") == "complete"
        assert result["content"][0]["type"] == "tool_result"
        # the half answer is kept, marked interrupted, never as complete
        assert partial["metadata"]["status"] == "interrupted"
        text = partial["content"][0]["text"]
        assert text.startswith(streamed) and len(text) < len(ANSWER)
        assert ANSWER.startswith(text.rstrip())
        assert not [m for m in msgs if m["role"] == "assistant"
                    and m["metadata"].get("status", "complete") == "complete"
                    and any(b.get("type") == "text" and "word0" in b.get("text", "")
                            for b in m["content"])]
        # the event log holds every event sent before the crash, then an interrupted end
        with server.stream("GET", f"sessions/{sid}/events") as r:
            log = list(sse_frames(r))
        assert [f["id"] for f in log] == [str(i) for i in range(1, len(log) + 1)]
        assert [f["data"] for f in log[:len(seen)]] == [f["data"] for f in seen]
        assert log[-1]["event"] == "error"
        assert log[-1]["data"]["data"]["code"] == "interrupted"

        # the conversation goes on: the model gets a consistent history without the half answer
        with server.stream("POST", "chat", json={"message": "again", "conversation_id": cid}
                           ) as r:
            again = list(sse_frames(r))
        assert again[-1]["event"] == "message_complete", again[-1]
        sent = peer.message_requests()[-1]["messages"]
        assert "word3" not in json.dumps(sent)
        assert sent[-1]["content"][-1] == {"type": "text", "text": "again"}
    finally:
        server.stop()


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT], ids=["SIGTERM", "SIGINT"])
def test_a_stop_signal_cancels_the_running_turn_and_closes_the_store(
        tmp_path: Path, server_env: Any, sig: signal.Signals) -> None:
    from jupyter_assistant.store import SQLiteStore

    env, peer = server_env
    peer.script(Reply.text(ANSWER, chunks=200, delay=0.05))
    server = JupyterServer(tmp_path, env).start()
    try:
        seen: list[dict[str, Any]] = []
        signalled = False
        with server.stream("POST", "chat", json={"message": "stop me"}) as r:
            assert r.status_code == 200
            try:
                for frame in sse_frames(r):
                    seen.append(frame)
                    if [f["event"] for f in seen].count("text_delta") == 3 and not signalled:
                        # twice, as an impatient user or a supervisor does: Jupyter then
                        # runs its cleanup twice at once (stdin is no terminal: no prompt)
                        assert server.proc is not None
                        os.kill(server.proc.pid, sig)
                        os.kill(server.proc.pid, sig)
                        signalled = True
            except httpx2.TransportError:
                pass
        assert server.proc is not None
        try:
            code = server.proc.wait(30)
        except subprocess.TimeoutExpired:
            raise AssertionError("the server did not exit:\n" + server.log()) from None
        assert code == 0 and "Traceback" not in server.log(), server.log()
        assert seen[-1]["event"] == "cancelled"  # the client got the end of the turn
    finally:
        server.stop()
    sid = seen[0]["data"]["session_id"]
    cid = seen[0]["data"]["data"]["conversation_id"]

    async def stored() -> tuple[Any, list[Any], list[Any]]:
        store = SQLiteStore(tmp_path / "assistant.db")
        await store.open()
        try:
            return (await store.get_session("local", sid), await store.events_after(sid, 0),
                    (await store.list_messages("local", cid)).items)
        finally:
            await store.aclose()

    session, events, messages = anyio.run(stored)
    assert session.status == "cancelled"
    assert [e.seq for e in events] == list(range(1, len(events) + 1))
    assert [e.to_dict() for e in events[:len(seen)]] == [f["data"] for f in seen]
    assert events[-1].type == "cancelled" and events[-1].data["reason"] == "shutdown"
    assert not [e for e in events if e.type in ("message_complete", "error")]
    assert [m.role for m in messages][:1] == ["user"]
    assert not [m for m in messages if m.role == "assistant"
                and m.metadata.get("status", "complete") == "complete"]
