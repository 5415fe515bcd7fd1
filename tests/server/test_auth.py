"""Authentication, authorisation, XSRF and per-user scoping of every ``/assistant/api``
endpoint, on a real Jupyter server; plus the extension's registration."""

from __future__ import annotations

import json
import re
from http.cookies import SimpleCookie
from pathlib import Path
from typing import Any

import pytest
from jupyter_server.auth import IdentityProvider, User

import jupyter_assistant
from jupyter_assistant.server import AssistantApp
from jupyter_assistant.server.handlers import NotFoundHandler, default_handlers

#: Tokens of the two-user identity provider -> user names.
TOKENS = {"alice-token": "alice", "bob-token": "bob"}


class TwoUsersIdentityProvider(IdentityProvider):
    """``Authorization: token alice-token`` is alice, ``bob-token`` is bob; anything else
    goes through Jupyter's usual token/cookie checks."""

    async def get_user(self, handler: Any) -> User | None:  # type: ignore[override]
        token = self.get_token(handler)
        if token in TOKENS:
            handler._token_authenticated = True
            return User(username=TOKENS[token])
        return await self._get_user(handler)


def auth(token: str) -> dict[str, str]:
    return {"Authorization": f"token {token}"}


ROOT = Path(__file__).resolve().parents[2]
TRACE = (Path(__file__).resolve().parents[3] / "shared" / "traces" / "hta" / "cpu_only"
         / "rank-34.Jul_15_10_52_41.1074.pt.trace.json.gz")
TWO_USERS = {"identity_provider_class": TwoUsersIdentityProvider}

#: Every (method, path) of the API, with ids that look real.
ENDPOINTS = [
    ("GET", "info"), ("POST", "chat"), ("GET", "sessions/s_1"), ("GET", "sessions/s_1/events"),
    ("POST", "sessions/s_1/cancel"), ("GET", "conversations"), ("POST", "conversations"),
    ("GET", "conversations/c1"), ("DELETE", "conversations/c1"),
    ("GET", "conversations/c1/messages"), ("POST", "conversations/c1/messages"),
    ("GET", "traces"), ("POST", "traces"), ("GET", f"traces/tr_{'0' * 32}/summary"),
    ("GET", "metrics"), ("GET", "requests"), ("GET", "requests/mc_1"),
    ("POST", "requests/mc_1/replay"),
]


def test_every_route_is_in_the_endpoint_table() -> None:
    routes = {pattern for pattern, _ in default_handlers}
    assert len(routes) == len(default_handlers) == 15
    # the last route catches every other path under the prefix (a JSON 404)
    *endpoints, (catch_all, not_found) = default_handlers
    assert not_found is NotFoundHandler and catch_all == "/assistant/api/(?P<path>.*)"
    for method, path in ENDPOINTS:
        matches = [h for p, h in endpoints if re.fullmatch(p, "/assistant/api/" + path)]
        assert len(matches) == 1, path
        assert hasattr(matches[0], method.lower()), (method, path)


@pytest.mark.parametrize("headers", [{"Authorization": ""},
                                     {"Authorization": "token wrong-token"}])
async def test_every_endpoint_refuses_unauthenticated_requests(api: Any,
                                                               headers: dict) -> None:
    for method, path in ENDPOINTS:
        body = json.dumps({"message": "hi"}) if method == "POST" else None
        code, _, payload = await api(*path.split("/"), method=method, body=body,
                                     headers=dict(headers))
        assert code == 403, (method, path, code)
        assert payload["error"]["code"] == "forbidden", (method, path)


async def test_cookie_authenticated_post_needs_xsrf(api: Any, jp_serverapp: Any) -> None:
    code, headers, _ = await api("conversations")  # token-authenticated: sets a login cookie
    assert code == 200
    jar: SimpleCookie = SimpleCookie()
    for value in headers.get_list("Set-Cookie"):
        jar.load(value)
    login = next(k for k in jar if k.startswith("username-"))
    cookie = f"{login}={jar[login].value}"
    no_token = {"Authorization": "", "Cookie": cookie}
    # the cookie alone authenticates a GET...
    code, _, _ = await api("conversations", headers=dict(no_token))
    assert code == 200
    # ...but a POST with only the cookie is a cross-site request forgery candidate: refused
    code, _, payload = await api("conversations", method="POST", body={"title": "x"},
                                 headers=dict(no_token))
    assert code == 403 and "xsrf" in payload["error"]["message"].lower()
    code, _, payload = await api("chat", method="POST", body={"message": "hi"},
                                 headers=dict(no_token))
    assert code == 403
    # with the XSRF double-submit (cookie + header) it is accepted
    xsrf = {"Authorization": "", "Cookie": f"{cookie}; _xsrf=0123abcd",
            "X-XSRFToken": "0123abcd"}
    code, _, payload = await api("conversations", method="POST", body={"title": "x"},
                                 headers=xsrf)
    assert code == 201 and payload["title"] == "x"


async def test_stock_identity_provider_maps_every_caller_to_one_user(
        api: Any, assistant_app: AssistantApp) -> None:
    # Jupyter's stock provider makes a random anonymous user per token request; the
    # extension's "auto" identity maps them to the single user "local" (shared with kernels)
    code, _, conv = await api("conversations", method="POST", body={"title": "mine"})
    assert code == 201 and conv["user_id"] == "local"
    code, _, page = await api("conversations")
    assert [c["id"] for c in page["items"]] == [conv["id"]]


@pytest.mark.parametrize("server_settings", [TWO_USERS])
async def test_users_never_see_each_others_objects(api: Any, sse: Any,
                                                   anthropic_peer: Any) -> None:
    alice, bob = auth("alice-token"), auth("bob-token")
    assert set(TOKENS.values()) == {"alice", "bob"}
    r = await sse("chat", body={"message": "alice's question"}, headers=alice)
    assert r.types[-1] == "message_complete"
    sid, cid = r.events[0]["session_id"], r.events[0]["data"]["conversation_id"]
    code, _, trace = await api("traces", method="POST", body=TRACE.read_bytes(),
                               headers={**alice, "Content-Type": "application/octet-stream"},
                               params={"name": TRACE.name})
    assert code == 201
    code, _, reqs = await api("requests", headers=alice)
    assert code == 200 and reqs["total"] == 1
    call_id = reqs["items"][0]["id"]
    code, _, conv = await api("conversations", cid, headers=alice)
    assert code == 200 and conv["user_id"] == "alice"

    # bob sees nothing of alice's: lists are empty, objects answer 404 like missing ones
    code, _, page = await api("conversations", headers=bob)
    assert (code, page["total"], page["items"]) == (200, 0, [])
    code, _, page = await api("requests", headers=bob)
    assert (code, page["total"]) == (200, 0)
    code, _, page = await api("traces", headers=bob)
    assert (code, page["items"]) == (200, [])
    code, _, metrics = await api("metrics", headers=bob)
    assert code == 200 and metrics["model_calls"]["count"] == 0
    for method, parts, body in [
        ("GET", ("conversations", cid), None),
        ("DELETE", ("conversations", cid), None),
        ("GET", ("conversations", cid, "messages"), None),
        ("POST", ("conversations", cid, "messages"), {"role": "user", "content": "x"}),
        ("GET", ("sessions", sid), None),
        ("GET", ("sessions", sid, "events"), None),
        ("POST", ("sessions", sid, "cancel"), None),
        ("GET", ("traces", trace["id"], "summary"), None),
        ("GET", ("requests", call_id), None),
        ("POST", ("requests", call_id, "replay"), None),
        ("POST", ("chat",), {"message": "hijack", "conversation_id": cid}),
        ("POST", ("chat",), {"message": "hijack", "session_id": sid}),
        ("POST", ("chat",), {"message": "hijack", "trace_id": trace["id"]}),
    ]:
        code, _, payload = await api(*parts, method=method, body=body, headers=bob)
        assert (code, payload["error"]["code"]) == (404, "not_found"), (method, parts)
    # alice still has all of it
    code, _, msgs = await api("conversations", cid, "messages", headers=alice)
    assert code == 200 and msgs["total"] == 2
    code, _, summary = await api("traces", trace["id"], "summary", headers=alice)
    assert code == 200 and summary["tokens"] > 0


def test_extension_is_registered_and_enabled_on_install() -> None:
    (point,) = jupyter_assistant._jupyter_server_extension_points()
    assert point == {"module": "jupyter_assistant.server", "app": AssistantApp}
    assert AssistantApp.name == "jupyter_assistant"
    config = ROOT / "jupyter-config/jupyter_server_config.d/jupyter_assistant.json"
    assert json.loads(config.read_text()) == {
        "ServerApp": {"jpserver_extensions": {"jupyter_assistant": True}}}
    tomllib = pytest.importorskip("tomllib")  # Python >= 3.11
    pyproject = tomllib.loads((ROOT / "pyproject.toml").read_text())
    shared = pyproject["tool"]["hatch"]["build"]["targets"]["wheel"]["shared-data"]
    assert shared[str(config.relative_to(ROOT))] == \
        "etc/jupyter/jupyter_server_config.d/jupyter_assistant.json"
    assert "_jupyter_server_extension_points" not in jupyter_assistant.__all__
