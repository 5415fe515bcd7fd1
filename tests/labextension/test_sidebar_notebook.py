"""Traces and notebooks in the browser: upload a real trace and see its summary (which opens
with the Verdict once ``Trace.diagnose`` lands),
ask about it from the file browser; ask about the active cell (source, outputs, error and id
reach the model); a proposed cell edit shows as a diff, Accept changes the open notebook's
cell (and the notebook's undo reverts it), Reject leaves it. A code block's "Insert into
notebook" inserts it below the active cell, and waits (disabled) while the block streams.

``%assistant QUESTION?`` in a notebook runs in the lab's real kernel against the local peer,
and its chat widget renders in JupyterLab (a tool card, the streamed answer, the footer).
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import pytest
from lab_helpers import SIDEBAR, last_turn, open_sidebar, run_command, send, write_notebook
from playwright.sync_api import expect

from jupyter_assistant.testing import AnthropicServer, LabServer, Reply

pytestmark = pytest.mark.slow

TRACES = Path(__file__).resolve().parents[3] / "shared" / "traces"
KINETO = TRACES / "hta" / "trace_diff" / "control" / "control.json.gz"


def test_upload_a_trace_and_see_its_verdict_then_ask_about_it(
        page: Any, peer: AnthropicServer) -> None:
    open_sidebar(page)
    page.locator(f"{SIDEBAR} input[type=file]").set_input_files(str(KINETO))
    trace = page.locator(f"{SIDEBAR} .jp-AssistantItem.jp-mod-trace")
    trace.wait_for(timeout=60_000)
    # the server's summary rendered as markdown: its heading, its facts, its tables
    body = trace.locator(".jp-AssistantMarkdown")
    body.locator("h2", has_text="control.json.gz").wait_for()
    assert "format kineto" in body.inner_text()
    assert body.locator("table").count() >= 2
    assert body.locator("th", has_text="self time").count() >= 1
    chip = page.locator(f"{SIDEBAR} .jp-AssistantTraceChip")
    assert chip.inner_text().startswith("Trace: control.json.gz")
    peer.script(Reply.text("The GPU idles between steps."))
    send(page, "why is it slow?")
    last_turn(page).locator(".jp-AssistantMarkdown", has_text="GPU idles").wait_for()
    # the turn was about the uploaded trace: its summary went to the model
    assert "control.json.gz" in json.dumps(peer.message_requests()[-1])


def test_an_upload_over_the_limit_is_refused_in_the_panel(page: Any, tmp_path: Path) -> None:
    open_sidebar(page)
    big = tmp_path / "big.json"
    big.write_bytes(b"[" + b" " * (5 * 1024 * 1024) + b"]")  # over the lab's 4 MiB
    page.locator(f"{SIDEBAR} input[type=file]").set_input_files(str(big))
    notice = page.locator(f"{SIDEBAR} .jp-AssistantItem.jp-mod-notice.jp-mod-error")
    notice.wait_for()
    assert "over the server's upload limit of 4.0 MiB" in notice.inner_text()
    assert "payload_too_large" in notice.inner_text()


def test_a_file_browser_trace_has_ask_the_assistant(page: Any, lab: LabServer) -> None:
    shutil.copyfile(KINETO, lab.root / "step.json.gz")
    run_command(page, "filebrowser:refresh")
    item = page.locator(".jp-DirListing-item[title*='step.json.gz']").first
    item.wait_for()
    item.click(button="right")
    page.locator(".lm-Menu-itemLabel", has_text="Ask the Assistant About This Trace").click()
    trace = page.locator(f"{SIDEBAR} .jp-AssistantItem.jp-mod-trace")
    trace.wait_for(timeout=60_000)
    trace.locator("h2", has_text="step.json.gz").wait_for()
    box = page.get_by_role("textbox", name="Message the assistant")
    assert box.input_value() == "Why is this trace slow?"


def _open_notebook(page: Any, name: str) -> Any:
    run_command(page, "docmanager:open", {"path": name})
    cell = page.locator(".jp-NotebookPanel .jp-Cell").first
    cell.wait_for()
    return cell


def _cell_text(page: Any, index: int) -> str:
    return str(page.locator(".jp-NotebookPanel .jp-Cell").nth(index)
               .locator(".cm-content").inner_text())


def test_ask_about_the_active_cell_sends_source_outputs_error_and_id(
        page: Any, lab: LabServer, peer: AnthropicServer) -> None:
    path = write_notebook(lab.root, "ask.ipynb", [("cell-q1", "import numpy as np\n1/0")])
    nb = json.loads(path.read_text())
    nb["cells"][0]["outputs"] = [{"output_type": "error", "ename": "ZeroDivisionError",
                                  "evalue": "division by zero",
                                  "traceback": ["\x1b[0;31mZeroDivisionError\x1b[0m: "
                                                "division by zero"]}]
    path.write_text(json.dumps(nb))
    cell = _open_notebook(page, "ask.ipynb")
    cell.click()
    open_sidebar(page)
    peer.script(Reply.text("Division by zero on line 2."))
    page.get_by_role("textbox", name="Message the assistant").fill("why does it fail?")
    page.get_by_role("button", name="Ask about this cell").click()
    last_turn(page).locator(".jp-AssistantMarkdown", has_text="Division by zero").wait_for()
    sent = peer.message_requests()[-1]["messages"][-1]["content"]
    text = sent if isinstance(sent, str) else " ".join(b.get("text", "") for b in sent)
    assert text.startswith("why does it fail?")
    assert "cell_id `cell-q1`" in text and "ask.ipynb" in text
    assert "import numpy as np\n1/0" in text
    assert "ZeroDivisionError: division by zero" in text and "\x1b" not in text


def test_a_proposed_cell_edit_is_a_diff_accept_applies_it_reject_leaves_it(
        page: Any, lab: LabServer, peer: AnthropicServer) -> None:
    write_notebook(lab.root, "edit.ipynb", [("cell-a", "x = 1\nprint(x)"),
                                            ("cell-b", "y = 2")])
    _open_notebook(page, "edit.ipynb")
    open_sidebar(page)
    peer.script(
        Reply.tool_use("propose_cell_edit", {"cell_id": "cell-a",
                                             "new_source": "x = 10\nprint(x)",
                                             "explanation": "Start x at 10."}),
        Reply.text("I proposed starting x at 10."))
    send(page, "change x")
    turn = last_turn(page)
    card = turn.locator(".jp-AssistantToolCard[data-tool='propose_cell_edit']")
    card.locator(".jp-AssistantDiff").wait_for()
    assert card.locator(".jp-AssistantDiff-title").inner_text() == "Start x at 10."
    removed = card.locator(".jp-AssistantDiff-line.jp-mod-removed").all_inner_texts()
    added = card.locator(".jp-AssistantDiff-line.jp-mod-added").all_inner_texts()
    assert removed == ["- x = 1"] and added == ["+ x = 10"]
    assert _cell_text(page, 0) == "x = 1\nprint(x)"  # nothing changed before the click
    card.get_by_role("button", name="Accept").click()
    card.locator(".jp-AssistantDiff-decision", has_text="Accepted").wait_for()
    page.wait_for_function(
        "() => document.querySelector('.jp-NotebookPanel .jp-Cell .cm-content')"
        ".innerText === 'x = 10\\nprint(x)'")
    # the notebook's own undo reverts it
    page.locator(".jp-NotebookPanel .jp-Cell").first.locator(".cm-content").click()
    page.keyboard.press("Control+z")
    page.wait_for_function(
        "() => document.querySelector('.jp-NotebookPanel .jp-Cell .cm-content')"
        ".innerText === 'x = 1\\nprint(x)'")

    peer.script(Reply.tool_use("propose_cell_edit", {"cell_id": "cell-b",
                                                     "new_source": "y = 3"}),
                Reply.text("Proposed y = 3."))
    send(page, "change y")
    card = last_turn(page).locator(".jp-AssistantToolCard[data-tool='propose_cell_edit']")
    card.get_by_role("button", name="Reject").click()
    card.locator(".jp-AssistantDiff-decision", has_text="Rejected").wait_for()
    assert _cell_text(page, 1) == "y = 2"
    assert card.get_by_role("button", name="Accept").count() == 0


def test_insert_into_notebook_adds_the_code_below_the_active_cell(
        page: Any, lab: LabServer, peer: AnthropicServer) -> None:
    write_notebook(lab.root, "insert.ipynb", [("cell-i", "a = 1")])
    _open_notebook(page, "insert.ipynb")
    open_sidebar(page)
    peer.script(Reply.text("Try:\n\n```python\nb = a + 1\n```\n"))
    send(page, "next step?")
    code = last_turn(page).locator(".jp-AssistantCode")
    expect(code.locator("pre")).to_have_text("b = a + 1")  # streamed in whole before the click
    code.get_by_role("button", name="Insert into notebook").click()
    page.locator(".jp-NotebookPanel .jp-Cell").nth(1).wait_for()
    assert _cell_text(page, 0) == "a = 1"
    assert _cell_text(page, 1) == "b = a + 1"


STREAMED = "Try:\n\n```python\nb = a + 1\nc = b * 2\n```\n\nThen run it."
# the peer streams one word per delta; SSE events before the first delta: message_start,
# ping, content_block_start. 3 + 5 deltas end inside the block ("...b = a + 1\nc"), 3 + 9
# deltas end after the closing fence's line ("...2\n```\n\nThen").
MID_BLOCK, AFTER_BLOCK = 3 + 5, 3 + 9


def test_insert_waits_for_the_end_of_a_streaming_code_block(
        page: Any, lab: LabServer, peer: AnthropicServer) -> None:
    write_notebook(lab.root, "streaming.ipynb", [("cell-s", "a = 1")])
    _open_notebook(page, "streaming.ipynb")
    open_sidebar(page)
    stop = page.get_by_role("button", name="Stop")
    # the answer stalls for 5 s inside the code block, then streams on and completes
    peer.script(Reply.text(STREAMED, stall_after=MID_BLOCK, stall_seconds=5))
    send(page, "next step?")
    code = last_turn(page).locator(".jp-AssistantCode")
    insert = code.get_by_role("button", name="Insert into notebook")
    copy = code.get_by_role("button", name="Copy")
    expect(code.locator("pre")).to_contain_text("b = a + 1")
    # mid-stream: half of the block is on screen, and neither button takes it
    expect(insert).to_be_disabled()
    expect(copy).to_be_disabled()
    assert stop.is_visible()
    assert code.locator("pre").inner_text().strip() == "b = a + 1\nc"
    assert insert.get_attribute("title") == "The code block is still streaming: wait for its end"
    # the closing fence arrives after the stall: both are enabled, and Insert takes all of it
    expect(insert).to_be_enabled(timeout=30_000)
    expect(copy).to_be_enabled()
    assert code.locator("pre").inner_text().strip() == "b = a + 1\nc = b * 2"
    insert.click()
    page.locator(".jp-NotebookPanel .jp-Cell").nth(1).wait_for()
    assert _cell_text(page, 1) == "b = a + 1\nc = b * 2"
    stop.wait_for(state="hidden")

    # a block whose closing fence has come is enabled while the rest of the answer streams
    peer.script(Reply.text(STREAMED, stall_after=AFTER_BLOCK, stall_seconds=60))
    send(page, "and then?")
    turn = last_turn(page)
    turn.locator(".jp-AssistantMarkdown", has_text="Then").wait_for()
    code = turn.locator(".jp-AssistantCode")
    expect(code.get_by_role("button", name="Insert into notebook")).to_be_enabled()
    expect(code.get_by_role("button", name="Copy")).to_be_enabled()
    assert stop.is_visible() and "run it" not in turn.inner_text()
    stop.click()
    turn.locator(".jp-AssistantItem-cancelled").wait_for()

    # an answer that ends inside its block: disabled while the turn lasts, enabled at its end
    # (the stall is after all its 3 deltas and content_block_stop, before message_delta)
    peer.script(Reply.text("Unclosed:\n\n```python\nd = 4", stall_after=3 + 3 + 1,
                           stall_seconds=3))
    send(page, "last one?")
    turn = last_turn(page)
    expect(turn.locator(".jp-AssistantCode pre")).to_have_text("d = 4")
    insert = turn.get_by_role("button", name="Insert into notebook")
    expect(insert).to_be_disabled()
    assert stop.is_visible()
    stop.wait_for(state="hidden", timeout=30_000)
    expect(insert).to_be_enabled()


def test_assistant_magic_in_a_notebook(page: Any, lab: LabServer, peer: AnthropicServer) -> None:
    """``%assistant QUESTION?`` in a real kernel started by the lab: the kernel inherits the
    lab's ``ANTHROPIC_BASE_URL`` (the local peer), and JupyterLab renders the chat widget
    (ipywidgets' and anywidget's labextensions): a tool card, the streamed answer, the footer."""
    write_notebook(lab.root, "magic.ipynb", [
        ("cell-load", "%load_ext jupyter_assistant\nsizes = [3, 1, 2]"),
        ("cell-ask", "%assistant why is sorting my sizes slow?")])
    peer.script(Reply.tool_use("inspect_variable", {"name": "sizes"}),
                Reply.text("Your `sizes` list has **3 items**; sorting it is instant.",
                           chunks=4, delay=0.05))
    _open_notebook(page, "magic.ipynb")
    page.evaluate("async () => { await window.jupyterapp.shell.currentWidget"
                  ".sessionContext.ready; }")
    run_command(page, "notebook:run-all-cells")
    out = page.locator(".jp-NotebookPanel .jp-Cell").nth(1).locator(".jp-Cell-outputArea")
    chat = out.locator(".jupyter-assistant-chat")
    chat.wait_for(timeout=90_000)  # the kernel's first turn imports the SDK
    answer = chat.locator(".jp-RenderedMarkdown", has_text="sorting it is instant")
    answer.wait_for(timeout=60_000)
    assert answer.locator("strong").inner_text() == "3 items"  # rendered as markdown
    card = chat.locator(".jupyter-assistant-tool", has_text="inspect_variable")
    card.locator("span", has_text="done").wait_for()
    assert '{"name": "sizes"}' in card.inner_text()
    # the footer: model, first token, tokens (the peer's usage), elapsed time
    footer = chat.locator(".widget-html", has_text="out tokens").last
    footer.wait_for()
    text = footer.inner_text()
    assert text.startswith("anthropic:") and "first token" in text and " in / " in text
    # the widget, not a placeholder; the question went to the peer, not to IPython's help
    page_text = out.inner_text()
    assert "Loading widget" not in page_text and "Error displaying widget" not in page_text
    # the anywidget Stop button rendered (anywidget's labextension), hidden after the turn
    stop = chat.locator(".jupyter-assistant-stop")
    assert stop.count() == 1 and stop.is_hidden()
    sent = json.dumps(peer.message_requests()[0]["messages"])
    assert "why is sorting my sizes slow?" in sent
