"""Record ``viztracer_small.json.gz``: a real viztracer trace of a tiny, known workload.

Run from the repository root: ``python tests/data/make_viztracer_trace.py``. The tests in
tests/traces/test_chrome.py rely on the call counts below (``leaf`` 120 times, ``middle`` 6
times, ``outer`` once, ``sleepy`` 3 times for at least 2 ms each), not on timings.
"""

import gzip
import tempfile
import time
from pathlib import Path

from viztracer import VizTracer


def leaf(i: int) -> int:
    return i * i


def middle(n: int) -> int:
    total = 0
    for i in range(n):
        total += leaf(i)
    return total


def sleepy() -> None:
    time.sleep(0.002)


def outer() -> int:
    total = 0
    for _ in range(6):
        total += middle(20)
    for _ in range(3):
        sleepy()
    return total


def main() -> None:
    out = Path(__file__).with_name("viztracer_small.json.gz")
    with tempfile.TemporaryDirectory() as tmp:
        raw = Path(tmp) / "trace.json"
        tracer = VizTracer(output_file=str(raw), ignore_c_function=True, verbose=0)
        tracer.start()
        outer()
        tracer.stop()
        tracer.save()
        out.write_bytes(gzip.compress(raw.read_bytes(), mtime=0))
    print(f"wrote {out} ({out.stat().st_size} bytes)")


if __name__ == "__main__":
    main()
