"""Make the two big traces the trace-load bench reads (``bench/data/``, git-ignored).

1. ``bench/data/viztracer_big.json.gz`` (and its uncompressed twin ``viztracer_big.json``):
   a *real* Chrome Trace Event Format recording of a pure-Python workload (a recursive-
   descent expression parser and evaluator, a binary-search-tree build and walk, recursive
   Fibonacci and a word-frequency pass over generated text), recorded by viztracer with
   C-function calls included. Every Python and C call is one ``ph: "X"`` slice; the run
   is checked to hold at least 1,000,000 slices. Timings are real, so they differ from run
   to run; the workload (and so the call tree and the slice count) is fixed.

2. ``bench/data/kineto_big/kineto_big.json.gz``: a PyTorch profiler (Kineto) trace of
   similar size for the comparison with Holistic Trace Analysis, which reads only Kineto
   traces. It is made *deterministically* from the real trace
   ``../shared/traces/hta/df_index_resolver/df_index_resolver.json.gz`` (2x V100, rank 1 of
   2, ProfilerStep#2-6, 216,092 events): its header (schemaVersion, deviceProperties,
   distributedInfo, ...) is kept, its 38 ``ph: "M"`` metadata events are written once, and
   every other event is written ``COPIES`` (5) times. Copy ``k`` (0-based) has

   * ``ts`` shifted by ``k * period`` µs, where ``period`` = the original span (first
     ``ts`` to last ``ts + dur``) + 1,000 µs, so copies never overlap;
   * ``ProfilerStep#n`` renamed ``ProfilerStep#(n + k * 5)`` (steps #2-#26);
   * the ids ``args["External id"]``, ``args["correlation"]``, ``args["Sequence number"]``
     and the flow ``id`` raised by ``k * 1,000,000`` (all originals are below that), so
     ``ac2g`` flows still pair each runtime launch with its kernel and ids stay unique.

   The result has 216,054 * 5 + 38 = 1,080,308 events. The file is written with a fixed
   gzip header (mtime 0), so it is byte-identical on every run.

Run: ``python bench/make_big_trace.py`` (about a minute; the files are re-made only when
missing unless ``--force``).
"""

from __future__ import annotations

import argparse
import gzip
import random
import shutil
import sys
import time
from pathlib import Path
from typing import Any

import orjson

HERE = Path(__file__).resolve().parent
DATA = HERE / "data"
CHROME_GZ = DATA / "viztracer_big.json.gz"
CHROME_JSON = DATA / "viztracer_big.json"
KINETO_DIR = DATA / "kineto_big"
KINETO_GZ = KINETO_DIR / "kineto_big.json.gz"
KINETO_SOURCE = (HERE.parent.parent / "shared" / "traces" / "hta" / "df_index_resolver"
                 / "df_index_resolver.json.gz")

MIN_SLICES = 1_000_000
COPIES = 5
ID_STRIDE = 1_000_000
GAP_US = 1_000
STEPS_PER_COPY = 5  # the source holds ProfilerStep#2..#6
_ID_ARGS = ("External id", "correlation", "Sequence number")


# ---------------------------------------------------------------------------------------
# 1. a real viztracer recording of a pure-Python workload
# ---------------------------------------------------------------------------------------
def _tokenize(text: str) -> list[str]:
    tokens: list[str] = []
    num = ""
    for ch in text:
        if ch.isdigit():
            num += ch
            continue
        if num:
            tokens.append(num)
            num = ""
        if ch in "+-*/()":
            tokens.append(ch)
    if num:
        tokens.append(num)
    return tokens


class _Parser:
    """Recursive-descent parser and evaluator: expr := term (('+'|'-') term)*."""

    def __init__(self, tokens: list[str]) -> None:
        self.tokens = tokens
        self.pos = 0

    def peek(self) -> str | None:
        return self.tokens[self.pos] if self.pos < len(self.tokens) else None

    def take(self) -> str:
        tok = self.tokens[self.pos]
        self.pos += 1
        return tok

    def expr(self) -> int:
        value = self.term()
        while self.peek() in ("+", "-"):
            op = self.take()
            rhs = self.term()
            value = value + rhs if op == "+" else value - rhs
        return value

    def term(self) -> int:
        value = self.factor()
        while self.peek() in ("*", "/"):
            op = self.take()
            rhs = self.factor()
            value = value * rhs if op == "*" else value // (rhs or 1)
        return value

    def factor(self) -> int:
        if self.peek() == "(":
            self.take()
            value = self.expr()
            self.take()
            return value
        return int(self.take())


def _random_expr(rng: random.Random, depth: int) -> str:
    if depth == 0 or rng.random() < 0.25:
        return str(rng.randint(1, 99))
    op = rng.choice("+-*")
    return f"({_random_expr(rng, depth - 1)} {op} {_random_expr(rng, depth - 1)})"


class _Node:
    __slots__ = ("key", "left", "right")

    def __init__(self, key: int) -> None:
        self.key = key
        self.left: _Node | None = None
        self.right: _Node | None = None


def _insert(node: _Node | None, key: int) -> _Node:
    if node is None:
        return _Node(key)
    if key < node.key:
        node.left = _insert(node.left, key)
    else:
        node.right = _insert(node.right, key)
    return node


def _walk(node: _Node | None, out: list[int]) -> None:
    if node is not None:
        _walk(node.left, out)
        out.append(node.key)
        _walk(node.right, out)


def _fib(n: int) -> int:
    return n if n < 2 else _fib(n - 1) + _fib(n - 2)


def _word_counts(rng: random.Random, n_words: int) -> dict[str, int]:
    words = ["trace", "kernel", "slice", "thread", "gpu", "cpu", "step", "idle"]
    counts: dict[str, int] = {}
    for _ in range(n_words):
        word = rng.choice(words).upper().lower()
        counts[word] = counts.get(word, 0) + 1
    return counts


def workload(scale: int = 1) -> int:
    """A fixed pure-Python workload (seeded); returns a checksum."""
    rng = random.Random(20240501)
    total = 0
    for _ in range(scale):
        for _ in range(220):
            total += _Parser(_tokenize(_random_expr(rng, 7))).expr()
        root: _Node | None = None
        for _ in range(6000):
            root = _insert(root, rng.randint(0, 1_000_000))
        keys: list[int] = []
        _walk(root, keys)
        total += len(keys)
        total += _fib(20)
        total += sum(_word_counts(rng, 20000).values())
    return total


def record_chrome(force: bool) -> None:
    """Record the workload with viztracer into :data:`CHROME_GZ` and :data:`CHROME_JSON`."""
    if CHROME_GZ.exists() and CHROME_JSON.exists() and not force:
        print(f"exists: {CHROME_GZ}")
        return
    from viztracer import VizTracer

    DATA.mkdir(parents=True, exist_ok=True)
    tracer = VizTracer(tracer_entries=3_000_000, verbose=0, file_info=False,
                       output_file=str(CHROME_GZ))
    t0 = time.perf_counter()
    tracer.start()
    workload(scale=2)
    tracer.stop()
    t1 = time.perf_counter()
    tracer.save(str(CHROME_GZ))
    t2 = time.perf_counter()
    with gzip.open(CHROME_GZ, "rb") as src, open(CHROME_JSON, "wb") as dst:
        shutil.copyfileobj(src, dst, 1 << 20)
    events = orjson.loads(CHROME_JSON.read_bytes())["traceEvents"]
    slices = sum(1 for e in events if e.get("ph") == "X")
    del events
    print(f"recorded {CHROME_GZ.name}: {slices:,} slices, "
          f"{CHROME_GZ.stat().st_size:,} bytes gzipped, {CHROME_JSON.stat().st_size:,} "
          f"uncompressed (workload {t1 - t0:.1f} s, save {t2 - t1:.1f} s)")
    if slices < MIN_SLICES:
        raise SystemExit(f"only {slices:,} slices (< {MIN_SLICES:,}): raise the workload")


# ---------------------------------------------------------------------------------------
# 2. a Kineto trace scaled up from a real one
# ---------------------------------------------------------------------------------------
def _shift(event: dict[str, Any], k: int, period: int) -> dict[str, Any]:
    """Copy ``k`` of a non-metadata Kineto event (see the module docstring)."""
    if k == 0:
        return event
    e = dict(event)
    if "ts" in e:
        e["ts"] = e["ts"] + k * period
    name = e.get("name")
    if isinstance(name, str) and name.startswith("ProfilerStep#"):
        e["name"] = f"ProfilerStep#{int(name[13:]) + k * STEPS_PER_COPY}"
    if e.get("ph") in ("s", "t", "f") and isinstance(e.get("id"), int):
        e["id"] = e["id"] + k * ID_STRIDE
    args = e.get("args")
    if isinstance(args, dict) and any(a in args for a in _ID_ARGS):
        args = dict(args)
        for a in _ID_ARGS:
            if isinstance(args.get(a), int) and args[a] >= 0:
                args[a] = args[a] + k * ID_STRIDE
        e["args"] = args
    return e


def make_kineto(force: bool) -> None:
    """Write :data:`KINETO_GZ` (deterministic; see the module docstring)."""
    if KINETO_GZ.exists() and not force:
        print(f"exists: {KINETO_GZ}")
        return
    doc = orjson.loads(gzip.decompress(KINETO_SOURCE.read_bytes()))
    events: list[dict[str, Any]] = doc.pop("traceEvents")
    meta = [e for e in events if e.get("ph") == "M"]
    body = [e for e in events if e.get("ph") != "M"]
    ids = [e["id"] for e in body if isinstance(e.get("id"), int)]
    ids += [a[k] for e in body if isinstance(a := e.get("args"), dict)
            for k in _ID_ARGS if isinstance(a.get(k), int)]
    if max(ids) >= ID_STRIDE:
        raise SystemExit(f"an id ({max(ids)}) is over the stride {ID_STRIDE}")
    timed = [e for e in body if isinstance(e.get("ts"), int)]
    start = min(e["ts"] for e in timed)
    end = max(e["ts"] + e.get("dur", 0) for e in timed)
    period = end - start + GAP_US

    KINETO_DIR.mkdir(parents=True, exist_ok=True)
    tmp = KINETO_GZ.with_suffix(".tmp")
    count = 0
    with open(tmp, "wb") as raw, \
            gzip.GzipFile(filename="", mode="wb", fileobj=raw, mtime=0, compresslevel=6) as gz:
        # header as PyTorch writes it: one key per line, so HTA's rank regex
        # ('"rank":\s+(\d+)' on the first matching line) finds the rank
        gz.write(b"{\n")
        for key, value in doc.items():
            if key == "traceName":
                continue
            gz.write(b'  "%s": %s,\n' % (key.encode(), orjson.dumps(value).replace(
                b'"rank":', b'"rank": ')))
        gz.write(b'  "traceEvents": [\n')
        first = True
        for k in range(COPIES):
            for e in (meta + body if k == 0 else body):
                gz.write((b"  " if first else b",\n  ") + orjson.dumps(_shift(e, k, period)))
                first = False
                count += 1
        gz.write(b'\n  ],\n  "traceName": "kineto_big.json"\n}\n')
    tmp.replace(KINETO_GZ)
    print(f"wrote {KINETO_GZ.relative_to(HERE.parent)}: {count:,} events "
          f"({COPIES} copies of {len(body):,} + {len(meta)} metadata), period {period:,} µs, "
          f"{KINETO_GZ.stat().st_size:,} bytes gzipped")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--force", action="store_true", help="re-make existing files")
    args = parser.parse_args(argv)
    record_chrome(args.force)
    make_kineto(args.force)
    return 0


if __name__ == "__main__":
    sys.exit(main())
