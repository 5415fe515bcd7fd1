"""Parse a Trace Event Format JSON document in bounded-memory chunks.

A Chrome trace is a JSON array of events or an object whose ``traceEvents`` key holds that
array ("Trace Event Format", Google, section "JSON Array Format" / "JSON Object Format").
Parsing a large one in a single ``orjson.loads`` call builds a Python dict per event, which
costs about 7x the file size in memory. This module instead cuts the event array into slices
of a few MiB at event boundaries and parses one slice at a time, so the caller can turn each
slice into compact columns before the next one is parsed.

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
from collections.abc import Iterator
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


def parse_events(data: bytes, source: str, chunk_bytes: int = CHUNK_BYTES) -> EventChunks:
    """Parse a Trace Event Format document; see the module docstring.

    Raises :class:`TraceFormatError` for invalid JSON (with ``line L column C (byte B)``) or a
    document that is not an event array / object with a ``traceEvents`` list.
    """
    warnings: list[str] = []
    start = _SPACE.match(data).end()  # type: ignore[union-attr]  # (lstrip would copy)
    if data[start:start + 3] == b"\xef\xbb\xbf":  # UTF-8 byte order mark
        data = data[start + 3:]
        start = _SPACE.match(data).end()  # type: ignore[union-attr]
    first = data[start:start + 1]
    if len(data) < 2 * chunk_bytes or first not in (b"[", b"{"):
        header, events, form = _split_doc(_loads_whole(data, source, warnings), source)
        return EventChunks(header, iter([(0, events, data)] if events else []), form, warnings)
    if first == b"[":
        prefix, s = b"[", start + 1
    else:
        m = _EVENTS_KEY.search(data, start)
        prefix = data[:m.end()] if m else b""
        if not m or not _is_top_level_header(prefix):
            header, events, form = _split_doc(_loads_whole(data, source, warnings), source)
            return EventChunks(header, iter([(0, events, data)] if events else []), form,
                               warnings)
        s = m.end()
    form = "array" if first == b"[" else "object"
    result = EventChunks({}, iter(()), form, warnings)
    result.chunks = _chunks(data, source, prefix, s, chunk_bytes, result)
    return result


def _is_top_level_header(prefix: bytes) -> bool:
    try:
        return isinstance(orjson.loads(prefix + b"]}"), dict)
    except orjson.JSONDecodeError:
        return False


def _chunks(data: bytes, source: str, prefix: bytes, s: int, chunk_bytes: int,
            result: EventChunks) -> Iterator[tuple[int, list[Any], bytes]]:
    """Yield event slices; sets ``result.header`` when the tail has been parsed."""
    done = 0  # events yielded so far
    while True:
        target = s + chunk_bytes
        if target >= len(data):
            break
        m = _CUT.search(data, target)
        parsed: list[Any] | None = None
        buf = b""
        while m is not None:
            cut = m.start() + 1
            buf = b"".join((b"[", data[s:cut], b"]"))
            try:
                doc = orjson.loads(buf)
            except orjson.JSONDecodeError as exc:
                if exc.pos > cut - s:  # failed at the appended "]": the cut was inside an event
                    m = _CUT.search(data, m.end())
                    continue
                break  # a real error, or the cut ran past the end of the array: parse the rest
            parsed = doc
            break
        if parsed is None or m is None:
            break
        yield done, parsed, buf
        done += len(parsed)
        del parsed, buf
        s = m.end() - 1
    # the rest: one parse of the prefix + the remaining text
    tail = prefix + data[s:]
    try:
        doc = _loads_whole(tail, source, result.warnings)
    except TraceFormatError as exc:
        # re-anchor the position in the whole document
        raise _reanchor(exc, data, len(prefix), s, source) from None
    header, events, _ = _split_doc(doc, source)
    del doc
    result.header = header
    if events:
        yield done, events, tail


def _reanchor(exc: TraceFormatError, data: bytes, prefix_len: int, s: int,
              source: str) -> TraceFormatError:
    """Map a position in ``prefix + data[s:]`` back to ``data``."""
    m = re.search(r"\(byte (\d+)\)", exc.position or "")
    if not m:
        return exc
    p = int(m.group(1))
    pos = p if p < prefix_len else p - prefix_len + s
    return TraceFormatError(source, json_position(data, pos), exc.problem)
