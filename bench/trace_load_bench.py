"""Trace-load bench: time and peak memory of ``load_trace`` + analyses on a 1M-slice trace.

Run ``python bench/make_big_trace.py && python bench/trace_load_bench.py`` from the
repository root. Every measurement runs in a fresh subprocess (``--worker CASE``) that
first does its imports, notes its peak RSS (the *baseline*: an interpreter with the same
imports and nothing loaded), then times the operation with ``time.perf_counter`` and reads
its peak RSS again (``VmHWM``, see :func:`_peak_rss`; tracemalloc would miss numpy/pandas/
orjson C allocations) and its CPU time. The cases run round-robin, ``--repeat`` times each
(default 3), and the medians are reported, so a burst of load from other processes hits
all cases alike. Holistic Trace Analysis runs with the python of a separate virtualenv,
``bench/.venv-hta`` (created here on first use: ``holistictraceanalysis==0.5.0``), so it
cannot change the project's environment.

Results: a markdown table on stdout and ``bench/results/trace_load.json``.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
DATA = HERE / "data"
CHROME_JSON = DATA / "viztracer_big.json"
CHROME_GZ = DATA / "viztracer_big.json.gz"
KINETO_DIR = DATA / "kineto_big"
KINETO_GZ = KINETO_DIR / "kineto_big.json.gz"
HTA_VENV = HERE / ".venv-hta"
HTA_PYTHON = HTA_VENV / "bin" / "python"
HTA_REQUIREMENT = "holistictraceanalysis==0.5.0"
RESULTS = HERE / "results" / "trace_load.json"
MARK = "BENCH-RESULT "

#: Goals from issue 2, "Speed and memory".
GOAL_VS_ORJSON = 3.0   # load_trace + hotspots within 3x of bare orjson.loads
GOAL_VS_HTA = 3.0      # at least 3x faster than HTA
GOAL_MEMORY = 3.0      # peak memory under 3x the uncompressed file
GOAL_CACHE = 10.0      # cached repeat load at least 10x faster than cold


def _peak_rss() -> int:
    """Peak resident set size of this process so far, bytes.

    Linux: ``VmHWM`` of ``/proc/self/status``, the high-water mark of this process's own
    address space. ``getrusage(RUSAGE_SELF).ru_maxrss`` is the same number except that Linux
    carries it over from the parent across fork + exec (a child of a 2 GB driver would
    report 2 GB), so it is only the fallback where ``/proc`` is missing.
    """
    try:
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024


def _cpu_seconds() -> float:
    """User + system CPU time of this process (all its threads), seconds."""
    ru = resource.getrusage(resource.RUSAGE_SELF)
    return ru.ru_utime + ru.ru_stime


# ---------------------------------------------------------------------------------------
# worker side: each function does its imports, then returns the timed operation
# ---------------------------------------------------------------------------------------
Op = Callable[[], dict[str, Any]]


def _import_project() -> Any:
    """Import what every project case uses, so the baseline holds the same modules."""
    import numpy  # noqa: F401
    import orjson  # noqa: F401
    import pandas  # noqa: F401

    import jupyter_assistant
    import jupyter_assistant.traces.analysis.hotspots
    import jupyter_assistant.traces.chrome

    return jupyter_assistant


def _load(ja: Any, path: Path, cache_dir: str | None) -> Any:
    """``load_trace`` with the Parquet cache in ``cache_dir`` (``None``: cache disabled)."""
    if cache_dir is None:
        return ja.load_trace(path, cache=False)
    os.environ["JUPYTER_ASSISTANT_CACHE_DIR"] = cache_dir
    return ja.load_trace(path, cache=True)


def _ours(path: Path, cache_dir: str | None, gpu: bool) -> Op:
    ja = _import_project()
    if gpu:
        import jupyter_assistant.traces.analysis.gpu  # noqa: F401

    def op() -> dict[str, Any]:
        c0, t0 = _cpu_seconds(), time.perf_counter()
        trace = _load(ja, path, cache_dir)
        c1, t1 = _cpu_seconds(), time.perf_counter()
        top = trace.hotspots(20)
        t2 = time.perf_counter()
        out: dict[str, Any] = {"load_s": t1 - t0, "load_cpu_s": c1 - c0, "hotspots_s": t2 - t1,
                               "slices": len(trace.events), "top": str(top["name"].iloc[0]),
                               "cached": bool(trace.metadata.get("cached", False))}
        if gpu:
            tb = trace.temporal_breakdown()
            t3 = time.perf_counter()
            out["temporal_breakdown_s"] = t3 - t2
            out["temporal_breakdown"] = json.loads(tb.to_json(orient="records"))
        return out

    return op


def _orjson(path: Path) -> Op:
    _import_project()
    import gzip

    import orjson

    def op() -> dict[str, Any]:
        t0 = time.perf_counter()
        data = path.read_bytes()
        if path.suffix == ".gz":
            data = gzip.decompress(data)
        t1 = time.perf_counter()
        doc = orjson.loads(data)
        t2 = time.perf_counter()
        return {"read_s": t1 - t0, "loads_s": t2 - t1, "events": len(doc["traceEvents"])}

    return op


def _naive_pandas(path: Path) -> Op:
    _import_project()
    import pandas as pd

    def op() -> dict[str, Any]:
        with open(path) as f:
            df = pd.DataFrame(json.load(f)["traceEvents"])
        return {"rows": len(df)}

    return op


def _hta(trace_dir: Path) -> Op:
    import logging

    from hta.trace_analysis import TraceAnalysis

    logging.disable(logging.INFO)

    def op() -> dict[str, Any]:
        t0 = time.perf_counter()
        analysis = TraceAnalysis(trace_dir=str(trace_dir))
        t1 = time.perf_counter()
        tb = analysis.get_temporal_breakdown(visualize=False)
        t2 = time.perf_counter()
        return {"load_s": t1 - t0, "temporal_breakdown_s": t2 - t1,
                "temporal_breakdown": json.loads(tb.to_json(orient="records"))}

    return op


def _case_op(case: str, cache_dir: str | None) -> Op:
    if case in ("chrome_cold", "chrome_prime", "chrome_cached"):
        return _ours(CHROME_JSON, None if case == "chrome_cold" else cache_dir, gpu=False)
    if case == "chrome_cold_gz":
        return _ours(CHROME_GZ, None, gpu=False)
    if case == "chrome_orjson":
        return _orjson(CHROME_JSON)
    if case == "chrome_naive_pandas":
        return _naive_pandas(CHROME_JSON)
    if case == "kineto_orjson":
        return _orjson(KINETO_GZ)
    if case == "kineto_ours":
        return _ours(KINETO_DIR, None, gpu=True)
    if case == "kineto_hta":
        return _hta(KINETO_DIR)
    raise SystemExit(f"unknown case {case!r}")


def worker(case: str, cache_dir: str | None) -> None:
    t0 = time.perf_counter()
    op = _case_op(case, cache_dir)
    import_s = time.perf_counter() - t0
    baseline = _peak_rss()
    cpu0 = _cpu_seconds()
    t1 = time.perf_counter()
    info = op()
    seconds = time.perf_counter() - t1
    result = {"case": case, "seconds": seconds, "cpu_s": _cpu_seconds() - cpu0,
              "import_s": import_s, "baseline_rss": baseline, "peak_rss": _peak_rss(), **info}
    sys.stdout.write(MARK + json.dumps(result) + "\n")


# ---------------------------------------------------------------------------------------
# driver side
# ---------------------------------------------------------------------------------------
#: case -> (python, what it measures). Order is the run order within a round.
CASES: dict[str, tuple[str, str]] = {
    "chrome_orjson": ("project", "(a) bare `orjson.loads` of the uncompressed bytes "
                                 "(file read included)"),
    "chrome_cold": ("project", "`load_trace` (cache disabled) + `hotspots(20)`, "
                               "uncompressed .json"),
    "chrome_cold_gz": ("project", "the same on the .json.gz (gunzip included)"),
    "chrome_cached": ("project", "repeat `load_trace` from the Parquet cache + `hotspots(20)`"),
    "chrome_naive_pandas": ("project", "(b) `pd.DataFrame(json.load(f)[\"traceEvents\"])`"),
    "kineto_orjson": ("project", "reference: gunzip + bare `orjson.loads` of the Kineto trace"),
    "kineto_ours": ("project", "`load_trace` (folder, cache disabled) + `hotspots(20)` + "
                               "`temporal_breakdown()`"),
    "kineto_hta": ("hta", "(c) HTA `TraceAnalysis(trace_dir=...)` + "
                          "`get_temporal_breakdown(visualize=False)`"),
}


def ensure_hta_venv() -> None:
    if HTA_PYTHON.exists():
        return
    print(f"creating {HTA_VENV.relative_to(ROOT)} with {HTA_REQUIREMENT} ...", flush=True)
    subprocess.run([sys.executable, "-m", "venv", str(HTA_VENV)], check=True)
    subprocess.run([str(HTA_PYTHON), "-m", "pip", "install", "-q", HTA_REQUIREMENT], check=True)


def run_case(case: str, cache_dir: str) -> dict[str, Any]:
    python = str(HTA_PYTHON) if CASES.get(case, ("project",))[0] == "hta" else sys.executable
    cmd = [python, str(Path(__file__).resolve()), "--worker", case, "--cache-dir", cache_dir]
    proc = subprocess.run(cmd, capture_output=True, text=True, cwd=ROOT)
    lines = [ln for ln in proc.stdout.splitlines() if ln.startswith(MARK)]
    if proc.returncode != 0 or not lines:
        raise RuntimeError(f"case {case} failed (exit {proc.returncode}):\n"
                           f"{proc.stdout[-2000:]}\n{proc.stderr[-4000:]}")
    result: dict[str, Any] = json.loads(lines[-1][len(MARK):])
    print(f"  {case:<22} {result['seconds']:8.2f} s  peak RSS "
          f"{result['peak_rss'] / 2**20:7.0f} MiB (baseline {result['baseline_rss'] / 2**20:.0f})",
          flush=True)
    return result


def _median(runs: list[dict[str, Any]], key: str) -> float:
    return float(statistics.median(r[key] for r in runs))


def _machine() -> dict[str, Any]:
    cpu = "?"
    with open("/proc/cpuinfo") as f:
        for line in f:
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    mem = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    return {"cpu": cpu, "cores": os.cpu_count(), "memory_gib": round(mem / 2**30, 1),
            "platform": platform.platform()}


def summarize(runs: dict[str, list[dict[str, Any]]], files: dict[str, Any]) -> dict[str, Any]:
    med: dict[str, dict[str, Any]] = {}
    for case, rs in runs.items():
        m: dict[str, Any] = {
            "seconds": _median(rs, "seconds"), "cpu_s": _median(rs, "cpu_s"),
            "peak_rss": _median(rs, "peak_rss"), "baseline_rss": _median(rs, "baseline_rss"),
            "runs": [r["seconds"] for r in rs]}
        m["delta_rss"] = m["peak_rss"] - m["baseline_rss"]
        for key in ("load_s", "load_cpu_s", "hotspots_s", "temporal_breakdown_s", "read_s",
                    "loads_s"):
            if key in rs[0]:
                m[key] = _median(rs, key)
        med[case] = m
    cold, cached, hta, kin = (med[c] for c in ("chrome_cold", "chrome_cached",
                                                "kineto_hta", "kineto_ours"))
    orj = med["chrome_orjson"]
    size, ksize = files["chrome_json_bytes"], files["kineto_json_bytes"]
    # key -> (target, ratio of wall times, ratio of CPU times or None, met when)
    table: dict[str, tuple[str, float, float | None, Callable[[float], bool]]] = {
        "cold_vs_orjson": (f"<= {GOAL_VS_ORJSON}", cold["seconds"] / orj["seconds"],
                           cold["cpu_s"] / orj["cpu_s"], lambda v: v <= GOAL_VS_ORJSON),
        "hta_vs_ours": (f">= {GOAL_VS_HTA}", hta["seconds"] / kin["seconds"],
                        hta["cpu_s"] / kin["cpu_s"], lambda v: v >= GOAL_VS_HTA),
        "hta_load_vs_ours_load": (f">= {GOAL_VS_HTA}", hta["load_s"] / kin["load_s"], None,
                                  lambda v: v >= GOAL_VS_HTA),
        "peak_delta_rss_vs_file": (f"< {GOAL_MEMORY}", cold["delta_rss"] / size, None,
                                   lambda v: v < GOAL_MEMORY),
        "peak_rss_vs_file": (f"< {GOAL_MEMORY}", cold["peak_rss"] / size, None,
                             lambda v: v < GOAL_MEMORY),
        "kineto_peak_delta_rss_vs_file": (f"< {GOAL_MEMORY}", kin["delta_rss"] / ksize, None,
                                          lambda v: v < GOAL_MEMORY),
        "kineto_peak_rss_vs_file": (f"< {GOAL_MEMORY}", kin["peak_rss"] / ksize, None,
                                    lambda v: v < GOAL_MEMORY),
        "cold_vs_cached_load": (f">= {GOAL_CACHE}", cold["load_s"] / cached["load_s"],
                                cold["load_cpu_s"] / cached["load_cpu_s"],
                                lambda v: v >= GOAL_CACHE),
    }
    goals = {k: {"goal": target, "value": wall, "cpu_value": cpu, "met": ok(wall),
                 "met_cpu": None if cpu is None else ok(cpu)}
             for k, (target, wall, cpu, ok) in table.items()}
    ours_tb = runs["kineto_ours"][0].get("temporal_breakdown")
    hta_tb = runs["kineto_hta"][0].get("temporal_breakdown")
    return {"median": med, "goals": goals, "temporal_breakdown_equals_hta": ours_tb == hta_tb,
            "temporal_breakdown": {"ours": ours_tb, "hta": hta_tb}}


def markdown(result: dict[str, Any]) -> str:
    med, files = result["summary"]["median"], result["files"]
    rows = ["| case | what | median wall s | runs (s) | median CPU s | peak RSS MiB | "
            "baseline MiB | peak − baseline MiB |", "|---|---|---:|---|---:|---:|---:|---:|"]
    for case, (_, what) in CASES.items():
        if case not in med:
            continue
        m = med[case]
        extra = ""
        if "loads_s" in m:
            extra = f" (read {m['read_s']:.2f}, loads {m['loads_s']:.2f})"
        if "load_s" in m:
            extra = f" (load {m['load_s']:.2f}"
            for key, label in (("hotspots_s", "hotspots"), ("temporal_breakdown_s", "tb")):
                if key in m:
                    extra += f", {label} {m[key]:.2f}"
            extra += ")"
        rows.append(f"| `{case}` | {what} | {m['seconds']:.2f}{extra} | "
                    f"{', '.join(f'{s:.2f}' for s in m['runs'])} | {m['cpu_s']:.2f} | "
                    f"{m['peak_rss'] / 2**20:.0f} | "
                    f"{m['baseline_rss'] / 2**20:.0f} | {m['delta_rss'] / 2**20:.0f} |")
    rows.append("")
    rows.append(f"Files: Chrome {files['chrome_slices']:,} slices, "
                f"{files['chrome_json_bytes'] / 2**20:.0f} MiB uncompressed "
                f"({files['chrome_gz_bytes'] / 2**20:.1f} MiB gzipped); Kineto "
                f"{files['kineto_events']:,} events, {files['kineto_json_bytes'] / 2**20:.0f} MiB "
                f"uncompressed ({files['kineto_gz_bytes'] / 2**20:.1f} MiB gzipped).")
    same = result["summary"]["temporal_breakdown_equals_hta"]
    rows.append(f"Our `temporal_breakdown()` on the Kineto trace "
                f"{'equals' if same else '**differs from**'} HTA's `get_temporal_breakdown()`.")
    rows.append("")
    rows.append("| goal | target | measured (wall) | met | CPU time ratio (met) |")
    rows.append("|---|---|---:|---|---|")
    labels = {
        "cold_vs_orjson": "Chrome: `load_trace`+`hotspots` / bare `orjson.loads`",
        "hta_vs_ours": "Kineto: HTA (load + temporal breakdown) / ours (load + hotspots + "
                       "temporal breakdown)",
        "hta_load_vs_ours_load": "Kineto: HTA `TraceAnalysis(...)` / our `load_trace` alone",
        "peak_delta_rss_vs_file": "Chrome cold: peak RSS − baseline / uncompressed file",
        "peak_rss_vs_file": "Chrome cold: peak RSS (absolute) / uncompressed file",
        "kineto_peak_delta_rss_vs_file": "Kineto ours: peak RSS − baseline / uncompressed file",
        "kineto_peak_rss_vs_file": "Kineto ours: peak RSS (absolute) / uncompressed file",
        "cold_vs_cached_load": "Chrome: cold `load_trace` / cached `load_trace`",
    }
    for key, g in result["summary"]["goals"].items():
        cpu = "–" if g["cpu_value"] is None else \
            f"{g['cpu_value']:.2f}x ({'yes' if g['met_cpu'] else 'no'})"
        rows.append(f"| {labels[key]} | {g['goal']} | {g['value']:.2f}x | "
                    f"{'yes' if g['met'] else '**no**'} | {cpu} |")
    return "\n".join(rows)


def _file_facts() -> dict[str, Any]:
    """Sizes and event counts of the two traces, and the library versions (worker side)."""
    import gzip
    import importlib.metadata

    import numpy
    import orjson
    import pandas
    import pyarrow

    chrome = orjson.loads(CHROME_JSON.read_bytes())["traceEvents"]
    slices = sum(1 for e in chrome if e.get("ph") == "X")
    del chrome
    with gzip.open(KINETO_GZ, "rb") as f:
        kineto_bytes = f.read()
    return {"chrome_json_bytes": CHROME_JSON.stat().st_size,
            "chrome_gz_bytes": CHROME_GZ.stat().st_size,
            "chrome_slices": slices,
            "kineto_gz_bytes": KINETO_GZ.stat().st_size,
            "kineto_json_bytes": len(kineto_bytes),
            "kineto_events": len(orjson.loads(kineto_bytes)["traceEvents"]),
            "versions": {"python": platform.python_version(), "pandas": pandas.__version__,
                         "numpy": numpy.__version__, "orjson": orjson.__version__,
                         "pyarrow": pyarrow.__version__,
                         "jupyter_assistant": importlib.metadata.version("jupyter-assistant")}}


def _facts_in_subprocess() -> dict[str, Any]:
    proc = subprocess.run([sys.executable, str(Path(__file__).resolve()), "--facts"],
                          capture_output=True, text=True, cwd=ROOT, check=True)
    facts: dict[str, Any] = json.loads(proc.stdout.splitlines()[-1])
    hta = subprocess.run([str(HTA_PYTHON), "-c", "import importlib.metadata as m, pandas; "
                          "print(m.version('HolisticTraceAnalysis'), pandas.__version__)"],
                         capture_output=True, text=True).stdout.split()
    facts["versions"].update(hta=hta[0] if hta else "?",
                             hta_pandas=hta[1] if len(hta) > 1 else "?")
    return facts


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--repeat", type=int, default=3, help="runs per case (median reported)")
    parser.add_argument("--cases", nargs="*", default=list(CASES), choices=list(CASES))
    parser.add_argument("--worker", help=argparse.SUPPRESS)
    parser.add_argument("--cache-dir", help=argparse.SUPPRESS)
    parser.add_argument("--facts", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--no-write", action="store_true", help="do not write the JSON results")
    args = parser.parse_args(argv)
    if args.worker:
        worker(args.worker, args.cache_dir)
        return 0
    if args.facts:
        print(json.dumps(_file_facts()))
        return 0

    missing = [p for p in (CHROME_JSON, CHROME_GZ, KINETO_GZ) if not p.exists()]
    if missing:
        raise SystemExit(f"missing {', '.join(map(str, missing))}: "
                         "run python bench/make_big_trace.py first")
    if "kineto_hta" in args.cases:
        ensure_hta_venv()
    files = _facts_in_subprocess()
    versions = files.pop("versions")
    cache_dir = tempfile.mkdtemp(prefix="trace-load-bench-cache-")
    started = datetime.now(timezone.utc)
    load_before = os.getloadavg()
    runs: dict[str, list[dict[str, Any]]] = {c: [] for c in args.cases}
    try:
        for i in range(args.repeat):
            print(f"round {i + 1}/{args.repeat}", flush=True)
            for case in args.cases:
                if case == "chrome_cached":
                    # primed right before each measurement: the cache key includes the
                    # reader modules' mtimes, so an earlier entry may be stale by now
                    run_case("chrome_prime", cache_dir)
                one = run_case(case, cache_dir)
                if case == "chrome_cached" and not one["cached"]:
                    # a reader module changed since priming: this was a cold load (which
                    # wrote a fresh entry); measure again
                    print("  (cache miss: the reader changed since priming; measuring again)")
                    one = run_case(case, cache_dir)
                    if not one["cached"]:
                        raise RuntimeError("chrome_cached did not load from the cache")
                runs[case].append(one)
    finally:
        shutil.rmtree(cache_dir, ignore_errors=True)
    result: dict[str, Any] = {
        "date": started.isoformat(timespec="seconds"),
        "duration_s": (datetime.now(timezone.utc) - started).total_seconds(),
        "loadavg_before": load_before, "loadavg_after": os.getloadavg(),
        "machine": _machine(), "versions": versions, "files": files,
        "repeat": args.repeat, "runs": runs,
    }
    if set(CASES) <= set(args.cases):
        result["summary"] = summarize(runs, files)
        print()
        print(markdown(result))
    if not args.no_write:
        RESULTS.parent.mkdir(parents=True, exist_ok=True)
        RESULTS.write_text(json.dumps(result, indent=2) + "\n")
        print(f"\nwrote {RESULTS.relative_to(ROOT)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
