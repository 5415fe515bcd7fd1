"""Trace summaries: they fit the token budget on small and huge traces, name the real
hotspots, and give the GPU numbers of the temporal breakdown."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest

from jupyter_assistant import InputError, Trace, load_trace
from jupyter_assistant.traces import build_slice_table
from jupyter_assistant.traces._text import estimate_tokens, format_pct, format_us, short_name
from jupyter_assistant.traces.summary import Summary, summarize

DATA = Path(__file__).resolve().parents[1] / "data"
BUDGETS = [200, 350, 700, 1500, 4000]


def _huge_trace(n: int = 300_000, threads: int = 40) -> Trace:
    """``n`` slices, 1000 distinct 200-character names, nested 3 deep, on many threads."""
    rng = np.random.default_rng(0)
    names = [f"ns::module_{i:04d}::" + "VeryLongTemplate<" * 10 + "x" * 20 for i in range(1000)]
    per = n // (threads * 3)
    name, tid, ts, dur = [], [], [], []
    for t in range(threads):
        starts = np.arange(per) * 100.0
        for depth, (off, d) in enumerate(((0.0, 90.0), (10.0, 50.0), (20.0, 10.0))):
            idx = rng.integers(0, 1000, per) if depth else rng.integers(0, 1000, per) % 50
            name += [names[i] for i in idx]
            tid += [t] * per
            ts += (starts + off).tolist()
            dur += [d] * per
    cols = {"name": name, "cat": [""] * len(name), "pid": [1] * len(name), "tid": tid,
            "ts": ts, "dur": dur}
    return Trace(events=build_slice_table(cols), metadata={"format": "chrome",
                                                           "source": "huge.json"})


@pytest.fixture(scope="module")
def huge() -> Trace:
    return _huge_trace()


@pytest.mark.parametrize("which", ["torch_cpu", "hta/trace_compare/base", "hta/trace_filter",
                                   "hta/df_index_resolver", "huge"])
def test_summary_fits_every_budget(which: str, load_shared: Callable[[str], Trace],
                                   huge: Trace) -> None:
    if which == "torch_cpu":
        trace = load_trace(DATA / "torch_cpu_trace.json.gz")
    elif which == "huge":
        trace = huge
    else:
        trace = load_shared(which)
    previous = 0
    for budget in BUDGETS:
        s = summarize(trace, max_tokens=budget)
        assert isinstance(s, Summary)
        assert s.tokens == estimate_tokens(s.text) <= budget, (budget, s.tokens)
        assert s.text.strip() and "header" in s.sections
        assert s.tokens >= previous * 0.9 or s.tokens >= budget * 0.5  # grows with the budget
        previous = s.tokens
    assert "hotspots" in summarize(trace, max_tokens=4000).sections


def test_tiny_budgets_still_fit(huge: Trace) -> None:
    for budget in (1, 10, 40, 80):
        s = summarize(huge, max_tokens=budget)
        assert s.tokens <= budget


def _assert_names_top(text: str, name: str) -> None:
    # the start of the name, as the most compact level shows it (middle ellipsis)
    assert short_name(name, 40).split("…")[0] in text, f"{name!r} not in summary"


def test_top_hotspot_cpu_only_kineto() -> None:
    trace = load_trace(DATA / "torch_cpu_trace.json.gz")
    top = trace.hotspots(1, kind="cpu").iloc[0]
    text = summarize(trace).text
    assert f"| {top['name']} | {top['count']} | {format_us(top['self_dur'])} | " \
           f"{format_pct(top['self_pct'])} |" in text
    assert "PyTorch Profiler" not in text       # the profiler's own span is not a hotspot
    _assert_names_top(summarize(trace, max_tokens=200).text, top["name"])


def test_top_hotspot_and_gpu_numbers_kineto(load_shared: Callable[[str], Trace]) -> None:
    trace = load_shared("hta/trace_diff/control")
    text = summarize(trace).text
    _assert_names_top(text, trace.hotspots(1, kind="cpu")["name"].iloc[0])
    _assert_names_top(text, trace.hotspots(1, kind="gpu")["name"].iloc[0])
    tb = trace.temporal_breakdown().iloc[0]
    assert (f"rank {int(tb['rank'])}: kernel time {format_us(tb['kernel_time(us)'])}; "
            f"compute {tb['compute_time_pctg']:.2f}%, non-compute "
            f"{tb['non_compute_time_pctg']:.2f}%, idle {tb['idle_time_pctg']:.2f}%") in text
    kt = trace.kernel_type_breakdown().iloc[0]
    assert f"{kt['kernel_type']} {format_us(kt['sum'])} ({kt['percentage']:.1f}%)" in text


def test_gpu_numbers_every_rank(load_shared: Callable[[str], Trace]) -> None:
    trace = load_shared("hta/trace_filter")
    text = summarize(trace, max_tokens=2000).text
    for _, r in trace.temporal_breakdown().iterrows():
        assert (f"rank {int(r['rank'])}: kernel time {format_us(r['kernel_time(us)'])}; "
                f"compute {r['compute_time_pctg']:.2f}%") in text
    assert "2** ranks" in text


def test_top_hotspot_devtools_trace(load_shared: Callable[[str], Trace]) -> None:
    trace = load_shared("speedscope/Chrome/116/Trace-20230603T221323.json")
    assert "async" in set(trace.threads["kind"])    # async tracks are not CPU work
    top = trace.hotspots(1, kind="cpu").iloc[0]
    for budget in (200, 1500):
        _assert_names_top(summarize(trace, max_tokens=budget).text, top["name"])


def test_anomalies() -> None:
    rows = [("main", 1, 0.0, 100_000.0)]
    rows += [("tiny", 1, 10.0 + 20 * i, 2.0) for i in range(1500)]
    rows += [("work", 2, 0.0, 1000.0), ("work", 2, 80_000.0, 1000.0)]   # 79 ms idle gap
    cols = {"name": [r[0] for r in rows], "cat": [""] * len(rows), "pid": [1] * len(rows),
            "tid": [r[1] for r in rows], "ts": [r[2] for r in rows],
            "dur": [r[3] for r in rows]}
    trace = Trace(events=build_slice_table(cols),
                  metadata={"format": "chrome", "source": "a.json", "repaired": 3})
    text = summarize(trace).text
    assert "1,500 short `tiny` slices (median 2 µs, 3 ms in all)" in text
    assert "Idle gap of 79 ms" in text and "between `work` and `work`" in text
    assert "3 unmatched B/E events were repaired" in text
    assert "tiny" not in summarize(trace, max_tokens=120).text.split("Anomalies")[-1] or \
        "anomalies" in summarize(trace, max_tokens=120).omitted


def test_summary_object(load_shared: Callable[[str], Trace]) -> None:
    trace = load_shared("hta/trace_filter")
    s = trace.summary(max_tokens=300)
    assert str(s) == s.text == s._repr_markdown_()
    assert s.to_dict()["tokens"] == s.tokens and s.to_dict()["max_tokens"] == 300
    assert s.omitted and f"Left out to fit 300 tokens: {', '.join(s.omitted)}" in s.text
    assert set(s.sections).isdisjoint(s.omitted)
    with pytest.raises(InputError, match="max_tokens must be at least 1, not 0") as info:
        summarize(trace, max_tokens=0)
    assert isinstance(info.value, ValueError)  # as before, for code that caught that


def test_text_helpers() -> None:
    assert [format_us(x) for x in (0.25, 12.34, 4567.0, 1_234_567.0, 125e6)] == [
        "250 ns", "12.3 µs", "4.57 ms", "1.23 s", "2 min 5 s"]
    assert format_pct(0.04) == "<0.1%" and format_pct(42.06) == "42.1%"
    assert estimate_tokens("hello world") == 4
    # every punctuation mark, digit run and word counts: 13 (BPE tokenizers give ~11-13)
    assert estimate_tokens("| aten::mm | 15 | 12.2 ms |") == 13
    assert estimate_tokens("µs") == 3
    text = "x" * 4000
    assert estimate_tokens(text) >= 1000


def test_sample_counts_are_not_printed_as_microseconds() -> None:
    """Folded stacks without a sampling interval are in samples, and the summary says so."""
    from pathlib import Path

    from jupyter_assistant import load_trace

    data = Path(__file__).resolve().parents[1] / "data" / "workload.py-spy.folded.txt"
    trace = load_trace(data)
    assert trace.metadata["unit"] == "samples"
    text = trace.summary(max_tokens=800).text
    assert "samples" in text
    assert "µs" not in text and " ms" not in text
    # and the unit does not leak into the next summary of a trace in µs
    other = load_trace(Path(__file__).resolve().parents[1] / "data" / "torch_cpu_trace.json.gz")
    assert "samples**" not in other.summary(max_tokens=800).text


#: every trace under shared/traces that load_trace reads (the rest are other formats),
#: except the three largest, which the tests above and test_gpu_breakdown.py cover
SHARED_LOADABLE = [
    "hta/amd_trace", "hta/call_stack", "hta/cpu_only", "hta/critical_path/alexnet",
    "hta/critical_path/cuda_event_sync", "hta/critical_path/cuda_event_sync_multi_stream",
    "hta/critical_path/simple_add", "hta/cupti_profiler",
    "hta/distributed_info_unavailable", "hta/execution_trace/benchmark_simple_add_trace"
    ".json.gz", "hta/mtia_inference_trace", "hta/nccl_parser_config",
    "hta/ns_resolution_trace", "hta/rank_non_gpu", "hta/rank_unavailable",
    "hta/trace_compare/base", "hta/trace_compare/test", "hta/trace_file_list",
    "hta/trace_filter", "hta/triton_example",
    "speedscope/Chrome/116/Trace-20230603T221323.json", "speedscope/Chrome/141/no-arg-data.json",
    "speedscope/Chrome/65/simple.cpuprofile", "speedscope/Chrome/69/simple.json",
    "speedscope/node/10.11.0/example.cpuprofile",
    "speedscope/speedscope/0.0.1/simple.speedscope.json",
    "speedscope/speedscope/0.1.2/simple-sampled.speedscope.json",
    "speedscope/speedscope/0.6.0/two-sampled.speedscope.json",
    "speedscope/stackcollapse/perf-vertx-stacks-01-collapsed-all.txt",
    "speedscope/stackcollapse/recursion.txt", "speedscope/stackcollapse/simple.txt",
    "speedscope/trace-event/matching-x.json",
    "speedscope/trace-event/multi-thread-with-samples.json",
    "speedscope/trace-event/multiprocess.json", "speedscope/trace-event/simple-hermes.json",
    "speedscope/trace-event/simple-object.json", "speedscope/trace-event/simple-partial.json",
    "speedscope/trace-event/simple-with-samples.json", "speedscope/trace-event/simple.json",
    "speedscope/trace-event/unbalanced-name.json",
    "speedscope/trace-event/zero-duration-events.json",
]
_DURATION = r"(\d[\d,]*(\.\d+)? (ns|µs|ms|s|samples|units|bytes)|\d+ min \d+ s)"


@pytest.mark.parametrize("rel", SHARED_LOADABLE)
def test_every_shared_trace_fits_and_names_the_true_top(rel: str,
                                                        load_shared: Callable[[str], Trace]
                                                        ) -> None:
    import re

    trace = load_shared(rel)
    kinds = set(trace.threads["kind"]) if "kind" in trace.threads else set()
    top = trace.hotspots(1, kind="cpu") if kinds - {"cpu"} else trace.hotspots(1)
    by_name = trace.events.groupby("name", observed=True)["self_dur"].sum()
    if kinds - {"cpu"}:
        cpu = trace.threads.loc[trace.threads["kind"] == "cpu", ["pid", "tid"]]
        ev = trace.events.merge(cpu, on=["pid", "tid"])
        by_name = ev.groupby("name", observed=True)["self_dur"].sum()
    assert top["self_dur"].iloc[0] == pytest.approx(by_name.max())  # the true top
    for budget in (200, 500, 1500, 4000):
        s = trace.summary(max_tokens=budget)
        assert s.tokens == estimate_tokens(s.text) <= budget, (budget, s.tokens)
        if budget >= 500:
            _assert_names_top(s.text, top["name"].iloc[0])
    table = trace.summary(max_tokens=4000).text.split("### Top self time")[1].split("\n\n")[0]
    rows = [r.split(" | ") for r in table.splitlines() if r.startswith("| ")][2:]
    assert rows and all(re.fullmatch(_DURATION, r[2]) and re.fullmatch(_DURATION, r[4][:-2])
                        for r in rows), table


def test_a_trace_without_slices_says_so() -> None:
    trace = load_trace(b'[{"ph": "M", "name": "thread_name", "pid": 1, "tid": 1, '
                       b'"args": {"name": "main"}}, {"ph": "i", "name": "mark", "ts": 5}]')
    assert len(trace.events) == 0
    for budget in (200, 1500):
        s = trace.summary(max_tokens=budget)
        assert s.tokens <= budget
        assert "No slices: the trace holds no duration events" in s.text
        assert "hotspots" not in s.sections
