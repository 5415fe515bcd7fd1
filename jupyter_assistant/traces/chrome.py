"""Read Chrome Trace Event Format JSON, Chrome DevTools recordings and PyTorch (Kineto) traces.

One reader serves the three flavours of the format (``metadata["format"]`` says which was
found: ``"kineto"`` for a PyTorch profiler trace, ``"devtools"`` for a Chrome DevTools
performance recording, else ``"chrome"``). What becomes of each phase (``ph``):

=============  ===========================================================================
``X``          a slice (``dur`` µs; see :mod:`._chrome_events` for missing/negative ``dur``)
``B``/``E``    matched per (pid, tid) into slices; repairs counted in ``metadata["repaired"]``
               and described in ``metadata["warnings"]`` (rules in :mod:`._begin_end`)
``b``/``e``    nestable async slices, matched per (process, cat, id) like ``B``/``E``, on a
(``S``/``F``)  synthetic track per async id: ``tid = 2**41 + k``, ``Trace.threads.kind ==
               "async"``, named after its first slice. They are real slices (hotspots see
               them) but never nest into a thread's slices.
``n``          :attr:`Trace.instants` with ``scope == "async"``
``i``/``I``    :attr:`Trace.instants` (``R`` marks too); ``scope`` is ``g``/``p``/``t``
``C``          :attr:`Trace.counters`, one row per ``args`` key (the series)
``M``          ``process_name``/``thread_name``/``*_sort_index``/``process_labels`` ->
               :attr:`Trace.threads`
``s``/``t``/``f``  :attr:`Trace.flows`, bound to the enclosing (``f``: next, or enclosing
               with ``bp: "e"``) slice: column ``slice``
``P``          DevTools ``Profile``/``ProfileChunk`` CPU samples -> ``cat == "cpu_sample"``
               slices (see :mod:`._devtools`); the raw samples in :attr:`Trace.samples`
other          ignored, counted in ``metadata["ignored_phases"]``
=============  ===========================================================================

``ts``/``dur`` are µs whatever ``displayTimeUnit`` says (it only tells a viewer how to
display; kept in ``metadata["display_time_unit"]``). Large files are parsed in chunks (see
:mod:`._jsonchunks`) so memory stays near the size of the result, not of the parsed JSON.

A slice that starts inside another on its thread but ends after it stays its child with its
own ``dur`` (the rule of :func:`~jupyter_assistant.traces.build_slice_table`); such slices
are counted in ``metadata["overlapping"]``. They are not clipped: real traces have them
(MTIA device tracks, float rounding in ns-precision Kineto traces) and clipping would change
kernel durations that GPU analyses sum.

Other metadata: ``event_count`` (events in ``traceEvents``), ``missing_dur``, ``header``
(the document's other top-level keys), ``cpu_profile`` (when there are CPU samples), and for
Kineto ``rank``, ``ranks``, ``distributed_info``, ``device_properties``, ``profiler_steps``.
Kineto events add columns ``correlation``, ``external_id``, ``stream``, ``rank`` and
``file_order`` (int32: the slice's position in the file, ``X`` events in file order and
``B``/``E`` pairs after them; Holistic Trace Analysis lists streams in that order).
"""

from __future__ import annotations

import contextlib
import gc
from collections.abc import Iterable, Iterator
from typing import Any

import numpy as np
import orjson
import pandas as pd

from ..exceptions import TraceFormatError
from ._begin_end import match_begin_end
from ._chrome_events import ARG_INT_KEYS, ChromeEvents, arg_ints
from ._devtools import clip_to_traced, profile_event_slices, stack_frame_samples
from ._flows import bind_to_slices
from ._jsonchunks import parse_events
from ._kineto import device_threads, is_kineto, kineto_columns, kineto_metadata
from ._model import COUNTER_COLUMNS, FLOW_COLUMNS, INSTANT_COLUMNS, Trace, empty_frame
from ._slices import build_slice_table

__all__ = ["ASYNC_TID_BASE", "read_chrome"]

#: First synthetic ``tid`` of async tracks.
ASYNC_TID_BASE = 1 << 41
_HEADER_SKIP = ("traceEvents", "samples", "stackFrames")


def read_chrome(data: bytes | Iterable[bytes], source: str) -> Trace:
    """Read a Trace Event Format document (JSON array, object with ``traceEvents``, or an
    array without its closing ``]``) into a :class:`~jupyter_assistant.traces.Trace`.

    ``data`` is the uncompressed file, or an iterable of its pieces in order (as
    ``load_trace`` passes it: then the text is parsed as it is read and never held whole);
    ``source`` is its name for messages. Raises
    :class:`~jupyter_assistant.exceptions.TraceFormatError` naming the file, the position
    (``line L column C (byte B)`` for JSON errors, ``traceEvents[i]`` for a bad event) and
    the problem.
    """
    # The parse keeps hundreds of thousands of small containers (``args`` dicts) alive and
    # makes no reference cycles, so the cyclic GC would only rescan them again and again
    # (measured: 60% of a 1M-event Kineto load). Pause it for the parse, as a bulk loader.
    with _gc_paused():
        parsed = parse_events(data, source)
        del data  # the chunk generator holds the text until its last chunk is parsed
        ev = ChromeEvents(source)
        for first, chunk, text in parsed.chunks:
            ev.add_chunk(first, chunk, text)
            del chunk, text
        for w in parsed.warnings:
            ev.warnings.add(w)
        return _assemble(ev, parsed.header, source)


@contextlib.contextmanager
def _gc_paused() -> Iterator[None]:
    """Disable the cyclic garbage collector for the block (re-enabled only if it was on)."""
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()


class _Extra:
    """Slices that do not come from ``X`` events, as plain lists."""

    def __init__(self) -> None:
        self.cols: dict[str, list[Any]] = {k: [] for k in
                                           ("name", "cat", "pid", "tid", "ts", "dur", "args")}

    def add(self, cols: dict[str, list[Any]]) -> None:
        for k, v in self.cols.items():
            v.extend(cols[k])


def _thread_ends(x: dict[str, Any]) -> dict[tuple[int, int], float]:
    if not len(x["ts"]):
        return {}
    df = pd.DataFrame({"pid": x["pid"], "tid": x["tid"], "end": x["ts"] + x["dur"]})
    ends = df.groupby(["pid", "tid"], sort=False)["end"].max()
    return {(int(p), int(t)): float(e) for (p, t), e in ends.items()}


def _matched(ev: ChromeEvents, x: dict[str, Any], extra: _Extra) -> int:
    """B/E and async b/e slices into ``extra``; returns the number of repairs."""
    repaired = 0
    last = _thread_ends(x) if ev.be else {}
    for (pid, tid), items in ev.be.items():
        out, r = match_begin_end(items, last.get((pid, tid), -np.inf), ev.warnings,
                                 f"pid {pid} tid {tid}")
        repaired += r
        extra.add({"name": [s[0] for s in out], "cat": [s[1] for s in out],
                   "pid": [pid] * len(out), "tid": [tid] * len(out),
                   "ts": [s[2] for s in out], "dur": [s[3] for s in out],
                   "args": [s[4] for s in out]})
    for k, (key, items) in enumerate(ev.async_events.items()):
        tid = ASYNC_TID_BASE + k
        out, r = match_begin_end(items, -np.inf, ev.warnings,
                                 f"async track cat={key[1]!r} id={key[2]!r}")
        repaired += r
        if not out:
            continue
        pids = [s[5][6] for s in out]
        first = min(out, key=lambda s: s[2])
        ev.async_tracks[tid] = (pids[0], str(first[0]))
        extra.add({"name": [s[0] for s in out], "cat": [s[1] for s in out], "pid": pids,
                   "tid": [tid] * len(out), "ts": [s[2] for s in out],
                   "dur": [s[3] for s in out], "args": [s[4] for s in out]})
    return repaired


def _arg_int_columns(ev: ChromeEvents, extra: _Extra) -> dict[str, np.ndarray]:
    """The :data:`ARG_INT_KEYS` columns of every slice, ``X`` slices first (as ``_columns``)."""
    parts = [*ev.x_arg_ints, arg_ints(extra.cols["args"])]
    ev.x_arg_ints = []
    return {c: np.concatenate([p[c] if isinstance(p, dict) else np.full(p, -1, dtype=np.int64)
                               for p in parts]) for c in ARG_INT_KEYS}


def _joined(a: np.ndarray, more: list[Any], dtype: Any) -> np.ndarray:
    """``a`` followed by ``more`` (``a`` itself, not a copy, when ``more`` is empty)."""
    return np.concatenate([a, np.array(more, dtype=dtype)]) if more else a


def _columns(ev: ChromeEvents, x: dict[str, Any], extra: _Extra) -> dict[str, Any]:
    e = extra.cols
    names = _joined(x["name"], [ev.names.code(v) for v in e["name"]], np.int32)
    cats = _joined(x["cat"], [ev.cats.code(v) for v in e["cat"]], np.int32)
    args = np.empty(len(names), dtype=object)
    args[:len(ev.x_args)] = ev.x_args
    args[len(ev.x_args):] = e["args"]
    ev.x_args = []
    return {
        "name": pd.Categorical.from_codes(names, dtype=pd.CategoricalDtype(ev.names.categories),
                                          validate=False),
        "cat": pd.Categorical.from_codes(cats, dtype=pd.CategoricalDtype(ev.cats.categories),
                                         validate=False),
        "pid": _joined(x["pid"], e["pid"], np.int64),
        "tid": _joined(x["tid"], e["tid"], np.int64),
        "ts": _joined(x["ts"], e["ts"], np.float64),
        "dur": _joined(x["dur"], e["dur"], np.float64),
        "args": args,
    }


def _frame(rows: list[tuple[Any, ...]], columns: dict[str, str]) -> pd.DataFrame:
    if not rows:
        return empty_frame(columns)
    cols = list(zip(*rows, strict=True))
    return pd.DataFrame({c: pd.Series(cols[i], dtype=t if t != "object" else object)
                         for i, (c, t) in enumerate(columns.items())})


def _assemble(ev: ChromeEvents, header: dict[str, Any], source: str) -> Trace:
    x = ev.x_columns()
    extra = _Extra()
    repaired = _matched(ev, x, extra)
    # CPU samples: DevTools Profile events and the spec's samples/stackFrames
    slices, samples = profile_event_slices(ev.profiles, ev.warnings.add)
    more, more_samples = stack_frame_samples(header, ev.pids.one, ev.tids.one)
    clipped = 0
    if slices:
        traced = pd.DataFrame({"pid": np.concatenate([x["pid"], extra.cols["pid"]]),
                               "tid": np.concatenate([x["tid"], extra.cols["tid"]]),
                               "ts": np.concatenate([x["ts"], extra.cols["ts"]]),
                               "dur": np.concatenate([x["dur"], extra.cols["dur"]])})
        for cols in slices:
            if cols["ts"]:
                on = traced[(traced["pid"] == cols["pid"][0]) & (traced["tid"] == cols["tid"][0])]
                t = on["ts"].to_numpy(dtype=np.float64)
                clipped += clip_to_traced(cols, t, t + on["dur"].to_numpy(dtype=np.float64))
    for cols in slices + more:
        extra.add(cols)
    columns = _columns(ev, x, extra)
    ev.x_parts = []  # its arrays are in ``columns`` now (or copied there)
    cat_names = [str(c) for c in ev.cats.categories]
    kineto = is_kineto(header, cat_names)
    arg_columns = _arg_int_columns(ev, extra) if kineto else {}
    columns.update({f"arg:{k}": v for k, v in arg_columns.items()})
    if kineto:  # HTA lists streams in file order, which the sorted slice table loses
        # (int32: a file under the 2 GiB read limit holds far fewer than 2**31 events)
        columns["file_order"] = np.arange(len(columns["ts"]), dtype=np.int32)
    del x, extra, arg_columns
    far = np.flatnonzero(~np.isfinite(columns["dur"]))
    if far.size:  # B/E or samples whose 'ts' values are more than ~1.8e308 µs apart
        k = int(far[0])
        raise TraceFormatError(source, f"slice {str(columns['name'][k])!r} at ts "
                                       f"{columns['ts'][k]:g}",
                               "its duration overflows (the 'ts' values are out of range)")
    events = build_slice_table(columns, consume=True)
    del columns
    arg_columns = {k: events.pop(f"arg:{k}").to_numpy() for k in ARG_INT_KEYS if kineto}
    devtools = bool(ev.profiles) or any("devtools.timeline" in c for c in cat_names) or (
        isinstance(header.get("metadata"), dict) and header["metadata"].get("source") == "DevTools")
    fmt = "kineto" if kineto else "devtools" if devtools else "chrome"
    meta: dict[str, Any] = {"format": fmt, "source": source}
    devices: set[tuple[int, int]] = set()
    if kineto:
        meta.update(kineto_metadata(header, [str(n) for n in ev.names.categories],
                                    ev.warnings.add))
        devices = device_threads(events, ev.process_labels, ev.process_names)
        kineto_columns(events, devices, meta["rank"] if meta["rank"] is not None else 0,
                       arg_columns)
    flows = _flows(ev, events)
    instants = _instants(ev)
    threads = _threads(ev, events, instants, devices, meta.get("rank") or 0)
    dtu = header.get("displayTimeUnit")
    par = events["parent"].to_numpy()
    rows = np.flatnonzero(par >= 0)
    end = events["end"].to_numpy()
    meta.update({
        "display_time_unit": dtu if isinstance(dtu, str) else None,
        "overlapping": int((end[rows] > end[par[rows]]).sum()),
        "event_count": ev.n_events,
        "repaired": repaired,
        "missing_dur": ev.missing_dur,
        "ignored_phases": dict(ev.ignored),
        "header": _small_header(header),
        "warnings": ev.warnings.final(),
    })
    if slices or more:
        meta["cpu_profile"] = {"profiles": len(slices) + len(more),
                               "samples": int(sum(len(s) for s in samples + more_samples)),
                               "clipped": clipped}
    return Trace(
        events=events,
        threads=threads,
        counters=_frame(ev.counters, COUNTER_COLUMNS),
        instants=instants,
        flows=flows,
        samples=(pd.concat(samples + more_samples, ignore_index=True)
                 if samples or more_samples else None),
        metadata=meta,
    )


def _text(v: Any, missing: str) -> str:
    return v if isinstance(v, str) else missing if v is None else str(v)


def _small_header(header: dict[str, Any], limit: int = 16_384) -> dict[str, Any]:
    """The document's other top-level keys; a value over ``limit`` bytes of JSON (such as
    viztracer's ``file_info`` with whole source files) is replaced by a short note."""
    out: dict[str, Any] = {}
    for k, v in header.items():
        if k in _HEADER_SKIP or k in ("deviceProperties", "distributedInfo"):
            continue
        size = len(orjson.dumps(v, default=str, option=orjson.OPT_NON_STR_KEYS))
        out[k] = v if size <= limit else f"<{size:,} bytes of JSON, not kept>"
    return out


def _instants(ev: ChromeEvents) -> pd.DataFrame:
    """:attr:`Trace.instants`: the bulk-read columns, then the rows read one by one."""
    parts = list(ev.instant_parts)
    if ev.instants:
        parts.append(tuple(list(col) for col in zip(*ev.instants, strict=True)))
    ev.instant_parts, ev.instants = [], []
    if not parts:
        return empty_frame({**INSTANT_COLUMNS, "args": "object"})
    names, cats, pids, tids, ts, scope, args = (
        [v for part in parts for v in part[i]] for i in (0, 1, 2, 3, 4, 5, 6))
    return pd.DataFrame({
        "name": pd.Series([v if type(v) is str else _text(v, "(unnamed)") for v in names],
                          dtype=object),
        "cat": pd.Series([v if type(v) is str else _text(v, "") for v in cats], dtype=object),
        "pid": np.asarray(pids, dtype=np.int64),
        "tid": np.asarray(tids, dtype=np.int64),
        "ts": np.asarray(ts, dtype=np.float64),
        "scope": pd.Series(scope, dtype=object),
        "args": pd.Series(args, dtype=object),
    })


def _flows(ev: ChromeEvents, events: pd.DataFrame) -> pd.DataFrame:
    if not ev.flows:
        return empty_frame(FLOW_COLUMNS)
    parts = list(zip(*ev.flows, strict=True))
    ev.flows = []
    ident = [str(v) for part in parts[0] for v in part]
    same: dict[str, str] = {}
    ident = list(map(same.setdefault, ident, ident))  # an s/t/f chain shares one id string
    cat, name, ph = (np.concatenate(col) for col in parts[1:4])
    pid_a, tid_a, ts_a, bp = (np.concatenate(col) for col in parts[4:8])
    ph_f = ev.flow_ph.codes_of.get("f", -1)
    enclosing = (ph != ph_f) | bp
    rows = bind_to_slices(events["pid"].to_numpy(), events["tid"].to_numpy(),
                          events["ts"].to_numpy(), events["end"].to_numpy(),
                          events["parent"].to_numpy(), pid_a, tid_a, ts_a, enclosing)
    return pd.DataFrame({
        "id": pd.Series(ident, dtype=object),
        "cat": _from_codes(cat, ev.flow_cats),
        "name": _from_codes(name, ev.flow_names),
        "ph": _from_codes(ph, ev.flow_ph),
        "pid": pid_a, "tid": tid_a, "ts": ts_a, "slice": rows,
    })


def _from_codes(codes: np.ndarray, interner: Any) -> Any:
    return pd.Categorical.from_codes(codes, dtype=pd.CategoricalDtype(interner.categories),
                                     validate=False)


def _threads(ev: ChromeEvents, events: pd.DataFrame, instants: pd.DataFrame,
             devices: set[tuple[int, int]], rank: int) -> pd.DataFrame:
    pairs: dict[tuple[int, int], None] = {}
    on_thread = instants.loc[instants["scope"] == "t", ["pid", "tid"]].drop_duplicates()
    instant_threads = zip(on_thread["pid"].tolist(), on_thread["tid"].tolist(), strict=True)
    if len(events):
        u = events[["pid", "tid"]].drop_duplicates()
        pairs.update(dict.fromkeys(zip(u["pid"].tolist(), u["tid"].tolist(), strict=True)))
    for p, t in instant_threads:  # global and process-wide instants are on no thread
        pairs.setdefault((p, t))
    pairs.update(dict.fromkeys(ev.thread_names))
    pairs.update(dict.fromkeys(ev.thread_sort))
    tracks = ev.async_tracks
    rows = []
    for pid, tid in sorted(pairs):
        if tid in tracks:
            kind, tname = "async", f"async: {tracks[tid][1]}"
        else:
            kind = "gpu" if (pid, tid) in devices else (
                "other" if pid in ev.pids.names else "cpu")
            tname = ev.thread_names.get((pid, tid)) or ev.tids.names.get(tid) or f"tid {tid}"
        pname = ev.process_names.get(pid) or ev.pids.names.get(pid) or f"pid {pid}"
        rows.append((pid, tid, rank, pname, tname,
                     ev.thread_sort.get((pid, tid), np.nan), kind,
                     ev.process_sort.get(pid, np.nan), ev.process_labels.get(pid)))
    cols = {"pid": "int64", "tid": "int64", "rank": "int64", "process_name": "object",
            "thread_name": "object", "sort_index": "float64", "kind": "object",
            "process_sort_index": "float64", "process_labels": "object"}
    return _frame(rows, cols)
