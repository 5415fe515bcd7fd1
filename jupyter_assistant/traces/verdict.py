"""The Verdict: the top findings of :func:`~jupyter_assistant.traces.diagnosis.diagnose`,
one line each with its evidence, as markdown (the opening section of
:meth:`Trace.summary <jupyter_assistant.traces.Trace.summary>`)."""

from __future__ import annotations

import math
from collections.abc import Callable

import pandas as pd

from ._model import Trace

__all__ = ["verdict_line", "verdict_render"]

# detail levels: (findings shown, characters of evidence)
_LEVELS = ((3, 150), (2, 110), (1, 45))


def _clip(text: str, width: int) -> str:
    """``text`` (prose: the evidence) cut to ``width`` characters at a word boundary with a
    trailing ellipsis, never inside a code span, so its numbers, which come first, stay
    readable (a middle ellipsis is for names, see
    :func:`~jupyter_assistant.traces.shorten_name`)."""
    text = " ".join(text.split())
    if len(text) <= width:
        return text
    cut = text[: max(width - 1, 1)]
    space = cut.rfind(" ")
    if space >= width // 2:
        cut = cut[:space]
    if cut.count("`") % 2:  # never leave a code span open: drop the cut name
        cut = cut[: cut.rfind("`")]
    return cut.rstrip(" ,;:") + "…"


def verdict_line(row: pd.Series, width: int = 260) -> str:
    """``**kind** (severity, N% of step time): evidence`` for one finding row; the evidence
    is cut to ``width`` characters at a word boundary."""
    share = row["share"]
    part = "" if share is None or (isinstance(share, float) and math.isnan(share)) else \
        f", {100 * float(share):.0f}% of the time"
    return (f"**{row['kind']}** ({row['severity']}{part}): "
            f"{_clip(str(row['evidence']), width)}")


def verdict_render(trace: Trace) -> tuple[Callable[[int], str], int]:
    """A summary section renderer (detail level -> markdown) and its number of levels."""
    from .diagnosis import diagnose

    d = diagnose(trace)
    headline = str(d.attrs.get("headline") or "")

    def render(level: int) -> str:
        n, width = _LEVELS[level]
        if level == len(_LEVELS) - 1:  # one line, for the tightest budgets
            if not len(d):
                return "Verdict: no bottleneck rule fired."
            return f"Verdict: {verdict_line(d.iloc[0], width)}"
        lines = ["### Verdict"]
        if headline:
            lines.append(headline)
        if not len(d):
            lines.append("No rule fired: no single cause (input, copies, syncs, launches, "
                         "communication, a dominant function, GC, long tasks, forced "
                         "layouts) stands out; see the tables below.")
        for _, row in d.head(n).iterrows():
            lines.append(f"- {verdict_line(row, width)}")
        if len(d) > n:
            lines.append(f"- ({len(d) - n} more: `diagnose`)")
        return "\n".join(lines)
    return render, len(_LEVELS)
