"""A tool call's input is checked against the tool's JSON Schema, without paying for
``jsonschema``'s format checkers (``rfc3987_syntax`` compiles lark grammars at import)."""

from __future__ import annotations

import subprocess
import sys
from typing import Literal

import pytest

from jupyter_assistant.exceptions import ToolError
from jupyter_assistant.tools import Tool, tool


@tool
def probe(seconds: float, kind: Literal["cpu", "gpu"] = "cpu",
          columns: list[str] | None = None) -> str:
    """Probe.

    Args:
        seconds: how long.
        kind: which.
        columns: names.
    """
    return f"{seconds} {kind} {columns}"


@pytest.mark.parametrize(("arguments", "message"), [
    ({"seconds": "soon"}, "invalid input at seconds: 'soon' is not of type 'number'"),
    ({"seconds": True}, "invalid input at seconds: True is not of type 'number'"),
    ({"seconds": 1, "kind": "tpu"}, "invalid input at kind: 'tpu' must be one of ['cpu', 'gpu']"),
    ({"seconds": 1, "columns": ["name", 2]},
     "invalid input at columns/1: 2 is not of type 'string'"),
    ({"seconds": "x" * 5000}, "is not of type 'number'"),
])
def test_bad_input_is_a_clear_tool_error(arguments: dict[str, object], message: str) -> None:
    with pytest.raises(ToolError) as info:
        probe._validate(arguments)
    assert info.value.code == "invalid_input"
    assert message in str(info.value)
    assert str(info.value).startswith("probe: invalid input at ")
    assert len(str(info.value)) < 400  # a huge value is cut in the message


def test_good_input_passes_and_a_broken_hand_made_schema_is_not_enforced() -> None:
    probe._validate({"seconds": 1.5, "kind": "gpu", "columns": ["a"]})
    odd = Tool(name="odd", description="d", input_schema={"type": "no-such-type"},
               fn=lambda: "x")
    odd._validate({"anything": 1})  # not a JSON Schema: the signature still checks the call


def test_first_validation_does_not_import_jsonschema_or_lark() -> None:
    code = ("import sys\n"
            "from jupyter_assistant.tools.trace_tools import hotspots\n"
            "try:\n"
            "    hotspots._validate({'trace': 1})\n"
            "except Exception as exc:\n"
            "    print(type(exc).__name__, exc)\n"
            "print(sorted(m for m in ('jsonschema', 'rfc3987_syntax', 'lark') "
            "if m in sys.modules))\n")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True, timeout=120).stdout.splitlines()
    assert out[0].startswith("ToolError hotspots: invalid input at trace: 1 is not of type")
    assert out[-1] == "[]"
