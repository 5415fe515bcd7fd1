"""File tools: ``read_file``, ``list_dir``, ``apply_edit`` and ``undo``, confined to
``ToolContext.root``.

Every path goes through :func:`~jupyter_assistant.tools._paths.resolve_in_root` (no ``..``,
absolute or symlink escape, no NUL byte:
:class:`~jupyter_assistant.exceptions.PathOutsideRootError`; no over-long path:
:class:`~jupyter_assistant.exceptions.ToolError`), and a file is read only when all of its
hard links are under the root (:func:`~jupyter_assistant.tools._paths.check_links_in_root`).
An ``OSError`` while reading or listing becomes the tool's :class:`ToolError`.
Limits: reads up to :data:`MAX_READ_BYTES` (1 MiB), edits files up to :data:`MAX_EDIT_BYTES`
(256 KiB) before and after the edit; each tool times out after 5 s.

``apply_edit`` changes a file either by an exact search/replace (the search text must occur
exactly once) or by a unified diff applied strictly (every context and removed line must match
at the line the hunk names; parsed and applied by ``whatthepatch``). It needs the user's
approval (``Tool.requires_approval``), writes atomically (temporary file + ``os.replace``),
keeps the line-ending style (LF or CRLF) of the file, returns the unified diff of the change
(made with :mod:`difflib`), and pushes the previous content on a per-session undo stack in
``ToolContext.state["file_edits"]`` that ``undo`` pops.
"""

from __future__ import annotations

import contextlib
import difflib
import os
import stat
import tempfile
from pathlib import Path
from typing import Any

import whatthepatch

from ..exceptions import ToolError
from ._base import Tool, ToolContext, tool
from ._paths import check_links_in_root, display_path, resolve_in_root

__all__ = ["MAX_EDIT_BYTES", "MAX_READ_BYTES", "apply_edit", "file_tools", "list_dir",
           "read_file", "undo"]

#: Largest file ``read_file`` reads, bytes.
MAX_READ_BYTES = 1024 * 1024
#: Largest file ``apply_edit`` changes (before and after the edit), bytes.
MAX_EDIT_BYTES = 256 * 1024
#: Edits remembered per session for ``undo``.
MAX_UNDO = 50
_MAX_LINE_CHARS = 2000
_FILE_TIMEOUT = 5.0
_STATE_KEY = "file_edits"


def _read_text(path: Path, rel: str, limit: int, root: Path) -> str:
    try:
        if not path.exists():
            raise ToolError(f"{rel}: no such file")
        if not path.is_file():
            raise ToolError(f"{rel}: not a regular file")
        check_links_in_root(root, path, rel)
        size = path.stat().st_size
        if size > limit:
            raise ToolError(f"{rel}: file is {size:,} bytes; the limit is {limit:,} bytes")
        data = path.read_bytes()
    except OSError as exc:
        raise ToolError(f"{rel}: cannot read it ({exc.strerror or exc})") from None
    if b"\x00" in data[:8192]:
        raise ToolError(f"{rel}: binary file (holds NUL bytes); only text files are supported")
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise ToolError(f"{rel}: not UTF-8 text ({exc.reason} at byte {exc.start})") from None


@tool(timeout=_FILE_TIMEOUT, category="file")
def read_file(path: str, start_line: int = 1, max_lines: int = 500, *, ctx: ToolContext) -> str:
    """Read a UTF-8 text file under the working directory, as numbered lines.

    Each line is shown as ``<line number><TAB><text>`` (numbers are 1-based and not part of
    the file). Files over 1 MiB are refused; lines over 2,000 characters are cut.

    Args:
        path: File path relative to the working directory.
        start_line: First line to show (1-based).
        max_lines: Number of lines to show (at most 2,000).
    """
    resolved = resolve_in_root(ctx.root, path)
    rel = display_path(ctx.root, resolved)
    text = _read_text(resolved, rel, MAX_READ_BYTES, ctx.root)
    lines = text.splitlines()
    start = max(1, int(start_line))
    count = max(1, min(int(max_lines), 2000))
    window = lines[start - 1 : start - 1 + count]
    end = start + len(window) - 1
    if not lines:
        return f"{rel}: empty file"
    if not window:
        raise ToolError(f"{rel}: start_line {start} is past the end ({len(lines)} lines)")
    out = [f"{rel}: lines {start}-{end} of {len(lines)}"]
    for number, line in enumerate(window, start):
        if len(line) > _MAX_LINE_CHARS:
            line = line[:_MAX_LINE_CHARS] + f"… [{len(line) - _MAX_LINE_CHARS} more characters]"
        out.append(f"{number}\t{line}")
    if end < len(lines):
        out.append(f"[{len(lines) - end} more lines; call again with start_line={end + 1}]")
    return "\n".join(out)


@tool(timeout=_FILE_TIMEOUT, category="file")
def list_dir(path: str = ".", max_entries: int = 200, *, ctx: ToolContext) -> str:
    """List a directory under the working directory: one entry per line, directories
    first, with sizes in bytes.

    Args:
        path: Directory path relative to the working directory.
        max_entries: Most entries to list (at most 1,000).
    """
    resolved = resolve_in_root(ctx.root, path)
    rel = display_path(ctx.root, resolved)
    try:
        if not resolved.is_dir():
            raise ToolError(f"{rel}: not a directory")
        entries = sorted(resolved.iterdir(), key=lambda p: (not p.is_dir(), p.name.lower()))
    except OSError as exc:
        raise ToolError(f"{rel}: cannot list it ({exc.strerror or exc})") from None
    limit = max(1, min(int(max_entries), 1000))
    out = [f"{rel}/ ({len(entries)} entries)"]
    for entry in entries[:limit]:
        if entry.is_symlink():
            out.append(f"{entry.name} -> (symlink)")
        elif entry.is_dir():
            out.append(f"{entry.name}/")
        else:
            with contextlib.suppress(OSError):
                out.append(f"{entry.name}  {entry.stat().st_size:,} bytes")
    if len(entries) > limit:
        out.append(f"[{len(entries) - limit} more entries]")
    return "\n".join(out)


def _newline_of(text: str) -> str:
    return "\r\n" if "\r\n" in text else "\n"


def _unified_diff(before: str, after: str, rel: str) -> str:
    diff = difflib.unified_diff(before.splitlines(keepends=True), after.splitlines(keepends=True),
                                fromfile=f"a/{rel}", tofile=f"b/{rel}")
    lines = [line if line.endswith("\n") else line + "\n\\ No newline at end of file\n"
             for line in diff]
    return "".join(lines)


def _write_atomic(path: Path, data: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    mode = stat.S_IMODE(path.stat().st_mode) if path.exists() else None
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
        if mode is not None:
            os.chmod(tmp, mode)
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise


def _search_replace(text: str, search: str, replace: str, rel: str) -> str:
    newline = _newline_of(text)
    body = text.replace("\r\n", "\n") if newline == "\r\n" else text
    search = search.replace("\r\n", "\n")
    replace = replace.replace("\r\n", "\n")
    count = body.count(search)
    if count == 0:
        hint = ""
        stripped = search.strip()
        if stripped and body.count(stripped) == 1:
            hint = " (it matches when leading/trailing whitespace is removed)"
        raise ToolError(f"{rel}: the search text was not found{hint}; "
                        "read the file and copy the exact text")
    if count > 1:
        raise ToolError(f"{rel}: the search text occurs {count} times; include more "
                        "surrounding lines so it occurs exactly once")
    new = body.replace(search, replace, 1)
    return new.replace("\n", "\r\n") if newline == "\r\n" else new


def _apply_unified_diff(text: str, diff: str, rel: str) -> str:
    try:
        patches = [p for p in whatthepatch.parse_patch(diff) if p.changes]
    except Exception as exc:  # whatthepatch raises its own ParseException and ValueError
        raise ToolError(f"{rel}: the diff cannot be parsed: {exc}") from None
    if not patches:
        raise ToolError(f"{rel}: the diff holds no hunks (expected '@@ -a,b +c,d @@' lines)")
    if len(patches) > 1:
        raise ToolError(f"{rel}: the diff changes {len(patches)} files; send one diff per file")
    newline = _newline_of(text)
    try:
        lines = whatthepatch.apply_diff(patches[0], text)
    except whatthepatch.exceptions.HunkApplyException as exc:
        raise ToolError(f"{rel}: the diff does not apply: {exc}") from None
    new = newline.join(lines)
    if lines and (text.endswith("\n") or not text):
        new += newline
    return new


def _edit_stack(ctx: ToolContext) -> list[dict[str, Any]]:
    stack = ctx.state.setdefault(_STATE_KEY, [])
    if not isinstance(stack, list):
        raise ToolError("the session's edit history is corrupt")
    return stack


@tool(timeout=_FILE_TIMEOUT, category="file", requires_approval=True)
def apply_edit(path: str, search: str | None = None, replace: str | None = None,
               diff: str | None = None, *, ctx: ToolContext) -> str:
    """Edit a text file under the working directory and return the unified diff of the
    change. Give either ``search`` and ``replace`` (the search text must occur exactly once in
    the file; an empty search with a path that does not exist creates the file) or ``diff``,
    a unified diff for this one file applied strictly at the line numbers of its hunks.
    Files over 256 KiB are refused. The edit can be reverted with ``undo``.

    Args:
        path: File path relative to the working directory.
        search: Exact text to replace, including whitespace and indentation.
        replace: The new text.
        diff: A unified diff (``--- a/x``, ``+++ b/x``, ``@@ -l,n +l,n @@`` hunks).
    """
    resolved = resolve_in_root(ctx.root, path)
    rel = display_path(ctx.root, resolved)
    if diff is not None and (search is not None or replace is not None):
        raise ToolError("give either search/replace or diff, not both")
    if diff is None and (search is None or replace is None):
        raise ToolError("give search and replace, or diff")
    try:
        return _apply_edit(resolved, rel, search, replace, diff, ctx)
    except OSError as exc:
        raise ToolError(f"{rel}: cannot edit it ({exc.strerror or exc})") from None


def _apply_edit(resolved: Path, rel: str, search: str | None, replace: str | None,
                diff: str | None, ctx: ToolContext) -> str:
    before: str | None
    if search == "" and not resolved.exists():
        before, after = None, replace or ""
    else:
        before = _read_text(resolved, rel, MAX_EDIT_BYTES, ctx.root)
        if diff is not None:
            after = _apply_unified_diff(before, diff, rel)
        else:
            if search == "":
                raise ToolError(f"{rel}: the file exists; an empty search only creates new files")
            after = _search_replace(before, search or "", replace or "", rel)
    data = after.encode("utf-8")
    if len(data) > MAX_EDIT_BYTES:
        raise ToolError(f"{rel}: the edited file would be {len(data):,} bytes; "
                        f"the limit is {MAX_EDIT_BYTES:,}")
    if before == after:
        raise ToolError(f"{rel}: the edit changes nothing")
    _write_atomic(resolved, data)
    stack = _edit_stack(ctx)
    stack.append({"path": str(resolved), "before": None if before is None else before.encode(),
                  "after": data})
    del stack[:-MAX_UNDO]
    return _unified_diff(before or "", after, rel)


@tool(timeout=_FILE_TIMEOUT, category="file", requires_approval=True)
def undo(*, ctx: ToolContext) -> str:
    """Revert the last file edit made by ``apply_edit`` in this session and return the
    unified diff of the revert. Refuses when the file changed since that edit."""
    stack = _edit_stack(ctx)
    if not stack:
        raise ToolError("no edit to undo in this session")
    entry = stack[-1]
    path = resolve_in_root(ctx.root, entry["path"])
    rel = display_path(ctx.root, path)
    current = path.read_bytes() if path.exists() else None
    if current != entry["after"]:
        raise ToolError(f"{rel}: the file changed since the edit; not undone")
    before: bytes | None = entry["before"]
    if before is None:
        path.unlink()
    else:
        _write_atomic(path, before)
    stack.pop()
    return _unified_diff(entry["after"].decode(), "" if before is None else before.decode(), rel)


def file_tools() -> list[Tool]:
    """The file tools: ``read_file``, ``list_dir``, ``apply_edit``, ``undo``."""
    return [read_file, list_dir, apply_edit, undo]
