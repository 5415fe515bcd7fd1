"""Importer for collapsed ("folded") stacks: one line per stack, ``frame;frame;frame COUNT``.

The format is Brendan Gregg's (``stackcollapse-*.pl`` in brendangregg/FlameGraph, the input
of ``flamegraph.pl``): frames root first, separated by ``;``, then whitespace and a sample
count. py-spy writes the same with ``py-spy record --format raw``; its frames read
``function (file:line)``; with ``--threads`` each stack starts with a frame
``thread (TID)`` or ``thread (TID): NAME``, and with ``--subprocesses`` before that a frame
``process PID:"COMMAND LINE"``. py-spy may also write a line with an empty stack (``" 6"``:
samples in which it saw no Python frame). A count may be a decimal number (some tools write
weights).

**Time.** A folded file has counts, not times, and (like a flame graph) no order: lines
are usually aggregated. The importer lays the lines of each thread end to end in file order
(what speedscope does, ``src/import/bg-flamegraph.ts``) and merges runs of identical stack
prefixes into slices (:func:`~jupyter_assistant.traces.slices_from_stacks`). So a slice
stands for the samples of its line(s), not for one call, and ``ts`` is a position on a
synthetic axis. The unit of ``ts``/``dur``/``self_dur`` is **one sample**, recorded as
``metadata["unit"] = "samples"``; analyses that print µs must print "samples" for these
traces. When the sampling interval is known (py-spy's default rate is 100 Hz, i.e.
10,000 µs; ``--rate`` changes it), call :func:`read_folded` with ``interval_us=`` and the
columns are in µs (``metadata["unit"] = "µs"``).

py-spy thread and process frames become threads of the trace (``tid`` = thread id,
``pid`` = process id, ``thread_name``/``process_name`` from the frame) and are removed from
the stacks; other stacks go to thread ``pid`` 0, ``tid`` 0.
"""

from __future__ import annotations

import math
import re
from typing import Any

import numpy as np

from ..exceptions import TraceFormatError
from ._model import Trace
from ._sampled import grid_scale, samples_frame, snap, threads_frame
from ._slices import build_slice_table, slices_from_stacks

__all__ = ["read_folded"]

_LINE = re.compile(r"^(?P<stack>.*)[ \t]+(?P<count>[0-9]+(?:\.[0-9]+)?(?:[eE][+-]?[0-9]+)?)$")
_NEGATIVE = re.compile(r"[ \t](-[0-9]+(?:\.[0-9]+)?(?:[eE][+-]?[0-9]+)?)$")
_PROCESS = re.compile(r'^process (?P<pid>[0-9]+):"(?P<cmd>.*)"$')
_THREAD = re.compile(r"^thread \((?P<tid>0[xX][0-9a-fA-F]+|[0-9]+)\)(?:: (?P<name>.*))?$")


def _decode(data: bytes, source: str) -> str:
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        # folded stacks from perf may hold raw bytes of symbol names: keep them readable
        if b"\x00" in data:
            line = data.count(b"\n", 0, exc.start) + 1
            raise TraceFormatError(source, f"line {line}",
                                   "binary data (a NUL byte), not folded stacks") from None
        return data.decode("utf-8", errors="replace")


def read_folded(data: bytes, source: str = "<bytes>", *,
                interval_us: float | None = None) -> Trace:
    """Read collapsed/folded stacks (uncompressed ``data``) into a :class:`Trace`.

    ``interval_us``: the sampling interval in µs, when known; one count is then that many
    µs. Without it one count is one unit of time and ``metadata["unit"]`` is
    ``"samples"`` (see the module docstring: a folded file has no time).

    Returns a trace whose :attr:`~Trace.events` are the merged slices (no extra columns;
    py-spy frame names keep their ``(file:line)``), :attr:`~Trace.threads` one row per
    thread and :attr:`~Trace.samples` one row per line (``pid, tid, ts, weight, stack``).
    ``metadata``: ``format="folded"``, ``unit``, ``interval_us``, ``total_samples`` (sum of
    counts), ``lines`` (stack lines read), ``warnings``.

    Raises :class:`~jupyter_assistant.exceptions.TraceFormatError` naming the line (``line
    N``, 1-based) when a non-blank line is not ``STACK COUNT``, or the whole file when it
    holds no stack line or NUL bytes, or when ``interval_us`` is not a positive number.
    """
    if interval_us is not None and not (isinstance(interval_us, (int, float))
                                        and math.isfinite(interval_us) and interval_us > 0):
        raise TraceFormatError(source, None, f"interval_us must be a positive number, "
                                             f"got {interval_us!r}")
    text = _decode(data, source)
    # per (pid, tid): stacks and counts in file order
    groups: dict[tuple[int, int], tuple[list[list[str]], list[float]]] = {}
    names: dict[tuple[int, int], dict[str, Any]] = {}
    n_lines = 0
    for lineno, raw in enumerate(text.splitlines(), start=1):
        line = raw.rstrip()
        if not line.strip():
            continue
        m = _LINE.match(line)
        if m is None:
            if neg := _NEGATIVE.search(line):
                raise TraceFormatError(source, f"line {lineno}",
                                       f"negative sample count {neg[1]}")
            raise TraceFormatError(
                source, f"line {lineno}",
                f"expected 'frame;frame;... COUNT', got {_clip(line)!r}")
        count = float(m["count"])
        if not math.isfinite(count):
            raise TraceFormatError(source, f"line {lineno}", f"count {m['count']} is too large")
        # like flamegraph.pl (``^(.*)\s+?(\d+...)$``), only the last blank before the count
        # separates it: perf writes frames named " "
        stack = m["stack"]
        frames = stack.split(";") if stack else []
        pid = tid = 0
        info: dict[str, Any] = {}
        if frames and (pm := _PROCESS.match(frames[0])) and (p := _id(pm["pid"])) is not None:
            pid = p
            info["process_name"] = pm["cmd"]
            frames = frames[1:]
        if frames and (tm := _THREAD.match(frames[0])) and (t := _id(tm["tid"])) is not None:
            tid = t
            if tm["name"]:
                info["thread_name"] = tm["name"]
            frames = frames[1:]
        key = (pid, tid)
        stacks, counts = groups.setdefault(key, ([], []))
        stacks.append(frames)
        counts.append(count)
        known = names.setdefault(key, {})
        for k, v in info.items():
            known.setdefault(k, v)
        n_lines += 1
    if not n_lines:
        raise TraceFormatError(source, None, "no stack lines (the file is blank)")
    factor = float(interval_us) if interval_us is not None else 1.0
    total = sum(sum(c) for _, c in groups.values())
    # below 2**1023, not just finite: snapping to the time grid may round the largest value
    # up to the next power of two, which must still be a float
    if not total * factor < 2.0**1023:
        raise TraceFormatError(source, None, "the counts add up to more than a float can hold")
    scale = grid_scale(total * factor)
    cols: dict[str, list[Any]] = {"name": [], "pid": [], "tid": [], "ts": [], "dur": []}
    smp: dict[str, list[Any]] = {"pid": [], "tid": [], "ts": [], "weight": [], "stack": []}
    for (pid, tid), (stacks, counts) in sorted(groups.items()):
        weights = snap(np.asarray(counts) * factor, scale)
        got = slices_from_stacks(stacks, weights.tolist())
        n = len(got["name"])
        cols["name"] += got["name"]
        cols["pid"] += [pid] * n
        cols["tid"] += [tid] * n
        cols["ts"] += got["ts"]
        cols["dur"] += got["dur"]
        starts = np.concatenate(([0.0], np.cumsum(weights)[:-1]))
        smp["pid"] += [pid] * len(stacks)
        smp["tid"] += [tid] * len(stacks)
        smp["ts"] += starts.tolist()
        smp["weight"] += weights.tolist()
        smp["stack"] += [";".join(s) for s in stacks]
    events = build_slice_table({**cols, "cat": [""] * len(cols["name"])})
    threads = threads_frame(
        {"pid": pid, "tid": tid, "sort_index": i,
         "process_name": names[(pid, tid)].get("process_name"),
         "thread_name": names[(pid, tid)].get("thread_name")
         or (f"thread {tid}" if tid else "all samples")}
        for i, (pid, tid) in enumerate(sorted(groups)))
    samples = samples_frame(smp["pid"], smp["tid"], smp["ts"], smp["weight"], smp["stack"])
    meta: dict[str, Any] = {
        "format": "folded",
        "source": source,
        "unit": "µs" if interval_us is not None else "samples",
        "interval_us": float(interval_us) if interval_us is not None else None,
        "total_samples": total,
        "lines": n_lines,
        "ranks": [],
        "repaired": 0,
        "warnings": [],
    }
    return Trace(events=events, threads=threads, samples=samples, metadata=meta)


def _id(text: str) -> int | None:
    """A py-spy process/thread id (decimal, or hex ``0x...`` on macOS) as an int64 value:
    ids of 2**63 and above are taken as unsigned 64-bit and wrapped; larger ones are not
    ids (``None``)."""
    value = int(text, 16) if text[:2] in ("0x", "0X") else int(text)
    if value >= 2**64:
        return None
    return value - 2**64 if value >= 2**63 else value


def _clip(line: str, n: int = 80) -> str:
    return line if len(line) <= n else line[:n] + "..."
