"""Screenshots of ``%assistant`` in a real JupyterLab, light and dark theme, driven through
Debian's chromium.

A real ``jupyter lab`` (``LabServer``; its kernels inherit ``ANTHROPIC_BASE_URL`` of the local
Anthropic-protocol peer), a notebook run cell by cell: tool cards, a turn cancelled with the
Stop button (which interrupts the kernel through the server), and ``%assistant fix`` whose
diff's Accept inserts the corrected cell below. Prints what it checked on the way (the browser
test of the widget is ``tests/labextension/test_sidebar_notebook.py``). Writes
``docs/notebook-light.png`` and ``docs/notebook-dark.png``; ``docs/make_screenshots.py`` runs it
with the sidebar's screenshots.

    python docs/screenshot_notebook.py
"""

from __future__ import annotations

import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import nbformat
from nbformat.v4 import new_code_cell, new_notebook
from playwright.sync_api import sync_playwright

from jupyter_assistant.testing import AnthropicServer, LabServer, Reply, launch_chromium

HERE = Path(__file__).resolve().parent
CELLS = [
    "%load_ext jupyter_assistant\nimport pandas as pd\ndf = pd.DataFrame({'a': [1, 2, None]})",
    "%assistant why is my data slow?",
    "%assistant check every column of df for outliers",
    "data = [1, 2]\nmean = sum(data) / len(dat)",
    "%assistant fix",
]
FIXED = "data = [1, 2]\nmean = sum(data) / len(data)"
RUN = "([c, a]) => window.jupyterapp.commands.execute(c, a)"


def run_cell(page: Any, index: int, wait: float) -> None:
    page.locator(".jp-Notebook .jp-Cell").nth(index).click()
    page.keyboard.press("Shift+Enter")
    time.sleep(wait)


def main(out: Path = HERE) -> int:
    with tempfile.TemporaryDirectory() as home, AnthropicServer() as peer, \
            LabServer(Path(home), anthropic_base_url=peer.base_url) as lab, \
            sync_playwright() as p:
        nbformat.write(new_notebook(cells=[new_code_cell(c) for c in CELLS], metadata={
            "kernelspec": {"name": "python3", "display_name": "Python 3",
                           "language": "python"}}), lab.root / "demo.ipynb")
        peer.script(Reply.tool_uses([("inspect_variable", {"name": "df"}),
                                     ("inspect_variable", {"name": "nope"})]),
                    Reply.text("Your `df` has **3 rows** and one null; nothing here is slow.",
                               chunks=6, delay=0.1))
        browser = launch_chromium(p)
        page = lab.open_page(browser, viewport=(1100, 1330), timeout_ms=60_000)
        # the notebook alone in the main area (no file browser)
        page.evaluate(RUN, ["application:toggle-left-area", {}])
        page.evaluate(RUN, ["docmanager:open", {"path": "demo.ipynb"}])
        page.locator(".jp-NotebookPanel .jp-Cell").first.wait_for()
        page.evaluate("async () => { await window.jupyterapp.shell.currentWidget"
                      ".sessionContext.ready; }")
        run_cell(page, 0, 8)
        run_cell(page, 1, 10)
        page.locator(".jupyter-assistant-chat", has_text="nothing here is slow").wait_for()
        # an answer that stops streaming after a few words, until Stop cancels the turn
        peer.script(Reply.text("I will scan every row of `df` for outliers, then fit a "
                               "model per column and compare", stall_after=9,
                               stall_seconds=60))
        run_cell(page, 2, 6)
        stop = page.locator(".jupyter-assistant-stop:visible")
        assert stop.count() == 1, "no visible Stop button"
        started = time.time()
        stop.first.click()
        page.wait_for_function("() => document.body.innerText.includes('Cancelled')",
                               timeout=20000)
        print(f"Stop: the turn ended 'Cancelled' after {time.time() - started:.2f} s")
        peer.script(Reply.text(f"`dat` is a typo.\n\n```python\n{FIXED}\n```"))
        run_cell(page, 3, 3)
        run_cell(page, 4, 8)
        page.locator(".jupyter-assistant-diff button:has-text('Accept')").first.click()
        time.sleep(3)
        sources = page.evaluate(
            "() => [...document.querySelectorAll('.jp-Notebook .jp-Cell "
            ".jp-InputArea-editor')].map(e => e.innerText.trim())")
        assert sources[5] == FIXED, sources
        print("Accept: the corrected cell was inserted below the fix, not run")
        text = page.locator(".jp-NotebookPanel").inner_text()
        assert "Loading widget" not in text and "Error displaying widget" not in text
        for theme, name in (("JupyterLab Light", "light"), ("JupyterLab Dark", "dark")):
            page.evaluate(RUN, ["apputils:change-theme", {"theme": theme}])
            page.wait_for_function("t => document.body.dataset.jpThemeName === t", arg=theme)
            page.wait_for_timeout(800)
            path = out / f"notebook-{name}.png"
            page.locator(".jp-NotebookPanel").screenshot(path=str(path))
            print(f"wrote {path}")
        browser.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
