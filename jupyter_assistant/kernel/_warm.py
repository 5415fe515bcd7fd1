"""Warming the first turn: ``%load_ext`` imports, in a background thread, what the first
``%assistant`` would otherwise wait for (what :func:`jupyter_assistant.prewarm` imports for
any process: the provider SDK, the tool-input validator, the built-in tools with pandas; plus
the kernel's own store and widget modules), so the first answer does not pay seconds of
imports.

After the imports it runs ``then`` (``%load_ext`` passes ``AssistantMagics.prepare``: open the
store and make the default assistant), so the first turn only connects and streams.
"""

from __future__ import annotations

import importlib
import logging
import threading
from collections.abc import Callable

__all__ = ["WARM_MODULES", "warm_up"]

log = logging.getLogger(__name__)

#: Modules imported by :func:`warm_up` after :func:`jupyter_assistant.prewarm`'s, in order.
WARM_MODULES = ("jupyter_assistant.orchestrator", "jupyter_assistant.store.sqlite",
                "ipywidgets", "anywidget")


def warm_up(then: Callable[[], object] | None = None) -> threading.Thread:
    """Start importing :data:`WARM_MODULES`, then calling ``then()``, in a daemon thread;
    returns the thread. A failure is logged (debug) and skipped: the turn that needs what
    failed reports it."""

    def run() -> None:
        from .. import prewarm

        prewarm().join()  # the provider the default Assistant picks, and the built-in tools
        for name in WARM_MODULES:
            try:
                importlib.import_module(name)
            except Exception as exc:
                log.debug("warm-up import of %s failed: %s", name, exc)
        if then is not None:
            try:
                then()
            except BaseException as exc:  # e.g. a bad store URL: the first turn says so
                log.debug("warm-up failed: %s: %s", type(exc).__name__, exc)

    thread = threading.Thread(target=run, name="jupyter-assistant-warm-up", daemon=True)
    thread.start()
    return thread
