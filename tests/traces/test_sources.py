"""Every kind of source ``load_trace`` accepts (path, folder, bytes, binary and text file
objects), and gzip for every format, on real files."""

from __future__ import annotations

import gzip
import io
from pathlib import Path

import orjson
import pandas as pd
import pytest

from jupyter_assistant import Trace, TraceFormatError, load_trace
from jupyter_assistant.traces._source import HEAD_BYTES, PIECE_BYTES, TraceSource, open_source
from jupyter_assistant.traces.chrome import read_chrome

DATA = Path(__file__).resolve().parents[1] / "data"

#: (format, file): one real file per format family
REAL = [
    ("folded", "speedscope/stackcollapse/recursion.txt"),
    ("folded", "@workload.py-spy.folded.txt"),
    ("speedscope", "@workload.py-spy.speedscope.json"),
    ("speedscope", "speedscope/speedscope/0.0.1/simple.speedscope.json"),
    ("cprofile", "@workload.cprofile.prof"),
    ("cpuprofile", "speedscope/Chrome/65/simple.cpuprofile"),
    ("cpuprofile", "speedscope/node/10.11.0/example.cpuprofile"),
    ("chrome", "speedscope/trace-event/multiprocess.json"),
    ("devtools", "speedscope/Chrome/141/no-arg-data.json"),
    ("kineto", "hta/call_stack/backward_thread.json"),
]


def _path(shared: Path, rel: str) -> Path:
    return DATA / rel[1:] if rel.startswith("@") else shared / rel


def _same(a: Trace, b: Trace) -> None:
    pd.testing.assert_frame_equal(a.events.drop(columns="args", errors="ignore"),
                                  b.events.drop(columns="args", errors="ignore"))
    pd.testing.assert_frame_equal(a.threads, b.threads)
    assert a.metadata["format"] == b.metadata["format"]


@pytest.mark.parametrize("fmt, rel", REAL, ids=[r for _, r in REAL])
def test_gzip_works_for_every_format(shared_traces: Path, tmp_path: Path, fmt: str,
                                     rel: str) -> None:
    src = _path(shared_traces, rel)
    plain = load_trace(src, cache=False)
    assert plain.metadata["format"] == fmt and len(plain.events) > 0
    gz = tmp_path / (src.name + ".gz")
    gz.write_bytes(gzip.compress(src.read_bytes()))
    for source in (gz, str(gz), gz.read_bytes()):
        _same(load_trace(source, cache=False), plain)
    with gz.open("rb") as fh:
        _same(load_trace(fh), plain)


@pytest.mark.parametrize("fmt, rel", REAL, ids=[r for _, r in REAL])
def test_bytes_and_file_objects(shared_traces: Path, fmt: str, rel: str) -> None:
    src = _path(shared_traces, rel)
    plain = load_trace(src, cache=False)
    raw = src.read_bytes()
    _same(load_trace(raw), plain)
    _same(load_trace(bytearray(raw)), plain)
    _same(load_trace(io.BytesIO(raw)), plain)
    with src.open("rb") as fh:
        _same(load_trace(fh), plain)
    if fmt != "cprofile":  # a pstats file is binary; text formats also load as text
        _same(load_trace(io.StringIO(raw.decode("utf-8"))), plain)
        with src.open(encoding="utf-8") as fh:
            _same(load_trace(fh), plain)


def test_a_folder_of_gzipped_and_plain_ranks(shared_traces: Path, tmp_path: Path) -> None:
    ranks = sorted((shared_traces / "hta" / "trace_filter").glob("*.json.gz"))
    (tmp_path / "rank0.json.gz").write_bytes(ranks[0].read_bytes())
    (tmp_path / "rank1.json").write_bytes(gzip.decompress(ranks[1].read_bytes()))
    (tmp_path / "notes.txt").write_text("not a trace, not read")
    both = load_trace(tmp_path, cache=False)
    assert both.metadata["ranks"] == [0, 1]
    assert len(both.events) == sum(len(load_trace(p, cache=False).events) for p in ranks)


def test_empty_path_string_is_refused_not_read_as_the_current_folder() -> None:
    import pytest

    from jupyter_assistant import TraceFormatError, load_trace

    with pytest.raises(TraceFormatError, match="the path is empty"):
        load_trace("")
    with pytest.raises(TraceFormatError, match="the path is empty"):
        load_trace("   ")


def test_json_text_is_accepted_as_a_source() -> None:
    from jupyter_assistant import load_trace

    trace = load_trace('[{"ph": "X", "name": "a", "ts": 0, "dur": 5, "pid": 1, "tid": 1}]')
    assert trace.events["name"].tolist() == ["a"] and trace.events["dur"].tolist() == [5.0]


# -- reading in pieces (what the Chrome reader does) ----------------------------------------

def _source(tmp_path: Path, name: str, data: bytes, max_bytes: int = 1 << 30) -> TraceSource:
    path = tmp_path / name
    path.write_bytes(data)
    return open_source(path, max_bytes)


def test_pieces_of_a_plain_file_are_read_lazily_and_bounded(tmp_path: Path) -> None:
    text = b"".join(b"%08d\n" % i for i in range(300_000))  # 2.7 MB
    src = _source(tmp_path, "t.json", text)
    assert src.raw is None  # nothing read yet
    assert src.head() == text[:HEAD_BYTES]
    pieces = list(src.pieces())
    assert b"".join(pieces) == text and src.bytes_read == len(text)
    assert len(pieces) == 3 and max(map(len, pieces)) == PIECE_BYTES


def test_pieces_of_gzip_equal_the_whole_read(tmp_path: Path) -> None:
    text = b"".join(b'{"ph":"X","ts":%d,"dur":1},' % i for i in range(200_000))
    # two members and zero padding between them, as concatenated .gz files have
    data = gzip.compress(text[:1000]) + b"\0\0" + gzip.compress(text[1000:])
    src = _source(tmp_path, "t.json.gz", data)
    pieces = list(src.pieces())
    assert len(pieces) > 3 and max(map(len, pieces)) <= PIECE_BYTES
    assert b"".join(pieces) == text == src.read()
    assert src.head() == text[:HEAD_BYTES]


@pytest.mark.parametrize("damage", ["truncated", "corrupt", "bomb"])
def test_pieces_raise_what_the_whole_read_raises(tmp_path: Path, damage: str) -> None:
    text = b"[" + b" " * (8 << 20) + b"]"
    good = gzip.compress(text)
    data = {"truncated": good[: len(good) // 2],
            "corrupt": good[:20] + bytes(b ^ 0xFF for b in good[20:60]) + good[60:],
            "bomb": good}[damage]
    src = _source(tmp_path, "t.json.gz", data, max_bytes=4 << 20)
    with pytest.raises(TraceFormatError) as whole:
        src.read()
    with pytest.raises(TraceFormatError) as piecewise:
        for _ in src.pieces():
            pass
    assert (piecewise.value.position, piecewise.value.problem) == (
        whole.value.position, whole.value.problem)
    expected = {"truncated": "truncated gzip", "corrupt": "corrupt gzip",
                "bomb": "exceeds the limit of 4,194,304 bytes"}[damage]
    assert expected in whole.value.problem


def test_a_large_trace_file_loads_the_same_from_pieces_and_from_bytes(tmp_path: Path) -> None:
    # > 2 chunks, an object with keys after the events, newlines: the chunked path, read
    # piece by piece from the file (plain and gzipped) and whole from bytes
    events = [{"ph": "X", "pid": 1, "tid": i % 3, "ts": float(i), "dur": 0.5,
               "name": f"f{i % 11}", "args": {"i": i}} for i in range(60_000)]
    doc = orjson.dumps({"traceEvents": events, "displayTimeUnit": "ns", "otherData": {"a": 1}},
                       option=orjson.OPT_INDENT_2)
    assert len(doc) > 4 * PIECE_BYTES
    (tmp_path / "t.json").write_bytes(doc)
    (tmp_path / "t.json.gz").write_bytes(gzip.compress(doc, compresslevel=1))
    ref = read_chrome(doc, "ref")
    for name in ("t.json", "t.json.gz"):
        got = load_trace(tmp_path / name, cache=False)
        pd.testing.assert_frame_equal(got.events, ref.events)
        assert got.metadata["header"] == ref.metadata["header"] == {
            "displayTimeUnit": "ns", "otherData": {"a": 1}}
    broken = doc[:3_000_000] + b"}" + doc[3_000_000:]
    (tmp_path / "broken.json").write_bytes(broken)
    with pytest.raises(TraceFormatError) as err:
        load_trace(tmp_path / "broken.json", cache=False)
    line = broken[:3_000_000].count(b"\n") + 1
    assert f"line {line} " in (err.value.position or "")
