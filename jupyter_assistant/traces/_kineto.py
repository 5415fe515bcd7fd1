"""PyTorch profiler (Kineto) specifics on top of the Chrome reader.

A Kineto trace is a Trace Event Format object whose header carries ``schemaVersion``,
``deviceProperties`` (one dict per GPU) and ``distributedInfo`` (``rank``, ``world_size``,
``backend``, ...). Host activity is ``cpu_op``, ``user_annotation`` (incl.
``ProfilerStep#N``), ``cuda_runtime``/``cuda_driver`` (``Runtime`` in old traces); device
activity is ``kernel``, ``gpu_memcpy``, ``gpu_memset``, ``gpu_user_annotation`` (``Kernel``,
``Memcpy``, ``Memset`` in old traces; ``mtia_ccp_events`` on Meta MTIA) on rows whose
``pid`` is the device and ``tid`` the stream. A runtime launch and the kernel it launched
share ``args.correlation`` and an ``ac2g`` flow (``async_cpu_to_gpu``/``async_gpu`` in older
traces). ``args["External id"]`` ties a kernel to the ``cpu_op`` that issued it.
"""

from __future__ import annotations

import re
from typing import Any

import numpy as np
import pandas as pd

from ._rows import rows_in

__all__ = ["DEVICE_CATS", "KINETO_CATS", "device_threads", "is_kineto", "kineto_columns",
           "kineto_metadata"]

#: Categories of device-side activity (a row with one of them is on a device stream).
DEVICE_CATS = frozenset({"kernel", "gpu_memcpy", "gpu_memset", "gpu_user_annotation", "Kernel",
                         "Memcpy", "Memset", "mtia_ccp_events"})
#: Categories that only PyTorch's profiler writes.
KINETO_CATS = DEVICE_CATS | {"cpu_op", "cuda_runtime", "cuda_driver", "Runtime",
                             "python_function", "mtia_runtime", "cuda_profiler_range"}
_HEADER_KEYS = ("schemaVersion", "deviceProperties", "distributedInfo")
_DEVICE_LABEL = re.compile(r"^\s*(GPU|MTIA|HPU|XPU)\b")


def is_kineto(header: dict[str, Any], categories: list[str]) -> bool:
    """True for a PyTorch profiler trace (header keys, or Kineto-only categories)."""
    return any(k in header for k in _HEADER_KEYS) or bool(KINETO_CATS.intersection(categories))


def device_threads(events: pd.DataFrame, process_labels: dict[int, str],
                   process_names: dict[int, str]) -> set[tuple[int, int]]:
    """(pid, tid) of device streams: rows with a device category, or in a process labelled
    ``GPU n``/``MTIA n``."""
    dev = events["cat"].isin(DEVICE_CATS).to_numpy()
    pids = {p for p, lab in {**process_names, **process_labels}.items()
            if _DEVICE_LABEL.match(lab)}
    if pids:
        dev = dev | events["pid"].isin(pids).to_numpy()
    pairs = events.loc[dev, ["pid", "tid"]].drop_duplicates()
    return set(zip(pairs["pid"].tolist(), pairs["tid"].tolist(), strict=True))


def kineto_columns(events: pd.DataFrame, devices: set[tuple[int, int]], rank: int,
                   arg_columns: dict[str, np.ndarray]) -> None:
    """Add ``correlation``, ``external_id``, ``stream`` and ``rank`` (int64, -1 when absent;
    ``stream`` is -1 on host rows and ``args.stream`` or the ``tid`` on device rows).

    ``arg_columns`` holds the integer ``args`` of every row of ``events`` (in its order):
    ``correlation``, ``external_id`` and ``stream`` (see
    :data:`~jupyter_assistant.traces._chrome_events.ARG_INT_KEYS`).
    """
    events["correlation"] = arg_columns["correlation"]
    events["external_id"] = arg_columns["external_id"]
    if devices:
        on_dev = rows_in([events["pid"].to_numpy(), events["tid"].to_numpy()], devices)
        stream_arg = arg_columns["stream"]
        stream = np.where(stream_arg >= 0, stream_arg, events["tid"].to_numpy())
        events["stream"] = np.where(on_dev, stream, -1).astype(np.int64)
    else:
        events["stream"] = np.full(len(events), -1, dtype=np.int64)
    events["rank"] = np.full(len(events), rank, dtype=np.int64)


_STEP = re.compile(r"^ProfilerStep#(\d{1,18})$")  # (more digits: not a step number)


def kineto_metadata(header: dict[str, Any], names: list[str], warn: Any) -> dict[str, Any]:
    """``rank`` (int or None), ``ranks``, ``distributed_info``, ``device_properties`` and
    ``profiler_steps`` (sorted ``N`` of ``ProfilerStep#N``).

    Rank 0 is assumed when there is no valid ``distributedInfo.rank`` (as HTA does); a
    loader warning says so only when the header has a ``distributedInfo`` (a distributed
    job's trace that lost its rank): a single-process trace (``torch.profiler`` outside
    ``torch.distributed``) has none, and rank 0 is simply what it is."""
    info = header.get("distributedInfo")
    info = info if isinstance(info, dict) else None
    rank = info.get("rank") if info else None
    if isinstance(rank, bool) or not isinstance(rank, int):
        rank = None
        if info is not None:  # a distributed job's trace without its rank
            warn("no distributedInfo.rank in the trace; rank 0 assumed (as HTA does)")
    elif not -(1 << 63) <= rank < (1 << 63):  # the rank column is int64
        warn(f"distributedInfo.rank {rank} is out of range; rank 0 assumed (as HTA does "
             "when there is none)")
        rank = None
    devices = header.get("deviceProperties")
    steps = sorted(int(m.group(1)) for n in names if (m := _STEP.match(n)))
    return {
        "rank": rank,
        "ranks": [rank if rank is not None else 0],
        "distributed_info": info,
        "device_properties": devices if isinstance(devices, list) else [],
        "profiler_steps": steps,
    }
