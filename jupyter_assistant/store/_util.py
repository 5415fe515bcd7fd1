"""Helpers shared by every store backend: ids, clock, titles, argument checks."""

from __future__ import annotations

import re
import time
import uuid
from typing import Any

from ..exceptions import InputError, NotFoundError

__all__ = [
    "MESSAGE_ROLES",
    "TITLE_MAX_CHARS",
    "check_id",
    "check_page",
    "check_role",
    "known_id",
    "new_id",
    "now",
    "title_from_content",
]

#: Roles a stored message may have (Anthropic Messages API roles).
MESSAGE_ROLES = frozenset({"user", "assistant"})

#: A title taken from the first user message is at most this many characters.
TITLE_MAX_CHARS = 80


def new_id(prefix: str = "") -> str:
    """A new random id (32 hex digits of a UUID4), with an optional ``prefix``."""
    return prefix + uuid.uuid4().hex


def now() -> float:
    """Unix time in seconds (float): the clock of every ``*_at`` field."""
    return time.time()


def title_from_content(content: Any, max_chars: int = TITLE_MAX_CHARS) -> str:
    """The title of a conversation derived from its first user message.

    ``content`` is a string or an Anthropic content-block list (the text of the first
    ``{"type": "text"}`` block is used). The result is the first non-blank line with runs of
    whitespace collapsed, cut to ``max_chars`` characters (ending with ``…`` when cut); ``""``
    when there is no text (e.g. a message of ``tool_result`` blocks only).
    """
    text = ""
    if isinstance(content, str):
        text = content
    elif isinstance(content, list):
        for block in content:
            if isinstance(block, dict) and block.get("type") == "text":
                candidate = block.get("text")
                if isinstance(candidate, str) and candidate.strip():
                    text = candidate
                    break
    for line in text.splitlines():
        line = " ".join(line.split())
        if line:
            if len(line) > max_chars:
                return line[: max_chars - 1].rstrip() + "…"
            return line
    return ""


def check_role(role: str) -> None:
    """Raises :class:`InputError` unless ``role`` is ``user`` or ``assistant``."""
    if role not in MESSAGE_ROLES:
        raise InputError(f"message role must be one of {sorted(MESSAGE_ROLES)}, not {role!r}")


#: Largest ``limit`` / ``offset`` of a listing: the largest integer a JSON client (a double)
#: holds exactly, well inside SQLite's and Redis' int64.
MAX_PAGE_VALUE = 2**53 - 1


def check_page(limit: int, offset: int) -> None:
    """Raises :class:`InputError` for a ``limit`` or ``offset`` below 0 or above
    :data:`MAX_PAGE_VALUE` (SQLite would raise ``OverflowError`` past int64)."""
    if not (0 <= limit <= MAX_PAGE_VALUE and 0 <= offset <= MAX_PAGE_VALUE):
        raise InputError(f"limit and offset must be between 0 and {MAX_PAGE_VALUE} (got "
                         f"limit={limit}, offset={offset})")


_ID_RE = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.\-]{0,127}")


def check_id(value: str, what: str) -> None:
    """Raises :class:`InputError` unless ``value`` is a usable id for a new ``what``: 1-128
    characters of ``[A-Za-z0-9_.-]`` starting with a letter or digit (ids become parts of
    Redis keys and URLs, so separators such as ``:`` and ``/`` are refused)."""
    if not isinstance(value, str) or not _ID_RE.fullmatch(value):
        raise InputError(f"invalid {what} id {value!r}: use 1-128 characters of [A-Za-z0-9_.-]")


def known_id(value: str, what: str) -> None:
    """Raises :class:`NotFoundError` for an id that :func:`check_id` would refuse (so it
    cannot name a stored object)."""
    if not isinstance(value, str) or not _ID_RE.fullmatch(value):
        raise NotFoundError(f"{what} {value!r} not found")
