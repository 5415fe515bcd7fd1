"""Checks a tool call's input against the tool's JSON Schema before the tool runs.

The validator is ``fastjsonschema``, which compiles a schema into a Python function: it
imports in about 50 ms, where ``jsonschema`` imports its format checkers
(``rfc3987_syntax`` compiles lark grammars at import) and costs 1.5-4 s on the first tool
call of a fresh process. Tool schemas use the keywords drafts 4 to 2020-12 share (``type``,
``enum``, ``anyOf``, ``items``, ``required``, ``properties``); ``format`` is not checked.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Literal

__all__ = ["compile_validator"]

#: ``check(arguments) -> None`` when they match, else ``"<where>: <problem>"``.
Check = Callable[[dict[str, Any]], "str | None"]

_MAX_VALUE_CHARS = 200


def _value(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= _MAX_VALUE_CHARS else text[: _MAX_VALUE_CHARS - 1] + "…"


def _describe(exc: Any) -> str:
    """``"<where>: <problem>"`` for a ``fastjsonschema.JsonSchemaValueException``:
    ``where`` is the path inside the input (``seconds``, ``columns/1``; ``the input`` at
    the top), the problem says what the value is and what the schema wants."""
    path = [str(p) for p in (exc.path or [])][1:]  # path[0] is fastjsonschema's "data"
    where = "/".join(path) or "the input"
    if exc.rule == "type":
        want = exc.rule_definition
        wanted = " or ".join(repr(t) for t in want) if isinstance(want, list) else repr(want)
        return f"{where}: {_value(exc.value)} is not of type {wanted}"
    text = str(exc.message)
    name = str(exc.name or "")
    if name and text.startswith(name + " "):
        text = text[len(name) + 1:]
    if exc.rule == "required":
        return f"{where}: {text}"
    return f"{where}: {_value(exc.value)} {text}"


def compile_validator(schema: dict[str, Any]) -> Check | Literal[False]:
    """The check of ``schema``, or ``False`` when ``schema`` is not a valid JSON Schema (a
    hand-made schema is then not enforced; the tool's signature still is)."""
    import fastjsonschema

    try:
        validate = fastjsonschema.compile(schema)
    except (fastjsonschema.JsonSchemaDefinitionException, TypeError, ValueError):
        return False

    def check(arguments: dict[str, Any]) -> str | None:
        try:
            validate(arguments)
        except fastjsonschema.JsonSchemaValueException as exc:
            return _describe(exc)
        return None

    return check
