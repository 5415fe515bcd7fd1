"""Find the slice a point in time belongs to on its thread (flow binding, sample clipping).

Trace Event Format flow events (``ph: "s"/"t"/"f"``) bind to a slice on their thread: ``s``
and ``t`` to the *enclosing* slice (the deepest one open at the event's ``ts``), ``f`` to the
*next* slice that starts at or after ``ts`` unless it has ``"bp": "e"``, which makes it bind
to the enclosing slice too (spec, "Flow Events"). Kineto writes ``ac2g`` flows with ``s`` on
the runtime launch and ``f`` + ``bp: "e"`` on the GPU kernel.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

__all__ = ["bind_to_slices", "enclosing_in"]


def enclosing_in(ts: np.ndarray, end: np.ndarray, parent: np.ndarray, lo: int, hi: int,
                 q: np.ndarray) -> np.ndarray:
    """Row of the deepest slice in rows ``lo:hi`` (one thread, sorted by ``ts``) open at each
    time of ``q``: ``ts <= q < end``, or ``ts == q`` for a zero-length slice; -1 if none.

    ``parent`` holds the enclosing row of each row (as in ``Trace.events.parent``).
    """
    cand = lo + np.searchsorted(ts[lo:hi], q, side="right") - 1
    cand[cand < lo] = -1
    active = np.flatnonzero(cand >= 0)
    while active.size:
        c = cand[active]
        ok = (end[c] > q[active]) | (ts[c] == q[active])
        rest = active[~ok]
        cand[rest] = parent[cand[rest]]
        active = rest[cand[rest] >= 0]
    return cand


def bind_to_slices(ev_pid: np.ndarray, ev_tid: np.ndarray, ev_ts: np.ndarray,
                   ev_end: np.ndarray, ev_parent: np.ndarray, pid: np.ndarray,
                   tid: np.ndarray, ts: np.ndarray, enclosing: np.ndarray) -> np.ndarray:
    """Slice row for each flow point; the ``ev_*`` arrays are ``Trace.events`` columns (rows
    sorted by ``pid, tid, ts``). ``enclosing[i]`` picks the enclosing rule, else next-slice.
    Returns int64 rows, -1 where the thread has no such slice."""
    m = len(ts)
    out = np.full(m, -1, dtype=np.int64)
    n = len(ev_ts)
    if n == 0 or m == 0:
        return out
    new = np.ones(n, dtype=bool)
    new[1:] = (ev_pid[1:] != ev_pid[:-1]) | (ev_tid[1:] != ev_tid[:-1])
    starts = np.flatnonzero(new)
    stops = np.append(starts[1:], n)
    groups = pd.MultiIndex.from_arrays([ev_pid[starts], ev_tid[starts]])
    gi = groups.get_indexer(pd.MultiIndex.from_arrays([np.asarray(pid, dtype=np.int64),
                                                       np.asarray(tid, dtype=np.int64)]))
    for g in np.unique(gi[gi >= 0]):
        sel = np.flatnonzero(gi == g)
        lo, hi = int(starts[g]), int(stops[g])
        q = ts[sel]
        enc = enclosing[sel]
        nxt = lo + np.searchsorted(ev_ts[lo:hi], q, side="left")
        res = np.where(nxt < hi, nxt, -1)
        if enc.any():
            res[enc] = enclosing_in(ev_ts, ev_end, ev_parent, lo, hi, q[enc])
        out[sel] = res
    return out
