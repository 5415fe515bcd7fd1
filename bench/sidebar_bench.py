"""Sidebar speed in a real browser: time to the first token, and a 2,000-message conversation.

    python bench/sidebar_bench.py [--turns 20] [--messages 2000]

A real ``jupyter lab`` (``LabServer``) with the local Anthropic-protocol peer, Debian's
chromium driven by Playwright, the built sidebar. Two measurements:

1. **First token.** ``--turns`` chats (each a new conversation, the peer answering 20 words at
   once): per turn, from the click on Send to the first text painted in the panel (the frame
   after the text is in the DOM), and the same against the server's own timestamp of its
   first ``text_delta`` event (Unix ms; browser and server share the machine's clock). The
   goal (issue 11) is at most 150 ms between the server's first event and the painted token.
2. **Long conversation.** ``--messages`` stored messages (user/assistant alternating, a few
   lines of markdown each, one code block in every tenth) added through the REST API; then
   the time to open it (REST fetch + building the DOM, and to the next painted frame), and a
   scroll from top to bottom in 40 steps of one frame each: the frame times during it (a frame
   over 50 ms is a long frame, "jank").

Raw numbers go to ``bench/results/sidebar.json``.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import sys
import tempfile
import time
import urllib.request
from pathlib import Path
from typing import Any

from playwright.sync_api import sync_playwright

from jupyter_assistant.testing import AnthropicServer, LabServer, launch_chromium

HERE = Path(__file__).resolve().parent
FIND_SIDEBAR = """() => {
    for (const w of window.jupyterapp.shell.widgets('right')) {
        if (w.id === 'jupyter-assistant-sidebar') { return w; }
    }
    throw new Error('no sidebar');
}"""


def pct(values: list[float], q: float) -> float:
    s = sorted(values)
    return s[min(len(s) - 1, round(q * (len(s) - 1)))]


def api(lab: LabServer, path: str, body: Any = None, method: str = "GET") -> Any:
    data = None if body is None else json.dumps(body).encode()
    req = urllib.request.Request(f"{lab.url}assistant/api/{path}", data=data, method=method,
                                 headers={"Authorization": f"token {lab.token}",
                                          "Content-Type": "application/json"})
    with urllib.request.urlopen(req, timeout=30) as r:
        return json.loads(r.read() or b"null")


def first_token(page: Any, turns: int) -> dict[str, Any]:
    rows = []
    for i in range(turns):
        page.get_by_role("button", name="New conversation").click()
        box = page.get_by_role("textbox", name="Message the assistant")
        box.fill(f"[[slow_stream chunks=20 delay=0.005]] run {i}")
        page.get_by_role("button", name="Send").click()
        page.get_by_role("button", name="Stop").wait_for(state="hidden")
        page.wait_for_function(f"() => ({FIND_SIDEBAR})().timings.firstTextPaintedAt > 0")
        t = page.evaluate(f"() => ({FIND_SIDEBAR})().timings")
        rows.append({
            "send_to_first_event_ms": t["firstEventAt"] - t["sendAt"],
            "send_to_first_text_event_ms": t["firstTextEventAt"] - t["sendAt"],
            "send_to_painted_ms": t["firstTextPaintedAt"] - t["sendAt"],
            "server_first_text_to_painted_ms": t["firstTextPaintedUnixMs"] - t["serverFirstTextMs"],
            "server_started_to_painted_ms": t["firstTextPaintedUnixMs"] - t["serverStartedMs"],
        })
    keys = rows[0].keys()
    summary = {k: {"p50": statistics.median(r[k] for r in rows),
                   "p95": pct([r[k] for r in rows], 0.95),
                   "max": max(r[k] for r in rows)} for k in keys}
    return {"turns": rows, "summary": summary}


def long_conversation(page: Any, lab: LabServer, n: int) -> dict[str, Any]:
    conv = api(lab, "conversations", {"title": f"{n} messages"}, "POST")
    started = time.perf_counter()
    for i in range(n):
        role = "user" if i % 2 == 0 else "assistant"
        text = (f"Message {i}: why is **step {i}** slow?" if role == "user" else
                f"Step {i} spends *{i % 97} ms* in `aten::mm`.\n\n- launch overhead\n"
                f"- host sync after step {i}\n")
        if i % 10 == 1:
            text += "\n```python\nx = torch.randn(1024, 1024, device='cuda')\ny = x @ x\n```\n"
        api(lab, f"conversations/{conv['id']}/messages", {"role": role, "content": text}, "POST")
    fill_s = time.perf_counter() - started
    # open it: REST fetch + DOM build, then the next painted frame
    opened = page.evaluate(f"""async (id) => {{
        const sidebar = ({FIND_SIDEBAR})();
        const t0 = performance.now();
        await sidebar.openConversation(id);
        const built = performance.now();
        await new Promise(r => requestAnimationFrame(() => setTimeout(r, 0)));
        const painted = performance.now();
        // the older messages are added above in chunks; time them, and the longest task
        const gaps = [];
        let last = performance.now(), done = false;
        sidebar.chat.filled.then(() => {{ done = true; }});
        while (!done) {{
            await new Promise(r => requestAnimationFrame(r));
            const now = performance.now();
            gaps.push(now - last);
            last = now;
        }}
        return {{open_ms: built - t0, open_to_paint_ms: painted - t0,
                 all_in_ms: performance.now() - t0,
                 frame_ms_max_while_filling: Math.max(0, ...gaps),
                 frames_over_50ms_while_filling: gaps.filter(g => g > 50).length,
                 items: document.querySelectorAll('.jp-AssistantItem').length}};
    }}""", conv["id"])
    # scroll from the top to the bottom, one step per frame, and time the frames
    scroll = page.evaluate("""async () => {
        const log = document.querySelector('.jp-AssistantChat');
        log.scrollTop = 0;
        await new Promise(r => requestAnimationFrame(r));
        const steps = 40, frames = [];
        let last = performance.now();
        for (let i = 1; i <= steps; i++) {
            log.scrollTop = (log.scrollHeight - log.clientHeight) * i / steps;
            await new Promise(r => requestAnimationFrame(r));
            const now = performance.now();
            frames.push(now - last);
            last = now;
        }
        // let the lazily rendered markdown of the visible messages finish
        await new Promise(r => setTimeout(r, 500));
        const rendered = document.querySelectorAll(
            '.jp-AssistantMarkdown:not(.jp-mod-plain)').length;
        return {frames, rendered, height: log.scrollHeight};
    }""")
    frames = scroll["frames"]
    return {"messages": n, "fill_s": fill_s, **opened,
            "scroll": {"frames": len(frames), "frame_ms_p50": statistics.median(frames),
                       "frame_ms_p95": pct(frames, 0.95), "frame_ms_max": max(frames),
                       "long_frames_over_50ms": sum(f > 50 for f in frames),
                       "markdown_rendered_after_scroll": scroll["rendered"],
                       "scroll_height_px": scroll["height"]}}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--turns", type=int, default=20)
    parser.add_argument("--messages", type=int, default=2000)
    args = parser.parse_args(argv)
    settings = {"AssistantApp.write_rate_limit": "100000/minute",
                "AssistantApp.chat_rate_limit": "100000/minute"}
    with tempfile.TemporaryDirectory() as home, AnthropicServer() as peer, \
            LabServer(Path(home), anthropic_base_url=peer.base_url, settings=settings) as lab, \
            sync_playwright() as p:
        browser = launch_chromium(p)
        page = lab.open_page(browser, viewport=(1400, 900), timeout_ms=120_000,
                             load_timeout_ms=120_000)
        page.evaluate("() => window.jupyterapp.commands.execute('jupyter-assistant:open')")
        page.get_by_role("textbox", name="Message the assistant").wait_for()
        # one warm-up turn (JIT, first markdown render), not counted
        first_token(page, 1)
        result = {"first_token": first_token(page, args.turns),
                  "long_conversation": long_conversation(page, lab, args.messages)}
        browser.close()
    result["environment"] = {
        "when": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
        "python": platform.python_version(), "machine": platform.machine(),
        "cpus": os.cpu_count(), "load_avg": os.getloadavg()}
    out = HERE / "results" / "sidebar.json"
    out.parent.mkdir(exist_ok=True)
    out.write_text(json.dumps(result, indent=2))
    print(json.dumps({"first_token": result["first_token"]["summary"],
                      "long_conversation": result["long_conversation"]}, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
