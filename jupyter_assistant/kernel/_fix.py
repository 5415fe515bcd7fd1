"""``%assistant fix``: explain the last exception and propose a corrected cell.

The cell to fix is the innermost notebook cell in the exception's traceback (where the
failing line is), else the last cell run before the magic. The model gets the exception (in
the kernel context and through ``last_error``) and the cell's source, and is asked for an
explanation followed by the whole corrected cell in one fenced ``python`` block; the last such
block of the answer is shown as a diff (:class:`~._diff.DiffView`) with Accept / Reject.
Nothing runs without the user's click, and Accept only inserts the cell.
"""

from __future__ import annotations

import linecache
import re
import sys
import traceback
from typing import Any

from IPython.display import Markdown, display

from ._args import Command

__all__ = ["extract_code", "failing_cell", "run_fix"]

_BLOCK = re.compile(r"```(?:python|py|ipython)?[ \t]*\n(.*?)```", re.DOTALL)

FIX_PROMPT = """\
Explain the last exception raised in my notebook (call `last_error` and `inspect_variable` \
if you need more), then propose a corrected version of the cell below. Keep the explanation \
short, then give the WHOLE corrected cell in one ```python code block, last.{note}

The cell:
```python
{source}
```"""


def failing_cell(shell: Any) -> str | None:
    """The source of the cell where the last exception happened (see the module docstring);
    ``None`` when there was no exception."""
    exc = getattr(sys, "last_exc", None) or getattr(sys, "last_value", None)
    if exc is None:
        return None
    cells = getattr(shell.compile, "_filename_map", {}) or {}
    for frame in reversed(traceback.extract_tb(exc.__traceback__)):
        if frame.filename in cells:
            source = "".join(linecache.getlines(frame.filename))
            if source.strip():
                return source.rstrip("\n")
    history = shell.user_ns.get("In") or []
    for source in reversed(history[:-1]):  # the last one is this magic
        if source.strip() and "assistant" not in source.split("\n", 1)[0]:
            return str(source).rstrip("\n")
    return None


def extract_code(text: str) -> str | None:
    """The last fenced python (or unlabelled) code block of ``text``, or ``None``."""
    blocks = _BLOCK.findall(text or "")
    return blocks[-1].rstrip("\n") if blocks else None


def run_fix(magics: Any, cmd: Command) -> None:
    """The ``%assistant fix [NOTE]`` magic (see the module docstring)."""
    source = failing_cell(magics.shell)
    if source is None:
        display(Markdown("No exception to fix: `%assistant fix` explains the last error raised "
                         "in this kernel and proposes a corrected cell."))
        return
    note = f"\n\nAlso: {cmd.text}" if cmd.text else ""
    view = magics.ask(FIX_PROMPT.format(source=source, note=note), cmd)
    if view.state.terminal != "message_complete":
        return
    code = extract_code(view.state.text)
    if code is None or code.strip() == source.strip():
        display(Markdown("*No corrected cell was proposed.*"))
        return
    from ._diff import DiffView

    DiffView(source, code, shell=magics.shell).show()
