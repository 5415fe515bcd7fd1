"""The kernel tools the model may call in a notebook: ``list_variables``,
``inspect_variable`` and ``last_error``. They read the user's namespace (never execute
anything) and return bounded markdown; see :mod:`._variables` for what is shown."""

from __future__ import annotations

import difflib
from typing import Any

from ..exceptions import ToolError
from ..tools import Tool, tool
from ._variables import describe, inspect_value, last_error_text, user_variables

__all__ = ["kernel_tools"]

_MAX_LIST = 200


def kernel_tools(shell: Any) -> list[Tool]:
    """The three kernel tools bound to ``shell`` (an IPython ``InteractiveShell``)."""

    @tool(name="list_variables", category="kernel")
    def list_variables(kind: str = "") -> str:
        """List the user's variables in the Jupyter kernel: name, type and a one-line
        description (DataFrame shape and dtypes, array/tensor shape, dtype and device,
        length). Private names and modules are left out.

        Args:
            kind: Only variables whose type name contains this text (e.g. "DataFrame",
                "Tensor"); empty for all.
        """
        found = user_variables(shell)
        rows = []
        for name, value in found.items():
            type_name = type(value).__name__
            if kind and kind.lower() not in type_name.lower():
                continue
            rows.append(f"| `{name}` | {type_name} | {describe(value).replace('|', '/')} |")
        if not rows:
            return ("No variables" + (f" of kind {kind!r}" if kind else "")
                    + " are defined in the kernel.")
        more = f"\n\n… and {len(rows) - _MAX_LIST} more" if len(rows) > _MAX_LIST else ""
        return (f"{len(rows)} variable(s) in the kernel.\n\n| name | type | description |\n"
                "|---|---|---|\n" + "\n".join(rows[:_MAX_LIST]) + more)

    @tool(name="inspect_variable", category="kernel")
    def inspect_variable(name: str, rows: int = 5) -> str:
        """Look at one of the user's variables: for a DataFrame its shape, columns with
        dtypes and null counts, describe() and the first rows; for arrays and tensors
        shape, dtype, device and min/max/mean; for a Trace its summary. Output is bounded.

        Args:
            name: The variable name, as in list_variables.
            rows: How many first rows to show (0-50).
        """
        if not isinstance(name, str) or not name:
            raise ToolError("name must be a variable name", code="invalid_input")
        if name.startswith("_"):
            raise ToolError(f"{name!r} is a private name; private variables are not shown",
                            code="invalid_input")
        found = user_variables(shell)
        if name not in found:
            close = difflib.get_close_matches(name, list(found), n=5)
            hint = f" Did you mean: {', '.join(close)}?" if close else ""
            raise ToolError(f"no variable {name!r} in the kernel.{hint}", code="not_found")
        return inspect_value(name, found[name], rows=rows)

    @tool(name="last_error", category="kernel")
    def last_error() -> str:
        """The last exception raised in the user's kernel: its type, message and the end
        of its traceback."""
        text = last_error_text()
        return text if text is not None else "No exception has been raised in the kernel."

    return [list_variables, inspect_variable, last_error]
