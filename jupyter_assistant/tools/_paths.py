"""Confine paths given by a model to a root directory.

A path is accepted when, after joining it to the root and resolving every symlink and ``..``
(:meth:`pathlib.Path.resolve`), it lies inside the resolved root. So ``../x``, an absolute path
elsewhere, and a symlink inside the root that points outside are all refused with
:class:`~jupyter_assistant.exceptions.PathOutsideRootError`; so is a path holding a NUL byte
(which the OS cannot represent, and which some C APIs would cut short).

The check is made on the resolved path and callers then open that resolved path, so a link
followed at check time cannot redirect the later open unless the tree changes in between
(a race the tools accept: the root belongs to the user).
"""

from __future__ import annotations

import os
from pathlib import Path

from ..exceptions import PathOutsideRootError

__all__ = ["display_path", "resolve_in_root"]


def resolve_in_root(root: Path | str, path: str | os.PathLike[str]) -> Path:
    """The resolved absolute path of ``path`` (relative to ``root``, or absolute) if it lies
    inside ``root``.

    Raises :class:`PathOutsideRootError` for an empty path, a NUL byte, or a path that
    resolves outside ``root`` (``..`` escapes, absolute paths elsewhere, symlink escapes).
    """
    text = os.fspath(path)
    if not isinstance(text, str):
        raise PathOutsideRootError("path must be text")
    if "\x00" in text:
        raise PathOutsideRootError("refused path: it contains a NUL byte")
    if not text.strip():
        raise PathOutsideRootError("refused path: it is empty")
    root_resolved = Path(root).expanduser().resolve()
    candidate = Path(text).expanduser()
    if not candidate.is_absolute():
        candidate = root_resolved / candidate
    try:
        resolved = candidate.resolve()
    except (OSError, RuntimeError) as exc:  # symlink loop, too long a name
        raise PathOutsideRootError(f"refused path {text!r}: {exc}") from None
    if resolved != root_resolved and not resolved.is_relative_to(root_resolved):
        raise PathOutsideRootError(
            f"refused path {text!r}: it resolves outside the root directory {root_resolved}")
    return resolved


def display_path(root: Path | str, resolved: Path) -> str:
    """``resolved`` relative to the resolved ``root`` (POSIX separators), for messages."""
    try:
        return resolved.relative_to(Path(root).expanduser().resolve()).as_posix() or "."
    except ValueError:
        return str(resolved)
