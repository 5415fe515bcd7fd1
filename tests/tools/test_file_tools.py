"""File tools: root confinement (every escape), read limits, apply_edit both ways, undo."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from jupyter_assistant.exceptions import PathOutsideRootError, ToolError
from jupyter_assistant.tools import ToolContext
from jupyter_assistant.tools._paths import resolve_in_root
from jupyter_assistant.tools.file_tools import (
    MAX_EDIT_BYTES,
    MAX_READ_BYTES,
    apply_edit,
    list_dir,
    read_file,
    undo,
)

pytestmark = pytest.mark.anyio


@pytest.fixture
def root(tmp_path: Path) -> Path:
    r = tmp_path / "root"
    r.mkdir()
    (r / "pkg").mkdir()
    (r / "pkg" / "mod.py").write_text("def f():\n    return 1\n\n\ndef g():\n    return 2\n")
    (tmp_path / "secret.txt").write_text("top secret\n")
    return r


@pytest.fixture
def ctx(root: Path) -> ToolContext:
    return ToolContext(session_id="s", root=root, auto_approve=True)


# -- confinement --------------------------------------------------------------------------
@pytest.mark.parametrize("bad", ["../secret.txt", "pkg/../../secret.txt", "..", "../root2/x"])
async def test_dotdot_escape_refused(ctx: ToolContext, bad: str) -> None:
    with pytest.raises(PathOutsideRootError):
        await read_file.call({"path": bad}, ctx)


async def test_absolute_path_outside_refused_inside_allowed(ctx: ToolContext, root: Path) -> None:
    with pytest.raises(PathOutsideRootError):
        await read_file.call({"path": str(root.parent / "secret.txt")}, ctx)
    with pytest.raises(PathOutsideRootError):
        await read_file.call({"path": "/etc/passwd"}, ctx)
    out = await read_file.call({"path": str(root / "pkg" / "mod.py")}, ctx)
    assert "return 1" in out


async def test_symlink_escape_refused(ctx: ToolContext, root: Path) -> None:
    os.symlink(root.parent / "secret.txt", root / "link.txt")
    os.symlink(root.parent, root / "updir")
    with pytest.raises(PathOutsideRootError):
        await read_file.call({"path": "link.txt"}, ctx)
    with pytest.raises(PathOutsideRootError):
        await read_file.call({"path": "updir/secret.txt"}, ctx)
    with pytest.raises(PathOutsideRootError):
        await apply_edit.call({"path": "link.txt", "search": "top", "replace": "x"}, ctx)
    assert (root.parent / "secret.txt").read_text() == "top secret\n"
    # a symlink that stays inside the root is fine
    os.symlink(root / "pkg" / "mod.py", root / "inside.py")
    assert "def g" in await read_file.call({"path": "inside.py"}, ctx)


async def test_nul_byte_and_empty_path_refused(ctx: ToolContext) -> None:
    with pytest.raises(PathOutsideRootError, match="NUL"):
        await read_file.call({"path": "pkg/mod.py\x00../../secret.txt"}, ctx)
    with pytest.raises(PathOutsideRootError):
        await read_file.call({"path": "  "}, ctx)


def test_resolve_in_root_root_itself(root: Path) -> None:
    assert resolve_in_root(root, ".") == root.resolve()
    assert resolve_in_root(root, "pkg/./mod.py") == (root / "pkg" / "mod.py").resolve()


# -- read / list ----------------------------------------------------------------------------
async def test_read_file_window_and_numbering(ctx: ToolContext, root: Path) -> None:
    (root / "big.txt").write_text("".join(f"line {i}\n" for i in range(1, 101)))
    out = await read_file.call({"path": "big.txt", "start_line": 10, "max_lines": 3}, ctx)
    lines = out.splitlines()
    assert lines[0] == "big.txt: lines 10-12 of 100"
    assert lines[1:4] == ["10\tline 10", "11\tline 11", "12\tline 12"]
    assert "start_line=13" in lines[-1]
    with pytest.raises(ToolError, match="past the end"):
        await read_file.call({"path": "big.txt", "start_line": 500}, ctx)


async def test_read_file_limits(ctx: ToolContext, root: Path) -> None:
    (root / "huge.txt").write_bytes(b"x" * (MAX_READ_BYTES + 1))
    with pytest.raises(ToolError, match="limit"):
        await read_file.call({"path": "huge.txt"}, ctx)
    (root / "bin.dat").write_bytes(b"\x89PNG\x00\x00\x01")
    with pytest.raises(ToolError, match="binary"):
        await read_file.call({"path": "bin.dat"}, ctx)
    with pytest.raises(ToolError, match="no such file"):
        await read_file.call({"path": "missing.txt"}, ctx)
    assert read_file.timeout == 5


async def test_list_dir(ctx: ToolContext) -> None:
    out = await list_dir.call({}, ctx)
    assert "pkg/" in out.splitlines()
    assert "mod.py" in await list_dir.call({"path": "pkg"}, ctx)
    with pytest.raises(PathOutsideRootError):
        await list_dir.call({"path": ".."}, ctx)


# -- apply_edit / undo ----------------------------------------------------------------------
async def test_search_replace_returns_diff_and_undo_restores(ctx: ToolContext, root: Path) -> None:
    path = root / "pkg" / "mod.py"
    original = path.read_text()
    assert apply_edit.requires_approval and undo.requires_approval
    diff = await apply_edit.call(
        {"path": "pkg/mod.py", "search": "    return 1\n", "replace": "    return 10\n"}, ctx)
    assert diff.startswith("--- a/pkg/mod.py\n+++ b/pkg/mod.py\n")
    assert "-    return 1\n+    return 10\n" in diff
    assert path.read_text() == original.replace("return 1\n", "return 10\n")
    back = await undo.call({}, ctx)
    assert "-    return 10\n+    return 1\n" in back
    assert path.read_text() == original
    with pytest.raises(ToolError, match="no edit"):
        await undo.call({}, ctx)


async def test_search_must_occur_exactly_once(ctx: ToolContext, root: Path) -> None:
    with pytest.raises(ToolError, match="occurs 2 times"):
        await apply_edit.call({"path": "pkg/mod.py", "search": "    return",
                               "replace": "    yield"}, ctx)
    with pytest.raises(ToolError, match="not found"):
        await apply_edit.call({"path": "pkg/mod.py", "search": "return 3",
                               "replace": "x"}, ctx)
    with pytest.raises(ToolError, match="either"):
        await apply_edit.call({"path": "pkg/mod.py", "search": "a", "replace": "b",
                               "diff": "x"}, ctx)


async def test_unified_diff_applied_strictly(ctx: ToolContext, root: Path) -> None:
    path = root / "pkg" / "mod.py"
    good = ("--- a/pkg/mod.py\n+++ b/pkg/mod.py\n@@ -4,3 +4,3 @@\n \n def g():\n"
            "-    return 2\n+    return 20\n")
    out = await apply_edit.call({"path": "pkg/mod.py", "diff": good}, ctx)
    assert "+    return 20" in out
    assert path.read_text().endswith("def g():\n    return 20\n")
    # wrong line numbers: strict application refuses, file untouched
    stale = good.replace("@@ -4,3 +4,3 @@", "@@ -1,3 +1,3 @@")
    before = path.read_text()
    with pytest.raises(ToolError, match="does not apply"):
        await apply_edit.call({"path": "pkg/mod.py", "diff": stale}, ctx)
    assert path.read_text() == before
    with pytest.raises(ToolError, match="no hunks"):
        await apply_edit.call({"path": "pkg/mod.py", "diff": "just words"}, ctx)


async def test_create_file_then_undo_deletes(ctx: ToolContext, root: Path) -> None:
    diff = await apply_edit.call({"path": "new/notes.md", "search": "", "replace": "hi\n"}, ctx)
    assert "+hi" in diff and (root / "new" / "notes.md").read_text() == "hi\n"
    await undo.call({}, ctx)
    assert not (root / "new" / "notes.md").exists()


async def test_crlf_file_keeps_line_endings(ctx: ToolContext, root: Path) -> None:
    (root / "win.txt").write_bytes(b"one\r\ntwo\r\nthree\r\n")
    await apply_edit.call({"path": "win.txt", "search": "one\ntwo", "replace": "1\n2"}, ctx)
    assert (root / "win.txt").read_bytes() == b"1\r\n2\r\nthree\r\n"


async def test_edit_size_limit_and_changed_file_not_undone(ctx: ToolContext, root: Path) -> None:
    (root / "big.txt").write_bytes(b"a" * (MAX_EDIT_BYTES + 1))
    with pytest.raises(ToolError, match="limit"):
        await apply_edit.call({"path": "big.txt", "search": "aaa", "replace": "b"}, ctx)
    (root / "small.txt").write_text("x = 1\n")
    await apply_edit.call({"path": "small.txt", "search": "x = 1", "replace": "x = 2"}, ctx)
    (root / "small.txt").write_text("x = 3\n")  # the user edits it afterwards
    with pytest.raises(ToolError, match="changed since"):
        await undo.call({}, ctx)
    assert (root / "small.txt").read_text() == "x = 3\n"


async def test_undo_stack_is_per_session_state(root: Path) -> None:
    a = ToolContext(session_id="a", root=root)
    b = ToolContext(session_id="b", root=root)
    await apply_edit.call({"path": "pkg/mod.py", "search": "return 2", "replace": "return 5"}, a)
    with pytest.raises(ToolError, match="no edit"):
        await undo.call({}, b)
    await undo.call({}, a)
    assert "return 2" in (root / "pkg" / "mod.py").read_text()


# -- over-long paths, hard links ------------------------------------------------------------
@pytest.mark.parametrize(("path", "match"), [
    ("a" * 5000, "5,000 characters; the limit is 4,096"),
    ("pkg/" + "b" * 300 + "/x.py", "300 bytes; the limit for one name is 255"),
    ("é" * 200, "400 bytes"),
    ("pkg/\ud800.py", "not valid Unicode"),
])
async def test_over_long_or_unencodable_paths_are_the_tools_error(
        ctx: ToolContext, path: str, match: str) -> None:
    for tool_, args in ((read_file, {"path": path}), (list_dir, {"path": path}),
                        (apply_edit, {"path": path, "search": "", "replace": "x"})):
        with pytest.raises(ToolError, match=match) as info:
            await tool_.call(args, ctx)
        assert not isinstance(info.value, OSError)


async def test_a_path_at_the_os_limits_is_still_the_tools_error(ctx: ToolContext) -> None:
    # under our bounds, yet too long for the OS once joined to the root: ENAMETOOLONG
    deep = "/".join(["d" * 250] * 16) + "/" + "e" * 80
    assert len(deep) == 4096
    with pytest.raises(ToolError, match=r"cannot read it \(File name too long\)"):
        await read_file.call({"path": deep}, ctx)
    with pytest.raises(ToolError, match=r"cannot list it \(File name too long\)"):
        await list_dir.call({"path": deep}, ctx)
    with pytest.raises(ToolError, match=r"cannot edit it \(File name too long\)"):
        await apply_edit.call({"path": deep, "search": "", "replace": "x"}, ctx)


async def test_hard_link_to_a_file_outside_the_root_is_refused(ctx: ToolContext,
                                                                root: Path) -> None:
    secret = root.parent / "secret.txt"
    os.link(secret, root / "hard.txt")
    with pytest.raises(PathOutsideRootError, match="hard link to a file with 2 links, only "
                                                   "1 of them under the root"):
        await read_file.call({"path": "hard.txt"}, ctx)
    with pytest.raises(PathOutsideRootError, match="hard link"):
        await apply_edit.call({"path": "hard.txt", "search": "top", "replace": "x"}, ctx)
    assert secret.read_text() == "top secret\n"
    # hard links that all live under the root are ordinary files
    os.link(root / "pkg" / "mod.py", root / "mod_again.py")
    assert "def g" in await read_file.call({"path": "mod_again.py"}, ctx)
    assert "def g" in await read_file.call({"path": "pkg/mod.py"}, ctx)
