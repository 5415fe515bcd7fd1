"""Record the profiler test files of tests/traces with real profilers.

Run from anywhere: ``python tests/data/record_profiles.py`` (needs ``py-spy`` and
``pyinstrument`` on PATH: ``pip install py-spy pyinstrument``; py-spy needs ptrace, i.e.
Linux with ``CAP_SYS_PTRACE`` or ``kernel.yama.ptrace_scope = 0`` for a child process).
It runs the workload below (``python record_profiles.py --workload``) once under each
profiler and writes, next to this script:

=======================================  ==============================================
file                                     written by
=======================================  ==============================================
workload.pyinstrument.speedscope.json    ``pyinstrument -r speedscope`` (evented)
workload.py-spy.speedscope.json          ``py-spy record --format speedscope`` (sampled,
                                         one profile per thread)
workload.py-spy.folded.txt               ``py-spy record --format raw``
workload.py-spy.threads.folded.txt       ``py-spy record --format raw --threads``
workload.cprofile.prof                   ``python -m cProfile -o``
=======================================  ==============================================

The workload is deterministic CPU work: ``hot_loop`` takes most of the time (called from
``main`` and from ``helper``), ``fib`` is recursive, and a thread named ``worker`` runs
``worker_sort`` in parallel (py-spy sees both threads; cProfile and pyinstrument only the
main thread). Files are gzipped when over 50 KB. Commands run with this folder as working
directory and a relative script path, so most files name it ``record_profiles.py``; py-spy's
speedscope output still holds absolute paths (it writes each code object's full file name).
"""

from __future__ import annotations

import gzip
import shutil
import subprocess
import sys
import threading
from pathlib import Path

HERE = Path(__file__).resolve().parent
SCRIPT = Path(__file__).name
RATE = 250  # py-spy samples per second


def hot_loop(n: int) -> int:
    total = 0
    for i in range(n):
        total += i * i % 7
    return total


def helper(n: int) -> int:
    return hot_loop(n // 4) + 1


def fib(n: int) -> int:
    return n if n < 2 else fib(n - 1) + fib(n - 2)


def worker_sort() -> None:
    for seed in range(12):
        data = [(i * 7919 + seed) % 10007 for i in range(60_000)]
        data.sort()


def main() -> None:
    worker = threading.Thread(target=worker_sort, name="worker")
    worker.start()
    for _ in range(6):
        hot_loop(250_000)
        helper(250_000)
    fib(17)
    worker.join()


def _run(cmd: list[str]) -> None:
    print("+", " ".join(cmd), flush=True)
    subprocess.run(cmd, cwd=HERE, check=True)


def _finish(name: str) -> None:
    path = HERE / name
    if path.stat().st_size > 50_000:
        with path.open("rb") as src, gzip.open(f"{path}.gz", "wb", mtime=0) as dst:
            shutil.copyfileobj(src, dst)
        path.unlink()
        name += ".gz"
    print("wrote", HERE / name, flush=True)


def record() -> None:
    py = sys.executable
    workload = [py, SCRIPT, "--workload"]
    for stale in HERE.glob("workload.*"):
        stale.unlink()
    _run(["pyinstrument", "-r", "speedscope", "-o", "workload.pyinstrument.speedscope.json",
          SCRIPT, "--workload"])
    _finish("workload.pyinstrument.speedscope.json")
    spy = ["py-spy", "record", "--rate", str(RATE), "--nonblocking"]
    _run([*spy, "--format", "speedscope", "-o", "workload.py-spy.speedscope.json", "--",
          *workload])
    _finish("workload.py-spy.speedscope.json")
    _run([*spy, "--format", "raw", "-o", "workload.py-spy.folded.txt", "--", *workload])
    _finish("workload.py-spy.folded.txt")
    _run([*spy, "--format", "raw", "--threads", "-o", "workload.py-spy.threads.folded.txt",
          "--", *workload])
    _finish("workload.py-spy.threads.folded.txt")
    _run([py, "-m", "cProfile", "-o", "workload.cprofile.prof", SCRIPT, "--workload"])
    _finish("workload.cprofile.prof")


if __name__ == "__main__":
    if "--workload" in sys.argv[1:]:
        main()
    else:
        record()
