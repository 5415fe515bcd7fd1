"""Every kind of source ``load_trace`` accepts (path, folder, bytes, binary and text file
objects), and gzip for every format, on real files."""

from __future__ import annotations

import gzip
import io
from pathlib import Path

import pandas as pd
import pytest

from jupyter_assistant import Trace, load_trace

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
