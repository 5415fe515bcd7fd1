"""``propose_cell_edit``: a proposal the sidebar shows as a diff; the tool changes nothing."""

from __future__ import annotations

from pathlib import Path

import pytest

from jupyter_assistant.exceptions import ToolError
from jupyter_assistant.tools import ToolContext, notebook_tools
from jupyter_assistant.tools.notebook_tools import MAX_CELL_SOURCE_CHARS, propose_cell_edit

pytestmark = pytest.mark.anyio


def test_the_notebook_tools_and_their_schema() -> None:
    assert [t.name for t in notebook_tools()] == ["propose_cell_edit"]
    d = propose_cell_edit.definition()
    schema = d["input_schema"]
    assert schema["required"] == ["cell_id", "new_source"]
    assert schema["properties"]["cell_id"]["type"] == "string"
    assert "nothing changes" in d["description"]
    assert not propose_cell_edit.requires_approval  # it changes nothing: no approval asked
    assert propose_cell_edit.category == "notebook"


async def test_a_proposal_says_nothing_changed(tmp_path: Path) -> None:
    before = sorted(tmp_path.iterdir())
    out = await propose_cell_edit.call(
        {"cell_id": "a1b2-c3_d", "new_source": "import numpy as np\nx = np.ones(3)"},
        ToolContext(root=tmp_path))
    assert "cell a1b2-c3_d (2 lines)" in out
    assert "Nothing has changed yet" in out
    assert sorted(tmp_path.iterdir()) == before


@pytest.mark.parametrize(("args", "problem"), [
    ({"cell_id": "", "new_source": "x"}, "cell_id must be an nbformat cell id"),
    ({"cell_id": "../etc/passwd", "new_source": "x"}, "cell_id must be an nbformat cell id"),
    ({"cell_id": "c" * 65, "new_source": "x"}, "cell_id must be an nbformat cell id"),
    ({"cell_id": "ok", "new_source": "x" * (MAX_CELL_SOURCE_CHARS + 1)}, "the limit is 100,000"),
])
async def test_bad_proposals_are_refused_with_the_reason(tmp_path: Path, args: dict[str, str],
                                                        problem: str) -> None:
    with pytest.raises(ToolError, match=problem):
        await propose_cell_edit.call(args, ToolContext(root=tmp_path))
