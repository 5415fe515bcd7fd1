"""How long a regex filter of ``query_events`` takes on RE2 (pyarrow's kernel, what the tool
runs) against Python's ``re`` (what it ran before), and whether the event loop stays free.

Inputs: the slice names of the real Kineto trace
``../shared/traces/hta/trace_diff/control/control.json.gz`` (407 distinct names, up to 1,646
characters), and 100,000 distinct names made from them (each name + ``#i``), as a trace with
many distinct names would have. Each ``re`` case runs in a subprocess killed after
``--re-timeout`` seconds (a backtracking pattern holds the GIL, so nothing in-process could
stop it). The loop check runs the RE2 filter in a worker thread while an asyncio loop ticks
every 1 ms and reports the longest tick.

    python bench/query_regex_bench.py            # writes bench/results/query_regex.json
"""

from __future__ import annotations

import argparse
import asyncio
import json
import platform
import statistics
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd

ROOT = Path(__file__).resolve().parents[1]
CONTROL = ROOT.parent / "shared" / "traces" / "hta" / "trace_diff" / "control" / "control.json.gz"
PATTERNS = [
    r"aten::(mm|addmm|bmm)",
    r"^void at::native::.*elementwise",
    r"(?i)nccl.*kernel|memcpy",
    r"(.|.)*Z",          # backtracks exponentially on re
    r"^(\w+\s?)*$",      # the classic catastrophic pattern
    r".{1000}",          # linear on RE2, but its slow NFA path: stopped by the budget
]

_RE_WORKER = """
import re, sys, json, time
names = json.load(sys.stdin)
rx = re.compile(sys.argv[1])
t = time.perf_counter()
hits = sum(rx.search(n) is not None for n in names)
print(json.dumps({"seconds": time.perf_counter() - t, "hits": hits}))
"""


def _re_case(names: list[str], pat: str, timeout: float) -> dict:
    try:
        out = subprocess.run([sys.executable, "-c", _RE_WORKER, pat], input=json.dumps(names),
                             capture_output=True, text=True, timeout=timeout, check=True)
    except subprocess.TimeoutExpired:
        return {"seconds": None, "note": f"killed after {timeout:g} s"}
    return json.loads(out.stdout)


def _re2_case(col: pd.Series, pat: str, repeat: int) -> dict:
    from jupyter_assistant.exceptions import ToolError
    from jupyter_assistant.tools._query import string_match

    times, hits, note = [], None, ""
    for _ in range(repeat):
        t = time.perf_counter()
        try:
            hits = int(string_match(col, "contains", pat, regex=True).sum())
        except ToolError as exc:
            note = str(exc).split(":")[0] + ": refused at the budget"
        times.append(time.perf_counter() - t)
    return {"seconds": statistics.median(times), "runs": times, "hits": hits, "note": note}


async def _loop_gap(col: pd.Series, pat: str) -> float:
    from jupyter_assistant.exceptions import ToolError
    from jupyter_assistant.tools._query import string_match

    def work() -> None:
        try:
            string_match(col, "contains", pat, regex=True)
        except ToolError:
            pass

    task = asyncio.ensure_future(asyncio.to_thread(work))
    worst, last = 0.0, time.perf_counter()
    while not task.done():
        await asyncio.sleep(0.001)
        now = time.perf_counter()
        worst, last = max(worst, now - last), now
    await task
    return worst


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--re-timeout", type=float, default=20.0)
    args = ap.parse_args()
    from jupyter_assistant import load_trace

    names = load_trace(CONTROL).events["name"]
    distinct = [str(c) for c in names.cat.categories]
    many = pd.Series([f"{distinct[i % len(distinct)]}#{i}" for i in range(100_000)],
                     dtype=object)
    inputs = {"control (407 distinct)": (names, distinct),
              "100,000 distinct": (many, many.tolist())}
    rows = []
    for label, (col, plain) in inputs.items():
        for pat in PATTERNS:
            re2 = _re2_case(col, pat, args.repeat)
            gap = asyncio.run(_loop_gap(col, pat))
            re_ = _re_case(plain, pat, args.re_timeout)
            rows.append({"input": label, "pattern": pat, "re2": re2, "re": re_,
                         "loop_max_tick_s": gap})
            print(f"{label:24} {pat:34} RE2 {re2['seconds']:.4f} s {re2['note']:32} "
                  f"re {re_['seconds'] if re_['seconds'] is not None else re_['note']} "
                  f"loop max tick {gap * 1000:.1f} ms", flush=True)
    out = ROOT / "bench" / "results" / "query_regex.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps({"python": platform.python_version(), "machine":
                               platform.machine(), "taken": time.strftime("%Y-%m-%d %H:%M UTC",
                                                                          time.gmtime()),
                               "rows": rows}, indent=1))


if __name__ == "__main__":
    main()
