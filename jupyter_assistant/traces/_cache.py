"""A Parquet cache of loaded traces, so a second ``load_trace`` of the same file is fast.

Each cached trace is a folder ``<cache dir>/<key>/`` holding ``events.parquet``,
``threads.parquet``, ``counters.parquet``, ``instants.parquet``, ``flows.parquet``,
``samples.parquet`` (when the trace has samples) and ``meta.json`` (the metadata plus the
column dtypes). The cache dir is ``$JUPYTER_ASSISTANT_CACHE_DIR`` or
``platformdirs.user_cache_dir("jupyter-assistant")/traces``. ``load_trace`` caches files of
1 MiB or more by default; ``JUPYTER_ASSISTANT_TRACE_CACHE=0`` turns that off, and
:func:`clear_cache` empties the folder.

The key hashes the absolute path, size and ``st_mtime_ns`` of every file read, the forced
format, :data:`CACHE_VERSION` and a fingerprint of the reader modules (their sizes and
modification times), so an edited file or an upgraded reader never serves a stale trace.
Object columns holding dicts or lists (``args``) are stored as JSON text. The cache is
best-effort: a failure to read or write it is logged and the trace is loaded normally.
"""

from __future__ import annotations

import functools
import hashlib
import logging
import os
import shutil
import uuid
from pathlib import Path
from typing import Any

import numpy as np
import orjson
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from ._model import Trace

__all__ = ["CACHE_VERSION", "cache_dir", "cache_key", "clear_cache", "read_cached",
           "write_cached"]

log = logging.getLogger(__name__)

#: Bump when the cached layout or a reader's output changes meaning.
CACHE_VERSION = 1
_TABLES = ("events", "threads", "counters", "instants", "flows", "samples")


def cache_dir() -> Path:
    """The cache folder (not created here)."""
    env = os.environ.get("JUPYTER_ASSISTANT_CACHE_DIR")
    if env:
        return Path(env)
    import platformdirs

    return Path(platformdirs.user_cache_dir("jupyter-assistant")) / "traces"


@functools.lru_cache(maxsize=1)
def _code_fingerprint() -> str:
    here = Path(__file__).resolve().parent
    parts = [f"{p.name}:{p.stat().st_size}:{p.stat().st_mtime_ns}"
             for p in sorted(here.glob("*.py"))]
    return hashlib.sha256("|".join(parts).encode()).hexdigest()[:16]


def cache_key(files: list[Path], fmt: str | None) -> str:
    """Hex key for a trace read from ``files`` (one file, or a folder's files)."""
    parts = [f"v{CACHE_VERSION}", _code_fingerprint(), str(fmt)]
    for f in files:
        st = f.stat()
        parts.append(f"{f.resolve()}|{st.st_size}|{st.st_mtime_ns}")
    return hashlib.sha256("\n".join(parts).encode()).hexdigest()[:40]


def _is_json_column(s: pd.Series) -> bool:
    if s.dtype != object:
        return False
    return any(isinstance(v, (dict, list, tuple)) for v in s.dropna().head(10_000))


def _to_table(df: pd.DataFrame) -> tuple[pa.Table, dict[str, Any]]:
    info: dict[str, Any] = {"dtypes": {c: str(t) for c, t in df.dtypes.items()}, "json": []}
    cols: dict[str, Any] = {}
    for c in df.columns:
        s = df[c]
        if _is_json_column(s):
            info["json"].append(c)
            cols[c] = pa.array([None if v is None else orjson.dumps(
                v, default=str, option=orjson.OPT_NON_STR_KEYS) for v in s.tolist()],
                type=pa.binary())
        elif s.dtype == object:
            cols[c] = pa.array([None if v is None else str(v) for v in s.tolist()],
                               type=pa.string())
        else:
            cols[c] = pa.Array.from_pandas(s)
    return pa.table(cols), info


def _from_table(table: pa.Table, info: dict[str, Any]) -> pd.DataFrame:
    data: dict[str, Any] = {}
    json_cols = set(info.get("json", []))
    for c in table.column_names:
        col = table.column(c)
        dtype = info["dtypes"].get(c, "object")
        if c in json_cols:
            out = np.full(len(col), None, dtype=object)
            valid = col.is_valid().to_numpy(zero_copy_only=False)
            if valid.any():  # one parse of all values, not one call per row
                values = col.filter(col.is_valid()).to_pylist()
                out[valid] = orjson.loads(b"[" + b",".join(values) + b"]")
            data[c] = out
        elif dtype == "object":
            data[c] = pd.Series(col.to_pylist(), dtype=object)
        else:
            s = col.to_pandas()
            data[c] = s if str(s.dtype) == dtype else s.astype(dtype)
    return pd.DataFrame(data, columns=table.column_names, copy=False)


def read_cached(key: str) -> Trace | None:
    """The cached trace for ``key``, or ``None`` (missing or unreadable)."""
    folder = cache_dir() / key
    meta_path = folder / "meta.json"
    if not meta_path.is_file():
        return None
    try:
        meta = orjson.loads(meta_path.read_bytes())
        frames: dict[str, pd.DataFrame | None] = {}
        for name in _TABLES:
            info = meta["tables"].get(name)
            frames[name] = (None if info is None else
                            _from_table(pq.read_table(folder / f"{name}.parquet"), info))
        metadata = meta["metadata"]
        metadata["cached"] = True
        return Trace(events=frames["events"], threads=frames["threads"],  # type: ignore[arg-type]
                     counters=frames["counters"], instants=frames["instants"],  # type: ignore[arg-type]
                     flows=frames["flows"], samples=frames["samples"],  # type: ignore[arg-type]
                     metadata=metadata)
    except Exception as exc:  # a damaged entry is reloaded from the source
        log.info("ignoring unreadable trace cache entry %s: %s", folder, exc)
        return None


def write_cached(key: str, trace: Trace) -> None:
    """Store ``trace`` under ``key`` (atomically; errors are logged, not raised)."""
    root = cache_dir()
    tmp = root / f".{key}.{uuid.uuid4().hex}.tmp"
    try:
        tmp.mkdir(parents=True)
        tables: dict[str, Any] = {}
        for name in _TABLES:
            df = getattr(trace, name)
            if df is None:
                continue
            table, info = _to_table(df)
            pq.write_table(table, tmp / f"{name}.parquet", compression="zstd")
            tables[name] = info
        meta = {"version": CACHE_VERSION, "tables": tables,
                "metadata": {k: v for k, v in trace.metadata.items() if k != "cached"}}
        (tmp / "meta.json").write_bytes(orjson.dumps(
            meta, default=str, option=orjson.OPT_SERIALIZE_NUMPY | orjson.OPT_NON_STR_KEYS))
        target = root / key
        if target.exists():
            shutil.rmtree(target, ignore_errors=True)
        os.replace(tmp, target)
    except Exception as exc:
        log.info("could not write the trace cache %s: %s", root / key, exc)
    finally:
        if tmp.exists():
            shutil.rmtree(tmp, ignore_errors=True)


def clear_cache() -> int:
    """Delete every cached trace; returns how many entries were removed."""
    root = cache_dir()
    if not root.is_dir():
        return 0
    n = 0
    for p in root.iterdir():
        if p.is_dir():
            shutil.rmtree(p, ignore_errors=True)
            n += 1
    return n
