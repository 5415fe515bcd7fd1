"""Parse a Trace Event Format JSON document in bounded-memory chunks.

A Chrome trace is a JSON array of events or an object whose ``traceEvents`` key holds that
array ("Trace Event Format", Google, section "JSON Array Format" / "JSON Object Format").
Parsing a large one in a single ``orjson.loads`` call builds a Python dict per event, which
costs about 7x the file size in memory. This module instead cuts the event array into slices
of :data:`CHUNK_BYTES` at event boundaries and parses one slice at a time, so the caller can
turn each slice into compact columns before the next one is parsed. The text itself may
arrive in pieces (a file or a gzip stream being read): then only a window of it around the
current slice is held, never the whole document.

Cutting is safe without a tokenizer: a candidate cut is a ``}`` followed by ``,`` and ``{``
(whitespace allowed). The slice ``[`` + text + ``]`` only parses as JSON when every event
in it is complete, so a candidate that falls inside a string or a nested ``args`` object
fails to parse at its very end, and the cut moves to the next candidate. A parse error
anywhere else (or a cut that overshot the end of the array) ends chunking, and the rest of
the document is parsed in one piece, which reports a real error at its true position.

The spec allows an array with no closing ``]`` (a trace written by a process that died);
such a document is accepted and noted in the returned warnings.
"""

from __future__ import annotations

import re
import sys
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any

import orjson

from ..exceptions import TraceFormatError

__all__ = ["CHUNK_BYTES", "EventChunks", "json_position", "parse_events"]

#: Target size of one parsed slice of the event array, bytes. Documents smaller than two
#: chunks are parsed in one call. Small enough that the Python objects of one slice
#: (~8x its text) stay in the CPU cache while the columns are read out of them: 256 KiB
#: loads the 1.1M-event Kineto trace of bench/ about 1.6x faster than 4 MiB did.
CHUNK_BYTES = 256 << 10

_CUT = re.compile(rb"\}\s*,\s*\{")
_EVENTS_KEY = re.compile(rb'"traceEvents"\s*:\s*\[')
_SPACE = re.compile(rb"\s*")
_DROP_BYTES = 1 << 20


def json_position(data: bytes, pos: int) -> str:
    """``"line L column C (byte B)"`` for byte offset ``pos`` of ``data`` (1-based line/column)."""
    pos = max(0, min(pos, len(data)))
    line = data.count(b"\n", 0, pos) + 1
    col = pos - (data.rfind(b"\n", 0, pos) + 1) + 1
    return f"line {line} column {col} (byte {pos})"


def _json_error(source: str, data: bytes, exc: orjson.JSONDecodeError,
                shift: int) -> TraceFormatError:
    pos = exc.pos + shift
    problem = f"invalid JSON: {exc.msg}"
    if pos >= len(data.rstrip()):
        problem = f"truncated JSON, the document ends early ({exc.msg})"
    return TraceFormatError(source, json_position(data, pos), problem)


@dataclass
class EventChunks:
    """The result of :func:`parse_events`.

    ``header`` holds every top-level key except ``traceEvents`` (empty for the array form);
    ``chunks`` yields ``(first_index, events, text)`` in document order, where
    ``first_index`` is the position of ``events[0]`` in the whole event array and ``text``
    the JSON the events were parsed from (a reader may search it, e.g. for a key that no
    event has); ``form`` is
    ``"array"`` or ``"object"``; ``warnings`` collects notes such as a missing ``]``.
    """

    header: dict[str, Any]
    chunks: Iterator[tuple[int, list[Any], bytes]]
    form: str
    warnings: list[str] = field(default_factory=list)


def _loads_whole(data: bytes, source: str, warnings: list[str]) -> Any:
    try:
        return orjson.loads(data)
    except orjson.JSONDecodeError as exc:
        first_error = exc
    # the spec allows a JSON array with no closing "]" (and a trailing comma)
    body = data.rstrip()
    if body.lstrip()[:1] == b"[" and not body.endswith(b"]"):
        try:
            doc = orjson.loads(body.rstrip(b", \t\r\n") + b"]")
        except orjson.JSONDecodeError:
            pass
        else:
            warnings.append("the JSON array has no closing ']' (allowed by the spec); "
                            "read to the end")
            return doc
    raise _json_error(source, data, first_error, 0) from None


def _split_doc(doc: Any, source: str) -> tuple[dict[str, Any], list[Any], str]:
    if isinstance(doc, list):
        return {}, doc, "array"
    if isinstance(doc, dict):
        if "traceEvents" not in doc:
            keys = ", ".join(sorted(map(str, doc))[:8])
            raise TraceFormatError(source, "top level",
                                   f"a JSON object without a 'traceEvents' key (keys: {keys})")
        events = doc.pop("traceEvents")
        if not isinstance(events, list):
            raise TraceFormatError(source, "traceEvents",
                                   f"'traceEvents' must be a list, not {type(events).__name__}")
        return doc, events, "object"
    raise TraceFormatError(source, "top level",
                           f"expected a JSON array or object of trace events, got a "
                           f"{type(doc).__name__}")


class _Window:
    """The document text from absolute byte ``base`` on, read from ``pieces`` as needed.

    Given whole bytes, the window is the document and nothing is ever copied or dropped.
    Given pieces, text before the last cut is dropped as parsing moves on, and the lines
    dropped are counted, so that :meth:`position` still names the line and column."""

    def __init__(self, data: bytes | Iterable[bytes]) -> None:
        self.base = 0
        self.lines = 0  # newlines before ``base``
        self.line_start = 0  # offset just after the last of them (0 when none)
        self.whole = isinstance(data, (bytes, bytearray, memoryview))
        self.more: Iterator[bytes]
        if isinstance(data, (bytes, bytearray, memoryview)):
            self.buf, self.more, self.eof = bytes(data), iter([]), True
        else:
            self.buf, self.more, self.eof = b"", iter(data), False

    @property
    def end(self) -> int:
        return self.base + len(self.buf)

    def fill(self, upto: int) -> None:
        """Read pieces until the window reaches offset ``upto`` or the document ends."""
        if self.eof or self.end >= upto:
            return
        parts, size = [self.buf], self.end
        while size < upto:
            piece = next(self.more, None)
            if piece is None:
                self.eof = True
                break
            parts.append(piece)
            size += len(piece)
        self.buf = b"".join(parts)

    def fill_all(self) -> None:
        self.fill(sys.maxsize)

    def drop(self, upto: int) -> None:
        """Forget the text before offset ``upto`` (only when reading pieces)."""
        k = upto - self.base
        if k < _DROP_BYTES or self.whole:  # (dropping copies the rest: not for a few bytes)
            return
        n = self.buf.count(b"\n", 0, k)
        if n:
            self.lines += n
            self.line_start = self.base + self.buf.rfind(b"\n", 0, k) + 1
        self.buf = self.buf[k:]
        self.base = upto

    def text(self, a: int, b: int) -> bytes:
        return self.buf[a - self.base:b - self.base]

    def position(self, pos: int) -> str:
        """``"line L column C (byte B)"`` for offset ``pos`` (at or after ``base``)."""
        if self.whole:
            return json_position(self.buf, pos)
        pos = max(self.base, min(pos, self.end))
        k = pos - self.base
        n = self.buf.count(b"\n", 0, k)
        line_start = self.base + self.buf.rfind(b"\n", 0, k) + 1 if n else self.line_start
        return f"line {self.lines + n + 1} column {pos - line_start + 1} (byte {pos})"


def parse_events(data: bytes | Iterable[bytes], source: str,
                 chunk_bytes: int = CHUNK_BYTES) -> EventChunks:
    """Parse a Trace Event Format document; see the module docstring.

    ``data`` is the document, or an iterable of its pieces in order (e.g. from a file or a
    gzip stream being read): then the text is read as the chunks are consumed and only a
    window of it is held. Raises :class:`TraceFormatError` for invalid JSON (with ``line L
    column C (byte B)``) or a document that is not an event array / object with a
    ``traceEvents`` list (from this call, or, for an error past the first chunks, from
    iterating ``chunks``).
    """
    warnings: list[str] = []
    w = _Window(data)
    del data
    w.fill(2 * chunk_bytes)
    start = _SPACE.match(w.buf).end()  # type: ignore[union-attr]  # (lstrip would copy)
    while start == len(w.buf) and not w.eof:  # nothing but space so far
        w.fill(w.end + max(chunk_bytes, len(w.buf)))
        start = _SPACE.match(w.buf, start).end()  # type: ignore[union-attr]
    if w.buf[start:start + 3] == b"\xef\xbb\xbf":  # UTF-8 byte order mark: the text after it
        w.buf = w.buf[start + 3:]  # is the document (positions count from there)
        start = _SPACE.match(w.buf).end()  # type: ignore[union-attr]
        w.fill(start + 2 * chunk_bytes)
    first = w.buf[start:start + 1]
    if w.end < 2 * chunk_bytes or first not in (b"[", b"{"):
        return _whole(w, source, warnings)
    if first == b"[":
        prefix, s = b"[", start + 1
    else:
        m = _EVENTS_KEY.search(w.buf, start)
        while m is None and not w.eof:  # a long header before "traceEvents"
            w.fill(w.end + max(chunk_bytes, len(w.buf)))
            m = _EVENTS_KEY.search(w.buf, start)
        prefix = w.buf[:m.end()] if m else b""
        if not m or not _is_top_level_header(prefix):
            return _whole(w, source, warnings)
        s = m.end()
    form = "array" if first == b"[" else "object"
    result = EventChunks({}, iter(()), form, warnings)
    result.chunks = _chunks(w, source, prefix, s, chunk_bytes, result)
    return result


def _whole(w: _Window, source: str, warnings: list[str]) -> EventChunks:
    """The document in one parse."""
    w.fill_all()
    data = w.buf
    header, events, form = _split_doc(_loads_whole(data, source, warnings), source)
    return EventChunks(header, iter([(0, events, data)] if events else []), form, warnings)


def _is_top_level_header(prefix: bytes) -> bool:
    try:
        return isinstance(orjson.loads(prefix + b"]}"), dict)
    except orjson.JSONDecodeError:
        return False


def _chunks(w: _Window, source: str, prefix: bytes, s: int, chunk_bytes: int,
            result: EventChunks) -> Iterator[tuple[int, list[Any], bytes]]:
    """Yield event slices; sets ``result.header`` when the tail has been parsed."""
    done = 0  # events yielded so far
    while True:
        target = s + chunk_bytes
        w.fill(target + chunk_bytes)
        if target >= w.end:
            break
        parsed: list[Any] | None = None
        buf = b""
        after = target  # where the next candidate cut is searched from
        while True:
            m = _CUT.search(w.buf, after - w.base)
            if m is None:
                if w.eof:
                    break
                w.fill(w.end + max(chunk_bytes, len(w.buf)))  # a long event: read on
                continue
            cut = w.base + m.start() + 1
            buf = b"".join((b"[", w.text(s, cut), b"]"))
            try:
                doc = orjson.loads(buf)
            except orjson.JSONDecodeError as exc:
                if exc.pos > cut - s:  # failed at the appended "]": the cut was inside an event
                    after = w.base + m.end()
                    continue
                break  # a real error, or the cut ran past the end of the array: parse the rest
            parsed = doc
            break
        if parsed is None or m is None:
            break
        yield done, parsed, buf
        done += len(parsed)
        del parsed, buf
        s = w.base + m.end() - 1
        w.drop(s)
    # the rest: one parse of the prefix + the remaining text
    w.fill_all()
    tail = prefix + w.text(s, w.end)
    try:
        doc = _loads_whole(tail, source, result.warnings)
    except TraceFormatError as exc:
        # re-anchor the position in the whole document
        raise _reanchor(exc, w, prefix, s, source) from None
    header, events, _ = _split_doc(doc, source)
    del doc
    result.header = header
    if events:
        yield done, events, tail


def _reanchor(exc: TraceFormatError, w: _Window, prefix: bytes, s: int,
              source: str) -> TraceFormatError:
    """Map a position in ``prefix + text[s:]`` back to the whole document (``prefix`` is
    the document's first bytes)."""
    m = re.search(r"\(byte (\d+)\)", exc.position or "")
    if not m:
        return exc
    p = int(m.group(1))
    where = json_position(prefix, p) if p < len(prefix) else w.position(p - len(prefix) + s)
    return TraceFormatError(source, where, exc.problem)

