"""The REST handlers of ``/assistant/api`` and the URL table (:data:`default_handlers`).

Thin: parse and check the request, call a service of :class:`AssistantApp`, write JSON.
Every object is scoped to the caller's user id; another user's object answers 404 exactly as
a missing one. The streaming endpoints (chat, session events, cancel) are in :mod:`.sse`.

========================================  ======  =============================================
path (under ``/assistant/api``)           verb    what
========================================  ======  =============================================
``info``                                  GET     settings a client needs (models, limits)
``chat``                                  POST    start a turn, stream its events (SSE)
``sessions/{id}``                         GET     a session (``status``, ``last_seq``...)
``sessions/{id}/events``                  GET     resume a session's events (SSE)
``sessions/{id}/cancel``                  POST    cancel the running turn of a session
``conversations``                         GET     list (``limit``, ``offset``) with ``total``
``conversations``                         POST    create (``{"title"?, "model"?}``)
``conversations/{id}``                    GET     one conversation
``conversations/{id}``                    DELETE  delete it and its messages (204)
``conversations/{id}/messages``           GET     its messages (``limit``, ``offset``)
``conversations/{id}/messages``           POST    add a message (``{"role", "content"}``)
``traces``                                GET     the caller's uploaded traces
``traces``                                POST    upload (raw body or multipart ``file``)
``traces/{id}/summary``                   GET     markdown summary (``max_tokens``)
``metrics``                               GET     telemetry aggregates (``since``, ``until``)
``requests``                              GET     model-call records (paginated)
``requests/{id}``                         GET     one model-call record
``requests/{id}/replay``                  POST    re-run a recorded model request
anything else                             any     404, ``{"error": {"code": "not_found"...}}``
========================================  ======  =============================================
"""

from __future__ import annotations

from typing import Any

import anyio.to_thread
from jupyter_server.auth.decorator import authorized
from tornado import httputil, web

from ..exceptions import InputError, NotFoundError
from ..orchestrator import validate_message
from ._base import ID_PATTERN, AssistantHandler, check_id
from .sse import CancelHandler, ChatHandler, SessionEventsHandler

__all__ = ["API_PREFIX", "default_handlers"]

#: Every endpoint lives under this path (after the server's base_url).
API_PREFIX = "/assistant/api"

_SUMMARY_TOKENS_MAX = 20_000


class InfoHandler(AssistantHandler):
    """``GET info``: what a client (the sidebar) needs to know of the server's settings:
    ``model`` (the default model spec, ``provider:model id``), ``allowed_models`` (the specs
    a chat request may choose; empty: any well-formed spec), ``max_upload_bytes`` (largest
    trace upload, bytes) and ``max_message_chars`` (longest user message, characters)."""

    @web.authenticated
    @authorized
    async def get(self) -> None:
        app = self.app
        self.write_json({"model": app.assistant.model,
                         "allowed_models": list(app.allowed_models),
                         "max_upload_bytes": app.max_upload_bytes,
                         "max_message_chars": app.max_message_chars})


class SessionHandler(AssistantHandler):
    """``GET sessions/{id}``: the caller's session record (``status`` is ``running``,
    ``complete``, ``error``, ``cancelled`` or ``interrupted``; ``last_seq``) and whether a
    turn of it runs in this server (``running_here``)."""

    @web.authenticated
    @authorized
    async def get(self, session_id: str) -> None:
        session = await self.app.store.get_session(self.user_id, session_id)
        self.write_json({**session.to_dict(), "running_here": session_id in self.app.turns})


class ConversationsHandler(AssistantHandler):
    """``GET`` lists the caller's conversations; ``POST`` creates one."""

    @web.authenticated
    @authorized
    async def get(self) -> None:
        limit, offset = self.page_args()
        page = await self.app.store.list_conversations(self.user_id, limit=limit, offset=offset)
        self.write_json(page.to_dict())

    @web.authenticated
    @authorized
    async def post(self) -> None:
        body = self.json_body()
        title, model = body.get("title", ""), body.get("model", "")
        if not isinstance(title, str) or len(title) > 200:
            raise InputError("title must be a string of at most 200 characters")
        if not isinstance(model, str) or len(model) > 200:
            raise InputError("model must be a string of at most 200 characters")
        await self.app.rate_limiter.hit("write", self.user_id)
        conv = await self.app.store.create_conversation(self.user_id, title=title, model=model)
        self.write_json(conv.to_dict(), status=201)


class ConversationHandler(AssistantHandler):
    """``GET`` one conversation; ``DELETE`` it with its messages."""

    @web.authenticated
    @authorized
    async def get(self, conversation_id: str) -> None:
        conv = await self.app.store.get_conversation(self.user_id, conversation_id)
        self.write_json(conv.to_dict())

    @web.authenticated
    @authorized
    async def delete(self, conversation_id: str) -> None:
        await self.app.rate_limiter.hit("write", self.user_id)
        await self.app.store.delete_conversation(self.user_id, conversation_id)
        self.set_status(204)
        self.finish()


class MessagesHandler(AssistantHandler):
    """``GET`` the messages of a conversation; ``POST`` adds one (no model call)."""

    @web.authenticated
    @authorized
    async def get(self, conversation_id: str) -> None:
        limit, offset = self.page_args(default_limit=100)
        page = await self.app.store.list_messages(self.user_id, conversation_id,
                                                  limit=limit, offset=offset)
        self.write_json(page.to_dict())

    @web.authenticated
    @authorized
    async def post(self, conversation_id: str) -> None:
        body = self.json_body()
        role, content = body.get("role", "user"), body.get("content")
        if role not in ("user", "assistant"):
            raise InputError("role must be 'user' or 'assistant'")
        validate_message(content, self.app.max_message_chars, blocks=True,
                         setting="c.AssistantApp.max_message_chars")
        await self.app.store.get_conversation(self.user_id, conversation_id)
        await self.app.rate_limiter.hit("write", self.user_id)
        msg = await self.app.store.add_message(self.user_id, conversation_id, role, content,
                                               metadata={"source": "api"})
        self.write_json(msg.to_dict(), status=201)


class TracesHandler(AssistantHandler):
    """``GET`` lists the caller's traces; ``POST`` uploads one: the raw body (name in
    ``?name=``), or ``multipart/form-data`` with a ``file`` field. ``?format=`` forces a
    reader. At most ``max_upload_bytes`` (413 above)."""

    @property
    def body_limit(self) -> int:
        return self.app.max_upload_bytes

    @property
    def body_limit_trait(self) -> str:
        return "max_upload_bytes"

    @web.authenticated
    @authorized
    async def get(self) -> None:
        items = await self.app.traces.list(self.user_id)
        self.write_json({"items": [_public(m) for m in items], "total": len(items)})

    @web.authenticated
    @authorized
    async def post(self) -> None:
        data = self.body_bytes()
        name = self.get_query_argument("name", "trace") or "trace"
        fmt = self.get_query_argument("format", None) or None
        ctype = self.request.headers.get("Content-Type", "")
        if ctype.startswith("multipart/form-data"):
            files: dict[str, list[httputil.HTTPFile]] = {}
            try:
                httputil.parse_body_arguments(ctype, data, {}, files, self.request.headers)
            except httputil.HTTPInputError as exc:
                raise InputError(str(exc)) from None
            if not files.get("file"):
                raise InputError("the multipart body has no 'file' field")
            upload = files["file"][0]
            data, name = upload.body, upload.filename or name
        await self.app.rate_limiter.hit("write", self.user_id)
        meta, trace = await self.app.traces.save(self.user_id, data, name=name, format=fmt)
        max_tokens = self.int_arg("max_tokens", 1500, low=100, high=_SUMMARY_TOKENS_MAX)
        summary = await _summary(trace, max_tokens)
        self.write_json({**_public(meta), "summary": summary}, status=201)


class TraceSummaryHandler(AssistantHandler):
    """``GET traces/{id}/summary?max_tokens=N``: ``{"id", "text", "tokens"}``."""

    @web.authenticated
    @authorized
    async def get(self, trace_id: str) -> None:
        max_tokens = self.int_arg("max_tokens", 1500, low=100, high=_SUMMARY_TOKENS_MAX)
        trace = await self.app.traces.get(self.user_id, trace_id)
        self.write_json({"id": trace_id, **await _summary(trace, max_tokens)})


class MetricsHandler(AssistantHandler):
    """``GET metrics?since=&until=`` (Unix seconds): the store's aggregates for the caller."""

    @web.authenticated
    @authorized
    async def get(self) -> None:
        since, until = self.float_arg("since"), self.float_arg("until")
        self.write_json(await self.app.store.metrics(user_id=self.user_id, since=since,
                                                     until=until))


class RequestsHandler(AssistantHandler):
    """``GET requests``: the caller's model-call records, newest first, paginated; filters
    ``session_id``, ``conversation_id``, ``since``, ``until``. The replayable ``request``
    body is left out unless ``include_request=1``."""

    @web.authenticated
    @authorized
    async def get(self) -> None:
        limit, offset = self.page_args()
        filters: dict[str, Any] = {}
        for key in ("session_id", "conversation_id"):
            value = self.get_query_argument(key, None)
            if value:
                filters[key] = check_id(value, key)
        page = await self.app.store.list_model_calls(
            user_id=self.user_id, since=self.float_arg("since"), until=self.float_arg("until"),
            limit=limit, offset=offset, **filters)
        out = page.to_dict()
        if self.get_query_argument("include_request", "0") not in ("1", "true"):
            for item in out["items"]:
                item.pop("request", None)
        self.write_json(out)


class RequestHandler(AssistantHandler):
    """``GET requests/{id}``: one model-call record of the caller, with its request."""

    @web.authenticated
    @authorized
    async def get(self, call_id: str) -> None:
        record = await self.app.store.get_model_call(call_id)
        if record.user_id != self.user_id:
            raise NotFoundError(f"request {call_id!r} not found")
        self.write_json(record.to_dict())


class ReplayHandler(AssistantHandler):
    """``POST requests/{id}/replay``: re-run the recorded request; returns the new record.
    Counts against the chat rate limit (it calls the model)."""

    @web.authenticated
    @authorized
    async def post(self, call_id: str) -> None:
        record = await self.app.store.get_model_call(call_id)
        if record.user_id != self.user_id:
            raise NotFoundError(f"request {call_id!r} not found")
        await self.app.rate_limiter.hit("chat", self.user_id)
        new = await self.app.assistant.replay(call_id)
        self.write_json(new.to_dict(), status=201)


class NotFoundHandler(AssistantHandler):
    """Any other path under ``/assistant/api``: an unknown endpoint, or a known one with an
    id that does not match :data:`~._base.ID_PATTERN`. Answers 404 with the JSON error shape
    (code ``not_found``) after the same authentication as every endpoint, instead of
    Jupyter's HTML page."""

    def _not_found(self) -> None:
        raise NotFoundError(
            f"{self.request.method} {self.request.path}: no such endpoint under "
            f"{API_PREFIX} (ids are 1-128 characters of [A-Za-z0-9_.-], starting with a "
            "letter or digit)")

    @web.authenticated
    @authorized
    async def get(self, path: str) -> None:
        self._not_found()

    @web.authenticated
    @authorized
    async def post(self, path: str) -> None:
        self._not_found()

    @web.authenticated
    @authorized
    async def put(self, path: str) -> None:
        self._not_found()

    @web.authenticated
    @authorized
    async def patch(self, path: str) -> None:
        self._not_found()

    @web.authenticated
    @authorized
    async def delete(self, path: str) -> None:
        self._not_found()


def _public(meta: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in meta.items() if k != "user_id"}


async def _summary(trace: Any, max_tokens: int) -> dict[str, Any]:
    summary = await anyio.to_thread.run_sync(lambda: trace.summary(max_tokens=max_tokens))
    return {"text": summary.text, "tokens": summary.tokens}


def _id(name: str) -> str:
    return f"(?P<{name}>{ID_PATTERN})"


#: ``(pattern, handler)`` pairs, relative to the server's base_url.
default_handlers: list[tuple[str, type[web.RequestHandler]]] = [
    (f"{API_PREFIX}/info", InfoHandler),
    (f"{API_PREFIX}/chat", ChatHandler),
    (f"{API_PREFIX}/sessions/{_id('session_id')}", SessionHandler),
    (f"{API_PREFIX}/sessions/{_id('session_id')}/events", SessionEventsHandler),
    (f"{API_PREFIX}/sessions/{_id('session_id')}/cancel", CancelHandler),
    (f"{API_PREFIX}/conversations", ConversationsHandler),
    (f"{API_PREFIX}/conversations/{_id('conversation_id')}", ConversationHandler),
    (f"{API_PREFIX}/conversations/{_id('conversation_id')}/messages", MessagesHandler),
    (f"{API_PREFIX}/traces", TracesHandler),
    (f"{API_PREFIX}/traces/{_id('trace_id')}/summary", TraceSummaryHandler),
    (f"{API_PREFIX}/metrics", MetricsHandler),
    (f"{API_PREFIX}/requests", RequestsHandler),
    (f"{API_PREFIX}/requests/{_id('call_id')}", RequestHandler),
    (f"{API_PREFIX}/requests/{_id('call_id')}/replay", ReplayHandler),
    # last: everything else under the prefix answers a JSON 404
    (f"{API_PREFIX}/(?P<path>.*)", NotFoundHandler),
]
