"""Tools the model may call (trace, file, notebook, web search) and the ``@tool`` decorator."""

from ._base import Tool, ToolContext, tool

__all__ = ["Tool", "ToolContext", "tool"]
