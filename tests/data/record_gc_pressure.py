"""Record ``gc_pressure.viztracer.json.gz``: a real viztracer trace (with ``log_gc=True``,
so every run of CPython's cyclic garbage collector is a slice) of a workload that builds
many short-lived reference cycles, so the collector runs again and again.

Run from the repository root: ``python tests/data/record_gc_pressure.py`` (needs
``viztracer``). Only calls longer than 20 µs are kept (``min_duration``), which keeps the
file small; GC slices are kept whatever their length. Timings are real and differ from
run to run; the workload is fixed.
"""

from __future__ import annotations

import gc
import gzip
import tempfile
from pathlib import Path

from viztracer import VizTracer

OUT = Path(__file__).resolve().parent / "gc_pressure.viztracer.json.gz"


class Node:
    def __init__(self, parent: Node | None) -> None:
        self.parent = parent
        self.children: list[Node] = []
        if parent is not None:
            parent.children.append(self)  # a reference cycle: only the collector frees it


def build_tree(depth: int, fanout: int) -> Node:
    root = Node(None)
    level = [root]
    for _ in range(depth):
        level = [Node(p) for p in level for _ in range(fanout)]
    return root


def churn(rounds: int) -> int:
    total = 0
    for _ in range(rounds):
        tree = build_tree(4, 6)  # 1,555 nodes in cycles, dropped at once
        total += len(tree.children)
    return total


def main() -> None:
    gc.set_threshold(700, 10, 10)  # CPython's defaults, set explicitly
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "trace.json"
        tracer = VizTracer(log_gc=True, min_duration=20, output_file=str(path), verbose=0)
        tracer.start()
        churn(150)
        tracer.stop()
        tracer.save()
        data = path.read_bytes()
    with OUT.open("wb") as fh, gzip.GzipFile(fileobj=fh, mode="wb", mtime=0) as gz:
        gz.write(data)
    print(f"wrote {OUT} ({OUT.stat().st_size:,} bytes)")


if __name__ == "__main__":
    main()
