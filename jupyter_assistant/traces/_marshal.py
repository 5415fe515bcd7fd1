"""A restricted reader for Python's ``marshal`` format: plain data only.

cProfile/pstats files are ``marshal.dump`` of a dict (``pstats.Stats.dump_stats``). The
stdlib ``marshal.loads`` would also build code objects and other types, and its docs warn it
"is not intended to be secure against erroneous or maliciously constructed data". This
reader accepts only what a stats dict is made of: dicts, tuples, str, int, float, None and
bools (plus the back-references of marshal versions 3+), so a code object (``'c'``), bytes,
lists, sets and everything else are refused *before* anything is built. Nesting is bounded
(:data:`MAX_DEPTH`), every length is checked against the bytes that remain, and integers are
bounded, so memory stays proportional to the input.

The type codes and their layouts follow CPython's ``Python/marshal.c`` (format versions 0-5).
"""

from __future__ import annotations

import struct
from typing import Any

__all__ = ["MAX_DEPTH", "MarshalError", "loads_plain"]

#: Deepest nesting accepted (a stats dict needs 4: dict > tuple > dict > tuple).
MAX_DEPTH = 16
#: Largest integer accepted, in 15-bit marshal digits (a 150-bit number).
MAX_LONG_DIGITS = 10

_FLAG_REF = 0x80
_PENDING = object()  # a back-reference slot whose container is still being read
_REFUSED = {
    "c": "a code object", "s": "bytes", "[": "a list", "<": "a set", ">": "a frozenset",
    "y": "a complex number", "x": "a complex number", ".": "Ellipsis",
    "S": "StopIteration", ":": "a slice", "?": "an unknown object", "I": "a 64-bit int",
}


class MarshalError(ValueError):
    """Raised for marshal data that is malformed or holds a refused type; ``pos`` is the byte
    offset of the problem."""

    def __init__(self, pos: int, problem: str) -> None:
        super().__init__(f"byte {pos}: {problem}")
        self.pos = pos
        self.problem = problem


class _Reader:
    def __init__(self, data: bytes) -> None:
        self.data = data
        self.pos = 0
        self.refs: list[Any] = []

    def _take(self, n: int) -> bytes:
        if n < 0 or self.pos + n > len(self.data):
            raise MarshalError(self.pos, f"truncated: {n} bytes needed, "
                                         f"{len(self.data) - self.pos} left")
        out = self.data[self.pos:self.pos + n]
        self.pos += n
        return out

    def _i32(self) -> int:
        value: int = struct.unpack("<i", self._take(4))[0]
        return value

    def _size(self, n: int, what: str, each: int = 1) -> int:
        if n < 0 or n * each > len(self.data) - self.pos:
            raise MarshalError(self.pos, f"{what} of length {n} does not fit in the "
                                         f"{len(self.data) - self.pos} bytes left")
        return n

    def read(self, depth: int = 0) -> Any:
        if depth > MAX_DEPTH:
            raise MarshalError(self.pos, f"nested deeper than {MAX_DEPTH} levels")
        start = self.pos
        code = self._take(1)[0]
        flag, kind = code & _FLAG_REF, chr(code & ~_FLAG_REF)
        if kind == "r":
            idx = self._i32()
            if not 0 <= idx < len(self.refs) or self.refs[idx] is _PENDING:
                raise MarshalError(start, f"bad back-reference {idx}")
            return self.refs[idx]
        slot = -1
        if flag:
            slot = len(self.refs)
            self.refs.append(_PENDING)
        value = self._value(kind, start, depth)
        if flag:
            self.refs[slot] = value
        return value

    def _value(self, kind: str, start: int, depth: int) -> Any:
        if kind == "N":
            return None
        if kind in "TF":
            return kind == "T"
        if kind == "i":
            return self._i32()
        if kind == "l":
            n = self._i32()
            if abs(n) > MAX_LONG_DIGITS:
                raise MarshalError(start, f"integer of {abs(n)} digits is too large")
            digits = struct.unpack(f"<{abs(n)}H", self._take(2 * abs(n)))
            if any(d >= 1 << 15 for d in digits):
                raise MarshalError(start, "bad digit in a long integer")
            value = sum(d << (15 * k) for k, d in enumerate(digits))
            return -value if n < 0 else value
        if kind == "g":
            result: float = struct.unpack("<d", self._take(8))[0]
            return result
        if kind == "f":
            text = self._take(self._take(1)[0])
            try:
                return float(text.decode("ascii"))
            except (UnicodeDecodeError, ValueError):
                raise MarshalError(start, "bad float text") from None
        if kind in "zZ":
            return self._text(self._take(1)[0], "ascii", start)
        if kind in "aA":
            return self._text(self._size(self._i32(), "a string"), "ascii", start)
        if kind in "ut":
            return self._text(self._size(self._i32(), "a string"), "utf-8", start)
        if kind in "()":
            n = self._take(1)[0] if kind == ")" else self._size(self._i32(), "a tuple")
            self._size(n, "a tuple")
            return tuple(self.read(depth + 1) for _ in range(n))
        if kind == "{":
            out: dict[Any, Any] = {}
            while True:
                if self.pos < len(self.data) and self.data[self.pos] == ord("0"):
                    self.pos += 1  # TYPE_NULL ends the dict
                    return out
                key_pos = self.pos
                key = self.read(depth + 1)
                try:
                    hash(key)
                except TypeError:
                    raise MarshalError(key_pos, "unhashable dict key") from None
                out[key] = self.read(depth + 1)
        what = _REFUSED.get(kind)
        if what:
            raise MarshalError(start, f"holds {what}, which a stats file never does "
                                      "(refused for safety)")
        raise MarshalError(start, f"unknown marshal type code {ord(kind):#04x}")

    def _text(self, n: int, encoding: str, start: int) -> str:
        raw = self._take(n)
        try:
            return raw.decode(encoding, "surrogatepass" if encoding == "utf-8" else "strict")
        except UnicodeDecodeError:
            raise MarshalError(start, f"bad {encoding} string") from None


def loads_plain(data: bytes) -> Any:
    """Decode one marshalled object made only of dict, tuple, str, int, float, bool and
    None (trailing bytes are ignored, as ``marshal.loads`` does).

    Raises :class:`MarshalError` (a ``ValueError``) for truncated or malformed data,
    nesting over :data:`MAX_DEPTH`, or any other type (code objects included).
    """
    return _Reader(bytes(data)).read()
