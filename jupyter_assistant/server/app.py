"""``AssistantApp``: the Jupyter server extension that hosts the assistant.

Enabled on install (``jupyter-config/jupyter_server_config.d/jupyter_assistant.json``); its
settings are the traitlets below (``c.AssistantApp.<name>`` in ``jupyter_server_config.py``
or ``--AssistantApp.<name>=`` on the command line). The services it builds are typed
attributes that the handlers reach as ``self.app.<service>``:

- :attr:`AssistantApp.store` — the conversation / session / telemetry store;
- :attr:`AssistantApp.assistant` — the orchestrator (one per model spec, see
  :meth:`AssistantApp.assistant_for`);
- :attr:`AssistantApp.rate_limiter` — per-user limits for chats and writes;
- :attr:`AssistantApp.traces` — uploaded traces;
- :attr:`AssistantApp.turns` — the turns running in this process.

At start the store is opened, sessions left ``running`` by a server that died are marked
``interrupted`` (:mod:`._recovery`), and the task that owns the extension's anyio task group
starts: every background turn (and, on a shared store, the sweeper of dead servers' sessions)
runs in that group. At stop the running turns are cancelled, the group is closed, the store
is closed.
"""

from __future__ import annotations

import asyncio
import contextlib
import re
import signal
import threading
from pathlib import Path
from typing import TYPE_CHECKING, Any

import anyio
from jupyter_core.paths import jupyter_data_dir
from jupyter_server.auth.identity import IdentityProvider, PasswordIdentityProvider
from jupyter_server.extension.application import ExtensionApp
from traitlets import Bool, Enum, Float, Int, List, Unicode, default

from ..exceptions import ConfigError, InputError
from ._recovery import recover_interrupted_sessions
from ._traces import TraceRegistry
from ._turns import TurnRegistry

if TYPE_CHECKING:
    from ..config import AssistantConfig
    from ..orchestrator import Assistant
    from ..store import RateLimiter, Store

__all__ = ["AssistantApp"]

#: A model spec a request may name: ``offline`` or ``<provider>:<model id>``.
_MODEL_SPEC_RE = re.compile(
    r"(offline|anthropic|openai)(:[A-Za-z0-9][A-Za-z0-9._:/@\-]{0,127})?")

#: Sessions not updated for this long past the turn deadline belong to a dead server.
_STALE_MARGIN_S = 60.0


def _from_assistant_config(name: str) -> Any:
    """A traitlets default that reads ``name`` from :attr:`AssistantApp.assistant_config`."""

    @default(name)
    def _default(self: AssistantApp) -> Any:
        return getattr(self.assistant_config, name)

    return _default


class AssistantApp(ExtensionApp):
    """The jupyter-assistant server extension: the HTTP + SSE API under ``/assistant/api``."""

    name = "jupyter_assistant"
    load_other_extensions = True

    # -- model and limits (forwarded to the orchestrator) -----------------------------------

    model = Unicode(
        "", config=True,
        help="""Model the assistant uses: "anthropic:<model id>", "openai:<model id>" (an
        OpenAI-compatible endpoint from OPENAI_BASE_URL) or "offline" (no language model;
        a rule-based planner over the same tools). Empty: c.AssistantConfig.model, else
        Anthropic's default model when ANTHROPIC_API_KEY is set, else "offline".""")
    allowed_models = List(
        Unicode(), default_value=[], config=True,
        help="""Model specs a chat request may choose with its "model" field. Empty: any
        well-formed spec ("offline", "anthropic" or "openai", optionally followed by
        ":<model id>"); set it to restrict what users may run (and pay for) on a shared
        server.""")
    turn_deadline = Float(
        config=True,
        help="""Longest a whole turn may run, in seconds (then an error event). Default:
        AssistantConfig.turn_deadline (90).""")
    tool_timeout = Float(
        config=True,
        help="Default timeout of one tool call, in seconds. Default: "
             "AssistantConfig.tool_timeout (30).")
    stream_idle_timeout = Float(
        config=True,
        help="Longest wait for the next piece of a model's stream, in seconds. Default: "
             "AssistantConfig.stream_idle_timeout (45).")
    max_model_calls = Int(
        config=True,
        help="Most model calls in one turn (tool-use iterations). Default: "
             "AssistantConfig.max_model_calls (10).")
    max_message_chars = Int(
        config=True,
        help="Longest user message accepted, in characters (longer: HTTP 400). Default: "
             "AssistantConfig.max_message_chars (10,000).")
    auto_approve = Bool(
        config=True,
        help="""Run tools that ask for approval (file edits) without asking. Default:
        AssistantConfig.auto_approve (off): leave it off on any server whose users should
        review edits.""")
    root_dir = Unicode(
        config=True,
        help="""Directory the file tools are confined to. Default: the Jupyter server's
        root_dir.""")

    # -- store and limits --------------------------------------------------------------------

    store_url = Unicode(
        "", config=True,
        help="""Where conversations, sessions and telemetry live: "sqlite:///<path>" (or a
        plain path), "redis://host:port/db" (several servers, JupyterHub) or "memory://"
        (lost at exit). Empty: c.AssistantConfig.store_url, else a SQLite file in the
        Jupyter data directory (<jupyter --data-dir>/jupyter_assistant/assistant.db).""")
    chat_rate_limit = Unicode(
        "5/minute", config=True,
        help="""Chat turns (and replays) one user may start, in the `limits` notation
        ("5/minute", "100 per hour", "10/second;200/hour"). Over it: HTTP 429 with
        Retry-After.""")
    write_rate_limit = Unicode(
        "10/minute", config=True,
        help="""Writes one user may make (create/delete conversations, add messages, upload
        traces), in the `limits` notation. Over it: HTTP 429 with Retry-After.""")
    rate_limit_storage_url = Unicode(
        "", config=True,
        help="""Storage of the rate-limit counters, a `limits` storage URL ("memory://",
        "redis://..."). Empty: the Redis of store_url when it is Redis, else memory.""")
    max_body_bytes = Int(
        1024 * 1024, config=True,
        help="Largest JSON request body accepted, in bytes (larger: HTTP 413).")
    max_upload_bytes = Int(
        100 * 1024 * 1024, config=True,
        help="Largest trace upload accepted by POST /assistant/api/traces, in bytes "
             "(larger: HTTP 413).")
    max_trace_bytes = Int(
        512 * 1024 * 1024, config=True,
        help="""Largest uncompressed size of an uploaded trace, in bytes: a gzip upload that
        inflates past it is refused (HTTP 400) without inflating further, so a small
        decompression bomb cannot exhaust the server's memory.""")
    traces_dir = Unicode(
        "", config=True,
        help="""Directory where uploaded traces are kept (named by server-generated ids).
        Empty: <jupyter --data-dir>/jupyter_assistant/traces.""")

    # -- identity, streaming, shutdown ------------------------------------------------------

    user_identity = Enum(
        ["auto", "username", "single"], default_value="auto", config=True,
        help="""How the store's user id is derived from the Jupyter identity. "username":
        the identity provider's username (JupyterHub, custom providers). "single": one id
        for every caller (single_user_id), the right choice for a personal server whose
        token-authenticated requests carry no stable user. "auto": "single" with Jupyter's
        stock token/password identity providers (they make a random anonymous user per
        token request), "username" with any other provider.""")
    single_user_id = Unicode(
        "local", config=True,
        help="""The user id of a single-user server (see user_identity); "local" is also the
        id the %assistant magics use, so the sidebar and notebooks share conversations.""")
    sse_keepalive_interval = Float(
        15.0, config=True,
        help="Seconds between SSE keep-alive comments while a stream has no event.")
    shutdown_grace = Float(
        5.0, config=True,
        help="Seconds running turns get to end after being cancelled at shutdown.")

    # c.AssistantConfig.<name> applies unless c.AssistantApp.<name> is set
    _default_turn_deadline = _from_assistant_config("turn_deadline")
    _default_tool_timeout = _from_assistant_config("tool_timeout")
    _default_stream_idle_timeout = _from_assistant_config("stream_idle_timeout")
    _default_max_model_calls = _from_assistant_config("max_model_calls")
    _default_max_message_chars = _from_assistant_config("max_message_chars")
    _default_auto_approve = _from_assistant_config("auto_approve")

    @property
    def assistant_config(self) -> AssistantConfig:
        """The orchestrator's settings (``c.AssistantConfig.*`` of the server's config)."""
        if self._assistant_config is None:
            from ..config import AssistantConfig

            self._assistant_config = AssistantConfig(parent=self)
        return self._assistant_config

    _assistant_config: AssistantConfig | None = None

    @default("root_dir")
    def _default_root_dir(self) -> str:
        return str(getattr(self.serverapp, "root_dir", "") or Path.cwd())

    # -- services (built by initialize_settings) --------------------------------------------

    store: Store
    assistant: Assistant
    rate_limiter: RateLimiter
    traces: TraceRegistry
    turns: TurnRegistry
    _is_ready = False
    _ready_lock: asyncio.Lock | None = None
    #: The one asyncio task the extension creates: it owns the anyio task group that every
    #: background turn (and the shared store's sweeper) runs in (:meth:`_run_tasks`).
    _tasks_owner: asyncio.Task[None] | None = None
    _tasks_stop: anyio.Event | None = None
    _stopping: asyncio.Task[None] | None = None
    _prewarm_threads: list[threading.Thread] = []  # noqa: RUF012 - replaced, never mutated

    def initialize_settings(self) -> None:
        """Build the services (nothing is opened or started yet: see :meth:`ready`)."""
        from .. import prewarm
        from ..store import RateLimiter, open_store

        # the SDKs of the models requests may name, and the built-in tools, are imported in
        # the background from now on, not in the event loop at the first chat
        self._prewarm_threads = [prewarm(spec or None, config=self.assistant_config)
                                 for spec in dict.fromkeys([self.model, *self.allowed_models])]

        self.store = open_store(self._store_url())
        self.rate_limiter = RateLimiter(self._rate_limit_storage(),
                                        chat=self.chat_rate_limit, write=self.write_rate_limit)
        self.traces = TraceRegistry(self.traces_dir or
                                    Path(jupyter_data_dir()) / "jupyter_assistant" / "traces",
                                    max_bytes=self.max_trace_bytes)
        self.turns = TurnRegistry(self.store)
        self._assistants: dict[str, Assistant] = {}
        self.assistant = self._make_assistant(self.model or None)
        self._assistants[self.model or ""] = self.assistant
        self.log.info("jupyter-assistant: store %r, model %r", self.store,
                      self.model or "(default)")

    def initialize_handlers(self) -> None:
        from .handlers import default_handlers

        self.handlers.extend(default_handlers)

    def _store_url(self) -> str:
        # "sqlite://": the SQLite file in the Jupyter data directory
        return self.store_url or self.assistant_config.store_url or "sqlite://"

    def _rate_limit_storage(self) -> str:
        if self.rate_limit_storage_url:
            return self.rate_limit_storage_url
        if self.shared_store:  # the store's Redis, without its key_prefix query
            return self._store_url().split("?", 1)[0]
        return "memory://"

    @property
    def shared_store(self) -> bool:
        """True when several servers may share the store (Redis)."""
        return self._store_url().startswith(("redis://", "rediss://", "unix://"))

    def _make_assistant(self, model: str | None) -> Assistant:
        from .. import Assistant
        from ..tools import notebook_tools

        # the sidebar shows notebook cell edits as diffs: it offers propose_cell_edit
        return Assistant(
            model, notebook_tools(), config=self.assistant_config, store=self.store,
            root=self.root_dir, auto_approve=self.auto_approve,
            tool_timeout=self.tool_timeout, stream_idle_timeout=self.stream_idle_timeout,
            turn_deadline=self.turn_deadline, max_model_calls=self.max_model_calls,
            max_message_chars=self.max_message_chars)

    def assistant_for(self, model: str | None) -> Assistant:
        """The orchestrator for ``model`` (a spec from a request; ``None``: the default).

        Raises :class:`InputError` for a malformed spec or one not in ``allowed_models``.
        """
        if not model or model == self.model:
            return self.assistant
        if not isinstance(model, str) or not _MODEL_SPEC_RE.fullmatch(model):
            raise InputError(f"model must be 'offline', 'anthropic' or 'openai', optionally "
                             f"followed by ':<model id>', not {model!r}")
        if self.allowed_models and model not in self.allowed_models:
            raise InputError(f"model {model!r} is not allowed here; allowed: "
                             f"{sorted(self.allowed_models)} (c.AssistantApp.allowed_models)")
        assistant = self._assistants.get(model)
        if assistant is None:
            try:
                assistant = self._make_assistant(model)
            except ConfigError as exc:
                raise InputError(f"model {model!r}: {exc.message}") from None
            self._assistants[model] = assistant
        return assistant

    def user_id_for(self, user: Any) -> str:
        """The store's user id for a Jupyter ``User`` (see :attr:`user_identity`)."""
        mode = self.user_identity
        if mode == "auto":
            provider = getattr(self.serverapp, "identity_provider", None)
            stock = type(provider) in (IdentityProvider, PasswordIdentityProvider)
            mode = "single" if stock else "username"
        if mode == "single":
            return self.single_user_id
        return str(user.username)

    # -- lifecycle ---------------------------------------------------------------------------

    async def ready(self) -> None:
        """Open the store and recover interrupted sessions, once (idempotent, concurrency
        safe); called at server start and by every request before it uses a service."""
        if self._is_ready:
            return
        if self._ready_lock is None:
            self._ready_lock = asyncio.Lock()
        async with self._ready_lock:
            if self._is_ready:
                return
            await self.store.open()
            await recover_interrupted_sessions(
                self.store, running_here=self.turns,
                stale_after=self._stale_after() if self.shared_store else None)
            await self._start_tasks()
            self._is_ready = True

    async def _start_tasks(self) -> None:
        """Start the task that owns the extension's task group; return once turns can run."""
        if self._tasks_owner is not None and not self._tasks_owner.done():
            return
        started = anyio.Event()
        self._tasks_stop = anyio.Event()
        # Jupyter's event loop is plain asyncio (tornado), so the root of the extension's
        # structured concurrency is one task; everything else is in its anyio task group
        self._tasks_owner = asyncio.get_running_loop().create_task(
            self._run_tasks(started, self._tasks_stop), name="jupyter-assistant-tasks")
        await started.wait()

    async def _run_tasks(self, started: anyio.Event, stop: anyio.Event) -> None:
        async with anyio.create_task_group() as tg:
            self.turns.attach(tg)
            if self.shared_store:
                tg.start_soon(self._sweep, name="jupyter-assistant-sweep")
            started.set()
            try:
                await stop.wait()
            finally:
                self.turns.attach(None)
                tg.cancel_scope.cancel()  # the sweeper; turns were ended by turns.shutdown

    def _stale_after(self) -> float:
        return self.turn_deadline + _STALE_MARGIN_S

    async def _start_jupyter_server_extension(self, serverapp: Any) -> None:
        await self.ready()
        self._stop_on_sigint(serverapp)

    def _stop_on_sigint(self, serverapp: Any) -> None:
        """Make SIGINT stop the server as SIGTERM does when no one can be asked.

        With a terminal, Jupyter asks before it stops on Ctrl-C (then stops cleanly). Without
        one (a service, a container, ``kill -INT``) it leaves SIGINT to Python's
        ``KeyboardInterrupt``, which breaks out of the event loop without stopping the
        extensions: running turns would be cut off instead of ending ``cancelled``. Here
        SIGINT then goes to ``ServerApp._signal_stop``, Jupyter's SIGTERM handler (the one
        JupyterHub installs for SIGINT too). A handler someone else installed is kept.
        """
        stop = getattr(serverapp, "_signal_stop", None)
        if (stop is None or threading.current_thread() is not threading.main_thread()
                or signal.getsignal(signal.SIGINT) is not signal.default_int_handler):
            return
        signal.signal(signal.SIGINT, stop)

    async def _sweep(self) -> None:
        """On a shared store, keep marking the sessions of servers that died."""
        while True:
            await anyio.sleep(_STALE_MARGIN_S)
            try:
                await recover_interrupted_sessions(self.store, running_here=self.turns,
                                                   stale_after=self._stale_after())
            except Exception:
                self.log.exception("jupyter-assistant: interrupted-session sweep failed")

    async def stop_extension(self) -> None:
        """Cancel running turns (each ends ``cancelled``), then close the store.

        Idempotent and safe to call concurrently (a second SIGTERM makes Jupyter run its
        cleanup twice): every call waits for the one shutdown, which runs in a task of its
        own, so it completes even when the server's event loop stops under the caller.
        """
        if not hasattr(self, "turns"):  # initialize_settings failed: nothing was built
            return
        if self._stopping is None or (self._stopping.done() and self._is_ready):
            self._stopping = asyncio.get_running_loop().create_task(
                self._stop_services(), name="jupyter-assistant-stop")
        await asyncio.shield(self._stopping)

    async def _stop_services(self) -> None:
        await self.turns.shutdown(self.shutdown_grace)
        owner, self._tasks_owner = self._tasks_owner, None
        if owner is not None:
            if self._tasks_stop is not None:
                self._tasks_stop.set()
            with contextlib.suppress(asyncio.CancelledError):
                await owner
        for assistant in self._assistants.values():
            close = getattr(assistant, "aclose", None)
            if close is not None:
                try:
                    await close()
                except Exception:
                    self.log.exception("jupyter-assistant: closing an assistant failed")
        await self.rate_limiter.aclose()
        await self.store.aclose()
        self._is_ready = False
