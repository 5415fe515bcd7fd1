"""Record ``devtools_forced_layout.json.gz``: a real Chrome trace (the DevTools timeline
categories, V8 CPU samples and GC events) of a page that forces layout in a loop, runs a
long task and churns the JavaScript heap.

Run: ``python tests/data/record_devtools_trace.py [--chromium PATH]`` (needs Debian's
``chromium``). It writes the page to a temporary folder, starts headless Chromium with
``--trace-startup`` (JSON format) for 4 s, stops that Chromium process, and keeps only the
events of the renderer process that ran the page (plus its metadata), gzipped with mtime
0. Timings are real, so they differ from run to run; the page, and so what the trace
shows (300 forced layouts inside ``FunctionCall``, main-thread tasks over 50 ms, minor
GCs), is fixed.
"""

from __future__ import annotations

import argparse
import gzip
import json
import shutil
import subprocess
import tempfile
import time
from pathlib import Path

OUT = Path(__file__).resolve().parent / "devtools_forced_layout.json.gz"

PAGE = """<!doctype html><html><body><div id="c"></div><script>
const c = document.getElementById('c');
for (let i = 0; i < 300; i++) {
  const d = document.createElement('div'); d.textContent = 'row ' + i; c.appendChild(d);
}
function thrash() {  // write a style, then read a layout property: a forced layout each time
  const rows = c.children; let h = 0;
  for (let i = 0; i < rows.length; i++) {
    rows[i].style.width = (100 + (i % 50)) + 'px'; h += rows[i].offsetHeight;
  }
  return h;
}
function busy(ms) {
  const t0 = performance.now(); let x = 0;
  while (performance.now() - t0 < ms) { x += Math.sqrt(x + 1); }
  return x;
}
function churn() {
  let keep = [];
  for (let i = 0; i < 200000; i++) {
    keep.push({i, s: 'x' + i}); if (keep.length > 1000) keep = [];
  }
  return keep.length;
}
setTimeout(() => { thrash(); busy(120); churn(); }, 50);
setTimeout(() => { thrash(); busy(80); }, 400);
</script></body></html>
"""

CATEGORIES = ",".join((
    "devtools.timeline", "disabled-by-default-devtools.timeline",
    "disabled-by-default-devtools.timeline.stack", "v8.execute",
    "disabled-by-default-v8.cpu_profiler", "disabled-by-default-v8.gc", "blink.user_timing"))


def record(chromium: str, seconds: float = 4.0) -> dict:
    with tempfile.TemporaryDirectory() as tmp:
        page = Path(tmp) / "page.html"
        page.write_text(PAGE)
        trace = Path(tmp) / "trace.json"
        proc = subprocess.Popen(
            [chromium, "--headless=new", "--no-sandbox", "--disable-gpu", "--no-first-run",
             f"--user-data-dir={tmp}/profile", f"--trace-startup={CATEGORIES}",
             "--trace-startup-format=json", f"--trace-startup-file={trace}",
             f"--trace-startup-duration={seconds:g}", page.as_uri()],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        try:
            deadline = time.monotonic() + seconds + 30
            while time.monotonic() < deadline:
                time.sleep(1)
                if trace.exists() and trace.stat().st_size and _complete(trace):
                    break
        finally:
            proc.terminate()
            try:
                proc.wait(10)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        doc = json.loads(trace.read_text())
        url = page.as_uri()
    events = doc["traceEvents"] if isinstance(doc, dict) else doc
    pids = {e.get("pid") for e in events
            if e.get("name") == "FunctionCall"
            and (e.get("args", {}).get("data", {}) or {}).get("url") == url}
    if len(pids) != 1:
        raise SystemExit(f"expected one renderer for the page, found {pids}")
    pid = pids.pop()
    kept = [e for e in events if e.get("pid") == pid]
    # the page's temporary path is not part of the data
    text = json.dumps(kept, separators=(",", ":")).replace(url, "file:///page.html")
    return {"traceEvents": json.loads(text),
            "metadata": {"recorded_by": "tests/data/record_devtools_trace.py"}}


def _complete(path: Path) -> bool:
    try:
        json.loads(path.read_text())
    except ValueError:
        return False
    return True


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--chromium", default=shutil.which("chromium") or "chromium")
    args = ap.parse_args()
    doc = record(args.chromium)
    raw = json.dumps(doc, separators=(",", ":")).encode()
    with OUT.open("wb") as fh, gzip.GzipFile(fileobj=fh, mode="wb", mtime=0) as gz:
        gz.write(raw)
    print(f"wrote {OUT} ({OUT.stat().st_size:,} bytes, {len(doc['traceEvents']):,} events)")


if __name__ == "__main__":
    main()
