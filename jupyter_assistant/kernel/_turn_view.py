"""Run one turn from a magic: start it on the assistant thread, show the chat widget, feed it
the events on the main thread, and wait until the turn ends.

A kernel interrupt (JupyterLab's ■, SIGINT, the widget's Stop button) raises
``KeyboardInterrupt`` on the main thread while it waits; the turn is then cancelled (it ends
with a ``cancelled`` event within a second), the widget shows "Cancelled", and the magic
returns normally so the kernel stays usable.
"""

from __future__ import annotations

import queue
import time
from typing import Any

from ._chat import ChatView
from ._worker import TURN_DONE, TurnHandle, TurnWorker

__all__ = ["run_turn"]

_POLL_S = 0.05
_CANCEL_WAIT_S = 5.0


def _pump(handle: TurnHandle, view: ChatView, deadline: float | None = None) -> bool:
    """Apply the turn's events to ``view`` until the turn is over (True) or ``deadline``
    (monotonic seconds) passes (False)."""
    while True:
        try:
            item = handle.events.get(timeout=_POLL_S)
        except queue.Empty:
            view.draw_text()
            if deadline is not None and time.monotonic() > deadline:
                return False
            continue
        if item is TURN_DONE:
            return True
        view.apply(item)


def run_turn(worker: TurnWorker, assistant: Any, view: ChatView, message: str, *,
             session_id: str, **run_kwargs: Any) -> ChatView:
    """Run ``assistant.run(message, **run_kwargs)`` on ``worker`` and stream it into
    ``view`` (already shown); returns ``view`` once the turn has ended or was cancelled."""
    handle: TurnHandle | None = None
    try:
        handle = worker.start_turn(assistant, message, session_id=session_id, **run_kwargs)
        _pump(handle, view)
    except KeyboardInterrupt:
        view.note("Stopping…")
        if handle is not None:
            worker.cancel(handle, reason="interrupted")
            try:
                _pump(handle, view, deadline=time.monotonic() + _CANCEL_WAIT_S)
            except KeyboardInterrupt:
                pass  # a second interrupt: stop waiting, the turn ends on its own
        if view.state.terminal is None:
            view.state.terminal, view.state.cancel_reason = "cancelled", "interrupted"
    if handle is not None and handle.error and view.state.terminal is None:
        exc = handle.error[0]
        view.state.terminal = "error"
        view.state.error = {"code": getattr(exc, "code", "internal_error"),
                            "message": f"{type(exc).__name__}: {exc}"}
    view.finish()
    return view
