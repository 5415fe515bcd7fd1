"""Diagnose bench: what ``Trace.diagnose()`` and the summary's Verdict add to
``load_trace`` + ``Trace.summary()`` on the 1M-event bench traces.

For each trace (made by ``bench/make_big_trace.py``), in one process per run: time
``load_trace(path, cache=False)``, then ``trace.summary()`` (which now builds the Verdict,
i.e. runs the diagnosis once), then the Verdict section alone (``verdict_render``) and
``trace.diagnose()`` alone. The baseline is what the summary cost before the Verdict:
``load + summary - verdict``; the added cost is ``verdict + diagnose`` (a user who reads
the summary and then asks for the findings pays for both). Goal: added / baseline <= 15%.

Run: ``python bench/diagnose_bench.py [--repeat N]`` (default 2 runs per trace, median
reported; a few minutes on 2 cores). Writes ``bench/results/diagnose.json`` unless
``--no-write``.
"""

from __future__ import annotations

import argparse
import json
import platform
import statistics
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
TRACES = {
    "kineto_big (1.08M events, Kineto, 25 steps)": HERE / "data" / "kineto_big",
    "viztracer_big (>=1M slices, Python)": HERE / "data" / "viztracer_big.json.gz",
}
GOAL = 0.15


def _worker(path: str) -> dict[str, float]:
    import jupyter_assistant as ja
    from jupyter_assistant.traces.verdict import verdict_render

    t0 = time.perf_counter()
    trace = ja.load_trace(path, cache=False)
    t1 = time.perf_counter()
    trace.summary()
    t2 = time.perf_counter()
    verdict_render(trace)
    t3 = time.perf_counter()
    d = trace.diagnose()
    t4 = time.perf_counter()
    return {"load_s": t1 - t0, "summary_s": t2 - t1, "verdict_s": t3 - t2,
            "diagnose_s": t4 - t3, "findings": float(len(d)), "slices": float(len(trace.events))}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--repeat", type=int, default=2)
    ap.add_argument("--worker", help=argparse.SUPPRESS)
    ap.add_argument("--no-write", action="store_true")
    args = ap.parse_args()
    if args.worker:
        print(json.dumps(_worker(args.worker)))
        return
    results = {}
    for label, path in TRACES.items():
        if not path.exists():
            raise SystemExit(f"{path} is missing: run python bench/make_big_trace.py first")
        runs = []
        for _ in range(max(1, args.repeat)):
            out = subprocess.run([sys.executable, __file__, "--worker", str(path)],
                                 capture_output=True, text=True, check=True)
            runs.append(json.loads(out.stdout.strip().splitlines()[-1]))
        med = {k: statistics.median(r[k] for r in runs) for k in runs[0]}
        base = med["load_s"] + med["summary_s"] - med["verdict_s"]
        added = med["verdict_s"] + med["diagnose_s"]
        med["baseline_s"] = base
        med["added_s"] = added
        med["added_ratio"] = added / base
        med["meets_goal"] = float(added / base <= GOAL)
        results[label] = {"median": med, "runs": runs}
        print(f"{label}: load {med['load_s']:.2f} s, summary {med['summary_s']:.2f} s "
              f"(verdict {med['verdict_s']:.2f} s), diagnose {med['diagnose_s']:.2f} s; "
              f"added {100 * med['added_ratio']:.1f}% of load+summary "
              f"({'meets' if med['meets_goal'] else 'MISSES'} the {GOAL:.0%} goal)")
    if not args.no_write:
        doc = {"machine": {"python": platform.python_version(), "cpus": _cpus(),
                           "platform": platform.platform()},
               "repeat": args.repeat, "goal_added_ratio": GOAL, "results": results}
        (HERE / "results" / "diagnose.json").write_text(json.dumps(doc, indent=1) + "\n")


def _cpus() -> int:
    import os

    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (
        os.cpu_count() or 1)


if __name__ == "__main__":
    main()
