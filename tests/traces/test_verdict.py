"""The summary opens with a Verdict built from ``diagnose()``; DevTools summaries name the
JavaScript hotspot (``ProfileChunk`` samples) and the forced layouts."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from jupyter_assistant import Trace, load_trace
from jupyter_assistant.traces._text import estimate_tokens

DATA = Path(__file__).resolve().parents[1] / "data"


def test_verdict_opens_the_summary(load_shared: Callable[[str], Trace]) -> None:
    trace = load_shared("gpu/gpu_h2d_per_sample.json.gz")
    text = trace.summary(max_tokens=1500).text
    assert text.index("### Verdict") < text.index("### Busiest threads")
    verdict = text.split("### Verdict", 1)[1].split("###", 1)[0]
    d = trace.diagnose()
    assert d.attrs["headline"] in verdict  # "3 profiler steps of 23.8 ms ...; GPU busy ..."
    lines = [ln for ln in verdict.splitlines() if ln.startswith("- **")]
    assert lines[0].startswith(f"- **{d.iloc[0]['kind']}** ({d.iloc[0]['severity']}, ")
    assert "64 host<->device copies per step" in lines[0]
    assert len(lines) == min(3, len(d))


def test_verdict_shrinks_with_the_budget(load_shared: Callable[[str], Trace]) -> None:
    trace = load_shared("gpu/gpu_metrics_sync_each_iter.json.gz")
    for budget in (120, 300, 800):
        s = trace.summary(max_tokens=budget)
        assert s.tokens <= budget and estimate_tokens(s.text) <= budget
        assert "host_sync" in s.text, budget  # the top finding survives tight budgets


def test_devtools_summary_names_js_hotspot_and_forced_layouts() -> None:
    trace = load_trace(DATA / "devtools_forced_layout.json.gz")
    text = trace.summary(max_tokens=1500).text
    assert "### Top JavaScript functions (CPU samples)" in text
    js = trace.hotspots(3, kind="js")
    assert js.iloc[0]["name"] == "busy" and "| busy |" in text
    assert "**layout_thrashing** (high" in text and "600 forced synchronous" in text
    assert "**long_tasks** (high" in text


def test_js_hotspots_from_profilechunk_samples(load_shared: Callable[[str], Trace]) -> None:
    trace = load_shared("speedscope/Chrome/69/simple.json")
    js = trace.hotspots(5, kind="js")
    samples = trace.events[trace.events["cat"] == "cpu_sample"]
    assert set(js["name"]) <= set(samples["name"].astype(str))
    assert not js["name"].isin(["(program)", "(idle)", "(root)", "(garbage collector)"]).any()
    assert js.iloc[0]["name"] == "gamma"
    assert (js["total_dur"] >= js["self_dur"]).all()
    assert "### Top JavaScript functions (CPU samples)" in trace.summary(1500).text


def test_a_long_evidence_is_cut_at_a_word_and_never_inside_a_code_span() -> None:
    import pandas as pd

    from jupyter_assistant.traces.verdict import verdict_line

    evidence = ("NCCL collectives run 27.3 ms/step; the largest is `" + "k" * 300
                + "` at 32.9 ms.")
    row = pd.Series({"kind": "communication_bound", "severity": "medium", "share": 0.19,
                     "evidence": evidence})
    line = verdict_line(row, width=60)
    text = line.split("): ", 1)[1]
    assert text.startswith("NCCL collectives run 27.3 ms/step")  # the numbers stay whole
    assert text.endswith("…") and len(text) <= 60
    assert text.count("`") % 2 == 0  # no code span left open
    assert verdict_line(row.replace(evidence, "short"), width=60).endswith("): short")
