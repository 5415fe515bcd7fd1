"""``AssistantMagics``: the ``%assistant`` / ``%%assistant`` magics and their settings.

The settings are traitlets of this Configurable (``%config AssistantMagics.model = ...``,
``c.AssistantMagics.*`` in ``ipython_config.py``); the orchestrator's own settings come from
:attr:`AssistantMagics.assistant_config`, an :class:`~jupyter_assistant.AssistantConfig`
(``c.AssistantConfig.*``, ``%config AssistantConfig.turn_deadline = 30``), the same class the
server extension uses. The store is the server's: the SQLite file in the Jupyter data
directory unless ``store_url`` says otherwise, under the server's single-user id ``local``,
so a conversation started here is listed by ``GET /assistant/api/conversations``.
"""

from __future__ import annotations

import threading
import time
from collections import deque
from typing import TYPE_CHECKING, Any, cast

from IPython.core.error import UsageError
from IPython.core.magic import Magics, line_cell_magic, magics_class
from traitlets import Instance, Int, Unicode, default

from ..config import AssistantConfig
from ..exceptions import AssistantError
from ._args import USAGE, Command, parse_line

if TYPE_CHECKING:
    from ._chat import ChatView
    from ._worker import TurnWorker

__all__ = ["AssistantMagics"]

OFFLINE_NOTICE = ("No language model is configured: offline mode (rule-based answers from "
                  "the trace tools). Set ANTHROPIC_API_KEY, or "
                  "%config AssistantMagics.model = 'anthropic:<model id>' or 'openai:<model>'.")


@magics_class
class AssistantMagics(Magics):
    """The ``%assistant`` magics (see :data:`~jupyter_assistant.kernel._args.USAGE`)."""

    model = Unicode(
        None, allow_none=True, config=True,
        help="""The model of %assistant turns, as "provider:model id" ("anthropic:claude-
        sonnet-5-5", "openai:llama3.1", "offline"). Unset: AssistantConfig.model, else
        Anthropic when ANTHROPIC_API_KEY is set, else the offline provider.""")
    store_url = Unicode(
        None, allow_none=True, config=True,
        help="""Where conversations and telemetry are kept. Unset: AssistantConfig.store_url,
        else the server extension's default, the SQLite file
        <jupyter data dir>/jupyter_assistant/assistant.db, so the sidebar lists the
        notebook's conversations.""")
    user_id = Unicode(
        "local", config=True,
        help="""The store's user id of this kernel's conversations: "local" is the server's
        single-user id (c.AssistantApp.single_user_id), so the sidebar sees them.""")
    context_tokens = Int(
        1500, config=True,
        help="""Budget, in tokens (about 4 characters each), of the kernel context told to
        the model at each turn: the user's variables (names, types, shapes, dtypes) and the
        last exception.""")
    live_turns = Int(
        20, config=True,
        help="""How many of the latest %assistant turns keep their live chat widget (tool
        cards, Stop button). The widget of an older turn is replaced, where it is shown, by
        the same answer as static markdown, and its widget models are closed, so a long
        session does not keep every turn's widgets in the kernel's memory. 0 keeps them all.""")
    assistant_config = Instance(AssistantConfig)

    @default("assistant_config")
    def _default_assistant_config(self) -> AssistantConfig:
        config = AssistantConfig(parent=self.shell)
        if self.shell is not None and hasattr(self.shell, "configurables"):
            # so that %config AssistantConfig.x works
            # (cast: IPython's annotation of the list differs between releases)
            cast(Any, self.shell.configurables).append(config)
        return config

    def __init__(self, shell: Any = None, **kwargs: Any) -> None:
        super().__init__(shell=shell, **kwargs)
        self.conversation_id: str | None = None
        self.current_trace: str | None = None
        self._worker: TurnWorker | None = None
        self._store: Any = None
        self._store_lock = threading.Lock()
        self._turn: Any = None  # the session id of the running turn, for the Stop button
        self._live: deque[ChatView] = deque()

    # -- plumbing -------------------------------------------------------------------------------
    @property
    def worker(self) -> TurnWorker:
        """The assistant thread (started on first use)."""
        if self._worker is None:
            from ._worker import TurnWorker

            self._worker = TurnWorker()
        return self._worker

    def resolved_store_url(self) -> str:
        """``store_url``, else ``AssistantConfig.store_url``, else ``"sqlite://"`` (the
        server extension's default file in the Jupyter data directory)."""
        return self.store_url or self.assistant_config.store_url or "sqlite://"

    def model_spec(self, override: str | None = None) -> str:
        """The model of a turn: ``override`` (``--model``), :attr:`model`,
        ``AssistantConfig.model``, else Anthropic with a key in the environment, else
        ``offline``."""
        from ..orchestrator.providers import default_model_spec

        spec = override or self.model or self.assistant_config.model
        return spec or default_model_spec(self.assistant_config)

    def store(self) -> Any:
        """The store, opened once on the assistant thread."""
        with self._store_lock:
            if self._store is None:
                from ..store import open_store

                store = open_store(self.resolved_store_url())
                self.worker.call(store.open)
                self._store = store
            return self._store

    def prepare(self) -> None:
        """Open the store and make the default model's assistant (what the first turn would
        otherwise do); run by the background warm-up of ``%load_ext``."""
        self.assistant_for(self.model_spec())

    def assistant_for(self, spec: str) -> Any:
        """The open :class:`~jupyter_assistant.Assistant` for model ``spec`` with the kernel
        tools, on the assistant thread."""
        config = self.assistant_config
        key = (spec, tuple(sorted((k, repr(v)) for k, v in config.trait_values(
            config=True).items())))

        def make() -> Any:
            from ..orchestrator import Assistant
            from ._kernel_tools import kernel_tools

            return Assistant(spec, kernel_tools(self.shell), config=config, store=self.store())

        try:
            return self.worker.assistant(key, make)
        except AssistantError as exc:
            raise UsageError(f"{exc.code}: {exc.message}") from None

    def close(self) -> None:
        """Close the assistants, the store and the assistant thread."""
        worker, self._worker = self._worker, None
        store, self._store = self._store, None
        if worker is not None:
            if store is not None:
                try:
                    worker.call(store.aclose)
                except Exception:
                    pass
            worker.close()

    # -- the magic ------------------------------------------------------------------------------
    @line_cell_magic
    def assistant(self, line: str = "", cell: str | None = None) -> Any:
        """Ask the assistant, load a trace, profile a cell, fix an error, or show telemetry.

        %assistant [--model M] [--trace NAME_OR_PATH] [--new] [--conversation ID] QUESTION
        %%assistant [options]  (the question is the cell body)
        %assistant load PATH [--as NAME]
        %%assistant profile [--profiler cprofile|pyinstrument|torch] [--as NAME] [--ask Q]
        %assistant fix [NOTE]
        %assistant stats [--days N]
        """
        cmd = parse_line(line)
        if cmd.sub == "help":
            print(USAGE)
            return None
        if cmd.sub == "load":
            return self._load(cmd)
        if cmd.sub == "profile":
            if cell is None:
                raise UsageError("profile is a cell magic: %%assistant profile, then the code")
            from ._profile import profile_cell

            return profile_cell(self, cmd, cell)
        if cmd.sub == "fix":
            from ._fix import run_fix

            return run_fix(self, cmd)
        if cmd.sub == "stats":
            from ._stats import show_stats

            return show_stats(self, cmd)
        question = "\n".join(p for p in (cmd.text, (cell or "").strip()) if p)
        if not question.strip():
            print(USAGE)
            return None
        self.ask(question, cmd)
        return None

    # -- asking ---------------------------------------------------------------------------------
    def traces_in_namespace(self) -> dict[str, Any]:
        """The Trace objects of the user namespace, by variable name."""
        from ._variables import _is_trace, user_variables

        return {k: v for k, v in user_variables(self.shell).items() if _is_trace(v)}

    def _current(self, requested: str | None, traces: dict[str, Any]) -> Any:
        if requested:
            if requested in traces:
                self.current_trace = requested
                return traces[requested]
            return requested  # a path: the assistant loads it (an error event if it is not)
        if self.current_trace in traces:
            return traces[self.current_trace]
        if len(traces) == 1:
            return next(iter(traces.values()))
        return None

    def ask(self, question: str, cmd: Command | None = None, *, trace: Any = None) -> ChatView:
        """Run one turn with ``question`` and show it; returns the finished view."""
        from ..orchestrator import DEFAULT_SYSTEM_PROMPT
        from ..store import new_id
        from ._chat import ChatView
        from ._turn_view import run_turn
        from ._variables import kernel_context

        cmd = cmd or Command()
        if cmd.new:
            self.conversation_id = None
        if cmd.conversation:
            self.conversation_id = cmd.conversation
        spec = self.model_spec(cmd.model)
        started = time.monotonic()
        assistant = self.assistant_for(spec)
        traces = self.traces_in_namespace()
        current = trace if trace is not None else self._current(cmd.trace, traces)
        base = self.assistant_config.system_prompt or DEFAULT_SYSTEM_PROMPT
        context = kernel_context(self.shell, self.context_tokens)
        assistant.config.system_prompt = f"{base}\n\n{context}"
        offline = getattr(assistant.provider, "name", "") == "offline"
        view = ChatView(assistant.model, notice=OFFLINE_NOTICE if offline else "",
                        on_stop=self._stop_clicked)
        view.started = started
        view.show()
        session_id = new_id("s_")
        self._turn = session_id
        try:
            run_turn(self.worker, assistant, view, question, session_id=session_id,
                     conversation_id=self.conversation_id, user_id=self.user_id,
                     trace=current, traces=traces)
        finally:
            self._turn = None
        if view.state.conversation_id:
            self.conversation_id = view.state.conversation_id
        elif view.state.error.get("code") == "not_found":  # e.g. a bad --conversation id
            self.conversation_id = None
        self._live.append(view)
        while self.live_turns > 0 and len(self._live) > self.live_turns:
            self._live.popleft().retire()
        return view

    def _stop_clicked(self) -> None:
        # Reached only when the kernel reads widget messages during the turn (it usually
        # does not: the button interrupts the kernel instead, see _stop.py).
        session_id = self._turn
        if session_id is not None:
            for assistant, _ in list(self.worker._assistants.values()):
                self.worker.call(assistant.cancel, session_id, "user")

    # -- load -----------------------------------------------------------------------------------
    def _load(self, cmd: Command) -> None:
        import os

        from ..traces import load_trace
        from ._trace_view import show_trace

        name = cmd.as_name or "trace"
        path = os.path.expanduser(cmd.text)
        try:
            trace = load_trace(path)
        except AssistantError as exc:
            raise UsageError(f"{exc.code}: {exc.message}") from None
        except OSError as exc:
            raise UsageError(f"cannot read {path!r}: {exc.strerror or exc}") from None
        assert self.shell is not None
        self.shell.user_ns[name] = trace
        self.current_trace = name
        show_trace(trace, name)
        return None

