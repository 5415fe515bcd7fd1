"""The trace widget: what ``%assistant load`` and ``%%assistant profile`` show.

Plain rich outputs, so that it renders the same in JupyterLab, in a static export and in a
notebook reopened without a kernel: the trace's markdown summary (``Trace.summary()``, which
opens with its verdict where the trace engine makes one), then two PNG pictures, a timeline of
the busiest threads / GPU streams and an icicle graph of the hotspots (:mod:`._plots`).
"""

from __future__ import annotations

import logging
from typing import Any

from IPython.display import Image, Markdown, display

from ._plots import icicle_png, timeline_png

__all__ = ["show_trace"]

log = logging.getLogger(__name__)


def show_trace(trace: Any, name: str, *, max_tokens: int = 1500, pictures: bool = True) -> None:
    """Display ``trace`` (bound to ``name`` in the user namespace): summary and pictures.
    A picture that cannot be drawn is replaced by a note saying why."""
    summary = trace.summary(max_tokens=max_tokens)
    display(Markdown(f"**Trace `{name}`** — {trace!r}\n\n{summary.text}\n\n"
                     f"Ask about it with `%assistant --trace {name} QUESTION`."))
    if not pictures:
        return
    for title, draw in (("timeline", timeline_png), ("icicle graph", icicle_png)):
        try:
            png = draw(trace)
        except Exception as exc:  # a picture must never hide the summary
            log.warning("drawing the %s failed", title, exc_info=True)
            display(Markdown(f"*(The {title} could not be drawn: {type(exc).__name__}: "
                             f"{exc})*"))
            continue
        if png is not None:
            display(Image(data=png, format="png"))
