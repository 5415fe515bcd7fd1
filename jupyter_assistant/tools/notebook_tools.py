"""Notebook tools: the model proposes a new source for a notebook cell; the user decides.

``propose_cell_edit`` changes nothing. The client that shows the conversation (the
JupyterLab sidebar) reads the call's input from the ``tool_use_start`` event
(``cell_id``, ``new_source``, ``explanation``), shows the change as a diff against the
open notebook's cell with Accept / Reject, and on Accept edits the notebook's model in the
browser (undone with the notebook's own undo). Nothing runs. The tool's result tells the
model exactly that, so it does not claim the cell was changed.

Cell ids are nbformat 4.5 cell ids (``^[a-zA-Z0-9-_]+$``, 1 to 64 characters; see the
nbformat JSON schema, ``definitions/cell_id``); the model learns them from the context the
sidebar sends with "Ask about this cell".
"""

from __future__ import annotations

import re

from ..exceptions import ToolError
from ._base import Tool, tool

__all__ = ["MAX_CELL_SOURCE_CHARS", "notebook_tools", "propose_cell_edit"]

#: Longest proposed cell source, in characters.
MAX_CELL_SOURCE_CHARS = 100_000

# nbformat 4.5: definitions/cell_id
_CELL_ID = re.compile(r"[a-zA-Z0-9_-]{1,64}")


@tool(timeout=5, category="notebook")
def propose_cell_edit(cell_id: str, new_source: str, explanation: str = "") -> str:
    """Propose a new source for a cell of the user's open notebook. The user sees the change
    as a diff and accepts or rejects it; nothing changes and nothing runs until they accept.
    Give the whole new source of the cell, not a patch.

    Args:
        cell_id: The cell's id, as given in the context of the user's question.
        new_source: The complete new source of the cell.
        explanation: One sentence on what the change does and why.
    """
    if not _CELL_ID.fullmatch(cell_id):
        raise ToolError(f"cell_id must be an nbformat cell id (1-64 characters of "
                        f"[a-zA-Z0-9_-]), not {cell_id[:80]!r}")
    if len(new_source) > MAX_CELL_SOURCE_CHARS:
        raise ToolError(f"new_source is {len(new_source):,} characters; the limit is "
                        f"{MAX_CELL_SOURCE_CHARS:,}")
    lines = new_source.count("\n") + 1 if new_source else 0
    return (f"Proposed a new source for cell {cell_id} ({lines} lines) to the user as a diff. "
            "Nothing has changed yet: the user accepts or rejects it in the notebook, and "
            "nothing runs without their click. Do not say the cell was changed.")


def notebook_tools() -> list[Tool]:
    """The notebook tools: ``propose_cell_edit``."""
    return [propose_cell_edit]
