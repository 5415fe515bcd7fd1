"""Confine paths given by a model to a root directory.

A path is accepted when, after joining it to the root and resolving every symlink and ``..``
(:meth:`pathlib.Path.resolve`), it lies inside the resolved root. So ``../x``, an absolute path
elsewhere, and a symlink inside the root that points outside are all refused with
:class:`~jupyter_assistant.exceptions.PathOutsideRootError`; so is a path holding a NUL byte
(which the OS cannot represent, and which some C APIs would cut short). A path longer than
:data:`MAX_PATH_CHARS` or with a component longer than :data:`MAX_NAME_BYTES` is refused with
:class:`~jupyter_assistant.exceptions.ToolError` before the OS is asked (which would raise
``OSError: File name too long``).

A hard link has no target to resolve: every link of a file is the file. So
:func:`check_links_in_root` refuses a regular file with more than one link unless every link
is found under the root (a hard link inside the root to a file elsewhere, e.g. ``ln
/etc/passwd root/x``, would read that file as a symlink would).

The check is made on the resolved path and callers then open that resolved path, so a link
followed at check time cannot redirect the later open unless the tree changes in between
(a race the tools accept: the root belongs to the user).
"""

from __future__ import annotations

import os
from pathlib import Path

from ..exceptions import PathOutsideRootError, ToolError

__all__ = ["MAX_NAME_BYTES", "MAX_PATH_CHARS", "check_links_in_root", "display_path",
           "resolve_in_root"]

#: Longest path accepted, characters (Linux's PATH_MAX is 4,096 bytes).
MAX_PATH_CHARS = 4096
#: Longest component of a path accepted, bytes of UTF-8 (NAME_MAX on Linux and macOS).
MAX_NAME_BYTES = 255
#: Directory entries :func:`check_links_in_root` looks at before it gives up (and refuses).
MAX_LINK_SCAN = 50_000


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
    if len(text) > MAX_PATH_CHARS:
        raise ToolError(f"refused path: it is {len(text):,} characters; the limit is "
                        f"{MAX_PATH_CHARS:,}")
    try:
        text.encode()
    except UnicodeEncodeError:  # a lone surrogate ("\\ud800") names no file
        raise ToolError("refused path: it is not valid Unicode text") from None
    longest = max(text.replace("\\", "/").split("/"), key=lambda p: len(p.encode()))
    if len(longest.encode()) > MAX_NAME_BYTES:
        raise ToolError(f"refused path: the name {longest[:40]!r}… is "
                        f"{len(longest.encode()):,} bytes; the limit for one name is "
                        f"{MAX_NAME_BYTES}")
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


def check_links_in_root(root: Path | str, resolved: Path, shown: str) -> None:
    """Raises :class:`PathOutsideRootError` when ``resolved`` (a path from
    :func:`resolve_in_root`) is a regular file with several hard links and not all of them
    are under ``root`` (looked for among at most :data:`MAX_LINK_SCAN` entries; past that,
    refused too). ``shown`` names the file in the message."""
    try:
        st = resolved.stat()
    except OSError:
        return  # missing or unreadable: the caller reports it
    if st.st_nlink <= 1 or not os.path.isfile(resolved):
        return
    found, seen = 0, 0
    for dirpath, _dirs, files in os.walk(Path(root).expanduser().resolve()):
        for name in files:
            seen += 1
            try:
                other = os.stat(os.path.join(dirpath, name), follow_symlinks=False)
            except OSError:
                continue
            if (other.st_ino, other.st_dev) == (st.st_ino, st.st_dev):
                found += 1
        if found >= st.st_nlink or seen > MAX_LINK_SCAN:
            break
    if found < st.st_nlink:
        raise PathOutsideRootError(
            f"refused path {shown!r}: it is a hard link to a file with {st.st_nlink} links, "
            f"{'only ' if found else ''}{found} of them under the root directory; a link to a "
            "file outside the root is refused like a symlink out of it")
