"""Small text helpers for trace summaries: time formatting, markdown tables, token estimates."""

from __future__ import annotations

import math
import re
from collections.abc import Sequence
from contextvars import ContextVar
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # pragma: no cover
    import pandas as pd

__all__ = ["estimate_tokens", "format_count", "format_pct", "format_us", "hotspots_markdown",
           "md_table", "short_name", "shorten_name"]

# Pieces a BPE tokenizer (Claude's, GPT's) would rarely merge across: letter runs, digit
# runs, whitespace runs, and single other characters.
_PIECES = re.compile(r"[A-Za-z]+|[0-9]+|\n|[ \t]+|[^\sA-Za-z0-9]")


def estimate_tokens(text: str) -> int:
    """A conservative (high) estimate of the number of LLM tokens in ``text``.

    No tokenizer file can be fetched at run time here, so this counts pieces the way
    byte-pair encoders split them, erring high: a letter run costs ``ceil(len / 4)``
    tokens, a digit run ``ceil(len / 3)``, a newline 1, a run of spaces 0 (it joins the
    next word) unless it is longer than 4 (``ceil(len / 4)``), any other ASCII character
    1, and a non-ASCII character (``µ``, ``…``) 2. On English prose this is 10-30% above
    real counts; on number-heavy markdown tables it stays at or above them (real
    tokenizers split ``12.3 ms`` into about 4 tokens; this counts 4). Never less than
    ``ceil(len(text.encode()) / 4)``.
    """
    total = 0
    for piece in _PIECES.findall(text):
        c = piece[0]
        if c.isascii() and c.isalpha():
            total += -(-len(piece) // 4)
        elif c.isdigit():
            total += -(-len(piece) // 3)
        elif c == "\n":
            total += 1
        elif c in " \t":
            total += 0 if len(piece) <= 4 else -(-len(piece) // 4)
        else:
            total += 1 if c.isascii() else 2
    return max(total, math.ceil(len(text.encode()) / 4))


def _sig(x: float, digits: int = 3) -> str:
    """``x`` with about ``digits`` significant digits, no exponent."""
    if x == 0:
        return "0"
    decimals = max(0, digits - 1 - math.floor(math.log10(abs(x))))
    s = f"{x:.{decimals}f}"
    return s.rstrip("0").rstrip(".") if "." in s else s


#: The unit of the trace being rendered. Sampled formats without a known sampling interval
#: (folded stacks: ``metadata["unit"] == "samples"``; speedscope ``none``/``bytes``) are not
#: in µs; :func:`summarize` sets this so :func:`format_us` prints their real unit.
value_unit: ContextVar[str] = ContextVar("value_unit", default="µs")


def display_unit(unit: object) -> str:
    """The word :func:`format_us` prints for a trace's ``metadata["unit"]``: ``"µs"`` when
    absent; speedscope's ``"none"`` (and ``"mixed"``, profiles of one file in different
    units) become ``"units"`` (plain numbers, as speedscope shows them)."""
    text = str(unit or "µs")
    return "units" if text in ("none", "mixed") else text


def format_us(us: float) -> str:
    """A duration given in µs as text with a fitting unit: ``"850 ns"``, ``"12.3 µs"``,
    ``"4.56 ms"``, ``"1.23 s"``, ``"2 min 5 s"``; 3 significant digits. When
    :data:`value_unit` is not ``"µs"`` (e.g. ``"samples"``), the value is printed as a count
    of that unit: ``"1,234 samples"``."""
    if us is None or not math.isfinite(us):
        return "n/a"
    unit = value_unit.get()
    if unit != "µs":
        return f"{_sig(float(us), 6) if abs(us) < 1000 else format(round(us), ',')} {unit}"
    sign = "-" if us < 0 else ""
    a = abs(float(us))
    if a == 0:
        return "0 µs"
    if a < 1:
        return f"{sign}{_sig(a * 1000)} ns"
    if a < 1000:
        return f"{sign}{_sig(a)} µs"
    if a < 1e6:
        return f"{sign}{_sig(a / 1e3)} ms"
    if a < 60e6:
        return f"{sign}{_sig(a / 1e6)} s"
    minutes, seconds = divmod(a / 1e6, 60)
    return f"{sign}{int(minutes)} min {round(seconds)} s"


def format_pct(pct: float) -> str:
    """A percentage: ``"42.1%"``, ``"0.3%"``, ``"<0.1%"``."""
    if pct is None or math.isnan(pct):
        return "n/a"
    if 0 < pct < 0.1:
        return "<0.1%"
    return f"{pct:.1f}%"


def format_count(n: float) -> str:
    """An integer with thousands separators: ``"12,345"``."""
    return f"{int(n):,}"


def shorten_name(name: object, limit: int = 80) -> str:
    """``name`` as text of at most ``limit`` characters: a longer name keeps its start
    (two thirds of the room) and its end around a middle ellipsis ``…``, so that both the
    kernel or function and its last arguments stay readable (fbgemm kernel names run to
    ~1,900 characters). The one shortening of names for people and models: markdown
    tables, summaries, tool headlines; never applied to DataFrames."""
    text = str(name)
    limit = max(1, int(limit))
    if len(text) <= limit:
        return text
    room = limit - 1
    head = -(-2 * room // 3)
    return text[:head] + "…" + text[len(text) - (room - head):] if room > head else \
        text[:head] + "…"


def short_name(name: str, limit: int = 60) -> str:
    """``name`` shortened to ``limit`` characters (:func:`shorten_name`), with ``|`` and
    newlines escaped for a markdown table cell."""
    return shorten_name(str(name).replace("\n", " "), limit).replace("|", "\\|")


def md_table(header: Sequence[str], rows: Sequence[Sequence[str]],
             align: str | None = None) -> str:
    """A GitHub-flavoured markdown table; ``align`` holds ``l``/``r`` per column."""
    align = align or "l" * len(header)
    sep = ["---:" if a == "r" else "---" for a in align]
    lines = ["| " + " | ".join(header) + " |", "| " + " | ".join(sep) + " |"]
    lines += ["| " + " | ".join(r) + " |" for r in rows]
    return "\n".join(lines)


def hotspots_markdown(table: pd.DataFrame, unit: object = None, name_chars: int = 80) -> str:
    """The markdown table of a :func:`~jupyter_assistant.traces.analysis.hotspots` frame
    (columns ``name, count, self_dur, self_pct, total_dur``): times with a fitting unit
    (or counts of ``unit``, a trace's ``metadata["unit"]`` such as ``"samples"``), names
    shortened to ``name_chars`` characters with :func:`shorten_name`."""
    token = value_unit.set(display_unit(unit))
    try:
        rows = [[short_name(r["name"], name_chars), format_count(r["count"]),
                 format_us(r["self_dur"]), format_pct(r["self_pct"]), format_us(r["total_dur"])]
                for r in table.to_dict(orient="records")]
    finally:
        value_unit.reset(token)
    return md_table(["name", "count", "self time", "% of self time", "total time"], rows,
                    "lrrrr")
