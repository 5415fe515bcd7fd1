"""Trace uploads at their limits: a gzip decompression bomb, a multipart body over the
limit, and trace ids from a request that try to reach the filesystem."""

from __future__ import annotations

import gzip
import json
import uuid
from pathlib import Path
from typing import Any

import pytest
from tornado.httpclient import HTTPClientError

from jupyter_assistant.exceptions import NotFoundError
from jupyter_assistant.server import AssistantApp
from jupyter_assistant.server._traces import TraceRegistry

LIMIT = 1_000_000


@pytest.fixture
def assistant_settings() -> dict[str, Any]:
    return {"max_trace_bytes": LIMIT, "max_upload_bytes": 200_000}


def _bomb(inflated: int) -> bytes:
    # a valid-looking Chrome trace whose padding compresses ~1000:1
    head = b'{"traceEvents": [], "pad": "'
    return gzip.compress(head + b" " * inflated + b'"}', compresslevel=9)


async def test_a_gzip_bomb_is_refused_at_the_uncompressed_limit(
        api: Any, assistant_app: AssistantApp) -> None:
    assert assistant_app.traces.max_bytes == assistant_app.max_trace_bytes == LIMIT
    assert AssistantApp().max_trace_bytes == 512 * 1024 * 1024  # the default bound
    bomb = _bomb(50 * LIMIT)  # 50 MB inflated, a few tens of KB on the wire
    assert len(bomb) < 200_000
    code, _, err = await api("traces", method="POST", body=bomb, params={"name": "bomb.json.gz"})
    assert code == 400 and err["error"]["code"] == "trace_format"
    message = err["error"]["message"]
    assert message.startswith("bomb.json.gz") and "1,000,000" in message
    assert "max_trace_bytes" in message
    # the same bomb in a multipart body: refused the same way
    boundary = uuid.uuid4().hex
    body = (f"--{boundary}\r\nContent-Disposition: form-data; name=\"file\"; "
            f"filename=\"b.json.gz\"\r\n\r\n").encode() + bomb + \
        f"\r\n--{boundary}--\r\n".encode()
    code, _, err = await api("traces", method="POST", body=body, headers={
        "Content-Type": f"multipart/form-data; boundary={boundary}"})
    assert code == 400 and "max_trace_bytes" in err["error"]["message"]
    # nothing was kept; a gzip just under the limit still loads
    code, _, listing = await api("traces")
    assert listing["total"] == 0
    small = gzip.compress(json.dumps({"traceEvents": [
        {"ph": "X", "name": "f", "ts": 0, "dur": 5, "pid": 1, "tid": 1}],
        "pad": " " * (LIMIT - 200)}).encode())
    code, _, up = await api("traces", method="POST", body=small, params={"name": "ok.json.gz"})
    assert code == 201, up


async def test_a_multipart_upload_over_the_limit_is_413(api: Any) -> None:
    boundary = uuid.uuid4().hex
    body = (f"--{boundary}\r\nContent-Disposition: form-data; name=\"file\"; "
            f"filename=\"big.json\"\r\n\r\n").encode() + b"x" * 250_000 + \
        f"\r\n--{boundary}--\r\n".encode()
    code, _, err = await api("traces", method="POST", body=body, headers={
        "Content-Type": f"multipart/form-data; boundary={boundary}"})
    assert code == 413 and "max_upload_bytes" in err["error"]["message"]


@pytest.mark.parametrize("trace_id", [
    "..%2F..%2F..%2Fetc%2Fpasswd", "%2Fetc%2Fpasswd", "..", "tr_..%2Fsecret",
    "tr_" + "0" * 31 + "%2F", "tr_" + "A" * 32, "tr_" + "0" * 33, "secret",
])
async def test_trace_ids_in_urls_never_reach_the_filesystem(
        jp_fetch: Any, assistant_app: AssistantApp, trace_id: str) -> None:
    # plant what a traversal would find: a metadata file the caller "owns", outside the dir
    parent = assistant_app.traces.directory.parent
    parent.mkdir(parents=True, exist_ok=True)
    (parent / "secret.json").write_text(json.dumps({"id": "secret", "user_id": "local",
                                                    "name": "x", "format": "chrome"}))
    (parent / "secret.trace").write_text('{"traceEvents": []}')
    with pytest.raises(HTTPClientError) as info:
        await jp_fetch("assistant", "api", "traces", trace_id, "summary")
    assert info.value.code in (400, 404), (trace_id, info.value.code)


@pytest.mark.parametrize("trace_id", ["../../etc/passwd", "/etc/passwd", "..", "tr_/x",
                                      "C:\\x", "tr_" + "0" * 32 + "/../x"])
async def test_trace_ids_in_chat_bodies_are_refused(api: Any, trace_id: str) -> None:
    code, _, err = await api("chat", method="POST", body={"message": "hi", "trace_id": trace_id})
    assert code == 400 and err["error"]["code"] == "invalid_id", (trace_id, err)


async def test_the_registry_checks_every_id_before_joining_it(tmp_path: Path) -> None:
    (tmp_path / "secret.json").write_text(json.dumps({"user_id": "local"}))
    registry = TraceRegistry(tmp_path / "traces")
    for bad in ("../secret", str(tmp_path / "secret"), "tr_" + "0" * 32 + "/../../secret",
                "tr_" + "0" * 32 + "\x00", "secret"):
        with pytest.raises(NotFoundError):
            await registry.metadata("local", bad)
        with pytest.raises(NotFoundError):
            await registry.get("local", bad)
