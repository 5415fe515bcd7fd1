"""Importer for cProfile / pstats files (``cProfile.Profile.dump_stats``, ``python -m cProfile
-o``, ``pstats.Stats.dump_stats``).

Such a file is ``marshal.dump`` of the stats dict ``{(file, line, func): (cc, nc, tt, ct,
callers)}`` with ``callers = {(file, line, func): (cc, nc, tt, ct)}`` (the time of the
function *when called from* that caller); ``cc`` counts primitive (non-recursive) calls,
``nc`` all calls, ``tt`` the time in the function itself and ``ct`` the time including its
callees, in seconds (``pstats`` prints them as ``tottime`` and ``cumtime``). The pure-Python
``profile`` module writes call counts (ints) instead of caller tuples; both are read. The
file is decoded with the restricted reader of :mod:`._marshal`, which refuses anything but
plain data (code objects included): ``profile`` dumps made with ``profile.run`` hold code
objects and are refused.

**A synthetic timeline.** A stats file has no timeline and no call tree, only caller ->
callee edges. The importer lays out a call tree the way gprof2dot and snakeviz draw one:
starting from the roots (functions without callers), each function's children are its
callees, and a callee gets the share of its time that the edge's cumulative time carries
(``callers[g][f].ct / sum over callers``, or call counts when all those times are 0). A
function already on the path (recursion) is not expanded again, nor a child whose share is
under 1e-5 of the profile's total time once the function is placed elsewhere (at most
:data:`MAX_NODES` nodes). Functions that the walk never reaches (only called from inside a
cycle) are added as roots. Each tree node then gets the share of its function's ``tt``
given by its weight, normalised over all nodes of that function, so:

* the ``self_dur`` of a function summed over its slices equals pstats ``tottime`` (µs,
  to ~1 ns; exactly ``tottime`` when no ``tt`` was negative, which ``profile``'s bias
  calibration can produce: those are clamped to 0 and counted in ``warnings``);
* a node's ``dur`` is its self time plus its children's, so ``total_dur`` per function is
  close to ``cumtime`` but not equal to it (recursion, apportioning);
* children are laid out from their parent's start, heaviest first, the parent's own time
  last; roots end to end from 0. ``ts`` is therefore a position, not a clock time.

Slices are named the way pstats prints functions, ``func (file:line)`` with the full path
(built-ins: ``{built-in method builtins.exec}``), and :attr:`Trace.events` gets the
columns ``file`` (object, ``""`` for built-ins), ``line`` (int64, -1 for built-ins) and
``calls`` (float64: the share of the function's ``ncalls`` the slice stands for, by the
callers' call counts; it sums to ``ncalls`` per function) and ``cumtime`` (float64, µs: the
function's pstats ``cumtime``, the same on each of its slices). With these two columns
:meth:`Trace.hotspots` reports pstats' own ``ncalls`` as ``count`` and ``cumtime`` as
``total_dur``, exact even where the synthetic tree cuts a recursion cycle. One thread
(``pid`` 0, ``tid`` 0): cProfile only profiles the thread that enabled it.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from ..exceptions import TraceFormatError
from ._marshal import MarshalError, loads_plain
from ._model import Trace
from ._sampled import grid_scale, threads_frame
from ._slices import build_slice_table

__all__ = ["MAX_NODES", "function_name", "read_cprofile"]

#: Most tree nodes (slices) a stats file is expanded into.
MAX_NODES = 250_000
_MIN_SHARE = 1e-5

Key = tuple[str, int, str]
Edges = dict[int, dict[int, tuple[float, float]]]  # callee -> caller -> (edge ct, edge nc)


def function_name(key: Key) -> str:
    """The slice name of a pstats key ``(file, line, func)``: ``func (file:line)``, or for
    built-ins (``("~", 0, "<built-in method len>")``) ``{built-in method len}`` as pstats
    prints them."""
    file, line, func = key
    if file in ("~", "") and line == 0:
        return f"{{{func[1:-1]}}}" if func.startswith("<") and func.endswith(">") else func
    return f"{func} ({file}:{line})"


def _check_key(key: Any, where: str, source: str) -> Key:
    if (isinstance(key, tuple) and len(key) == 3 and isinstance(key[0], str)
            and isinstance(key[1], int) and not isinstance(key[1], bool)
            and isinstance(key[2], str)):
        return key
    raise TraceFormatError(source, where, f"a function key is (file, line, name), got {key!r:.80}")


def _num(value: Any, where: str, source: str) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) \
            or not math.isfinite(value):
        raise TraceFormatError(source, where, f"expected a finite number, got {value!r:.40}")
    return float(value)


def _parse(data: bytes, source: str) -> tuple[list[Key], np.ndarray, Edges]:
    """Validated stats: keys, a (n, 4) array of cc, nc, tt, ct, and per callee its callers'
    (edge ct, edge nc)."""
    try:
        stats = loads_plain(data)
    except MarshalError as exc:
        raise TraceFormatError(source, f"byte {exc.pos}",
                               f"not a readable pstats file ({exc.problem})") from None
    if not isinstance(stats, dict) or not stats:
        raise TraceFormatError(source, "byte 0", "a pstats file is a non-empty marshalled dict "
                                                 f"of functions, got {type(stats).__name__}")
    keys = sorted(_check_key(k, f"stats entry {i}", source) for i, k in enumerate(stats))
    index = {k: i for i, k in enumerate(keys)}
    table = np.zeros((len(keys), 4), dtype=np.float64)
    callers: Edges = {}
    budget = len(data)  # a real caller edge takes well over one byte of the file
    for i, key in enumerate(keys):
        where = f"stats entry {function_name(key)!r:.120}"
        value = stats[key]
        if not (isinstance(value, tuple) and len(value) == 5 and isinstance(value[4], dict)):
            raise TraceFormatError(source, where,
                                   "expected (ccalls, ncalls, tottime, cumtime, callers)")
        table[i] = [_num(v, where, source) for v in value[:4]]
        edges: dict[int, tuple[float, float]] = {}
        budget -= len(value[4])
        if budget < 0:
            raise TraceFormatError(source, where, "more caller edges than the file can hold")
        for ckey, cval in value[4].items():
            ck = _check_key(ckey, f"{where} callers", source)
            if isinstance(cval, tuple) and len(cval) == 4:
                nc, ct = _num(cval[1], where, source), _num(cval[3], where, source)
            elif isinstance(cval, (int, float)) and not isinstance(cval, bool):
                nc, ct = _num(cval, where, source), 0.0  # profile.py: a call count
            else:
                raise TraceFormatError(source, f"{where} callers",
                                       "expected (cc, nc, tottime, cumtime) or a call count")
            j = index.get(ck)
            if j is not None and j != i:  # unknown callers and self-recursion add no edge
                edges[j] = (max(ct, 0.0), max(nc, 0.0))
        callers[i] = edges
    return keys, table, callers


def _layout(n: int, tt_us: np.ndarray, ct_us: np.ndarray,
            callers: Edges) -> tuple[list[int], list[int], list[float], list[float]]:
    """Expand the call tree. Returns, per node in pre-order, its function, parent node,
    time weight and call weight (the share of the function's time, and of its calls, that
    the node stands for, before normalising over the function's nodes)."""
    children: list[list[tuple[int, float, float]]] = [[] for _ in range(n)]
    for f, edges in callers.items():
        by_ct = sum(ct for ct, _ in edges.values())
        by_nc = sum(nc for _, nc in edges.values())
        for p, (ct, nc) in edges.items():
            cshare = nc / by_nc if by_nc > 0 else 1 / len(edges)
            children[p].append((f, ct / by_ct if by_ct > 0 else cshare, cshare))
    for p in range(n):
        children[p].sort(key=lambda c: (-c[1] * ct_us[c[0]], c[0]))
    min_us = float(tt_us.sum()) * _MIN_SHARE
    ct = ct_us.tolist()
    func: list[int] = []
    parent: list[int] = []
    weight: list[float] = []
    cweight: list[float] = []
    placed = [0.0] * n
    on_path = [0] * n

    def expand(root: int) -> None:
        todo: list[tuple[int, int, float, float]] = [(root, -1, 1.0, 1.0)]
        while todo:
            f, par, w, cw = todo.pop()
            if par == -2:  # leaving f
                on_path[f] -= 1
                continue
            node = len(func)
            func.append(f)
            parent.append(par)
            weight.append(w)
            cweight.append(cw)
            placed[f] += w
            on_path[f] += 1
            todo.append((f, -2, 0.0, 0.0))
            if len(func) >= MAX_NODES:
                continue
            kids = [(g, node, w * share, cw * cshare) for g, share, cshare in children[f]
                    if not on_path[g] and w * share > 0
                    and (w * share * ct[g] > min_us or not placed[g])]
            todo.extend(reversed(kids))

    roots = [f for f in range(n) if not callers[f]]
    for f in sorted(roots, key=lambda f: (-ct[f], f)):
        expand(f)
    for f in sorted(range(n), key=lambda f: (-ct[f], f)):
        if not placed[f]:
            expand(f)
    return func, parent, weight, cweight


def _apportion(total: np.ndarray, func: np.ndarray, share: np.ndarray) -> np.ndarray:
    """Integer split of ``total[f]`` over the nodes of each function by ``share`` (largest
    remainder, so each function's parts sum to its total exactly)."""
    exact = total[func] * share
    base = np.floor(exact).astype(np.int64)
    missing = total - np.bincount(func, weights=base, minlength=len(total)).astype(np.int64)
    order = np.lexsort((-(exact - base), func))
    group_start = np.searchsorted(func[order], func[order], side="left")
    rank = np.arange(len(order)) - group_start
    bump = np.zeros(len(func), dtype=np.int64)
    bump[order] = (rank < missing[func[order]]).astype(np.int64)
    return base + bump


def read_cprofile(data: bytes, source: str = "<bytes>") -> Trace:
    """Read a cProfile/pstats dump (uncompressed ``data``) into a :class:`Trace` laid out as
    a synthetic call tree (see the module docstring: self times equal pstats ``tottime``,
    times in µs, extra columns ``file, line, calls, cumtime``).

    ``metadata``: ``format="cprofile"``, ``unit="µs"``, ``functions``, ``total_calls``,
    ``primitive_calls``, ``total_tt_us``, ``nodes``, ``layout`` (a one-line description of
    the synthetic layout), ``warnings``.

    Raises :class:`~jupyter_assistant.exceptions.TraceFormatError` when the bytes are not a
    marshalled stats dict of the expected shape (position ``byte N`` or the stats entry),
    including files holding code objects or any other non-data type.
    """
    keys, table, callers = _parse(data, source)
    n = len(keys)
    warnings: list[str] = []
    negative = int((table[:, 2] < 0).sum())
    if negative:
        warnings.append(f"{negative} functions had a negative tottime (profile bias); "
                        "counted as 0")
    with np.errstate(over="ignore", invalid="ignore"):
        tt_us = np.maximum(table[:, 2], 0.0) * 1e6
        ct_us = np.maximum(table[:, 3], 0.0) * 1e6
        sums = float(tt_us.sum()) + float(ct_us.sum()) + float(table[:, :2].sum())
    if not math.isfinite(sums):
        raise TraceFormatError(source, None, "times too large to be seconds")
    if float(np.abs(table[:, :2]).max(initial=0.0)) >= 2**53:  # counted exactly in float64
        raise TraceFormatError(source, None, "call counts too large (2**53 or more)")
    func_l, parent_l, weight_l, cweight_l = _layout(n, tt_us, ct_us, callers)
    func = np.asarray(func_l, dtype=np.int64)
    weight = np.asarray(weight_l, dtype=np.float64)
    share = weight / np.bincount(func, weights=weight, minlength=n)[func]
    cweight = np.asarray(cweight_l, dtype=np.float64)
    csum = np.bincount(func, weights=cweight, minlength=n)[func]
    call_share = np.divide(cweight, csum, out=share.copy(), where=csum > 0)
    scale = grid_scale(float(tt_us.sum()))
    self_q = _apportion(np.round(tt_us * scale).astype(np.int64), func, share)
    # durations bottom-up (children follow their parent in pre-order), then positions;
    # integer grid steps, so every end is exactly the sum of its parts
    dur_q: list[int] = self_q.tolist()
    for node in range(len(func) - 1, -1, -1):
        if parent_l[node] >= 0:
            dur_q[parent_l[node]] += dur_q[node]
    ts_q = [0] * len(func)
    cursor = [0] * len(func)
    root_cursor = 0
    for node in range(len(func)):
        par = parent_l[node]
        if par < 0:
            ts_q[node] = root_cursor
            root_cursor += dur_q[node]
        else:
            ts_q[node] = cursor[par]
            cursor[par] += dur_q[node]
        cursor[node] = ts_q[node]
    names = [function_name(k) for k in keys]
    builtin = [k[0] in ("~", "") and k[1] == 0 for k in keys]
    fl = func.tolist()
    events = build_slice_table({
        "name": [names[f] for f in fl],
        "cat": [""] * len(fl),
        "pid": np.zeros(len(fl), np.int64),
        "tid": np.zeros(len(fl), np.int64),
        "ts": np.asarray(ts_q, dtype=np.float64) / scale,
        "dur": np.asarray(dur_q, dtype=np.float64) / scale,
        "file": np.asarray(["" if builtin[f] else keys[f][0] for f in fl], dtype=object),
        "line": np.asarray([-1 if builtin[f] else keys[f][1] for f in fl], dtype=np.int64),
        "calls": table[func, 1] * call_share,
        "cumtime": ct_us[func],
    })
    if len(func) >= MAX_NODES:
        warnings.append(f"call tree cut at {MAX_NODES:,} slices")
    meta: dict[str, Any] = {
        "format": "cprofile",
        "source": source,
        "unit": "µs",
        "functions": n,
        "total_calls": int(table[:, 1].sum()),
        "primitive_calls": int(table[:, 0].sum()),
        "total_tt_us": float(tt_us.sum()),
        "nodes": len(fl),
        "layout": "synthetic call tree from pstats caller edges: self time per function "
                  "= tottime, slice positions are not clock times",
        "ranks": [],
        "repaired": 0,
        "warnings": warnings,
    }
    threads = threads_frame([{"pid": 0, "tid": 0, "thread_name": "profiled thread",
                              "sort_index": 0}])
    return Trace(events=events, threads=threads, metadata=meta)
