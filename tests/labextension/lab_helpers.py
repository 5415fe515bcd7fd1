"""Helpers of the browser tests: open the sidebar, send, find the last turn, run a
JupyterLab command, write a notebook."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

SIDEBAR = "#jupyter-assistant-sidebar"


def open_sidebar(page: Any) -> Any:
    """Open the sidebar (its side-bar tab must be there); returns the panel's locator.

    After JupyterLab has restored its layout (which may reopen the panel on its own after a
    reload), the shell activates the panel by id: unlike a click on the tab, which toggles,
    this is idempotent, so a restore that lands between a check and a click cannot close it."""
    page.locator(".jp-SideBar [data-id='jupyter-assistant-sidebar']").wait_for()
    page.evaluate("""async () => {
        await window.jupyterapp.restored;
        window.jupyterapp.shell.activateById('jupyter-assistant-sidebar');
    }""")
    panel = page.locator(SIDEBAR)
    panel.wait_for(state="visible")
    return panel


def send(page: Any, text: str) -> None:
    box = page.get_by_role("textbox", name="Message the assistant")
    box.fill(text)
    box.press("Enter")


def last_turn(page: Any) -> Any:
    return page.locator(f"{SIDEBAR} .jp-AssistantItem.jp-mod-assistant").last


def run_command(page: Any, command: str, args: dict[str, Any] | None = None) -> Any:
    """Run a JupyterLab command through ``window.jupyterapp`` (exposed by LabServer)."""
    return page.evaluate("([c, a]) => window.jupyterapp.commands.execute(c, a)",
                         [command, args or {}])


def write_notebook(root: Path, name: str, cells: list[tuple[str, str]]) -> Path:
    """A notebook (nbformat 4.5) with code cells ``(cell id, source)``."""
    nb = {"nbformat": 4, "nbformat_minor": 5,
          "metadata": {"kernelspec": {"name": "python3", "display_name": "Python 3",
                                      "language": "python"}},
          "cells": [{"cell_type": "code", "id": cid, "source": src, "metadata": {},
                     "outputs": [], "execution_count": None} for cid, src in cells]}
    path = root / name
    path.write_text(json.dumps(nb))
    return path
