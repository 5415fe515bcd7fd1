"""Where a trace's text comes from: a file, bytes or a file object, gzipped or not.

:func:`open_source` checks the source (exists, within ``max_bytes``) without reading all of
it. The uncompressed text is then read whole (:meth:`TraceSource.read`) or in pieces of
about :data:`PIECE_BYTES` (:meth:`TraceSource.pieces`), so that a reader that parses as it
goes (the Chrome family) never holds the whole uncompressed text: an uncompressed file is
read from disk piece by piece, a gzip file is inflated piece by piece from its compressed
bytes. Both ways apply the same limits and raise the same errors: gzip members are inflated
with an output limit of what is left of ``max_bytes`` + 1, so a gzip bomb stops at the limit.
"""

from __future__ import annotations

import os
import zlib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from ..exceptions import TraceFormatError

__all__ = ["HEAD_BYTES", "PIECE_BYTES", "TraceSource", "open_source"]

#: Size of the pieces :meth:`TraceSource.pieces` yields, bytes (the last one may be shorter).
PIECE_BYTES = 1 << 20
#: Bytes of uncompressed text :meth:`TraceSource.head` returns (fewer for a shorter text).
HEAD_BYTES = 1 << 16

_GZIP_MAGIC = b"\x1f\x8b"


class TraceSource:
    """One trace file's text. Either ``raw`` (the bytes as given or read, possibly gzipped)
    or ``path`` (an uncompressed file, read lazily) is set."""

    def __init__(self, name: str, max_bytes: int, *, raw: bytes | None = None,
                 path: Path | None = None) -> None:
        self.name = name
        self.max_bytes = max_bytes
        self.raw = raw
        self.path = path
        #: uncompressed bytes handed out so far by :meth:`read` and :meth:`pieces`
        self.bytes_read = 0

    @property
    def gzipped(self) -> bool:
        return self.raw is not None and self.raw[:2] == _GZIP_MAGIC

    def head(self) -> bytes:
        """The first :data:`HEAD_BYTES` of the uncompressed text (all of it if shorter).

        Raises :class:`TraceFormatError` for gzip data that is corrupt or ends early within
        them."""
        if self.path is not None:
            with open(self.path, "rb") as f:
                return f.read(HEAD_BYTES)
        assert self.raw is not None
        if not self.gzipped:
            return self.raw[:HEAD_BYTES]
        pieces, size = [], 0
        for piece in self._inflate(HEAD_BYTES):  # (a first member may be short)
            pieces.append(piece)
            size += len(piece)
            if size >= HEAD_BYTES:
                break
        return b"".join(pieces)[:HEAD_BYTES]

    def read(self) -> bytes:
        """The whole uncompressed text. A single-member gzip file is returned as the
        inflater's own output, without another copy. Raises :class:`TraceFormatError` for
        corrupt, truncated or oversized gzip data."""
        if self.path is not None:
            text = self.path.read_bytes()
        elif not self.gzipped:
            assert self.raw is not None
            text = self.raw
        else:
            pieces = list(self._inflate(self.max_bytes + 1))
            text = pieces[0] if len(pieces) == 1 else b"".join(pieces)
        self.bytes_read += len(text)
        return text

    def pieces(self) -> Iterator[bytes]:
        """The uncompressed text in order, in pieces of at most :data:`PIECE_BYTES`; the
        same errors as :meth:`read`, raised when the reading gets there."""
        if self.path is not None:
            with open(self.path, "rb") as f:
                while piece := f.read(PIECE_BYTES):
                    self.bytes_read += len(piece)
                    if self.bytes_read > self.max_bytes:  # the file grew since it was checked
                        raise TraceFormatError(self.name, None, f"file is over the limit of "
                                                                f"{self.max_bytes:,} bytes")
                    yield piece
        elif not self.gzipped:
            assert self.raw is not None
            self.bytes_read += len(self.raw)
            yield self.raw
        else:
            for piece in self._inflate(PIECE_BYTES):
                self.bytes_read += len(piece)
                yield piece

    def _inflate(self, piece_bytes: int) -> Iterator[bytes]:
        """Gunzip ``raw`` (all members) in pieces of at most ``piece_bytes``."""
        assert self.raw is not None
        data, limit = self.raw, self.max_bytes
        size = 0
        buf = data
        while buf[:2] == _GZIP_MAGIC:
            d = zlib.decompressobj(16 + zlib.MAX_WBITS)
            todo = buf
            try:
                while True:
                    piece = d.decompress(todo, min(piece_bytes, limit + 1 - size))
                    size += len(piece)
                    if size > limit:
                        raise TraceFormatError(
                            self.name, None,
                            f"uncompressed size exceeds the limit of {limit:,} bytes "
                            "(raise max_bytes to load it)")
                    if piece:
                        yield piece
                    todo = d.unconsumed_tail
                    if d.eof or not (todo or piece):
                        break
            except zlib.error as exc:
                raise TraceFormatError(self.name, f"compressed byte {len(data) - len(buf)}",
                                       f"corrupt gzip data ({exc})") from None
            if not d.eof:
                raise TraceFormatError(self.name, f"uncompressed byte {size}",
                                       "truncated gzip file (the compressed stream ends early)")
            buf = d.unused_data.lstrip(b"\x00")


def open_source(source: Any, max_bytes: int) -> TraceSource:
    """A :class:`TraceSource` for a path, bytes, bytearray, memoryview or binary/text file
    object. Files are checked (exist, on-disk size within ``max_bytes``) but an uncompressed
    one is not read yet; a file object is read here (up to ``max_bytes`` + 1 bytes).

    Raises :class:`TraceFormatError` for a missing or oversized file or stream, and
    ``TypeError`` for any other kind of source."""
    if isinstance(source, (bytes, bytearray, memoryview)):
        return TraceSource("<bytes>", max_bytes, raw=bytes(source))
    if isinstance(source, (str, os.PathLike)):
        path = Path(source)
        name = str(path)
        if not path.is_file():
            raise TraceFormatError(name, None, "no such file" if not path.exists() else
                                   "not a regular file (a device, a pipe or a socket)")
        size = path.stat().st_size
        if size > max_bytes:
            raise TraceFormatError(name, None,
                                   f"file is {size:,} bytes, over the limit of {max_bytes:,}")
        with open(path, "rb") as f:
            gzipped = f.read(2) == _GZIP_MAGIC
        if gzipped:  # the compressed bytes are small next to the text: read them now
            return TraceSource(name, max_bytes, raw=path.read_bytes())
        return TraceSource(name, max_bytes, path=path)
    if hasattr(source, "read"):
        name = str(getattr(source, "name", "<stream>"))
        got = source.read(max_bytes + 1)
        raw = got.encode() if isinstance(got, str) else bytes(got)
        if len(raw) > max_bytes:
            raise TraceFormatError(name, None, f"stream is over the limit of {max_bytes:,} bytes")
        return TraceSource(name, max_bytes, raw=raw)
    raise TypeError(f"cannot load a trace from {type(source).__name__}")
