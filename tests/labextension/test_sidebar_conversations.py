"""Conversations in the browser: a reload during a turn resumes the stream with
``Last-Event-ID`` and misses nothing; the list (newest first) opens and deletes
conversations; the usage gauge."""

from __future__ import annotations

import json
import re
import urllib.request
from typing import Any

import pytest
from lab_helpers import SIDEBAR, last_turn, open_sidebar, send

from jupyter_assistant.testing import AnthropicServer, LabServer, Reply

pytestmark = pytest.mark.slow


def test_a_reload_during_a_turn_resumes_it_with_last_event_id(page: Any, lab: LabServer) -> None:
    open_sidebar(page)
    send(page, "[[slow_stream chunks=120 delay=0.04]]")
    turn = last_turn(page)
    turn.locator(".jp-AssistantMarkdown", has_text="w15").wait_for()
    resumes: list[dict[str, str]] = []
    page.on("request", lambda r: resumes.append(r.headers) if "/events" in r.url else None)
    page.reload()
    page.wait_for_function("() => window.jupyterapp !== undefined", timeout=60_000)
    open_sidebar(page)
    turn = last_turn(page)
    turn.locator(".jp-AssistantMarkdown", has_text="w119").wait_for()
    page.get_by_role("button", name="Stop").wait_for(state="hidden")
    # every word exactly once, in order: nothing missed across the reload, nothing repeated
    words = turn.locator(".jp-AssistantMarkdown").inner_text().split()
    assert words == [f"w{i}" for i in range(120)]
    assert len(resumes) == 1
    assert int(resumes[0]["last-event-id"]) > 10
    user = page.locator(f"{SIDEBAR} .jp-AssistantItem.jp-mod-user")
    assert user.last.inner_text() == "[[slow_stream chunks=120 delay=0.04]]"
    # once over, a second reload shows the stored conversation (no resume any more)
    page.reload()
    page.wait_for_function("() => window.jupyterapp !== undefined", timeout=60_000)
    open_sidebar(page)
    turn = last_turn(page)
    turn.locator(".jp-AssistantMarkdown", has_text="w119").wait_for()
    assert page.locator(f"{SIDEBAR} .jp-AssistantItem.jp-mod-assistant").count() == 1


def test_the_conversation_list_opens_and_deletes(page: Any, peer: AnthropicServer) -> None:
    peer.script(Reply.text("First answer."), Reply.text("Second answer."))
    open_sidebar(page)
    send(page, "alpha question")
    last_turn(page).locator(".jp-AssistantMarkdown", has_text="First answer.").wait_for()
    page.get_by_role("button", name="Stop").wait_for(state="hidden")
    gauge = page.locator(f"{SIDEBAR} .jp-AssistantGauge-text")
    gauge.wait_for()
    assert re.fullmatch(r"[\d,]+ tokens · \$\d+\.\d{4}", gauge.inner_text())
    assert page.locator(f"{SIDEBAR} .jp-AssistantGauge a", has_text="metrics").count() == 1
    page.get_by_role("button", name="New conversation").click()
    assert page.locator(f"{SIDEBAR} .jp-AssistantItem").count() == 0
    send(page, "beta question")
    last_turn(page).locator(".jp-AssistantMarkdown", has_text="Second answer.").wait_for()
    page.get_by_role("button", name="Stop").wait_for(state="hidden")

    page.get_by_role("button", name="Conversations").click()
    listing = page.get_by_role("list", name="Conversations")
    listing.locator("li", has_text="alpha question").wait_for()
    titles = listing.locator(".jp-AssistantConversations-open").all_inner_texts()
    assert titles.index("beta question") < titles.index("alpha question")  # newest first
    listing.get_by_role("button", name="alpha question", exact=True).click()
    last_turn(page).locator(".jp-AssistantMarkdown", has_text="First answer.").wait_for()
    items = page.locator(f"{SIDEBAR} .jp-AssistantItem")
    assert items.count() == 2
    assert "beta" not in page.locator(SIDEBAR).locator(".jp-AssistantChat").inner_text()

    page.get_by_role("button", name="Conversations").click()
    listing.get_by_role("button", name="Delete beta question").click()
    dialog = page.locator(".jp-Dialog")
    assert "cannot be undone" in dialog.inner_text()
    dialog.get_by_role("button", name="Cancel").click()
    assert listing.locator("li", has_text="beta question").count() == 1
    listing.get_by_role("button", name="Delete beta question").click()
    page.locator(".jp-Dialog").get_by_role("button", name="Delete").click()
    listing.locator("li", has_text="beta question").wait_for(state="detached")
    # the server agrees
    status = page.evaluate("""async () => {
        const r = await fetch('/assistant/api/conversations?limit=500');
        return (await r.json()).items.map(c => c.title);
    }""")
    assert "beta question" not in status and "alpha question" in status


def test_the_list_pages_older_conversations(page: Any, lab: LabServer) -> None:
    for i in range(23):
        req = urllib.request.Request(
            f"{lab.url}assistant/api/conversations", method="POST",
            data=json.dumps({"title": f"paged {i:02d}"}).encode(),
            headers={"Authorization": f"token {lab.token}", "Content-Type": "application/json"})
        with urllib.request.urlopen(req, timeout=10) as r:
            assert r.status == 201
    open_sidebar(page)
    page.get_by_role("button", name="Conversations").click()
    listing = page.get_by_role("list", name="Conversations")
    listing.locator("li", has_text="paged 22").wait_for()
    assert listing.locator("li").count() == 20  # one page
    assert listing.locator("li", has_text="paged 00").count() == 0
    page.get_by_role("button", name="More").click()
    listing.locator("li", has_text="paged 00").wait_for()
    assert listing.locator("li").count() > 20


def test_the_keyboard_alone_drives_the_sidebar(page: Any, peer: AnthropicServer) -> None:
    peer.script(Reply.text("Keyboard answer."))
    page.keyboard.press("Alt+a")  # the sidebar's shortcut
    box = page.get_by_role("textbox", name="Message the assistant")
    box.wait_for()
    assert box.evaluate("el => el === document.activeElement")
    box.press_sequentially("keyboard question")  # to the textbox, even if the lab moved focus
    box.press("Enter")
    last_turn(page).locator(".jp-AssistantMarkdown", has_text="Keyboard answer.").wait_for()
    page.keyboard.press("Alt+a")  # back to the textbox (the lab may have moved the focus)
    assert box.evaluate("el => el === document.activeElement")
    # Tab order inside the panel reaches the buttons; Enter on "Conversations" opens the list
    names = []
    for _ in range(12):
        page.keyboard.press("Shift+Tab")
        names.append(page.evaluate("document.activeElement.textContent"))
        if names[-1] == "Conversations":
            break
    assert names[-1] == "Conversations", names
    # Enter activates it (sent to the button itself: the lab may move the focus meanwhile)
    page.get_by_role("button", name="Conversations").press("Enter")
    page.get_by_role("list", name="Conversations").locator(
        "li", has_text="keyboard question").wait_for()
