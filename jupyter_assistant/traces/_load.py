"""``load_trace``: read a trace from a path, folder, bytes or file object; detect its format."""

from __future__ import annotations

import importlib
import io
import os
import re
import traceback
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import IO, Any

import numpy as np
import pandas as pd

from ..exceptions import TraceFormatError
from ._heap import TRIM_MIN_BYTES, trim_heap
from ._model import Trace
from ._source import open_source

__all__ = ["CACHE_MIN_BYTES", "DEFAULT_MAX_BYTES", "FORMATS", "TraceLoadWarning",
           "detect_format", "load_trace"]


class TraceLoadWarning(UserWarning):
    """Warned when :func:`load_trace` leaves part of its input out: a file in a trace folder
    that is not a trace it can read (e.g. a PyTorch execution trace beside the Kineto
    trace, as in HTA's ``execution_trace`` folder). The trace's ``metadata["skipped"]``
    lists such files, and its summary mentions them."""

#: Largest uncompressed trace accepted by default, in bytes (2 GiB). A gzip member that
#: inflates past it is refused without inflating further (gzip-bomb guard).
DEFAULT_MAX_BYTES = 2 * 1024**3
#: With ``load_trace(cache=None)``, files (or folders) at least this large on disk are
#: cached as Parquet, bytes.
CACHE_MIN_BYTES = 1 << 20

Reader = Callable[[bytes, str], Trace]

#: Format name -> "module:function" of its reader. Every reader takes ``(data, source)``
#: (uncompressed bytes and a file name for messages) and returns a :class:`Trace` or raises
#: :class:`TraceFormatError`; ``load_trace`` gives the Chrome reader (``chrome``,
#: ``devtools``, ``kineto``) an iterator over the text's pieces instead, which it parses as
#: they are read.
FORMATS: dict[str, str] = {
    "chrome": "jupyter_assistant.traces.chrome:read_chrome",
    "devtools": "jupyter_assistant.traces.chrome:read_chrome",
    "kineto": "jupyter_assistant.traces.chrome:read_chrome",
    "cpuprofile": "jupyter_assistant.traces.cpuprofile:read_cpuprofile",
    "speedscope": "jupyter_assistant.traces.speedscope:read_speedscope",
    "folded": "jupyter_assistant.traces.folded:read_folded",
    "cprofile": "jupyter_assistant.traces.cprofile:read_cprofile",
}

_BLANK = re.compile(rb"\s*")
_TRACE_SUFFIXES = (".json", ".gz", ".json.gz")


# py-spy writes samples with no Python frame as " COUNT" (an empty stack)
# (a negative count is let through so that the reader can name its line)
_FOLDED_LINE = re.compile(rb"^(?:[^\n]*\S)?[ \t]+-?\d+(\.\d+)?([eE][+-]?\d+)?[ \t]*$")


def detect_format(data: bytes, source: str = "<bytes>") -> str:
    """Guess the format of uncompressed trace bytes; returns a key of :data:`FORMATS`.

    Raises :class:`TraceFormatError` when nothing matches.
    """
    head = data[:1 << 16]
    if head.lstrip().startswith(b"\xef\xbb\xbf"):  # UTF-8 byte order mark
        head = head.lstrip()[3:]
    first = head.lstrip()[:1]
    if head[:1] == b"\xfb" or (head[:1] == b"{" and head[1:2] not in b' \t\r\n"}'):
        # marshal's TYPE_DICT is "{" (0xfb with FLAG_REF, as cProfile writes it since Python
        # 3.4) at byte 0; a JSON object may start with whitespace, continues with space or a
        # quote, and never starts with 0xfb
        return "cprofile"
    if first in (b"[", b"{"):
        if b"speedscope.app/file-format-schema" in head:
            return "speedscope"
        # a .cpuprofile is an object; a DevTools event array can hold "nodes" too
        if first == b"{" and b'"nodes"' in head and (b'"samples"' in head
                                                     or b'"timeDeltas"' in head) \
                and b'"traceEvents"' not in head:
            return "cpuprofile"
        if first == b"{" and b'"head"' in head and b'"samples"' in head \
                and b'"traceEvents"' not in head:
            return "cpuprofile"
        if (b'"schemaVersion"' in head or b'"deviceProperties"' in head
                or b'"distributedInfo"' in head or b'"cpu_op"' in head
                or b'"ProfilerStep#' in head or b'"kernel"' in head):
            return "kineto"
        if b'"ProfileChunk"' in data or b'"TracingStartedInBrowser"' in head \
                or b"devtools.timeline" in head:
            return "devtools"
        return "chrome"
    lines = [ln for ln in head.split(b"\n")[:50] if ln.strip()]
    if lines and all(_FOLDED_LINE.match(ln.rstrip(b"\r")) for ln in lines[:-1] or lines):
        return "folded"
    raise TraceFormatError(source, "byte 0",
                           "unrecognised trace format (expected Chrome/Kineto JSON, a "
                           "DevTools .cpuprofile, speedscope JSON, folded stacks or a "
                           "cProfile/pstats file)")


def _reader(fmt: str) -> Reader:
    try:
        target = FORMATS[fmt]
    except KeyError:
        raise TraceFormatError("<format>", None,
                               f"unknown format {fmt!r}; known: {sorted(FORMATS)}") from None
    module, func = target.split(":")
    reader: Reader = getattr(importlib.import_module(module), func)
    return reader


def _load_one(source: Any, fmt: str | None, max_bytes: int) -> Trace:
    src = open_source(source, max_bytes)
    name = src.name
    head = src.head()
    # (a blank check, not ``.strip()``, which would copy the text)
    if _BLANK.fullmatch(head) and _BLANK.fullmatch(src.read()):
        raise TraceFormatError(name, "byte 0", "the file is empty")
    fmt = fmt or detect_format(head, name)
    reader = _reader(fmt)
    if FORMATS.get(fmt) == FORMATS["chrome"]:
        # the Chrome reader parses as it reads: the uncompressed text is never held whole
        trace = reader(src.pieces(), name)  # type: ignore[arg-type]
    else:
        trace = reader(src.read(), name)
    if src.bytes_read >= TRIM_MIN_BYTES:
        trim_heap()
    trace.metadata.setdefault("format", fmt)
    trace.metadata.setdefault("source", name)
    return trace


def _merge_ranks(traces: list[Trace], folder: str) -> Trace:
    """One multi-rank trace from per-rank traces; rows stay grouped by rank."""
    by_rank: dict[int, Trace] = {}
    for i, t in enumerate(traces):
        rank = t.metadata.get("rank")
        by_rank[int(rank) if rank is not None else i] = t  # HTA: a later file with a rank wins
    frames: list[pd.DataFrame] = []
    threads: list[pd.DataFrame] = []
    counters: list[pd.DataFrame] = []
    instants: list[pd.DataFrame] = []
    flows: list[pd.DataFrame] = []
    offset = 0
    for rank in sorted(by_rank):
        t = by_rank[rank]
        ev = t.events.copy()
        ev["rank"] = np.int64(rank)
        ev["parent"] = np.where(ev["parent"].to_numpy() >= 0, ev["parent"].to_numpy() + offset, -1)
        frames.append(ev)
        th = t.threads.copy()
        th["rank"] = np.int64(rank)
        threads.append(th)
        for src, dst in ((t.counters, counters), (t.instants, instants)):
            c = src.copy()
            c["rank"] = np.int64(rank)
            dst.append(c)
        fl = t.flows.copy()
        fl["rank"] = np.int64(rank)
        fl["slice"] = np.where(fl["slice"].to_numpy() >= 0, fl["slice"].to_numpy() + offset, -1)
        flows.append(fl)
        offset += len(ev)

    def cat(parts: list[pd.DataFrame]) -> pd.DataFrame:
        return pd.concat(parts, ignore_index=True) if parts else pd.DataFrame()

    events = cat(frames)
    for col in ("name", "cat"):
        if col in events:
            events[col] = events[col].astype("category")
    first = by_rank[min(by_rank)]
    meta = dict(first.metadata)
    meta.update(source=folder, ranks=sorted(by_rank),
                files=[t.metadata.get("source") for t in traces],
                warnings=[w for t in traces for w in t.metadata.get("warnings", [])])
    for key in ("repaired", "event_count", "missing_dur", "overlapping"):  # per-file counts
        if any(key in t.metadata for t in traces):
            meta[key] = sum(int(t.metadata.get(key) or 0) for t in by_rank.values())
    meta.pop("rank", None)
    return Trace(events=events, threads=cat(threads), counters=cat(counters),
                 instants=cat(instants), flows=cat(flows), metadata=meta)


def load_trace(
    source: str | os.PathLike[str] | bytes | IO[bytes] | IO[str],
    format: str | None = None,
    *,
    max_bytes: int = DEFAULT_MAX_BYTES,
    cache: bool | None = None,
) -> Trace:
    """Load a performance trace into a :class:`Trace`.

    ``source`` is a file path, a folder of per-rank trace files (every ``*.json`` /
    ``*.gz`` directly inside it, as Holistic Trace Analysis reads a trace folder), bytes, a
    file object, or JSON text itself (a ``str`` that is not an existing path and starts with
    ``[`` or ``{``). Gzip is detected for every format. ``format`` forces a reader (a key of
    :data:`FORMATS`); by default it is detected from the content.

    ``max_bytes`` bounds the uncompressed size (default 2 GiB).

    ``cache``: a trace read from a path is kept as Parquet in a cache folder and a later
    load of the unchanged file comes from there (see
    :mod:`jupyter_assistant.traces._cache`; ``metadata["cached"]`` is then ``True``).
    ``None`` (default) caches files of at least :data:`CACHE_MIN_BYTES` on disk unless the
    environment variable ``JUPYTER_ASSISTANT_TRACE_CACHE`` is ``0``/``off``; ``True``
    caches any path, ``False`` never reads or writes the cache. Bytes and file objects are
    never cached.

    Raises :class:`~jupyter_assistant.exceptions.TraceFormatError` naming the file, the
    position and the problem for anything it cannot read (an empty path string included).
    The error keeps its traceback but not the local variables of the reader's frames, so a
    refused trace (a gzip bomb stopped at ``max_bytes``) frees its buffers as soon as the
    error is dropped, even when the error ends up in a reference cycle (as it does when it
    crosses a worker thread's future).
    """
    try:
        return _load_any(source, format, max_bytes, cache)
    except TraceFormatError as exc:
        release_frames(exc)
        raise


def release_frames(exc: BaseException) -> None:
    """Clear the local variables of the finished frames in the tracebacks of ``exc`` and of
    the exceptions chained to it (``__cause__``, ``__context__``). The tracebacks still name
    their files and lines; the data the frames held (inflated text, parsed events) is freed
    by reference counting instead of waiting for the cyclic garbage collector."""
    seen: set[int] = set()
    todo: list[BaseException | None] = [exc]
    while todo:
        e = todo.pop()
        if e is None or id(e) in seen:
            continue
        seen.add(id(e))
        if e.__traceback__ is not None:
            traceback.clear_frames(e.__traceback__)
        todo += [e.__cause__, e.__context__]


def _load_any(source: Any, format: str | None, max_bytes: int, cache: bool | None) -> Trace:
    if isinstance(source, str) and not source.strip():
        raise TraceFormatError("<str>", None, "the path is empty")
    if isinstance(source, (str, os.PathLike)) and Path(source).is_dir():
        folder = Path(source)
        files = sorted(p for p in folder.iterdir()
                       if p.is_file() and p.name.endswith(_TRACE_SUFFIXES))
        if not files:
            raise TraceFormatError(str(folder), None, "the folder holds no *.json or *.gz file")
        trace = _cached(files, format, cache,
                        lambda: _load_folder(files, str(folder), format, max_bytes))
        for note in trace.metadata.get("skipped") or []:
            warnings.warn(note, TraceLoadWarning, stacklevel=2)
        return trace
    if isinstance(source, str) and not os.path.exists(source) and source.lstrip()[:1] in ("[", "{"):
        source = source.encode()
    if isinstance(source, (str, os.PathLike)) and Path(source).is_file():
        path = Path(source)
        return _cached([path], format, cache, lambda: _load_one(path, format, max_bytes))
    return _load_one(source if not isinstance(source, io.StringIO) else source.getvalue().encode(),
                     format, max_bytes)


def _load_folder(files: list[Path], folder: str, fmt: str | None, max_bytes: int) -> Trace:
    """The files of ``folder`` as one trace; a file that cannot be read is left out (noted
    in ``metadata["skipped"]`` and ``["warnings"]``) as long as another one can be; else
    the first file's error is raised."""
    traces: list[Trace] = []
    skipped: list[tuple[Path, TraceFormatError]] = []
    for p in files:
        try:
            traces.append(_load_one(p, fmt, max_bytes))
        except TraceFormatError as exc:
            skipped.append((p, exc))
    if not traces:
        raise skipped[0][1]
    trace = traces[0] if len(traces) == 1 else _merge_ranks(traces, folder)
    if skipped:
        notes = [f"left out {p.name}: not a trace this reader can read ({exc.problem})"
                 for p, exc in skipped]
        trace.metadata["skipped"] = notes
        trace.metadata["warnings"] = [*notes, *(trace.metadata.get("warnings") or [])]
    return trace


def _cached(files: list[Path], fmt: str | None, cache: bool | None,
            load: Callable[[], Trace]) -> Trace:
    from . import _cache

    if cache is None:
        off = os.environ.get("JUPYTER_ASSISTANT_TRACE_CACHE", "").lower() in ("0", "off", "no")
        cache = not off and sum(f.stat().st_size for f in files) >= CACHE_MIN_BYTES
    if not cache:
        return load()
    key = _cache.cache_key(files, fmt)
    trace = _cache.read_cached(key)
    if trace is None:
        trace = load()
        _cache.write_cached(key, trace)
    return trace
