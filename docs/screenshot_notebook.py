"""Screenshot of ``%assistant`` in a real JupyterLab, driven through Debian's chromium.

Not a test (the browser tests come with the sidebar's harness): a reproducible manual check
that the chat widget, the tool cards, the Stop button (which interrupts the kernel through the
server) and the diff widget's Accept (which inserts the corrected cell below) work in
JupyterLab 4. Needs ``pip install jupyterlab playwright`` and ``/usr/bin/chromium``; the model
is the local Anthropic-protocol peer. Writes ``docs/notebook-assistant.png`` and prints what it
checked.

    python docs/screenshot_notebook.py
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path
from typing import Any

import nbformat
from nbformat.v4 import new_code_cell, new_notebook
from playwright.sync_api import sync_playwright

from jupyter_assistant.testing import AnthropicServer, Reply

OUT = Path(__file__).resolve().parent / "notebook-assistant.png"
CELLS = [
    "%load_ext jupyter_assistant\nimport pandas as pd\ndf = pd.DataFrame({'a': [1, 2, None]})",
    "%assistant why is my data slow?",
    "%assistant [[stall after=6 seconds=60]] a long answer",
    "data = [1, 2]\nmean = sum(data) / len(dat)",
    "%assistant fix",
]
FIXED = "data = [1, 2]\nmean = sum(data) / len(data)"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_for_server(port: int) -> None:
    for _ in range(240):
        try:
            urllib.request.urlopen(f"http://127.0.0.1:{port}/api/status?token=tok", timeout=1)
            return
        except OSError:
            time.sleep(0.5)
    raise RuntimeError("jupyter lab did not start")


def run_cell(page: Any, index: int, wait: float) -> None:
    page.locator(".jp-Notebook .jp-Cell").nth(index).click()
    page.keyboard.press("Shift+Enter")
    time.sleep(wait)


def main() -> None:
    root = Path(tempfile.mkdtemp(prefix="assistant-lab-"))
    nbformat.write(new_notebook(cells=[new_code_cell(c) for c in CELLS], metadata={
        "kernelspec": {"name": "python3", "display_name": "Python 3", "language": "python"}}),
        root / "demo.ipynb")
    port = free_port()
    peer = AnthropicServer().start()
    peer.script(Reply.tool_uses([("inspect_variable", {"name": "df"}),
                                 ("inspect_variable", {"name": "nope"})]),
                Reply.text("Your `df` has **3 rows** and one null; nothing here is slow.",
                           chunks=6, delay=0.1))
    env = {**os.environ, "ANTHROPIC_BASE_URL": peer.base_url, "ANTHROPIC_API_KEY": "sk-ant-x",
           "JUPYTER_DATA_DIR": str(root / "data")}
    lab = subprocess.Popen([sys.executable, "-m", "jupyter", "lab", "--no-browser",
                            f"--port={port}", "--IdentityProvider.token=tok", "--allow-root",
                            f"--ServerApp.root_dir={root}"],
                           env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        wait_for_server(port)
        with sync_playwright() as p:
            browser = p.chromium.launch(executable_path="/usr/bin/chromium",
                                        args=["--no-sandbox"])
            page = browser.new_page(viewport={"width": 1100, "height": 1400})
            page.goto(f"http://127.0.0.1:{port}/lab/tree/demo.ipynb?token=tok")
            page.wait_for_selector(".jp-Notebook", timeout=60000)
            time.sleep(6)
            # "Would you like to get notified about official Jupyter news?" is not ours
            page.add_style_tag(content=".Toastify { display: none !important; }")
            run_cell(page, 0, 8)
            run_cell(page, 1, 10)
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
            page.locator(".jp-NotebookPanel").screenshot(path=str(OUT))
            print(f"wrote {OUT}")
            browser.close()
    finally:
        lab.terminate()
        lab.wait(20)
        peer.close()


if __name__ == "__main__":
    main()
