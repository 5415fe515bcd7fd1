"""Importer for the speedscope file format (evented and sampled profiles).

Format: https://www.speedscope.app/file-format-schema.json, whose TypeScript source is
``src/lib/file-format-spec.ts`` in jlfwong/speedscope; the reading rules follow its importer
``src/lib/file-format.ts``. Writers include py-spy (``py-spy record --format speedscope``:
one *sampled* profile per thread, unit ``seconds``) and pyinstrument (``pyinstrument -r
speedscope``: one *evented* profile, unit ``seconds``).

A file holds ``shared.frames`` (``name``, optional ``file``, ``line``, ``col``) and a list of
``profiles``; each profile becomes one thread of the :class:`~jupyter_assistant.traces.Trace`
(``pid`` 0, ``tid`` = profile index, ``thread_name`` = profile ``name``).

* **evented** profiles list ``O`` (open) and ``C`` (close) frame events with a time ``at``
  in non-decreasing order. Each open/close pair is one slice. A close event that does not
  match the top of the stack is repaired the way a Chrome ``E`` event is: frames opened
  above a matching frame are closed with it, a close with no matching open is dropped, and
  frames still open at the end close at ``endValue``; each repair is counted in
  ``metadata["repaired"]``.
* **sampled** profiles list ``samples`` (stacks of frame indices, root first) and
  ``weights``. Samples are laid end to end from ``startValue`` and runs of identical stack
  prefixes are merged into slices (:func:`~jupyter_assistant.traces.slices_from_stacks`,
  what speedscope does). Frames are merged by function, i.e. by ``(name, file)``: py-spy
  records the *current* line of every frame, so consecutive samples at different lines of
  one call are still one slice.

Times: ``unit`` ``nanoseconds``/``microseconds``/``milliseconds``/``seconds`` are converted
to µs. For ``none`` and ``bytes`` (e.g. allocation profiles) the values are kept as they are
in the ``ts``/``dur`` columns and ``metadata["unit"]`` says so (``"bytes"``, ``"none"``,
or ``"mixed"`` when profiles of one file disagree); for time units it is ``"µs"``. Times
are relative to the smallest ``startValue`` of the file, so profiles of one file keep their
alignment.

Extra columns of :attr:`Trace.events`: ``file`` (object, ``""`` when absent) and ``line``
(int64, -1 when absent, or, for sampled profiles, when the function was sampled at several
lines). :attr:`Trace.samples` holds the samples of sampled profiles (see
:data:`~jupyter_assistant.traces._sampled.SAMPLE_COLUMNS`).

Raises :class:`~jupyter_assistant.exceptions.TraceFormatError` naming the JSON path (e.g.
``profiles[0].events[12]``) for anything outside the schema.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import orjson
import pandas as pd

from ..exceptions import TraceFormatError
from ._model import Trace
from ._sampled import grid_scale, samples_frame, snap, threads_frame
from ._slices import build_slice_table, slices_from_stacks

__all__ = ["UNIT_TO_US", "read_speedscope"]

#: speedscope ``ValueUnit`` -> factor to µs (``None`` for units that are not times).
UNIT_TO_US: dict[str, float | None] = {
    "nanoseconds": 1e-3,
    "microseconds": 1.0,
    "milliseconds": 1e3,
    "seconds": 1e6,
    "none": None,
    "bytes": None,
}


class _Ctx:
    """Error context: the file name, and a helper that raises at a JSON path."""

    def __init__(self, source: str) -> None:
        self.source = source

    def fail(self, where: str, problem: str) -> TraceFormatError:
        return TraceFormatError(self.source, where, problem)

    def number(self, value: Any, where: str) -> float:
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise self.fail(where, f"expected a number, got {type(value).__name__}")
        out = float(value)
        if not math.isfinite(out):
            raise self.fail(where, "expected a finite number")
        return out

    def index(self, value: Any, size: int, where: str) -> int:
        if isinstance(value, float) and value.is_integer():
            value = int(value)
        if isinstance(value, bool) or not isinstance(value, int):
            raise self.fail(where, f"expected a frame index, got {type(value).__name__}")
        if not 0 <= value < size:
            raise self.fail(where, f"frame index {value} is out of range (0..{size - 1})")
        return value


def _parse(data: bytes, ctx: _Ctx) -> dict[str, Any]:
    try:
        doc = orjson.loads(data)
    except orjson.JSONDecodeError as exc:
        raise ctx.fail(f"byte {exc.pos} (line {exc.lineno}, column {exc.colno})",
                       f"invalid JSON ({exc.msg})") from None
    if not isinstance(doc, dict):
        raise ctx.fail("byte 0", "a speedscope file is a JSON object with 'shared' and "
                                 f"'profiles', got a JSON {type(doc).__name__}")
    return doc


def _frames(doc: dict[str, Any], ctx: _Ctx) -> list[tuple[str, str, int]]:
    shared = doc.get("shared")
    if not isinstance(shared, dict) or not isinstance(shared.get("frames"), list):
        raise ctx.fail("shared.frames", "missing: a speedscope file needs a list of frames")
    out: list[tuple[str, str, int]] = []
    for k, fr in enumerate(shared["frames"]):
        where = f"shared.frames[{k}]"
        if not isinstance(fr, dict) or not isinstance(fr.get("name"), str):
            raise ctx.fail(where, "a frame is an object with a string 'name'")
        file = fr.get("file")
        line = fr.get("line")
        if file is not None and not isinstance(file, str):
            raise ctx.fail(f"{where}.file", "expected a string")
        if line is None:
            line_no = -1
        else:
            value = ctx.number(line, f"{where}.line")
            line_no = int(value) if abs(value) < 2**53 else -1  # (the column is int64)
        out.append((fr["name"], file or "", line_no))
    return out


class _Columns:
    """Accumulates slice columns over all profiles."""

    def __init__(self) -> None:
        self.name: list[str] = []
        self.tid: list[int] = []
        self.ts: list[float] = []
        self.dur: list[float] = []
        self.file: list[str] = []
        self.line: list[int] = []


def _evented(prof: dict[str, Any], i: int, frames: list[tuple[str, str, int]],
             factor: float, origin: float, ctx: _Ctx, cols: _Columns) -> int:
    """Slices of one evented profile (``dur`` holds the end time for now); returns the
    number of repairs."""
    events = prof.get("events")
    if not isinstance(events, list):
        raise ctx.fail(f"profiles[{i}].events", "an evented profile needs a list 'events'")
    opened: list[tuple[int, int]] = []  # (frame, row in `rows`)
    rows: list[list[Any]] = []  # [frame, open at, close at], in open order (pre-order)
    repaired = 0
    last = -math.inf
    for j, ev in enumerate(events):
        where = f"profiles[{i}].events[{j}]"
        if not isinstance(ev, dict):
            raise ctx.fail(where, "an event is an object with 'type', 'at' and 'frame'")
        at = ctx.number(ev.get("at"), f"{where}.at")
        if at < last:
            raise ctx.fail(where, f"'at' goes back in time ({at} after {last}); events must "
                                  "be in non-decreasing order")
        last = at
        frame = ctx.index(ev.get("frame"), len(frames), f"{where}.frame")
        kind = ev.get("type")
        if kind == "O":
            opened.append((frame, len(rows)))
            rows.append([frame, at, math.nan])
        elif kind == "C":
            pos = len(opened) - 1
            while pos >= 0 and opened[pos][0] != frame:
                pos -= 1
            if pos < 0:
                repaired += 1  # a close with no open frame: dropped
                continue
            repaired += len(opened) - 1 - pos  # frames closed implicitly with an enclosing one
            while len(opened) > pos:
                rows[opened.pop()[1]][2] = at
        else:
            raise ctx.fail(f"{where}.type", f"expected 'O' or 'C', got {kind!r}")
    end_value = prof.get("endValue")
    end = max(ctx.number(end_value, f"profiles[{i}].endValue")
              if end_value is not None else last, last)
    repaired += len(opened)
    while opened:
        rows[opened.pop()[1]][2] = end
    for f, t0, t1 in rows:
        name, file, line = frames[f]
        cols.name.append(name)
        cols.file.append(file)
        cols.line.append(line)
        cols.tid.append(i)
        cols.ts.append(t0 * factor - origin)
        cols.dur.append(t1 * factor - origin)  # end for now; made a duration after snapping
    return repaired


def _sampled(prof: dict[str, Any], i: int, frames: list[tuple[str, str, int]],
             factor: float, origin: float, start: float, ctx: _Ctx, cols: _Columns,
             smp: dict[str, list[Any]]) -> None:
    samples = prof.get("samples")
    weights = prof.get("weights")
    if not isinstance(samples, list) or not isinstance(weights, list):
        raise ctx.fail(f"profiles[{i}]", "a sampled profile needs lists 'samples' and 'weights'")
    if len(samples) != len(weights):
        raise ctx.fail(f"profiles[{i}].weights",
                       f"{len(weights)} weights for {len(samples)} samples (must be equal)")
    n_frames = len(frames)
    # frames are merged by function (name, file); one key string per function
    key_of = [f"{name}\x1f{file}" for name, file, _ in frames]
    stacks: list[list[str]] = []
    used: set[int] = set()
    for j, stack in enumerate(samples):
        if not isinstance(stack, list):
            raise ctx.fail(f"profiles[{i}].samples[{j}]", "a sample is a list of frame indices")
        if stack and not (set(map(type, stack)) <= {int} and 0 <= min(stack)
                          and max(stack) < n_frames):
            # the slow path names the bad entry (and accepts integral floats)
            stack = [ctx.index(idx, n_frames, f"profiles[{i}].samples[{j}][{d}]")
                     for d, idx in enumerate(stack)]
        used.update(stack)
        stacks.append([key_of[f] for f in stack])
    if not set(map(type, weights)) <= {int, float}:
        for j, w in enumerate(weights):
            ctx.number(w, f"profiles[{i}].weights[{j}]")
    w_raw = np.asarray(weights, dtype=np.float64)
    bad = np.flatnonzero(~np.isfinite(w_raw) | (w_raw < 0))
    if bad.size:
        raise ctx.fail(f"profiles[{i}].weights[{bad[0]}]", "a weight is a finite number >= 0")
    lines: dict[str, set[int]] = {}
    for f in used:
        lines.setdefault(key_of[f], set()).add(frames[f][2])
    info = {key: (key.partition("\x1f")[0], key.partition("\x1f")[2],
                  next(iter(ln)) if len(ln) == 1 else -1) for key, ln in lines.items()}
    w_us = w_raw * factor
    scale = grid_scale(abs(start) + float(w_us.sum()))
    weights_q = snap(w_us, scale)
    start_q = float(snap([start], scale)[0])
    got = slices_from_stacks(stacks, weights_q.tolist(), start=start_q)
    rows = [info[key] for key in got["name"]]
    cols.name.extend([r[0] for r in rows])
    cols.file.extend([r[1] for r in rows])
    cols.line.extend([r[2] for r in rows])
    cols.tid.extend([i] * len(got["name"]))
    cols.ts.extend(got["ts"])
    cols.dur.extend((np.asarray(got["ts"]) + np.asarray(got["dur"])).tolist())  # end for now
    ts_samples = start_q + np.concatenate(([0.0], np.cumsum(weights_q)[:-1])) \
        if len(weights_q) else np.empty(0)
    smp["tid"].extend([i] * len(stacks))
    smp["ts"].extend(ts_samples.tolist())
    smp["weight"].extend(weights_q.tolist())
    name_of = {key: value[0] for key, value in info.items()}
    smp["stack"].extend(";".join([name_of[k] for k in keys]) for keys in stacks)


def read_speedscope(data: bytes, source: str = "<bytes>") -> Trace:
    """Read a speedscope JSON file (uncompressed ``data``) into a :class:`Trace`.

    See the module docstring for the mapping: one thread per profile, slices in µs (or in
    the file's own unit for ``none``/``bytes``), extra ``file``/``line`` columns.
    ``metadata`` gets ``format="speedscope"``, ``unit``, ``name``, ``exporter``,
    ``active_profile_index``, ``profiles`` (one dict per profile: ``name, type, unit``),
    ``repaired`` and ``warnings``.

    Raises :class:`~jupyter_assistant.exceptions.TraceFormatError` for invalid JSON, a
    missing ``shared.frames`` or ``profiles``, a frame index out of range, events going back
    in time, ``samples``/``weights`` of different lengths or a negative weight.
    """
    ctx = _Ctx(source)
    doc = _parse(data, ctx)
    frames = _frames(doc, ctx)
    profiles = doc.get("profiles")
    if not isinstance(profiles, list) or not profiles:
        raise ctx.fail("profiles", "missing or empty: a speedscope file needs profiles")
    warnings: list[str] = []
    factors: list[float] = []
    units: list[str] = []
    starts: list[float] = []
    for i, prof in enumerate(profiles):
        if not isinstance(prof, dict):
            raise ctx.fail(f"profiles[{i}]", "a profile is a JSON object")
        if prof.get("type") not in ("evented", "sampled"):
            raise ctx.fail(f"profiles[{i}].type",
                           f"expected 'evented' or 'sampled', got {prof.get('type')!r}")
        unit = prof.get("unit", "none")
        if not isinstance(unit, str) or unit not in UNIT_TO_US:
            warnings.append(f"profiles[{i}]: unknown unit {unit!r}, values kept as they are")
            unit = "none"
        units.append(unit)
        factor = UNIT_TO_US[unit]
        factors.append(1.0 if factor is None else factor)
        sv = prof.get("startValue")
        starts.append(0.0 if sv is None else ctx.number(sv, f"profiles[{i}].startValue")
                      * factors[-1])
    origin = min(starts)
    cols = _Columns()
    smp: dict[str, list[Any]] = {"tid": [], "ts": [], "weight": [], "stack": []}
    repaired = 0
    with np.errstate(over="ignore", invalid="ignore"):  # out-of-range values checked below
        for i, prof in enumerate(profiles):
            if prof["type"] == "evented":
                repaired += _evented(prof, i, frames, factors[i], origin, ctx, cols)
            else:
                _sampled(prof, i, frames, factors[i], origin, starts[i] - origin, ctx, cols,
                         smp)
        ts = np.asarray(cols.ts, dtype=np.float64)
        end = np.asarray(cols.dur, dtype=np.float64)
        scale = grid_scale(float(np.abs(end).max(initial=0.0))
                           + float(np.abs(ts).max(initial=0.0)))
        ts = snap(ts, scale)
        end = snap(end, scale)
        dur = end - ts
    if not (np.isfinite(ts).all() and np.isfinite(dur).all()
            and np.isfinite(smp["weight"]).all()):
        raise ctx.fail("profiles", "times out of range once converted to µs")
    events = build_slice_table({
        "name": cols.name, "cat": [""] * len(cols.name), "pid": np.zeros(len(ts), np.int64),
        "tid": cols.tid, "ts": ts, "dur": dur,
        "file": pd.Series(cols.file, dtype=object),
        "line": np.asarray(cols.line, dtype=np.int64),
    })
    process = doc.get("name") if isinstance(doc.get("name"), str) else None
    threads = threads_frame(
        {"pid": 0, "tid": i, "process_name": process,
         "thread_name": str(p.get("name", f"profile {i}")), "sort_index": i}
        for i, p in enumerate(profiles))
    samples = None
    if smp["tid"]:
        n = len(smp["tid"])
        samples = samples_frame([0] * n, smp["tid"], smp["ts"], smp["weight"], smp["stack"])
    kinds = set(units)
    unit_out = "µs" if all(UNIT_TO_US[u] is not None for u in kinds) else (
        kinds.pop() if len(kinds) == 1 else "mixed")
    exporter = doc.get("exporter")
    meta: dict[str, Any] = {
        "format": "speedscope",
        "source": source,
        "unit": unit_out,
        "name": process,
        "exporter": exporter if isinstance(exporter, str) else None,
        "active_profile_index": doc.get("activeProfileIndex")
        if isinstance(doc.get("activeProfileIndex"), int) else None,
        "profiles": [{"name": p.get("name"), "type": p["type"], "unit": u}
                     for p, u in zip(profiles, units, strict=True)],
        "ranks": [],
        "repaired": repaired,
        "warnings": warnings,
    }
    if repaired:
        warnings.append(f"{repaired} unbalanced open/close frame events repaired")
    return Trace(events=events, threads=threads, samples=samples, metadata=meta)
