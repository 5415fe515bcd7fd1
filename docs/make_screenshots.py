"""Take the README's screenshots of the sidebar and of ``%assistant`` in a notebook, light and
dark theme.

    python docs/make_screenshots.py        # writes docs/sidebar-{light,dark}.png and
                                           # docs/notebook-{light,dark}.png

A real ``jupyter lab`` (``LabServer``) with the local Anthropic-protocol peer scripted to
answer with markdown, a tool call and a cell-edit proposal; a real trace from
``../shared/traces`` uploaded through the panel; Debian's chromium driven by Playwright.
The notebook's screenshots come from ``screenshot_notebook.py`` (run alone, it makes only those).
"""

from __future__ import annotations

import json
import sys
import tempfile
from pathlib import Path

from playwright.sync_api import sync_playwright

from jupyter_assistant.testing import AnthropicServer, LabServer, Reply, launch_chromium

HERE = Path(__file__).resolve().parent
TRACE = HERE.parent.parent / "shared" / "traces" / "hta" / "trace_diff" / "control" / \
    "control.json.gz"

ANSWER = """The GPU is idle for **39%** of the step: the input pipeline and host-to-device
copies (`cudaMemcpyAsync`, 77 ms) stall the streams.

Pin the host memory and overlap the copy with compute:

```python
loader = DataLoader(ds, batch_size=256, num_workers=8, pin_memory=True)
x = x.to("cuda", non_blocking=True)
```
"""

NOTEBOOK = {
    "nbformat": 4, "nbformat_minor": 5,
    "metadata": {"kernelspec": {"name": "python3", "display_name": "Python 3",
                                "language": "python"}},
    "cells": [
        {"cell_type": "code", "id": "load-data", "metadata": {}, "outputs": [],
         "execution_count": None,
         "source": "loader = DataLoader(ds, batch_size=256)\nfor x, y in loader:\n"
                   "    x = x.to('cuda')\n    loss = step(model, x, y)"},
    ],
}


def sidebar(out: Path = HERE) -> int:
    with tempfile.TemporaryDirectory() as home, AnthropicServer() as peer, \
            LabServer(Path(home), anthropic_base_url=peer.base_url) as lab, \
            sync_playwright() as p:
        (lab.root / "train.ipynb").write_text(json.dumps(NOTEBOOK))
        browser = launch_chromium(p)
        page = lab.open_page(browser, viewport=(1440, 900), timeout_ms=60_000)
        run = "([c, a]) => window.jupyterapp.commands.execute(c, a)"
        page.evaluate(run, ["docmanager:open", {"path": "train.ipynb"}])
        page.locator(".jp-NotebookPanel .jp-Cell").first.wait_for()
        # the notebook alone in the main area: close the Launcher the fresh workspace opened
        page.evaluate("() => { for (const w of [...window.jupyterapp.shell.widgets('main')])"
                      " { if (w.node.querySelector('.jp-Launcher')) { w.close(); } } }")
        page.evaluate(run, ["jupyter-assistant:open", {}])
        sidebar = page.locator("#jupyter-assistant-sidebar")
        sidebar.locator("input[type=file]").set_input_files(str(TRACE))
        sidebar.locator(".jp-AssistantItem.jp-mod-trace h2").wait_for()
        peer.script(
            Reply.tool_use("hotspots", {"n": 5}, text="Let me look at the hotspots."),
            Reply.tool_use("propose_cell_edit", {
                "cell_id": "load-data",
                "explanation": "Pin host memory and copy without blocking.",
                "new_source": "loader = DataLoader(ds, batch_size=256, num_workers=8, "
                              "pin_memory=True)\nfor x, y in loader:\n"
                              "    x = x.to('cuda', non_blocking=True)\n"
                              "    loss = step(model, x, y)"}, text=ANSWER),
            Reply.text("Accept the diff to try it; the next profile will show the overlap."))
        box = page.get_by_role("textbox", name="Message the assistant")
        box.fill("Why is this training step slow?")
        box.press("Enter")
        sidebar.locator(".jp-AssistantDiff-actions").wait_for()
        page.get_by_role("button", name="Stop").wait_for(state="hidden")
        page.wait_for_timeout(500)
        # a wider sidebar (drag the split handle left of it), scrolled to the proposal
        handles = page.locator("#jp-main-split-panel > .lm-SplitPanel-handle:visible")
        box_ = handles.last.bounding_box()
        if box_:
            x, y = box_["x"] + box_["width"] / 2, box_["y"] + box_["height"] / 2
            page.mouse.move(x, y)
            page.mouse.down()
            page.mouse.move(x - 260, y, steps=5)
            page.mouse.up()
        for theme, name in (("JupyterLab Light", "light"), ("JupyterLab Dark", "dark")):
            page.evaluate(run, ["apputils:change-theme", {"theme": theme}])
            page.wait_for_function(
                "t => document.body.dataset.jpThemeName === t", arg=theme)
            page.wait_for_timeout(800)
            # scrolled to the proposal (the end of the conversation)
            page.evaluate("() => { const s = document.querySelector('.jp-AssistantChat');"
                          " s.scrollTop = s.scrollHeight; }")
            page.wait_for_timeout(300)
            page.screenshot(path=str(out / f"sidebar-{name}.png"))
            print(f"wrote {out / f'sidebar-{name}.png'}")
        browser.close()
    return 0


def main(out: Path = HERE) -> int:
    import screenshot_notebook  # next to this file (the script's folder is on sys.path)

    return sidebar(out) or screenshot_notebook.main(out)


if __name__ == "__main__":
    sys.exit(main())
