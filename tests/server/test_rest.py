"""The JSON endpoints: conversations and messages, trace upload and summary, metrics,
model-call records and replay, body limits and the write rate limit."""

from __future__ import annotations

import json
import uuid
from pathlib import Path
from typing import Any

import pytest
from tornado.httpclient import HTTPClientError

from jupyter_assistant import load_trace
from jupyter_assistant.testing.anthropic_server import Reply

#: ../shared/traces beside the repository (real traces; see its README).
TRACES = Path(__file__).resolve().parents[3] / "shared" / "traces"
KINETO = TRACES / "hta/critical_path/simple_add/benchmark_result_493459_1694039959_trace.json.gz"
SPEEDSCOPE = next(p for p in sorted((TRACES / "speedscope").rglob("*.json"))
                  if b"speedscope.app/file-format-schema" in p.read_bytes()[:4096])


async def test_conversations_crud_and_pagination(api: Any) -> None:
    ids = []
    for i in range(5):
        code, _, conv = await api("conversations", method="POST", body={"title": f"c{i}"})
        assert code == 201 and conv["title"] == f"c{i}" and conv["message_count"] == 0
        ids.append(conv["id"])
    code, _, page = await api("conversations", params={"limit": 2, "offset": 0})
    assert code == 200 and page["total"] == 5 and page["limit"] == 2 and page["offset"] == 0
    seen = [c["id"] for c in page["items"]]
    code, _, page2 = await api("conversations", params={"limit": 2, "offset": 2})
    code, _, page3 = await api("conversations", params={"limit": 2, "offset": 4})
    seen += [c["id"] for c in page2["items"] + page3["items"]]
    assert sorted(seen) == sorted(ids) and len(page3["items"]) == 1
    # one conversation, its messages, then delete
    cid = ids[0]
    code, _, msg = await api("conversations", cid, "messages", method="POST",
                             body={"role": "user", "content": "first question"})
    assert code == 201 and msg["conversation_id"] == cid and msg["role"] == "user"
    code, _, msg = await api("conversations", cid, "messages", method="POST",
                             body={"role": "assistant",
                                   "content": [{"type": "text", "text": "an answer"}]})
    assert code == 201
    code, _, conv = await api("conversations", cid)
    assert conv["message_count"] == 2
    code, _, msgs = await api("conversations", cid, "messages", params={"limit": 1})
    assert msgs["total"] == 2 and [m["content"] for m in msgs["items"]] == ["first question"]
    code, _, _ = await api("conversations", cid, method="DELETE")
    assert code == 204
    for parts in [(cid,), (cid, "messages")]:
        code, _, err = await api("conversations", *parts)
        assert code == 404 and err["error"]["code"] == "not_found"
    code, _, page = await api("conversations")
    assert page["total"] == 4


async def test_bad_requests_get_json_errors(api: Any, assistant_app: Any) -> None:
    cases = [
        (("conversations",), "GET", None, {"limit": 0}),
        (("conversations",), "GET", None, {"limit": "ten"}),
        (("conversations",), "GET", None, {"offset": -1}),
        (("conversations",), "POST", b"[1, 2]", None),
        (("conversations",), "POST", b"{oops", None),
        (("metrics",), "GET", None, {"since": "yesterday"}),
        (("requests",), "GET", None, {"session_id": "a/b"}),
    ]
    for parts, method, body, params in cases:
        code, headers, err = await api(*parts, method=method, body=body, params=params)
        assert code == 400, (parts, params)
        assert headers["Content-Type"] == "application/json"
        assert err["error"]["code"] in ("invalid_input", "invalid_id") and err["error"]["message"]
    code, _, conv = await api("conversations", method="POST", body={})
    too_long = "y" * (assistant_app.max_message_chars + 1)
    code, _, err = await api("conversations", conv["id"], "messages", method="POST",
                             body={"role": "user", "content": too_long})
    assert code == 400 and "max_message_chars" in err["error"]["message"]
    assert err["error"]["code"] == "message_too_long"  # as POST chat and the orchestrator say
    code, _, err = await api("conversations", conv["id"], "messages", method="POST",
                             body={"role": "system", "content": "x"})
    assert code == 400
    for content, error_code in [("", "empty_message"), ([], "empty_message"),
                                (" \n", "empty_message"),
                                ([{"type": "text", "text": " "}], "empty_message"),
                                (None, "invalid_input"), (["x"], "invalid_input"),
                                ([{"type": "text", "text": 5}], "invalid_input"),
                                ([{"type": "text", "text": too_long}], "message_too_long")]:
        code, _, err = await api("conversations", conv["id"], "messages", method="POST",
                                 body={"role": "user", "content": content})
        assert (code, err["error"]["code"]) == (400, error_code), content
    _, _, page = await api("conversations", conv["id"], "messages")
    assert page["total"] == 0  # nothing refused was stored


@pytest.mark.parametrize("assistant_settings", [{"max_body_bytes": 1000,
                                                 "max_upload_bytes": 4000}])
async def test_bodies_and_uploads_are_size_limited(api: Any, jp_fetch: Any) -> None:
    code, _, err = await api("conversations", method="POST", body={"title": "t" * 2000})
    assert code == 413 and err["error"]["code"] == "payload_too_large"
    assert "1,000 bytes" in err["error"]["message"]
    assert "max_body_bytes" in err["error"]["message"]
    code, _, err = await api("traces", method="POST", body=b"x" * 5000)
    assert code == 413 and "4,000 bytes" in err["error"]["message"]
    assert "max_upload_bytes" in err["error"]["message"]

    # a chunked upload announces no length: counted as it arrives, refused all the same
    async def producer(write: Any) -> None:
        for _ in range(5):
            await write(b"y" * 1000)

    with pytest.raises(HTTPClientError) as info:
        await jp_fetch("assistant", "api", "traces", method="POST", body_producer=producer)
    assert info.value.code == 413
    assert "max_upload_bytes" in json.loads(info.value.response.body)["error"]["message"]


async def test_trace_upload_and_summary_on_real_traces(api: Any) -> None:
    expected = load_trace(KINETO)
    code, _, up = await api("traces", method="POST", body=KINETO.read_bytes(),
                            params={"name": f"../../{KINETO.name}", "max_tokens": 400})
    assert code == 201
    assert up["id"].startswith("tr_") and up["name"] == KINETO.name  # no path kept
    assert up["size"] == KINETO.stat().st_size and up["format"] == "kineto"
    assert "user_id" not in up
    assert up["summary"]["tokens"] <= 400
    assert up["summary"]["text"] == expected.summary(max_tokens=400).text
    top = str(expected.hotspots(1)["name"].iloc[0])
    assert top in up["summary"]["text"]
    code, _, s = await api("traces", up["id"], "summary", params={"max_tokens": 200})
    assert code == 200 and s["id"] == up["id"] and s["tokens"] <= 200
    assert s["text"] == expected.summary(max_tokens=200).text
    # multipart upload of a speedscope profile
    boundary = uuid.uuid4().hex
    body = (f"--{boundary}\r\nContent-Disposition: form-data; name=\"file\"; "
            f"filename=\"{SPEEDSCOPE.name}\"\r\nContent-Type: application/json\r\n\r\n"
            ).encode() + SPEEDSCOPE.read_bytes() + f"\r\n--{boundary}--\r\n".encode()
    code, _, up2 = await api("traces", method="POST", body=body, headers={
        "Content-Type": f"multipart/form-data; boundary={boundary}"})
    assert code == 201 and up2["format"] == "speedscope" and up2["name"] == SPEEDSCOPE.name
    code, _, listing = await api("traces")
    assert [t["id"] for t in listing["items"]] == [up2["id"], up["id"]]
    # what is not a trace is refused and not kept
    code, _, err = await api("traces", method="POST", body=b"this is not a trace",
                             params={"name": "notes.txt"})
    assert code == 400 and err["error"]["code"] == "trace_format"
    assert err["error"]["message"].startswith("notes.txt")
    assert "/" not in err["error"]["message"].split(":")[0]  # never a server path
    code, _, err = await api("traces", method="POST", body=b"{}", params={"format": "exe"})
    assert code == 400
    code, _, listing = await api("traces")
    assert listing["total"] == 2
    code, _, err = await api("traces", "tr_" + "f" * 32, "summary")
    assert code == 404
    code, _, err = await api("traces", "tr_x", "summary", params={"max_tokens": 5})
    assert code == 400


async def test_chat_about_an_uploaded_trace(api: Any, sse: Any, anthropic_peer: Any) -> None:
    code, _, up = await api("traces", method="POST", body=KINETO.read_bytes())
    assert code == 201
    anthropic_peer.script(Reply.tool_use("hotspots", {"n": 3}))
    r = await sse("chat", body={"message": "why slow?", "trace_id": up["id"]})
    assert r.types[-1] == "message_complete"
    (done,) = [e for e in r.events if e["type"] == "tool_use_complete"]
    assert done["data"]["is_error"] is False
    assert "cudaDeviceGetStreamPriorityRange" in done["data"]["content"]
    # the model was sent the trace's summary and the tool result
    first, second = anthropic_peer.message_requests()[-2:]
    assert "cudaDeviceGetStreamPriorityRange" in json.dumps(first["system"])
    assert "cudaDeviceGetStreamPriorityRange" in json.dumps(second["messages"][-1])


async def test_metrics_requests_and_replay(api: Any, sse: Any, anthropic_peer: Any) -> None:
    r1 = await sse("chat", body={"message": "one"})
    r2 = await sse("chat", body={"message": "two"})
    assert r1.types[-1] == r2.types[-1] == "message_complete"
    code, _, page = await api("requests", params={"limit": 1})
    assert code == 200 and page["total"] == 2 and len(page["items"]) == 1
    assert "request" not in page["items"][0]
    sid = r1.events[0]["session_id"]
    code, _, page = await api("requests", params={"session_id": sid, "include_request": 1})
    (rec,) = page["items"]
    assert rec["session_id"] == sid and rec["status"] == "ok" and rec["user_id"] == "local"
    assert rec["request"]["messages"][-1]["content"][0]["text"] == "one"
    assert rec["id"] == r1.events[-2]["data"]["call_id"]  # the usage event names the call
    code, _, one = await api("requests", rec["id"])
    assert code == 200 and one["request"] == rec["request"]
    before = len(anthropic_peer.message_requests())
    code, _, new = await api("requests", rec["id"], "replay", method="POST")
    assert code == 201 and new["replay_of"] == rec["id"] and new["status"] == "ok"
    assert len(anthropic_peer.message_requests()) == before + 1
    assert anthropic_peer.message_requests()[-1]["messages"] == rec["request"]["messages"]
    code, _, metrics = await api("metrics")
    assert code == 200 and metrics["model_calls"]["count"] == 3
    assert metrics["model_calls"]["ok"] == 3
    code, _, later = await api("metrics", params={"since": 4102444800})  # year 2100
    assert later["model_calls"]["count"] == 0
    code, _, err = await api("requests", "mc_missing", "replay", method="POST")
    assert code == 404 and err["error"]["code"] == "not_found"


@pytest.mark.parametrize("assistant_settings", [{"write_rate_limit": "3/minute"}])
async def test_write_rate_limit_answers_429_with_retry_after(api: Any) -> None:
    for i in range(3):
        code, _, _ = await api("conversations", method="POST", body={"title": str(i)})
        assert code == 201
    code, headers, err = await api("conversations", method="POST", body={"title": "4"})
    assert code == 429 and err["error"]["code"] == "rate_limited"
    assert 1 <= int(headers["Retry-After"]) <= 60
    code, _, page = await api("conversations")  # reads are not limited
    assert code == 200 and page["total"] == 3
