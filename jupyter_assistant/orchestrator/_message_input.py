"""The one check of a user's message, shared by the orchestrator (``Assistant.run``), the
server (``POST chat``, ``POST conversations/{id}/messages``) and every other entry point, so
that the same input gets the same answer everywhere.

A message is text (``str``) or, where stored messages are accepted, a list of Anthropic
content blocks (``{"type": "text", "text": ...}`` and other block types). Refusals are
:class:`~jupyter_assistant.exceptions.InputError` with one code per problem:

====================  =========================================================
``invalid_input``     not text (or not a list of content blocks with a ``type``,
                      text blocks with a string ``text``)
``empty_message``     ``""``, only whitespace, ``[]``, or blocks whose text is blank
``message_too_long``  more characters of text than ``max_chars``, naming the limit
====================  =========================================================
"""

from __future__ import annotations

from typing import Any

from ..exceptions import InputError

__all__ = ["message_text_chars", "validate_message"]


def message_text_chars(content: str | list[dict[str, Any]]) -> int:
    """Characters of text in ``content``: the string's length, or the summed ``text`` of the
    blocks."""
    if isinstance(content, str):
        return len(content)
    return sum(len(b["text"]) for b in content if isinstance(b.get("text"), str))


def validate_message(message: Any, max_chars: int, *, blocks: bool = False,
                     setting: str = "max_message_chars") -> Any:
    """``message`` if it may be sent to the model (or stored); raises
    :class:`~jupyter_assistant.exceptions.InputError` with code ``invalid_input``,
    ``empty_message`` or ``message_too_long`` (see the module docstring).

    ``blocks``: also accept a list of content-block objects. ``setting`` is the name of the
    limit shown in the too-long message (``c.AssistantApp.max_message_chars`` on the
    server)."""
    if isinstance(message, list) and blocks:
        if not all(isinstance(b, dict) and isinstance(b.get("type"), str) for b in message):
            raise InputError("the message content must be a string or a list of content "
                             "block objects, each with a string 'type'")
        if any(b["type"] == "text" and not isinstance(b.get("text"), str) for b in message):
            raise InputError("a text content block needs a string 'text'")
        texts = [b.get("text") for b in message]
        blank = all(isinstance(t, str) and not t.strip() for t in texts)
        if not message or blank:
            raise InputError("the message is empty", code="empty_message")
    elif not isinstance(message, str):
        kinds = "text or a list of content blocks" if blocks else "text"
        raise InputError(f"the message must be {kinds}, not {type(message).__name__}")
    elif not message.strip():
        raise InputError("the message is empty", code="empty_message")
    size = message_text_chars(message)
    if size > max_chars:
        raise InputError(f"the message is {size:,} characters long; the limit is "
                         f"{max_chars:,} characters ({setting})", code="message_too_long")
    return message
