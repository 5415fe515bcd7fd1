"""The measurements the GPU rules read, computed once per trace.

The profiled time is cut into windows: each steady-state ``ProfilerStep#N`` on its CPU
thread (the outlier steps of :func:`~jupyter_assistant.traces.analysis.step_outliers`,
warm-up and compilation, are left out), or the whole CPU activity of a rank when the trace
has no steps. Inside the windows, device busy
time is the union of kernel, memcpy and memset intervals. Every stretch of GPU idle time
(a *gap*) is given one cause, looking at what the host did from the start of the gap until
it called the API that launched the next device activity (the launch is tied to the
activity by ``correlation``), in this order:

``kernel_wait``
    the next activity was launched before the gap began: the GPU was not waiting for the
    host (HTA's idle-time breakdown calls this kernel wait / other);
``input``
    the training thread was inside PyTorch's ``enumerate(DataLoader)#...__next__`` for at
    least half of that time;
``copy``
    the host was inside host-to-device copy calls (``cudaMemcpy*`` whose copy is HtoD,
    and the synchronisations issued inside the same op) for at least half of it;
``sync``
    a synchronisation call (``cuda*Synchronize``, or a device-to-host copy call, which
    blocks the host until the copy is done) *inside* the window (device work was queued
    before it and after it; a barrier at the very start or end of a step, as step-timing
    code uses, is not counted) was running when the GPU went idle: the host had waited
    for the device to drain, so nothing was queued behind it;
``launch``
    none of these, the next activity was launched by a per-kernel launch call
    (``cudaLaunchKernel`` and kin) and the gap is at most :data:`LAUNCH_GAP_US` (100 µs,
    about ten launches' worth of host cost: a CUDA launch takes ~5-10 µs, PyTorch's eager
    dispatch ~10-20 µs more per op): the host was dispatching work one kernel at a time;
``host``
    none of these (e.g. Python between CUDA graph replays, or the end of a window): HTA's
    idle-time breakdown calls this *host wait*.

Each gap counts once, so the shares of the rules that use them never add up past 1.

For the ``host`` gaps, :attr:`GpuFacts.host_self` says what the threads that drive the
device (the steps' thread, and every thread that launched device work, such as autograd's
backward thread) were doing meanwhile: each CPU slice's self time (its own time minus its
children's, as in ``key_averages``' "Self CPU") clipped to those gaps, summed by name. On
the steps' thread only the time when no other driving thread works counts (while
autograd's thread runs the backward pass, the loop only waits for it), so the self time of
a ``ProfilerStep#N`` is the step's Python outside any recorded op.
"""

from __future__ import annotations

import functools
import re
from collections import Counter
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from .._model import Trace
from ..analysis._hta import trace_ranks
from ..analysis.gpu_util import device_events, union_intervals
from ..analysis.hotspots import not_work
from ..analysis.step_outliers import step_outliers

__all__ = ["GAP_CAUSES", "LAUNCH_GAP_US", "GpuFacts", "gpu_facts"]

#: A GPU gap before a per-kernel launch longer than this (µs) is host work, not launch cost.
LAUNCH_GAP_US = 100.0

GAP_CAUSES = ("kernel_wait", "input", "copy", "sync", "launch", "host")

_RUNTIME_CATS = ("cuda_runtime", "cuda_driver", "Runtime", "hip_runtime")
_SYNC_API = re.compile(r"^(cuda|hip)(Device|Stream|Event|Ctx)Synchronize$|^cuCtxSynchronize$"
                       r"|^cu(Stream|Event)Synchronize$")
_LAUNCH_API = re.compile(r"^(cuda|hip)LaunchKernel|^cuLaunchKernel|^(cuda|hip)Launch"
                         r"CooperativeKernel|^hipExtModuleLaunchKernel|^hipModuleLaunchKernel")
_COPY_API = re.compile(r"^(cuda|hip)Memcpy|^cuMemcpy")
_GRAPH_API = re.compile(r"^(cuda|hip)GraphLaunch|^cuGraphLaunch")
_LOADER = "enumerate(DataLoader)#"


# per rank: the ``host`` and ``launch`` gaps (sorted starts, ends, is-launch), the threads
# that drive the device and the steps' threads
_HostGaps = tuple[object, np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray]


@dataclass
class GpuFacts:
    """What the GPU rules need; times in µs summed over every window of every rank."""

    has_steps: bool
    n_windows: int
    wall: float
    busy: float
    compute: float
    communication: float
    comm_overlapped: float
    memory_htod_dtoh: float  # HtoD/DtoH copy time not overlapped by compute kernels
    gaps: dict[str, float]
    gap_counts: dict[str, int]
    device: pd.DataFrame
    runtime: pd.DataFrame
    syncs: Counter[str] = field(default_factory=Counter)
    sync_blocked: float = 0.0
    inner_syncs: int = 0  # sync points inside windows (one per op)
    loader_time: float = 0.0
    loader_names: list[str] = field(default_factory=list)
    copy_calls_time: float = 0.0
    #: per-kernel launches and CUDA graph launches (``cudaGraphLaunch``) in the windows
    kernel_launches: int = 0
    graph_launches: int = 0
    _trace: Trace | None = field(default=None, repr=False)
    # per rank: the ``host`` gaps (sorted starts, ends), the driving threads, the steps'
    _host_gaps: list[_HostGaps] = field(default_factory=list, repr=False)

    @functools.cached_property
    def host_self(self) -> pd.Series:
        """CPU self time (float64, µs) inside the ``host`` gaps by slice name, largest
        first (computed on first use: only the host_bound rule needs it)."""
        return self._self_in(launch=False)

    @functools.cached_property
    def host_launch_self(self) -> pd.Series:
        """As :attr:`host_self`, over the ``host`` and ``launch`` gaps."""
        return self._self_in(launch=True)

    def _self_in(self, launch: bool) -> pd.Series:
        if self._trace is None or not self._host_gaps:
            return pd.Series(dtype="float64")
        return _host_self(self._trace, self._host_gaps, launch)

    @property
    def per_window(self) -> float:
        """Mean window (step) length, µs."""
        return self.wall / self.n_windows if self.n_windows else 0.0


def _is_transfer(name: str) -> bool:
    return name.startswith(("Memcpy HtoD", "Memcpy DtoH"))


def _covered(us: np.ndarray, ue: np.ndarray, x: np.ndarray) -> np.ndarray:
    """Length of the union ``(us, ue)`` (sorted, disjoint) that lies before each ``x``."""
    if not len(us):
        return np.zeros(len(x))
    cum = np.concatenate(([0.0], np.cumsum(ue - us)))
    i = np.searchsorted(us, x, side="right") - 1
    j = np.maximum(i, 0)
    part = np.clip(x - us[j], 0.0, ue[j] - us[j])
    return np.where(i >= 0, cum[j] + part, 0.0)


def _overlap(us: np.ndarray, ue: np.ndarray, lo: np.ndarray, hi: np.ndarray) -> np.ndarray:
    return _covered(us, ue, hi) - _covered(us, ue, lo)


def _clip_union(ts: np.ndarray, end: np.ndarray, lo: float, hi: float) -> tuple[np.ndarray,
                                                                                 np.ndarray]:
    m = (end > lo) & (ts < hi)
    return union_intervals(np.clip(ts[m], lo, hi), np.clip(end[m], lo, hi))


def _intersect(a: tuple[np.ndarray, np.ndarray],
               b: tuple[np.ndarray, np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
    """Intersection of two unions of sorted, disjoint intervals."""
    if not len(a[0]) or not len(b[0]):
        return np.zeros(0), np.zeros(0)
    edges = np.unique(np.concatenate((a[0], a[1], b[0], b[1])))
    lo, hi = edges[:-1], edges[1:]
    mid = (lo + hi) / 2

    def inside(u: tuple[np.ndarray, np.ndarray]) -> np.ndarray:
        i = np.searchsorted(u[0], mid, side="right") - 1
        return (i >= 0) & (mid < u[1][np.maximum(i, 0)])
    keep = inside(a) & inside(b)
    return union_intervals(lo[keep], hi[keep])


def _length(u: tuple[np.ndarray, np.ndarray]) -> float:
    return float((u[1] - u[0]).sum())


def _windows(trace: Trace, ev: pd.DataFrame, ranks: np.ndarray,
             steps: pd.DataFrame | None) -> tuple[pd.DataFrame, bool]:
    steps = step_outliers(trace) if steps is None else steps
    if len(steps):
        # the steady-state steps: outliers (warm-up, compile, unrecorded) are reported by
        # their own rule and left out here
        w = steps.loc[~steps["outlier"].to_numpy(), ["rank", "ts", "end", "tid"]]
        return w.reset_index(drop=True), True
    rows = []
    cpu = ev["stream"].to_numpy(dtype=np.int64, na_value=-1) < 0
    for r in np.unique(ranks):
        m = ranks == r
        c = m & cpu
        lo = float(ev["ts"].to_numpy()[c].min()) if c.any() else float(ev["ts"].to_numpy()[m].min())
        hi = float(ev["end"].to_numpy()[m].max())
        rows.append((int(r), lo, hi, -1))
    return pd.DataFrame(rows, columns=["rank", "ts", "end", "tid"]), False


def _labels_codes(col: pd.Series) -> tuple[np.ndarray, np.ndarray]:
    """``(labels, codes)`` of a string column: its categories when it is categorical, else
    a factorization (codes index labels; -1 for missing)."""
    if isinstance(col.dtype, pd.CategoricalDtype):
        return (np.asarray(col.cat.categories.astype(str), dtype=object),
                np.asarray(col.cat.codes.to_numpy(), dtype=np.int64))
    codes, uniques = pd.factorize(col)
    return np.asarray(pd.Index(uniques).astype(str), dtype=object), codes.astype(np.int64)


def _flags(labels: np.ndarray, rx: re.Pattern[str]) -> np.ndarray:
    return np.asarray([bool(rx.match(str(n))) for n in labels], dtype=bool)


def gpu_facts(trace: Trace, steps: pd.DataFrame | None = None) -> GpuFacts | None:
    """The measurements of a Kineto trace with device activity, or ``None`` (no device
    activity, or no steady-state step: every step is an outlier). ``steps`` is the
    trace's :func:`~jupyter_assistant.traces.analysis.step_outliers` when already
    computed."""
    if trace.format != "kineto" or "stream" not in trace.events.columns:
        return None
    dev_all = device_events(trace)
    if dev_all.empty:
        return None
    ev = trace.events  # rows that are not work (the profiler span, annotations on the
    drop = not_work(trace)  # GPU) are never runtime calls, loader phases or devices
    ranks = trace_ranks(trace)
    windows, has_steps = _windows(trace, ev if drop is None else ev.loc[~drop],
                                  ranks if drop is None else ranks[~drop], steps)
    if windows.empty:
        return None  # every step is an outlier: no steady state to judge
    stream = ev["stream"].to_numpy(dtype=np.int64, na_value=-1)
    labels, codes = _labels_codes(ev["name"])
    is_loader_label = np.asarray([n.startswith(_LOADER) for n in labels], dtype=bool)
    is_loader = np.zeros(len(ev), dtype=bool)
    if is_loader_label.any():
        is_loader = (codes >= 0) & is_loader_label[np.maximum(codes, 0)]
    ts_all = ev["ts"].to_numpy(dtype=np.float64)
    end_all = ev["end"].to_numpy(dtype=np.float64)
    corr_all = (ev["correlation"].to_numpy(dtype=np.int64, na_value=-1)
                if "correlation" in ev.columns else np.full(len(ev), -1, np.int64))
    parent_all = ev["parent"].to_numpy(dtype=np.int64)
    tid_all = ev["tid"].to_numpy(dtype=np.int64)
    is_rt = ev["cat"].isin(_RUNTIME_CATS).to_numpy() & (stream < 0)
    if drop is not None:
        is_loader &= ~drop
    copy_label, sync_label = _flags(labels, _COPY_API), _flags(labels, _SYNC_API)
    launch_label = _flags(labels, _LAUNCH_API)
    graph_label = _flags(labels, _GRAPH_API)
    host_gaps: list[_HostGaps] = []

    gaps: dict[str, float] = dict.fromkeys(GAP_CAUSES, 0.0)
    gap_counts: dict[str, int] = dict.fromkeys(GAP_CAUSES, 0)
    syncs: Counter[str] = Counter()
    totals = dict(wall=0.0, busy=0.0, compute=0.0, comm=0.0, both=0.0, mem=0.0,
                  sync_blocked=0.0, loader=0.0, copy_calls=0.0)
    loader_names: set[str] = set()
    dev_parts, rt_parts = [], []
    n_inner = 0
    launches = graphs = 0
    for rank, win in windows.groupby("rank", sort=True):
        rm = ranks == rank
        dev = dev_all[dev_all["rank"] == rank]
        rt_idx = np.flatnonzero(rm & is_rt)
        rcode = np.maximum(codes[rt_idx], 0)
        r_ts, r_end = ts_all[rt_idx], end_all[rt_idx]
        r_corr, r_par = corr_all[rt_idx], parent_all[rt_idx]
        # classify runtime calls: copies by the direction of the copy they launched
        mem = dev[(dev["kernel_type"] == "MEMORY").to_numpy()]
        mem_dir = dict(zip(mem["correlation"].tolist(), mem["name"].tolist(), strict=True))
        copy_name = np.full(len(rt_idx), "", dtype=object)
        cidx = np.flatnonzero(copy_label[rcode])
        copy_name[cidx] = [mem_dir.get(c, "") for c in r_corr[cidx].tolist()]
        is_htod = np.zeros(len(rt_idx), dtype=bool)
        is_dtoh = np.zeros(len(rt_idx), dtype=bool)
        is_htod[cidx] = [str(n).startswith("Memcpy HtoD") for n in copy_name[cidx]]
        is_dtoh[cidx] = [str(n).startswith("Memcpy DtoH") for n in copy_name[cidx]]
        is_sync_api = sync_label[rcode]
        htod_parents = np.unique(r_par[is_htod & (r_par >= 0)])
        copy_sync = is_sync_api & np.isin(r_par, htod_parents)
        is_sync = (is_sync_api & ~copy_sync) | is_dtoh
        is_copy = is_htod | copy_sync
        corr_order = np.argsort(r_corr, kind="stable")
        sorted_corr = r_corr[corr_order]
        # loader phases on the loop's thread
        lmask = rm & (stream < 0) & is_loader
        loader_names |= set(labels[codes[lmask]].tolist())
        lu = union_intervals(ts_all[lmask], end_all[lmask])
        sts, sen = r_ts[is_sync], r_end[is_sync]
        su = union_intervals(sts, sen)
        snames = np.where(is_dtoh, "device-to-host copy", labels[rcode])[is_sync]
        spar = r_par[is_sync]
        cu = union_intervals(r_ts[is_copy], r_end[is_copy])

        dts, dend = dev["ts"].to_numpy(), dev["end"].to_numpy()  # sorted by ts
        longest = float((dend - dts).max()) if len(dts) else 0.0
        kt = dev["kernel_type"].to_numpy()
        comp_m = kt == "COMPUTATION"
        comm_m = kt == "COMMUNICATION"
        xfer = np.zeros(len(dev), dtype=bool)
        mem_rows = np.flatnonzero(kt == "MEMORY")
        xfer[mem_rows] = [_is_transfer(n) for n in dev["name"].to_numpy()[mem_rows]]
        dcorr = dev["correlation"].to_numpy()
        in_any = np.zeros(len(dev), dtype=bool)
        rt_in = np.zeros(len(rt_idx), dtype=bool)
        host_s: list[np.ndarray] = []
        host_e: list[np.ndarray] = []
        host_l: list[np.ndarray] = []
        for lo, hi in zip(win["ts"].astype(float).tolist(), win["end"].astype(float).tolist(),
                          strict=True):
            totals["wall"] += hi - lo
            a, b = np.searchsorted(dts, [lo, hi])
            in_any[a:b] = True
            ra, rb = np.searchsorted(r_ts, [lo, hi]) if _is_sorted(r_ts) else (0, 0)
            if _is_sorted(r_ts):
                rt_in[ra:rb] = True
            else:
                rt_in |= (r_ts >= lo) & (r_ts < hi)
            w0 = int(np.searchsorted(dts, lo - longest))
            wts, wend = dts[w0:b], dend[w0:b]
            bu = _clip_union(wts, wend, lo, hi)
            totals["busy"] += _length(bu)
            comp = _clip_union(wts[comp_m[w0:b]], wend[comp_m[w0:b]], lo, hi)
            comm = _clip_union(wts[comm_m[w0:b]], wend[comm_m[w0:b]], lo, hi)
            totals["compute"] += _length(comp)
            totals["comm"] += _length(comm)
            if len(comm[0]):
                totals["both"] += float(_overlap(comp[0], comp[1], comm[0], comm[1]).sum())
            xu = _clip_union(wts[xfer[w0:b]], wend[xfer[w0:b]], lo, hi)
            # transfer time not hidden behind compute kernels (on other streams)
            hidden = float(_overlap(comp[0], comp[1], xu[0], xu[1]).sum()) if len(xu[0]) \
                else 0.0
            totals["mem"] += _length(xu) - hidden
            edge = (np.array([lo]), np.array([hi]))
            totals["loader"] += float(_overlap(lu[0], lu[1], *edge)[0])
            totals["sync_blocked"] += float(_overlap(su[0], su[1], *edge)[0])
            totals["copy_calls"] += float(_overlap(cu[0], cu[1], *edge)[0])
            # the gaps of this window
            gs = np.concatenate(([lo], bu[1]))
            ge = np.concatenate((bu[0], [hi]))
            keep = ge > gs
            gs, ge = gs[keep], ge[keep]
            if not len(gs):
                continue
            nxt = np.searchsorted(dts, ge, side="left")
            has_next = nxt < len(dts)
            nxt_corr = np.where(has_next, dcorr[np.minimum(nxt, max(len(dts) - 1, 0))], -1)
            pos = np.searchsorted(sorted_corr, nxt_corr, side="right") - 1
            posc = np.maximum(pos, 0)
            found = (pos >= 0) & (nxt_corr >= 0) & (
                sorted_corr[posc] == nxt_corr if len(sorted_corr) else False)
            src = corr_order[posc] if len(corr_order) else posc
            lts = np.where(found, r_ts[src] if len(r_ts) else 0.0, np.nan)
            per_kernel = found & (launch_label[rcode[src]] if len(rcode) else False)
            waited = found & (np.nan_to_num(lts, nan=np.inf) <= gs)
            half = np.maximum(0.5 * (ge - gs), 1e-9)
            inp = _overlap(lu[0], lu[1], gs, ge) >= half
            cpy = _overlap(cu[0], cu[1], gs, ge) >= half
            # a sync inside the window (device work before and after it) was running when
            # the GPU went idle: the host was waiting for the device to drain
            inner = (np.searchsorted(dts, sts, side="left") > a) & (
                np.searchsorted(dts, sen, side="right") < b) & (sts >= lo) & (sts < hi)
            wu = union_intervals(sts[inner], sen[inner])
            syn = _overlap(wu[0], wu[1], gs, gs + 1e-3) > 0
            # one sync point per op (``.cpu()`` = a DtoH copy + a stream sync in one op)
            sp = spar[inner]
            n_inner += len(set(sp[sp >= 0].tolist())) + int((sp < 0).sum())
            for n in snames[inner]:
                syncs[str(n)] += 1
            quick = (ge - gs) <= LAUNCH_GAP_US
            cause = np.select([waited, inp, cpy, syn, per_kernel & quick],
                              ["kernel_wait", "input", "copy", "sync", "launch"], "host")
            for c in GAP_CAUSES:
                m = cause == c
                gaps[c] += float((ge[m] - gs[m]).sum())
                gap_counts[c] += int(m.sum())
            hl = (cause == "host") | (cause == "launch")
            host_s.append(gs[hl])
            host_e.append(ge[hl])
            host_l.append(cause[hl] == "launch")
        if host_s:
            hs, he = np.concatenate(host_s), np.concatenate(host_e)
            order = np.argsort(hs, kind="stable")
            # the threads that drive the device: the steps' thread and every thread that
            # launched device work (autograd's backward thread); not helpers such as the
            # pin-memory thread, which run beside the loop
            ds = np.sort(dcorr)
            at = np.minimum(np.searchsorted(ds, r_corr), max(len(ds) - 1, 0))
            launched = (r_corr >= 0) & (ds[at] == r_corr) if len(ds) else r_corr < -1
            drivers = np.unique(np.concatenate((win["tid"].to_numpy(dtype=np.int64),
                                                pd.unique(tid_all[rt_idx[launched]]))))
            host_gaps.append((rank, hs[order], he[order], np.concatenate(host_l)[order],
                              drivers,
                              np.unique(win["tid"].to_numpy(dtype=np.int64))))
        launches += int((launch_label[rcode] & rt_in).sum())
        graphs += int((graph_label[rcode] & rt_in).sum())
        dev_parts.append(dev[in_any])
        rt_parts.append(pd.DataFrame({
            "name": labels[rcode[rt_in]].astype(str), "ts": r_ts[rt_in], "end": r_end[rt_in],
            "correlation": r_corr[rt_in], "parent": r_par[rt_in], "is_sync": is_sync[rt_in],
            "is_copy": is_copy[rt_in], "copy_name": copy_name[rt_in]}))

    return GpuFacts(
        _trace=trace, _host_gaps=host_gaps,
        kernel_launches=launches, graph_launches=graphs,
        has_steps=has_steps, n_windows=len(windows), wall=totals["wall"],
        busy=totals["busy"], compute=totals["compute"], communication=totals["comm"],
        comm_overlapped=totals["both"], memory_htod_dtoh=totals["mem"], gaps=gaps,
        gap_counts=gap_counts, device=pd.concat(dev_parts, ignore_index=True),
        runtime=pd.concat(rt_parts, ignore_index=True), syncs=syncs,
        sync_blocked=totals["sync_blocked"], inner_syncs=n_inner, loader_time=totals["loader"],
        loader_names=sorted(loader_names), copy_calls_time=totals["copy_calls"])


def _host_self(trace: Trace, host_gaps: list[_HostGaps], launch: bool) -> pd.Series:
    ev = trace.events
    drop = not_work(trace)
    stream = ev["stream"].to_numpy(dtype=np.int64, na_value=-1)
    cpu_row = (stream < 0) if drop is None else ((stream < 0) & ~drop)
    ranks = trace_ranks(trace)
    ts_all = ev["ts"].to_numpy(dtype=np.float64)
    end_all = ev["end"].to_numpy(dtype=np.float64)
    tid_all = ev["tid"].to_numpy(dtype=np.int64)
    depth_all = ev["depth"].to_numpy(dtype=np.int64)
    own = np.zeros(len(ev))  # each CPU slice's own time inside the `host` gaps, µs
    for rank, hs, he, is_launch, drivers, step_tids in host_gaps:
        if not launch:
            hs, he = hs[~is_launch], he[~is_launch]
        rows = np.flatnonzero((ranks == rank) & cpu_row & np.isin(tid_all, drivers))
        own[rows] = _overlap(hs, he, ts_all[rows], end_all[rows])
        # while another driving thread works (autograd's backward), the steps' thread
        # only waits for it: its slices count only outside that work
        on_step = np.isin(tid_all[rows], step_tids)
        top = rows[(depth_all[rows] == 0) & ~on_step]
        if len(top):
            os_, oe = _intersect((hs, he), union_intervals(ts_all[top], end_all[top]))
            main = rows[on_step]
            own[main] -= _overlap(os_, oe, ts_all[main], end_all[main])
    labels, codes = _labels_codes(ev["name"])
    return _self_by_name(own, ev["parent"].to_numpy(dtype=np.int64), codes, labels, cpu_row)


def _self_by_name(own: np.ndarray, parent: np.ndarray, codes: np.ndarray,
                  labels: np.ndarray, rows: np.ndarray) -> pd.Series:
    """Self time by name from each slice's ``own`` time: own minus its children's (slices
    nest properly on a thread, ``parent`` is the enclosing row); ``ProfilerStep#N`` merged
    as ``ProfilerStep#*``. Largest first, zeros dropped."""
    if not own.any():
        return pd.Series(dtype="float64")
    ok = rows & (parent >= 0)
    child = np.bincount(parent[ok], weights=own[ok], minlength=len(own))[:len(own)]
    selft = np.where(rows, np.maximum(own - child, 0.0), 0.0)
    keep = rows & (codes >= 0) & (selft > 0)
    by_code = np.bincount(codes[keep], weights=selft[keep], minlength=len(labels))
    names = pd.Index(labels).str.replace(r"^ProfilerStep#\d+$", "ProfilerStep#*", regex=True)
    out = pd.Series(by_code, index=names).groupby(level=0, sort=False).sum()
    return out[out > 0].sort_values(ascending=False)


def _is_sorted(a: np.ndarray) -> bool:
    return bool(len(a) < 2 or np.all(a[1:] >= a[:-1]))
