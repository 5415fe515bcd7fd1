"""The sidebar in a real browser against a real ``jupyter lab``: open it from the command
palette, stream an answer, tool cards, Stop (button and Escape), errors in the panel."""

from __future__ import annotations

import re
from typing import Any

import pytest
from lab_helpers import SIDEBAR, last_turn, open_sidebar, run_command, send

from jupyter_assistant.testing import AnthropicServer, Reply

pytestmark = pytest.mark.slow


def test_the_palette_opens_the_sidebar_and_an_answer_streams_in(page: Any) -> None:
    run_command(page, "apputils:activate-command-palette")
    palette = page.locator(".lm-CommandPalette-input")
    palette.fill("Open the Assistant")
    palette.press("Enter")
    panel = page.locator(SIDEBAR)
    panel.wait_for(state="visible")
    # the textbox has focus: typing and Enter send
    box = page.get_by_role("textbox", name="Message the assistant")
    assert box.evaluate("el => el === document.activeElement")
    tab = page.locator(".jp-SideBar [data-id='jupyter-assistant-sidebar']")
    assert tab.get_attribute("title") == "Assistant"
    assert tab.locator("svg").count() == 1  # its icon
    # the model picker is fed by GET info (this lab allows only its default model)
    picker = page.get_by_role("combobox", name="Model")
    assert picker.locator("option").all_inner_texts() == ["anthropic:claude-test (default)"]
    # (keys go to the textbox itself: the lab may move the focus while it settles)
    box.press_sequentially("line one")
    box.press("Shift+Enter")  # a new line, not a send
    box.press_sequentially("[[slow_stream chunks=40 delay=0.05]]")
    assert box.input_value() == "line one\n[[slow_stream chunks=40 delay=0.05]]"
    box.press("Enter")
    turn = last_turn(page)
    stop = page.get_by_role("button", name="Stop")
    # mid-stream: some words are shown, the turn is not over, Stop is offered
    turn.locator(".jp-AssistantMarkdown", has_text="w5").wait_for()
    assert stop.is_visible()
    partial = turn.locator(".jp-AssistantMarkdown").inner_text()
    assert "w39" not in partial
    turn.locator(".jp-AssistantMarkdown", has_text="w39").wait_for()
    stop.wait_for(state="hidden")
    assert page.get_by_role("button", name="Send").is_visible()
    words = turn.locator(".jp-AssistantMarkdown").inner_text().split()
    assert words == [f"w{i}" for i in range(40)]
    user = page.locator(f"{SIDEBAR} .jp-AssistantItem.jp-mod-user").last
    assert user.inner_text() == "line one\n[[slow_stream chunks=40 delay=0.05]]"
    assert box.input_value() == ""


def test_markdown_and_code_blocks_with_copy_and_insert(page: Any, peer: AnthropicServer) -> None:
    peer.script(Reply.text("Use **vectorised** code:\n\n```python\nx = np.arange(10)\n```\n"))
    open_sidebar(page)
    send(page, "how?")
    turn = last_turn(page)
    turn.locator("strong", has_text="vectorised").wait_for()
    code = turn.locator(".jp-AssistantCode")
    code.wait_for()
    # the block shows while its words still stream in (one per event): read it when the
    # turn is over
    page.get_by_role("button", name="Stop").wait_for(state="hidden")
    assert code.locator("pre").inner_text().strip() == "x = np.arange(10)"
    assert code.get_by_role("button", name="Copy").is_visible()
    assert code.get_by_role("button", name="Insert into notebook").is_visible()


def test_tool_calls_are_cards_with_name_arguments_state_and_duration(
        page: Any, peer: AnthropicServer) -> None:
    peer.script(Reply.tool_uses([("list_dir", {"path": "."}),
                                 ("read_file", {"path": "no/such/file.txt"})],
                                text="Let me look."),
                Reply.text("Done looking."))
    open_sidebar(page)
    send(page, "what is here?")
    turn = last_turn(page)
    turn.locator(".jp-AssistantMarkdown", has_text="Done looking.").wait_for()
    ok = turn.locator(".jp-AssistantToolCard[data-tool='list_dir']")
    bad = turn.locator(".jp-AssistantToolCard[data-tool='read_file']")
    assert ok.get_attribute("data-state") == "finished"
    assert bad.get_attribute("data-state") == "failed"
    assert ok.locator(".jp-AssistantToolCard-name").inner_text() == "list_dir"
    assert re.fullmatch(r"\d+ ms|\d+\.\d s", ok.locator(".jp-AssistantToolCard-duration")
                        .inner_text())
    assert "failed (" in bad.locator(".jp-AssistantToolCard-state").inner_text()
    ok.locator("summary", has_text="Arguments").click()
    assert '"path": "."' in ok.locator("details").first.inner_text()
    # text, then the cards, then the final text: in the order the model produced them
    kinds = turn.locator(".jp-AssistantItem-parts > div").evaluate_all(
        "els => els.map(e => e.classList.contains('jp-AssistantToolCard') ? 'tool' : 'text')")
    assert kinds == ["text", "tool", "tool", "text"]


def test_stop_cancels_a_stalled_turn(page: Any) -> None:
    open_sidebar(page)
    send(page, "[[stall after=5 seconds=60]]")
    turn = last_turn(page)
    turn.locator(".jp-AssistantMarkdown").wait_for()  # the first words came, then silence
    page.get_by_role("button", name="Stop").click()
    turn.locator(".jp-AssistantItem-cancelled", has_text="Cancelled").wait_for(timeout=10_000)
    page.get_by_role("button", name="Stop").wait_for(state="hidden")
    assert page.get_by_role("button", name="Send").is_visible()


def test_escape_stops_a_turn_from_the_keyboard(page: Any) -> None:
    open_sidebar(page)
    send(page, "[[stall after=5 seconds=60]]")
    turn = last_turn(page)
    turn.locator(".jp-AssistantMarkdown").wait_for()
    page.get_by_role("textbox", name="Message the assistant").press("Escape")
    turn.locator(".jp-AssistantItem-cancelled", has_text="Cancelled").wait_for(timeout=10_000)


def test_an_error_event_shows_its_code_and_message_in_the_panel(
        page: Any, peer: AnthropicServer) -> None:
    peer.script(Reply.error(400, "invalid_request_error", "prompt is too long: 250000 tokens"))
    open_sidebar(page)
    send(page, "hello")
    error = last_turn(page).locator(".jp-AssistantError")
    error.wait_for()
    assert error.get_attribute("role") == "alert"
    code = error.locator(".jp-AssistantError-code").inner_text()
    assert code and code != "error"
    assert "prompt is too long" in error.locator(".jp-AssistantError-message").inner_text()


def test_a_refused_request_is_shown_too(page: Any) -> None:
    open_sidebar(page)
    send(page, "x" * 10_001)  # over max_message_chars
    notice = page.locator(f"{SIDEBAR} .jp-AssistantItem.jp-mod-notice.jp-mod-error")
    notice.wait_for()
    assert "over the server's limit of 10000" in notice.inner_text()
    assert "invalid_input" in notice.inner_text()
