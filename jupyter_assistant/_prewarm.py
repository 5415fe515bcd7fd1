"""``prewarm``: import, in the background, what a process's first turn will need.

A fresh process pays for imports on its first turn: the orchestrator, the provider's SDK
(``anthropic`` builds some 1,500 pydantic models at import: 1-3 s), the built-in tools and,
for a process that will load traces, the trace engine (pandas, pyarrow), which the trace
tools import when they first run. A process that will clearly talk to a model — the server
extension at start, the ``chat`` command, a kernel at ``%load_ext jupyter_assistant`` —
calls :func:`prewarm` as early as it can; the imports then run in a daemon thread while the
process does other things (parses arguments, loads a trace, waits for the user to type).
Calling it costs no import in the calling thread.

Python's per-module import locks make this safe: a module the main thread needs while the
thread is importing it is waited for, never imported twice.

The cyclic garbage collector is paused while the thread imports (:func:`gc.disable`, then
the state it had is restored): an import makes classes and modules that live as long as the
process, so the collections their allocations set off find nothing to free, and on
``anthropic`` they were about 300 collections and 15-25% of its import time (0.15-0.3 s of
CPU here; bench/README.md, "Cold start"). Memory is still freed by reference counting
meanwhile; only cycles that other threads make wait for the next collection.
"""

from __future__ import annotations

import gc
import importlib
import logging
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # pragma: no cover
    from .config import AssistantConfig

__all__ = ["prewarm"]

log = logging.getLogger(__name__)

#: What a first turn imports besides the provider: the built-in tools, the tool-input
#: validator, and the trace engine (pandas, numpy) and query engine (pyarrow) the trace
#: tools import when they first run.
TOOL_MODULES = ("fastjsonschema", "jupyter_assistant.tools.trace_tools",
                "jupyter_assistant.tools.query_tools", "jupyter_assistant.tools.file_tools",
                "jupyter_assistant.traces", "pyarrow.compute")


_gc_lock = threading.Lock()
_gc_pauses = 0
_gc_was_enabled = False


@contextmanager
def _gc_paused() -> Iterator[None]:
    """The cyclic GC off for the block (nested or concurrent blocks share one pause), then
    as it was before the first of them."""
    global _gc_pauses, _gc_was_enabled
    with _gc_lock:
        if _gc_pauses == 0:
            _gc_was_enabled = gc.isenabled()
            gc.disable()
        _gc_pauses += 1
    try:
        yield
    finally:
        with _gc_lock:
            _gc_pauses -= 1
            if _gc_pauses == 0 and _gc_was_enabled:
                gc.enable()


def _warm(model: str | None, config: AssistantConfig | None, tools: bool) -> None:
    with _gc_paused():
        _import_all(model, config, tools)


def _import_all(model: str | None, config: AssistantConfig | None, tools: bool) -> None:
    try:
        from .orchestrator.providers import PROVIDERS, default_model_spec

        spec = model if model and model.strip() else default_model_spec(config)
        target = PROVIDERS.get(spec.strip().partition(":")[0])
        modules = [target.partition(":")[0]] if target else []
    except Exception as exc:  # the turn that needs it reports the error
        log.debug("prewarm: %s", exc)
        modules = []
    if tools:
        modules += TOOL_MODULES
    for name in modules:
        try:
            importlib.import_module(name)
        except Exception as exc:
            log.debug("prewarm: importing %s failed: %s", name, exc)


def prewarm(model: str | None = None, *, config: AssistantConfig | None = None,
            tools: bool = True) -> threading.Thread:
    """Start importing, in a daemon thread, the orchestrator, the SDK of ``model`` (a spec
    such as ``"anthropic:claude-sonnet-5-5"``; ``None``: the provider an
    :class:`~jupyter_assistant.Assistant` would pick from ``config`` and the environment)
    and, with ``tools``, the built-in tools.

    Returns the started thread (``join()`` it to wait; nothing needs to). Never raises: an
    unknown spec or a failed import is left for the turn to report. Cheap when everything
    is imported already.
    """
    thread = threading.Thread(target=_warm, args=(model, config, tools),
                              name="jupyter-assistant-prewarm", daemon=True)
    thread.start()
    return thread
