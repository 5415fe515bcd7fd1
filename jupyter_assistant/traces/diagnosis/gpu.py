"""Rules for PyTorch profiler (Kineto) traces with device activity: what bounds the step.

Every share is a fraction of the profiled step time (the steady-state ``ProfilerStep#N``
windows, outlier steps left out: see :mod:`.steps`; the whole CPU activity when there are
no steps) computed by
:mod:`~jupyter_assistant.traces.diagnosis._gpu_facts`, whose GPU-idle gaps each have one
cause, so the shares never double count. Thresholds:

=====================  =====================================================  ==========
rule                   finding when (medium / high)                          source
=====================  =====================================================  ==========
input_bound            GPU idle while the loop is in ``DataLoader.__next__``  PyTorch
                       >= 10% / 25% of step time                              tuning guide
host_to_device_copy    copy stalls + HtoD/DtoH device time not overlapped    CUDA best
                       by compute >= 10% / 25%; high only when the copies    practices
                       are pageable or small (< 1 MiB median), the causes
                       the guide names
host_sync              sync points inside the step >= 4 / 10 per step, or     PyTorch
                       GPU idle behind them >= 10% / 25%; low when frequent   tuning guide
                       but the GPU idles < 2% behind them. Share: the GPU
                       idle from the moment it drains during a sync until
                       the next device work starts (the host's time blocked
                       in the syncs lies mostly inside it)
launch_overhead        GPU idle in short waits (<= 100 µs) for per-kernel    CUDA graphs
                       launches >= 15% / 30%, >= 10 such waits per step and  docs, CUDA
                       a median kernel shorter than the median wait          best
                       (kernels finish faster than the host issues them);    practices
                       at most low when the GPU is >= 60% busy with compute
host_bound             GPU idle waiting for the host with none of the         HTA idle
                       causes above ("host wait" gaps: the next kernel        time
                       was launched after the GPU went idle; no loader,       breakdown,
                       copy or sync; short per-kernel launch waits count      tuning
                       here when launch_overhead is not reported)             guide
                       >= 25% / 50% of step time (at 50% the host at
                       least doubles the step); only with ProfilerStep#N
                       windows (without them the window holds start-up)
gpu_compute_bound      compute kernels busy >= 50% of step time: low          HTA temporal
                       (healthy); medium when fp32 SIMT GEMMs take >= 25% of  breakdown,
                       compute time (tensor cores idle)                       tuning guide
communication_bound    NCCL time not overlapped by compute >= 10% / 25%       HTA comm/comp
                                                                              overlap
=====================  =====================================================  ==========

The 2 synchronisations per step that step-timing code (``torch.cuda.synchronize()``
around each step) adds sit at the step's edges and are not counted as inside the step.
"""

from __future__ import annotations

import re

import numpy as np

from .._model import Trace
from .._text import format_count, format_us, short_name
from ._finding import SOURCES, Finding, grade
from ._gpu_facts import GpuFacts, gpu_facts

__all__ = ["gpu_findings", "gpu_headline"]

_SIMT_GEMM = re.compile(r"simt|sgemm|gemm_f32f32_f32f32_f32", re.IGNORECASE)
_TENSOR_OP = re.compile(r"tensorop|s1688|s16816|tf32|hmma|wmma|bf16|f16", re.IGNORECASE)
_SMALL_COPY_BYTES = 1 << 20


def _pct(x: float) -> str:
    return f"{100 * x:.0f}%" if x >= 0.01 else f"{100 * x:.1f}%"


def _per(f: GpuFacts, us: float) -> str:
    what = "step" if f.has_steps else "window"
    return f"{format_us(us / max(f.n_windows, 1))}/{what}"


def _step_word(f: GpuFacts) -> str:
    return (f"{format_us(f.per_window)} step" if f.has_steps
            else f"{format_us(f.wall)} profiled window")


def _input_bound(f: GpuFacts) -> Finding | None:
    idle = f.gaps.get("input", 0.0)
    share = idle / f.wall
    sev = grade(share, 0.25, 0.10)
    if sev is None:
        return None
    names = ", ".join(f"`{short_name(n, 70)}`" for n in f.loader_names[:2]) or "data loading"
    single = any("SingleProcess" in n for n in f.loader_names)
    return Finding(
        "input_bound", sev, share,
        f"The training thread spends {_per(f, f.loader_time)} of a {_step_word(f)} in "
        f"{names}; the GPU is idle for {format_us(idle / f.n_windows)} of that per step "
        f"({_pct(share)} of step time) and busy only {_pct(f.busy / f.wall)} overall"
        + (" (single-process loading: num_workers=0)." if single else "."),
        "Load and augment in worker processes: `DataLoader(..., num_workers=N>0 (e.g. "
        "4-8 per GPU), pin_memory=True, persistent_workers=True, prefetch_factor=2)`; move "
        "per-sample Python/numpy work into the Dataset/collate_fn run by the workers, or "
        "vectorise it; then copy with `.to(device, non_blocking=True)`.",
        SOURCES["pytorch_tuning"] + ": 'Enable asynchronous data loading and augmentation'")


def _copies(f: GpuFacts) -> Finding | None:
    dev = f.device[(f.device["kernel_type"] == "MEMORY").to_numpy()]
    names = dev["name"].to_numpy().astype(str)
    xfer = np.char.startswith(names, "Memcpy HtoD") | np.char.startswith(names, "Memcpy DtoH")
    if not xfer.any():
        return None
    stall = f.gaps.get("copy", 0.0)
    share = min((stall + f.memory_htod_dtoh) / f.wall, 1.0)
    cp = dev[xfer]
    n = len(cp)
    pageable = float(np.char.find(names[xfer], "Pageable").__ge__(0).mean())
    nbytes = cp["bytes"].to_numpy()
    med_bytes = float(np.nanmedian(nbytes)) if np.isfinite(nbytes).any() else float("nan")
    dur = cp["dur"].to_numpy()
    gbps = (np.nansum(nbytes) / dur.sum() / 1e3) if dur.sum() > 0 and np.isfinite(
        nbytes).any() else float("nan")
    small = bool(np.isfinite(med_bytes) and med_bytes < _SMALL_COPY_BYTES)
    inefficient = pageable >= 0.5 or small
    sev = grade(share, 0.25, 0.10)
    if sev is None:
        return None
    if sev == "high" and not inefficient:
        sev = "medium"  # large pinned copies near bandwidth: overlap them, nothing to fix
    kinds = cp.groupby("name", observed=True).size().sort_values(ascending=False)
    what = "; ".join(f"{format_count(v)}x `{k}`" for k, v in kinds.head(2).items())
    ev = (f"{format_count(n / max(f.n_windows, 1))} host<->device copies per step ({what}), "
          f"median {format_us(float(np.median(dur)))}"
          + (f" and {med_bytes / 2**20:.2f} MiB" if np.isfinite(med_bytes) else "")
          + (f", {gbps:.1f} GB/s on the device" if np.isfinite(gbps) else "")
          + f"; device copy time not hidden behind compute {_per(f, f.memory_htod_dtoh)}, "
          f"and the GPU waits "
          f"{_per(f, stall)} while the host is inside the copy calls (which take "
          f"{_per(f, f.copy_calls_time)} of host time): {_pct(share)} of a "
          f"{_step_word(f)}.")
    if pageable >= 0.5:
        ev += (f" {_pct(pageable)} of the copies are from pageable memory, which the "
               "driver stages through a bounce buffer synchronously.")
    fix = ("Batch the per-sample copies into one copy per step from pinned memory: "
           "`torch.stack(samples).pin_memory().to(device, non_blocking=True)` (or "
           "`DataLoader(pin_memory=True)`), and keep data that does not change on the GPU."
           if inefficient else
           "The copies are already large and pinned; overlap them with compute: issue "
           "`.to(device, non_blocking=True)` for the next batch on a side "
           "`torch.cuda.Stream` (prefetch) while this step runs, or keep the data "
           "resident on the GPU.")
    return Finding("host_to_device_copy", sev, share, ev, fix,
                   SOURCES["cuda_bp"] + ": pinned memory, batching small transfers, "
                   "overlapping transfers with computation")


def _host_sync(f: GpuFacts) -> Finding | None:
    per_step = f.inner_syncs / max(f.n_windows, 1)
    idle = f.gaps.get("sync", 0.0)
    share = idle / f.wall
    by_share = grade(share, 0.25, 0.10)
    by_count = "high" if per_step >= 10 else ("medium" if per_step >= 4 else None)
    order = {"high": 0, "medium": 1, None: 2}
    sev = min((by_share, by_count), key=lambda s: order[s])
    if sev is None:
        return None
    if by_share is None and share < 0.02:
        sev = "low"  # frequent, but the GPU stays busy through them (it bounds the step)
    calls = ", ".join(f"`{k}` x{format_count(v)}" for k, v in f.syncs.most_common(3))
    ev = (f"{format_count(per_step)} host-device synchronisation points inside each step "
          f"({calls}); the host blocks in them {_per(f, f.sync_blocked)} "
          f"({_pct(f.sync_blocked / f.wall)} of the step), and the GPU then sits idle "
          f"{_per(f, idle)} ({_pct(share)} of a {_step_word(f)}) until new work is queued, "
          "so the CPU never runs ahead of the GPU.")
    if f.busy / f.wall < 0.5 and f.inner_syncs:
        # host-bound: little is queued when the host syncs, so each wait is short
        ev += (f" Each sync waits only {format_us(f.sync_blocked / f.inner_syncs)} here "
               f"because the GPU has little queued work (busy {_pct(f.busy / f.wall)}) and "
               "idles for other reasons most of the step; the syncs' cost grows with the "
               "GPU work queued before them.")
    return Finding(
        "host_sync", sev, share, ev,
        "Remove syncs from the step: keep metrics on the GPU and call `.item()`/`.cpu()`/"
        "`print` on them every N steps (or accumulate with `torch.add(..., out=)`), drop "
        "`torch.cuda.synchronize()` outside timing code, avoid data-dependent shapes "
        "(`nonzero`, boolean-mask indexing) in the hot loop; "
        "`torch.cuda.set_sync_debug_mode('warn')` points at each one.",
        SOURCES["pytorch_tuning"] + ": 'Avoid unnecessary CPU-GPU synchronization'")


def _launch(f: GpuFacts) -> Finding | None:
    idle = f.gaps.get("launch", 0.0)
    waits = f.gap_counts.get("launch", 0)
    share = idle / f.wall
    per_step = waits / max(f.n_windows, 1)
    kernels = f.device[f.device["cat"] == "kernel"]
    if not len(kernels) or not waits:
        return None
    med_kernel = float(kernels["dur"].median())
    med_wait = idle / waits
    sev = grade(share, 0.30, 0.15)
    if sev is None or per_step < 10 or med_kernel >= med_wait:
        return None
    if f.compute / f.wall >= 0.6:
        sev = "low"
    rt = f.runtime
    launches = rt[rt["name"].str.contains("Launch", regex=False)]
    med_launch = float((launches["end"] - launches["ts"]).median()) if len(launches) else 0.0
    return Finding(
        "launch_overhead", sev, share,
        f"{format_count(len(kernels) / max(f.n_windows, 1))} kernels per step with median "
        f"duration {format_us(med_kernel)}; the host spends {format_us(med_launch)} per "
        f"launch call plus the op's dispatch, so the GPU waits for the next kernel "
        f"{format_count(per_step)} times per step (median wait {format_us(med_wait)}), "
        f"{_pct(share)} of a {_step_word(f)}; the GPU is busy {_pct(f.busy / f.wall)}.",
        "Cut the number of launches: `torch.compile(model, mode=\"reduce-overhead\")` (fuses "
        "ops and replays them as a CUDA graph) or capture the step with "
        "`torch.cuda.graphs`; use fused ops (fused optimizers `foreach=True`/"
        "`fused=True`); raise the batch size so each kernel does more work.",
        SOURCES["cuda_graphs"])


def _host_label(name: str) -> str:
    if name == "ProfilerStep#*":
        return "Python in the step outside any recorded op (`ProfilerStep#*` self time)"
    return f"`{short_name(name, 60)}`"


def _host_bound(f: GpuFacts) -> Finding | None:
    if not f.has_steps:
        return None  # the window is the whole recording: start-up, warm-up, teardown
    idle = f.gaps.get("host", 0.0)
    n = f.gap_counts.get("host", 0)
    # short waits for per-kernel launches that launch_overhead does not report (too few,
    # or kernels longer than the waits) are host time like any other
    folded = _launch(f) is None and f.gap_counts.get("launch", 0) > 0
    if folded:
        idle += f.gaps["launch"]
        n += f.gap_counts["launch"]
    share = idle / f.wall
    sev = grade(share, 0.50, 0.25)
    if sev is None:
        return None
    host_self = f.host_launch_self if folded else f.host_self
    top = host_self.head(3)
    named = float(host_self.sum())
    where = "; ".join(f"{_host_label(str(k))} {_per(f, float(v))}"
                      + (f" ({_pct(float(v) / named)})" if named > 0 else "")
                      for k, v in top.items())
    per_step = max(f.n_windows, 1)
    ev = (f"The GPU is idle {_per(f, idle)} ({_pct(share)} of a {_step_word(f)}) in "
          f"{format_count(n / per_step)} waits per step (mean {format_us(idle / max(n, 1))}"
          + (f", including {format_count(f.gap_counts['launch'] / per_step)} short waits "
             "for a kernel launch" if folded else "")
          + ") for work the host had not issued yet, and no data loading, copy, sync or "
          f"launch-overhead pattern explains them; the GPU is busy {_pct(f.busy / f.wall)}. "
          + (f"Host self time during those waits, on the threads that launch GPU work: "
             f"{where}." if len(top) else "No CPU slice covers those waits (time outside "
             "any recorded op).")
          + (f" The step already replays CUDA graphs ({format_count(f.graph_launches / per_step)}"
             " `cudaGraphLaunch` per step)." if f.graph_launches else ""))
    fixes = ["The host, not the GPU, sets the pace: give each host call more GPU work (a "
             "larger batch, several micro-batches per step)"]
    if f.graph_launches:
        fixes.append("bring what still runs in Python around the graph into it: compile the "
                     "whole train step (loss, backward, `optimizer.step` with "
                     "`capturable=True`/`fused=True`) and remove graph breaks "
                     "(`TORCH_LOGS=graph_breaks`)")
    else:
        fixes.append("cut per-op host cost with `torch.compile(model, mode=\"reduce-overhead\")`"
                     " (fused kernels replayed as a CUDA graph) or `torch.cuda.graphs`")
    if any(str(k).startswith("Optimizer.step#") for k in top.index):
        fixes.append("use a fused optimizer if it is not one yet (`fused=True`, or "
                     "`foreach=True`)")
    fixes.append("move Python work (metrics, logging, per-sample loops, tensor creation) out "
                 "of the step or into DataLoader workers; see where the host time goes with "
                 "`py-spy record --native -- python train.py` or "
                 "`torch.profiler.profile(with_stack=True)`")
    return Finding(
        "host_bound", sev, share, ev, "; ".join(fixes) + ".",
        SOURCES["hta"] + " (idle time breakdown: host wait); " + SOURCES["pytorch_tuning"])


def _compute(f: GpuFacts) -> Finding | None:
    share = f.compute / f.wall
    if share < 0.5:
        return None
    comp = f.device[f.device["kernel_type"] == "COMPUTATION"]
    total = float(comp["dur"].sum()) or 1.0
    per = comp.groupby("name", observed=True)["dur"].sum().sort_values(ascending=False)
    names = per.index.to_numpy().astype(str)
    simt = np.asarray([bool(_SIMT_GEMM.search(n)) and not _TENSOR_OP.search(n)
                       for n in names], dtype=bool)
    simt_share = float(per.to_numpy()[simt].sum()) / total if len(per) else 0.0
    top = "; ".join(f"`{short_name(n, 60)}` {_pct(v / total)}"
                    for n, v in per.head(3).items())
    ev = (f"Compute kernels keep the GPU busy {_pct(share)} of a {_step_word(f)} "
          f"(all device work {_pct(f.busy / f.wall)}); top kernels by time: {top}.")
    if simt_share >= 0.25:
        ev += (f" fp32 SIMT GEMMs (no tensor cores) take {_pct(simt_share)} of compute "
               "time.")
        return Finding(
            "gpu_compute_bound", "medium", share, ev,
            "The GPU is the bottleneck and its GEMMs run on CUDA cores: on Ampere or newer "
            "enable TF32 (`torch.set_float32_matmul_precision('high')`), or train in "
            "mixed precision with `torch.autocast('cuda', dtype=torch.bfloat16)` "
            "(`float16` with a `GradScaler` on Volta/Turing) so GEMMs use tensor cores.",
            SOURCES["pytorch_tuning"] + " ('Use mixed precision and AMP'); " + SOURCES["hta"])
    return Finding(
        "gpu_compute_bound", "low", share, ev + " This is the healthy state: the GPU, not "
        "the host, bounds the step.",
        "Next levers are kernel efficiency: check the top kernels' achieved FLOP/s or "
        "bandwidth with Nsight Compute, use fused/flash attention "
        "(`F.scaled_dot_product_attention`), bf16/fp8 tensor-core paths, and larger "
        "per-kernel work; `torch.compile` can fuse the elementwise kernels.",
        SOURCES["hta"] + " (temporal breakdown); " + SOURCES["pytorch_tuning"])


def _communication(f: GpuFacts) -> Finding | None:
    if f.communication <= 0:
        return None
    exposed = max(f.communication - f.comm_overlapped, 0.0)
    share = exposed / f.wall
    sev = grade(share, 0.25, 0.10)
    if sev is None:
        return None
    comm = f.device[f.device["kernel_type"] == "COMMUNICATION"]
    per = comm.groupby("name", observed=True)["dur"].sum().sort_values(ascending=False)
    top = "; ".join(f"`{short_name(n, 60)}` {format_us(v)}" for n, v in per.head(2).items())
    overlap = f.comm_overlapped / f.communication
    return Finding(
        "communication_bound", sev, share,
        f"NCCL collectives run {_per(f, f.communication)}, only {_pct(overlap)} of it "
        f"overlapped by compute kernels; {_per(f, exposed)} is exposed "
        f"({_pct(share)} of a {_step_word(f)}). Largest: {top}.",
        "Overlap communication with computation: DDP `bucket_cap_mb` tuning and "
        "`gradient_as_bucket_view=True`, FSDP `forward_prefetch`/`backward_prefetch`, "
        "issue async collectives (`async_op=True`) early; reduce volume (bf16 gradient "
        "compression hooks) or the number of small collectives (bucket them).",
        SOURCES["hta"] + ": 'Communication computation overlap'")


def gpu_headline(f: GpuFacts, *, outliers: bool = False) -> str:
    """One line: the steps (the steady-state ones when ``outliers`` were left out) and how
    busy the GPU was in them."""
    what = (f"{format_count(f.n_windows)} {'steady-state ' if outliers else ''}profiler "
            f"step{'s' if f.n_windows != 1 else ''} of {format_us(f.per_window)} on average"
            + (" (outlier steps left out)" if outliers else "") if f.has_steps
            else f"a {format_us(f.wall)} profiled window (no ProfilerStep#N)")
    return (f"{what}; the GPU is busy {_pct(f.busy / f.wall)} of that time (compute "
            f"{_pct(f.compute / f.wall)}"
            + (f", communication {_pct(f.communication / f.wall)}" if f.communication else "")
            + ").")


def gpu_findings(trace: Trace, facts: GpuFacts | None = None) -> list[Finding]:
    """The GPU rules' findings for a Kineto trace with device activity (else ``[]``);
    ``facts`` are :func:`~._gpu_facts.gpu_facts` when already computed."""
    f = facts if facts is not None else gpu_facts(trace)
    if f is None or f.wall <= 0:
        return []
    out = []
    for rule in (_input_bound, _copies, _host_sync, _launch, _host_bound, _compute,
                 _communication):
        found = rule(f)
        if found is not None:
            out.append(found)
    return out
