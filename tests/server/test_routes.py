"""Every route the running server serves under ``/assistant/api``, found from its router (not
from a hand-written list), and every verb each implements: none answers an unauthenticated
request, and every unsafe verb refuses a cookie-authenticated request without XSRF. A
handler added later without authentication fails here."""

from __future__ import annotations

import re
from http.cookies import SimpleCookie
from typing import Any

import pytest
from tornado import web
from tornado.routing import PathMatches, Rule

from jupyter_assistant.server import AssistantApp

#: Verbs tornado dispatches to a handler method of the same name.
VERBS = ("GET", "HEAD", "POST", "DELETE", "PATCH", "PUT", "OPTIONS")
UNSAFE = ("POST", "DELETE", "PATCH", "PUT")
_GROUP = re.compile(r"\(\?P<(\w+)>[^()]*\)")


def _rules(router: Any) -> list[Rule]:
    out: list[Rule] = []
    for rule in getattr(router, "rules", []):
        if isinstance(rule.target, type):
            out.append(rule)
        else:
            out.extend(_rules(rule.target))
    return out


def api_routes(serverapp: Any) -> list[tuple[str, str, type[web.RequestHandler]]]:
    """``(verb, concrete path, handler class)`` for every verb every route under
    ``/assistant/api`` implements itself (not tornado's 405 stub). Jupyter's CORS preflight
    ``OPTIONS`` (``APIHandler.options``, marked ``allow_unauthenticated``, no data) is left
    out."""
    found = []
    for rule in _rules(serverapp.web_app.default_router):
        if not isinstance(rule.matcher, PathMatches):
            continue
        pattern = rule.matcher.regex.pattern
        if "/assistant/api" not in pattern:
            continue
        path = _GROUP.sub(lambda m: f"{m.group(1).split('_')[0][:2]}_{'0' * 32}", pattern)
        path = path.rstrip("$")
        assert rule.matcher.regex.fullmatch(path), (pattern, path)
        cls = rule.target
        for verb in VERBS:
            impl = getattr(cls, verb.lower())
            if impl is getattr(web.RequestHandler, verb.lower()):
                continue  # not implemented: 405
            if verb == "OPTIONS" and not impl.__module__.startswith("jupyter_assistant"):
                continue
            found.append((verb, path, cls))
    return found


def test_the_router_walk_finds_every_endpoint(jp_serverapp: Any,
                                              assistant_app: AssistantApp) -> None:
    routes = api_routes(jp_serverapp)
    verbs = {(v, p.split("/assistant/api/", 1)[1]) for v, p, _ in routes}
    # the walk is not empty and sees the DESIGN.md endpoints (a broken walk would pass below)
    assert {("POST", "chat"), ("GET", "conversations"), ("POST", "conversations"),
            ("DELETE", f"conversations/co_{'0' * 32}"), ("POST", "traces"),
            ("GET", "metrics"), ("POST", f"requests/ca_{'0' * 32}/replay")} <= verbs
    assert len(routes) >= 17
    for _, _, cls in routes:
        # every verb goes through the extension's base (auth, JSON errors, body limits)
        assert cls.__module__.startswith("jupyter_assistant.server"), cls
        assert cls.auth_resource == "assistant", cls


@pytest.mark.parametrize("headers", [{"Authorization": ""},
                                     {"Authorization": "token wrong-token"},
                                     {"Authorization": "", "Cookie": "username-x=forged"}])
async def test_every_route_and_verb_refuses_unauthenticated_requests(
        jp_serverapp: Any, jp_fetch: Any, assistant_app: AssistantApp,
        headers: dict[str, str]) -> None:
    from tornado.httpclient import HTTPClientError

    routes = api_routes(jp_serverapp)
    assert routes
    await assistant_app.ready()
    store_before = await assistant_app.store.list_conversations("local")
    for verb, path, _ in routes:
        body = b'{"message": "hi", "title": "x"}' if verb in UNSAFE else None
        parts = path.split("/assistant/api/", 1)[1].split("/")
        with pytest.raises(HTTPClientError) as info:
            await jp_fetch("assistant", "api", *parts, method=verb, body=body,
                           headers=dict(headers), allow_nonstandard_methods=True)
        assert info.value.code in (401, 403), (verb, path, info.value.code)
    # nothing was written by any of them
    after = await assistant_app.store.list_conversations("local")
    assert after.total == store_before.total == 0


async def test_every_unsafe_verb_needs_xsrf_with_cookie_auth(
        jp_serverapp: Any, jp_fetch: Any, api: Any, assistant_app: AssistantApp) -> None:
    from tornado.httpclient import HTTPClientError

    code, headers, _ = await api("conversations")  # token-authenticated: sets a login cookie
    assert code == 200
    jar: SimpleCookie = SimpleCookie()
    for value in headers.get_list("Set-Cookie"):
        jar.load(value)
    login = next(k for k in jar if k.startswith("username-"))
    cookie = {"Authorization": "", "Cookie": f"{login}={jar[login].value}"}
    unsafe = [(v, p) for v, p, _ in api_routes(jp_serverapp) if v in UNSAFE]
    assert len(unsafe) >= 7
    for verb, path in unsafe:
        parts = path.split("/assistant/api/", 1)[1].split("/")
        with pytest.raises(HTTPClientError) as info:
            await jp_fetch("assistant", "api", *parts, method=verb,
                           body=b'{"message": "hi", "title": "x"}', headers=dict(cookie),
                           allow_nonstandard_methods=True)
        assert info.value.code == 403, (verb, path, info.value.code)
        assert b"xsrf" in info.value.response.body.lower(), (verb, path)
    assert (await assistant_app.store.list_conversations("local")).total == 0
