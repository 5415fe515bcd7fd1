"""Inputs that once answered HTTP 500 (or Jupyter's HTML 404): each is now a 4xx with the
JSON error shape ``{"error": {"code", "message"}}``. Real server, real store, real traces."""

from __future__ import annotations

import gzip
import json
from typing import Any

import pytest
from tornado.httpclient import HTTPClientError

from jupyter_assistant.store import MAX_PAGE_VALUE

HUGE = "9223372036854775808"  # 2**63: past SQLite's int64


def _json_error(code: int, body: Any, expected: int, error_code: str) -> str:
    assert code == expected, (code, body)
    assert set(body) == {"error"} and set(body["error"]) == {"code", "message"}, body
    assert body["error"]["code"] == error_code, body
    return str(body["error"]["message"])


async def test_huge_offsets_are_refused_not_sent_to_sqlite(api: Any) -> None:
    _, _, conv = await api("conversations", method="POST", body={"title": "t"})
    for path in (("conversations",), ("conversations", conv["id"], "messages"),
                 ("requests",)):
        code, _, body = await api(*path, params={"offset": HUGE})
        message = _json_error(code, body, 400, "invalid_input")
        assert "'offset'" in message and str(MAX_PAGE_VALUE) in message
        code, _, page = await api(*path, params={"offset": str(MAX_PAGE_VALUE)})
        assert code == 200 and page["items"] == [] and page["offset"] == MAX_PAGE_VALUE
    code, _, body = await api("conversations", params={"limit": "²"})
    _json_error(code, body, 400, "invalid_input")


async def test_superscript_digits_in_after_and_last_event_id(sse: Any) -> None:
    first = await sse("chat", body={"message": "hi"})
    sid = first.events[0]["session_id"]
    for kwargs in ({"params": {"after": "²"}}, {"headers": {"Last-Event-ID": "²"}},
                   {"params": {"after": "١٢"}}):  # Arabic-Indic digits
        r = await sse("sessions", sid, "events", method="GET", **kwargs)
        assert r.code == 400, r.raw
        assert r.error_body["error"]["code"] == "invalid_input"
    r = await sse("sessions", sid, "events", method="GET", headers={"Last-Event-ID": "2"})
    assert r.code == 200 and r.frames == first.frames[2:]


def _kineto(**header: Any) -> bytes:
    base = {"ph": "X", "cat": "kernel", "name": "sgemm", "pid": 0, "tid": 7, "ts": 10, "dur": 5}
    events = [{**base, "args": header.pop("args", {"stream": 7, "correlation": 1})},
              {"ph": "X", "cat": "cpu_op", "name": "aten::mm", "pid": 1, "tid": 1, "ts": 0,
               "dur": 20}]
    return gzip.compress(json.dumps({"schemaVersion": 1, "traceEvents": events,
                                     **header}).encode())


@pytest.mark.parametrize("trace", [
    _kineto(args={"stream": 99999999999999999999, "correlation": 1}),
    _kineto(distributedInfo={"rank": 9223372036854775808, "world_size": 1}),
], ids=["stream-1e20", "rank-2**63"])
async def test_kineto_numbers_past_int64_upload_and_summarise(api: Any, trace: bytes) -> None:
    code, _, up = await api("traces", method="POST", body=trace, params={"name": "k.json.gz"})
    assert code == 201, up
    assert "aten::mm" in up["summary"]["text"]
    code, _, summary = await api("traces", up["id"], "summary")
    assert code == 200, summary
    assert summary["text"] == up["summary"]["text"]


@pytest.mark.parametrize(("method", "path"), [
    ("GET", "nope"),
    ("POST", "nope/deeper"),
    ("DELETE", "conversations/a/b"),
    ("GET", "conversations/bad!id"),
    ("GET", "conversations/" + "a" * 129),
    ("DELETE", "conversations/-starts-with-a-dash"),
    ("GET", "sessions/x%20y/events"),
    ("POST", "sessions/%E2%80%A2/cancel"),
    ("GET", "traces/tr_%2E%2E/summary"),
    ("GET", "requests/a:b"),
    ("PUT", "conversations"),
])
async def test_unknown_paths_and_malformed_ids_answer_a_json_404(
        api: Any, method: str, path: str) -> None:
    code, headers, body = await api(*path.split("/"), method=method,
                                    body=b"{}" if method in ("POST", "PUT") else None)
    if method == "PUT":  # a known path without that verb: 405, still JSON
        _json_error(code, body, 405, "method_not_allowed")
        return
    message = _json_error(code, body, 404, "not_found")
    assert "no such endpoint" in message
    assert headers["Content-Type"].startswith("application/json")


async def test_the_404_needs_authentication_like_every_endpoint(jp_fetch: Any) -> None:
    with pytest.raises(HTTPClientError) as info:
        await jp_fetch("assistant", "api", "nope", headers={"Authorization": ""})
    assert info.value.code == 403
