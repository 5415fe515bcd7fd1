"""Uploaded traces: saved under a directory the server owns, with ids the server makes.

A request never names a file: an upload is written to ``<directory>/<id>.trace`` (its
metadata beside it in ``<id>.json``: ``id``, ``user_id``, ``name``, ``size`` bytes,
``format``, ``created_at`` Unix seconds) where ``id`` is ``tr_`` + 32 hex digits generated
here, and an id from a request is checked against :data:`TRACE_ID_PATTERN` before it is
joined to the directory. Traces are scoped to the user who uploaded them: another user's
trace is indistinguishable from a missing one (:class:`NotFoundError`).

Loading runs :func:`~jupyter_assistant.traces.load_trace` in a worker thread; the last few
loaded traces stay in memory (LRU).
"""

from __future__ import annotations

import os
import re
import time
import uuid
from collections import OrderedDict
from pathlib import Path
from typing import Any

import anyio
import anyio.to_thread
import orjson

from ..exceptions import InputError, NotFoundError, TraceFormatError
from ..traces import FORMATS, Trace, load_trace

__all__ = ["TRACE_ID_PATTERN", "TraceRegistry"]

#: The form of every trace id: ``tr_`` and 32 lowercase hex digits.
TRACE_ID_PATTERN = r"tr_[0-9a-f]{32}"
_TRACE_ID_RE = re.compile(TRACE_ID_PATTERN)
_NAME_MAX = 200


def _clean_name(name: str) -> str:
    """A display name: the last path component, printable characters, at most 200 chars."""
    base = re.split(r"[\\/]", name)[-1]
    base = "".join(ch for ch in base if ch.isprintable()).strip()
    return base[:_NAME_MAX] or "trace"


class TraceRegistry:
    """The traces users uploaded, on disk under ``directory``, with a small LRU of loaded
    :class:`~jupyter_assistant.traces.Trace` objects (``cache_size`` entries). ``max_bytes``
    bounds the uncompressed size of a trace (a gzip that inflates past it is refused with
    :class:`~jupyter_assistant.exceptions.TraceFormatError` before it is inflated whole)."""

    def __init__(self, directory: str | os.PathLike[str], *, cache_size: int = 4,
                 max_bytes: int = 512 * 1024 * 1024) -> None:
        self.directory = Path(directory)
        self.cache_size = cache_size
        self.max_bytes = max_bytes
        self._cache: OrderedDict[str, Trace] = OrderedDict()

    def _paths(self, trace_id: str) -> tuple[Path, Path]:
        if not _TRACE_ID_RE.fullmatch(trace_id):
            raise NotFoundError(f"trace {trace_id!r} not found")
        return self.directory / f"{trace_id}.trace", self.directory / f"{trace_id}.json"

    async def save(self, user_id: str, data: bytes, *, name: str = "trace",
                   format: str | None = None) -> tuple[dict[str, Any], Trace]:
        """Store an uploaded trace and load it; returns ``(metadata, trace)``.

        Raises :class:`InputError` for an unknown ``format`` and
        :class:`~jupyter_assistant.exceptions.TraceFormatError` (nothing is kept) when the
        bytes are not a readable trace.
        """
        if format is not None and format not in FORMATS:
            raise InputError(f"unknown trace format {format!r}; known: {sorted(FORMATS)}")
        if not data:
            raise TraceFormatError(_clean_name(name), "byte 0", "the upload is empty")
        name = _clean_name(name)
        trace = await anyio.to_thread.run_sync(_load, data, format, name, self.max_bytes)
        trace_id = "tr_" + uuid.uuid4().hex
        path, meta_path = self._paths(trace_id)
        await anyio.to_thread.run_sync(self._write, path, data)
        meta = {"id": trace_id, "user_id": user_id, "name": name,
                "size": len(data), "format": str(trace.metadata.get("format", format or "")),
                "created_at": time.time()}
        await anyio.to_thread.run_sync(self._write, meta_path, orjson.dumps(meta))
        self._remember(trace_id, trace)
        return meta, trace

    def _write(self, path: Path, data: bytes) -> None:
        self.directory.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(path.name + ".part")
        tmp.write_bytes(data)
        os.replace(tmp, path)

    async def metadata(self, user_id: str, trace_id: str) -> dict[str, Any]:
        """The metadata of ``trace_id``; :class:`NotFoundError` unless ``user_id`` owns it."""
        _, meta_path = self._paths(trace_id)
        try:
            raw = await anyio.to_thread.run_sync(meta_path.read_bytes)
        except FileNotFoundError:
            raise NotFoundError(f"trace {trace_id!r} not found") from None
        meta: dict[str, Any] = orjson.loads(raw)
        if meta.get("user_id") != user_id:
            raise NotFoundError(f"trace {trace_id!r} not found")
        return meta

    async def get(self, user_id: str, trace_id: str) -> Trace:
        """The loaded trace ``trace_id`` of ``user_id``; :class:`NotFoundError` otherwise."""
        meta = await self.metadata(user_id, trace_id)
        cached = self._cache.get(trace_id)
        if cached is not None:
            self._cache.move_to_end(trace_id)
            return cached
        path, _ = self._paths(trace_id)
        fmt = meta.get("format") or None
        trace = await anyio.to_thread.run_sync(_load, path, fmt if fmt in FORMATS else None,
                                               str(meta.get("name", trace_id)), self.max_bytes)
        self._remember(trace_id, trace)
        return trace

    async def list(self, user_id: str) -> list[dict[str, Any]]:
        """Metadata of every trace of ``user_id``, newest first."""
        def scan() -> list[dict[str, Any]]:
            out: list[dict[str, Any]] = []
            if not self.directory.is_dir():
                return out
            for p in self.directory.glob("tr_*.json"):
                try:
                    meta = orjson.loads(p.read_bytes())
                except (OSError, orjson.JSONDecodeError):
                    continue
                if meta.get("user_id") == user_id:
                    out.append(meta)
            return sorted(out, key=lambda m: m.get("created_at", 0), reverse=True)
        return await anyio.to_thread.run_sync(scan)

    def _remember(self, trace_id: str, trace: Trace) -> None:
        self._cache[trace_id] = trace
        self._cache.move_to_end(trace_id)
        while len(self._cache) > self.cache_size:
            self._cache.popitem(last=False)


def _load(source: Path | bytes, format: str | None, name: str, max_bytes: int) -> Trace:
    """``load_trace`` whose errors name the upload, never the server's file path.

    The error is raised outside the ``except`` block: raised inside, it would hold the
    reader's error as its ``__context__`` (``from None`` only hides it), and with it every
    frame of the failed read, for as long as the new error lives."""
    try:
        trace = load_trace(source, format, max_bytes=max_bytes)
    except TraceFormatError as exc:
        problem = exc.problem
        if f"{max_bytes:,}" in problem:  # over the size limit: name the server's setting
            problem = (problem.replace(" (raise max_bytes to load it)", "")
                       + " (c.AssistantApp.max_trace_bytes)")
        error = TraceFormatError(name, exc.position, problem)
    else:
        trace.metadata["source"] = name
        return trace
    raise error
