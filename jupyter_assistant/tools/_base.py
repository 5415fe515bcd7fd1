"""Tools the model may call: the :class:`Tool` type, the :func:`tool` decorator, the
:class:`ToolContext` a tool receives.

A tool is a Python function (sync or async). Its Anthropic tool definition
(``name``, ``description``, ``input_schema`` as JSON Schema) comes from the signature and the
docstring: the first paragraph is the description, ``Args:`` / ``Parameters`` entries describe
the parameters. A parameter named ``ctx`` annotated :class:`ToolContext` is not part of the
schema; it receives the context of the call. A sync function runs in a worker thread
(``anyio.to_thread.run_sync``) so it never blocks the event loop.

A tool returns ``str`` (sent as the ``tool_result`` text), or any JSON-serialisable value
(sent as JSON text), or a pandas DataFrame (sent as a markdown/CSV table). It fails by raising;
the orchestrator turns any exception into an ``is_error`` ``tool_result`` whose text names the
error (:class:`~jupyter_assistant.exceptions.ToolError` messages are sent as they are).
"""

from __future__ import annotations

import inspect
import re
import types
import typing
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal, Union, get_args, get_origin, overload

import anyio
import anyio.to_thread

from ..exceptions import ToolError
from ._threads import run_sync_tool
from ._validate import compile_validator

__all__ = ["Tool", "ToolContext", "tool"]

ProgressCallback = Callable[[str, "float | None"], Awaitable[None]]
ApprovalCallback = Callable[[str, "dict[str, Any]"], Awaitable[bool]]


async def _no_progress(message: str, fraction: float | None = None) -> None:
    return None


@dataclass
class ToolContext:
    """What a running tool may use.

    ``session_id`` / ``turn_id`` / ``tool_use_id`` identify the call; ``root`` is the
    directory file tools are confined to; ``traces`` maps trace ids to loaded
    :class:`~jupyter_assistant.traces.Trace` objects (``"current"`` is the trace the turn was
    started with); ``progress(message, fraction)`` emits a ``tool_use_progress`` event;
    ``approve(action, details)`` asks the user to approve an edit or code execution and
    returns whether they did (``None`` means no approver: tools that need approval refuse
    unless ``auto_approve`` is true); ``state`` is a per-session dict tools may keep state in
    (e.g. the undo stack of file edits).
    """

    session_id: str = ""
    turn_id: str = ""
    tool_use_id: str = ""
    root: Path = field(default_factory=Path.cwd)
    traces: Mapping[str, Any] = field(default_factory=dict)
    progress: ProgressCallback = _no_progress
    approve: ApprovalCallback | None = None
    auto_approve: bool = False
    state: dict[str, Any] = field(default_factory=dict)


_PY_TO_JSON: dict[Any, str] = {str: "string", int: "integer", float: "number", bool: "boolean",
                               dict: "object", list: "array", tuple: "array"}


def _json_schema(annotation: Any) -> dict[str, Any]:
    """JSON Schema for a parameter annotation (str, int, float, bool, list[X], dict,
    Literal[...], X | None)."""
    if annotation is inspect.Parameter.empty or annotation is Any:
        return {}
    origin = get_origin(annotation)
    if origin is Literal:
        values = list(get_args(annotation))
        schema: dict[str, Any] = {"enum": values}
        if all(isinstance(v, str) for v in values):
            schema["type"] = "string"
        return schema
    if origin in (Union, types.UnionType):
        args = [a for a in get_args(annotation) if a is not type(None)]
        if len(args) == 1:
            return _json_schema(args[0])
        return {"anyOf": [_json_schema(a) for a in args]}
    if origin in (list, tuple, Sequence):
        item_args = get_args(annotation)
        out: dict[str, Any] = {"type": "array"}
        if item_args and item_args[0] is not Ellipsis:
            out["items"] = _json_schema(item_args[0])
        return out
    if origin in (dict, Mapping):
        return {"type": "object"}
    if annotation in _PY_TO_JSON:
        return {"type": _PY_TO_JSON[annotation]}
    return {}


_ARG_LINE = re.compile(r"^\s*(\*{0,2}\w+)\s*(\([^)]*\))?\s*:\s*(.*)$")


def _parse_docstring(doc: str) -> tuple[str, dict[str, str]]:
    """(description, {param: help}) from a Google- or numpy-style docstring."""
    doc = inspect.cleandoc(doc or "")
    if not doc:
        return "", {}
    paragraphs = re.split(r"\n\s*\n", doc)
    description_parts = []
    params: dict[str, str] = {}
    in_args = False
    current: str | None = None
    for para in paragraphs:
        lines = para.splitlines()
        head = lines[0].strip().rstrip(":").lower() if lines else ""
        if head in ("args", "arguments", "parameters", "params"):
            in_args = True
            body = lines[1:]
            if body and set(body[0].strip()) <= {"-"}:
                body = body[1:]
            for line in body:
                m = _ARG_LINE.match(line)
                if m and (len(line) - len(line.lstrip())) <= 4:
                    current = m.group(1).lstrip("*")
                    params[current] = m.group(3).strip()
                elif current and line.strip():
                    params[current] = (params[current] + " " + line.strip()).strip()
            continue
        if head in ("returns", "return", "raises", "yields", "examples", "example", "notes"):
            in_args = False
            continue
        if not in_args:
            description_parts.append(para.strip())
    return "\n\n".join(description_parts), params


@dataclass
class Tool:
    """A callable the model may use, with its Anthropic tool definition.

    ``timeout`` (seconds) overrides the orchestrator's per-tool default when set;
    ``requires_approval`` makes the orchestrator ask the user (``ToolContext.approve``)
    before running it; ``category`` groups tools (``trace``, ``file``, ``web``, ``notebook``,
    ``custom``).
    """

    name: str
    description: str
    input_schema: dict[str, Any]
    fn: Callable[..., Any]
    timeout: float | None = None
    requires_approval: bool = False
    category: str = "custom"
    context_param: str | None = None
    _validator: Any = field(default=None, init=False, repr=False, compare=False)

    def _build_validator(self) -> None:
        """Compile the input schema's validator (called in a worker thread on first use,
        never on the event loop)."""
        if self._validator is None:
            self._validator = compile_validator(self.input_schema)

    def _validate(self, arguments: Mapping[str, Any]) -> None:
        if self._validator is None:
            self._build_validator()
        if self._validator is False:
            return
        problem = self._validator(dict(arguments))
        if problem is not None:
            raise ToolError(f"{self.name}: invalid input at {problem}", code="invalid_input")

    def definition(self) -> dict[str, Any]:
        """The Anthropic Messages API tool definition: ``{"name", "description",
        "input_schema"}``."""
        return {"name": self.name, "description": self.description,
                "input_schema": self.input_schema}

    async def call(self, arguments: Mapping[str, Any], ctx: ToolContext, *,
                   limiter: anyio.CapacityLimiter | None = None) -> Any:
        """Validate ``arguments`` against the signature and run the tool.

        A sync tool runs in a worker thread; with ``limiter`` (the orchestrator passes the
        sync tools' own), the thread holds one of its tokens until it returns, even when the
        call is cancelled and the thread abandoned (see :mod:`._threads`).

        Raises :class:`~jupyter_assistant.exceptions.ToolError` for missing or unexpected
        arguments (code ``tool_error``) and for arguments that do not match
        :attr:`input_schema` (JSON Schema, checked by ``fastjsonschema``, e.g. a string for a
        ``number``; code ``invalid_input``); otherwise whatever the tool raises.
        """
        if not isinstance(arguments, Mapping):
            raise ToolError(f"{self.name}: arguments must be a JSON object, "
                            f"got {type(arguments).__name__}")
        sig = inspect.signature(self.fn)
        kwargs = dict(arguments)
        if self.context_param:
            kwargs[self.context_param] = ctx
        try:
            bound = sig.bind(**kwargs)
        except TypeError as exc:
            raise ToolError(f"{self.name}: {exc}") from None
        if self._validator is None:
            await anyio.to_thread.run_sync(self._build_validator)
        self._validate(arguments)
        if inspect.iscoroutinefunction(self.fn):
            return await self.fn(*bound.args, **bound.kwargs)
        def run() -> Any:
            return self.fn(*bound.args, **bound.kwargs)

        if limiter is not None:
            return await run_sync_tool(run, limiter)
        return await anyio.to_thread.run_sync(run, abandon_on_cancel=True)


def _make_tool(fn: Callable[..., Any], name: str | None, description: str | None,
               timeout: float | None, requires_approval: bool, category: str) -> Tool:
    doc_description, param_help = _parse_docstring(fn.__doc__ or "")
    try:
        hints = typing.get_type_hints(fn)
    except Exception:  # unresolvable forward refs: fall back to raw annotations
        hints = {}
    properties: dict[str, Any] = {}
    required: list[str] = []
    context_param = None
    for pname, param in inspect.signature(fn).parameters.items():
        ann = hints.get(pname, param.annotation)
        if pname == "ctx" or ann is ToolContext:
            context_param = pname
            continue
        if param.kind in (param.VAR_POSITIONAL, param.VAR_KEYWORD):
            continue
        schema = _json_schema(ann)
        if pname in param_help:
            schema["description"] = param_help[pname]
        if param.default is inspect.Parameter.empty:
            required.append(pname)
        elif param.default is not None and isinstance(param.default, (str, int, float, bool)):
            schema["default"] = param.default
        properties[pname] = schema
    desc = description or doc_description or fn.__name__.replace("_", " ")
    return Tool(
        name=name or fn.__name__,
        description=desc,
        input_schema={"type": "object", "properties": properties, "required": required},
        fn=fn,
        timeout=timeout,
        requires_approval=requires_approval,
        category=category,
        context_param=context_param,
    )


@overload
def tool(fn: Callable[..., Any], /) -> Tool: ...
@overload
def tool(
    *, name: str | None = None, description: str | None = None, timeout: float | None = None,
    requires_approval: bool = False, category: str = "custom",
) -> Callable[[Callable[..., Any]], Tool]: ...
def tool(
    fn: Callable[..., Any] | None = None,
    /,
    *,
    name: str | None = None,
    description: str | None = None,
    timeout: float | None = None,
    requires_approval: bool = False,
    category: str = "custom",
) -> Tool | Callable[[Callable[..., Any]], Tool]:
    """Make a :class:`Tool` from a function; use bare (``@tool``) or with options
    (``@tool(timeout=5)``). The input schema comes from the signature, the description
    from the docstring (see the module docstring)."""
    if fn is not None:
        return _make_tool(fn, name, description, timeout, requires_approval, category)

    def decorate(f: Callable[..., Any]) -> Tool:
        return _make_tool(f, name, description, timeout, requires_approval, category)

    return decorate
