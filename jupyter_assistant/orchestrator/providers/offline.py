"""The offline provider: a rule-based stand-in for a language model, used when none is
configured.

It drives the same turn loop, tools and events as a real model, deterministically:

1. On a user question it plans tool calls with keyword rules (:func:`plan_tools`) and answers
   with ``tool_use`` blocks (``stop_reason`` ``tool_use``): *slow/why/bottleneck/fix/
   improve/speed* -> ``diagnose`` (the findings with their evidence and fix);
   *summary/overview* ->
   ``trace_summary``; *slow/hot/time/hotspot/bottleneck* -> ``hotspots``;
   *compare/diff/regress/vs* -> ``compare_traces`` when two traces are loaded;
   *gpu/kernel/idle/utilization/cuda* -> ``gpu_breakdown``; *thread/gap/wait/blocked* ->
   ``thread_breakdown``; nothing matched -> ``diagnose`` + ``trace_summary`` +
   ``hotspots``. Only tools
   offered in the request are used. Without a trace it answers at once with what it can do.
2. When the last message holds ``tool_result`` blocks, it answers in text built from them
   (:func:`compose_answer`): the first line of each result (the trace tools state their
   finding there, with numbers; ``diagnose`` states the verdict), a few rule-based
   observations (the top finding's fix first, a dominant hotspot, an idle GPU, the biggest
   regression), then the diagnosis and the key tables, cut short.

The first line of every text answer says that no language model is configured and how to
configure one. The loaded trace ids are read from ``request.metadata["trace_ids"]`` when
present, else from the system prompt the assistant builds (``trace id "current"`` and the
``Other loaded traces`` line). Text streams in several :class:`TextPart` pieces; usage is
zero tokens.
"""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from typing import Any

import anyio
import anyio.lowlevel

from ._base import (
    MessageDone,
    ModelProvider,
    ModelRequest,
    StreamPart,
    TextPart,
    ToolUsePart,
    ToolUseStartPart,
    Usage,
)

__all__ = ["NOTICE", "OfflineProvider", "compose_answer", "plan_tools"]

#: The first line of every offline answer.
NOTICE = ("No language model is configured, so this is a rule-based answer from the trace "
          "tools (offline mode). To configure one, set ANTHROPIC_API_KEY, or pass "
          "`--model openai:<model id>` with OPENAI_BASE_URL for a local OpenAI-compatible "
          "server (Ollama, vLLM, llama.cpp), or set `c.AssistantApp.model`.")

_RULES: list[tuple[str, re.Pattern[str]]] = [
    ("diagnose", re.compile(r"slow|why|bottleneck|\bbound\b|fix|improve|speed|faster|"
                            r"problem|wrong|diagnos|what should|optimi[sz]")),
    ("trace_summary", re.compile(r"summar|overview|describe|what(?:'s| is) in|tell me about")),
    ("hotspots", re.compile(r"slow|hot|time|bottleneck|expensive|optimi[sz]|speed|spend|"
                            r"longest|heav|\btop\b|profil")),
    ("compare_traces", re.compile(r"compar|diff|regress|\bvs\.?\b|versus|faster|slower|"
                                  r"before|after")),
    ("gpu_breakdown", re.compile(r"gpu|kernel|idle|utili[sz]|cuda|nccl|device|stream")),
    ("thread_breakdown", re.compile(r"thread|gap|wait|block|concurren|parallel|busy")),
]
_BASE_NAMES = ("base", "baseline", "before", "control", "old", "reference")
_TEST_NAMES = ("test", "after", "new", "candidate", "current")
_OTHERS = re.compile(r"Other loaded traces \(pass their id to the trace tools\): ([^\n]+)")


def known_traces(request: ModelRequest) -> list[str]:
    """Trace ids the turn can use: ``metadata["trace_ids"]``, else the ones the system
    prompt names; ``"current"`` first."""
    ids = request.metadata.get("trace_ids")
    if ids is None:
        ids = ["current"] if 'trace id "current"' in request.system else []
        m = _OTHERS.search(request.system)
        if m:
            ids += [s.strip() for s in m.group(1).split(",") if s.strip()]
    ids = [str(i) for i in ids]
    return sorted(dict.fromkeys(ids), key=lambda i: (i != "current", i))


def _pick_pair(ids: list[str]) -> tuple[str, str]:
    """(base, test) among two or more ids: by name when they say so (base/before/control,
    test/after/current), else in order."""
    base = next((i for i in ids if i.lower() in _BASE_NAMES), None)
    test = next((i for i in ids if i != base and i.lower() in _TEST_NAMES), None)
    rest = [i for i in ids if i not in (base, test)]
    if base is None:
        base = rest.pop(0)
    if test is None:
        test = rest.pop(0)
    return base, test


def plan_tools(question: str, tool_names: set[str], trace_ids: list[str]
               ) -> list[tuple[str, dict[str, Any]]]:
    """The tool calls ``(name, input)`` the rules choose for ``question`` (see the module
    docstring); ``[]`` when there is no trace or no trace tool to call."""
    if not trace_ids:
        return []
    q = question.lower()
    trace = trace_ids[0]
    wanted = [name for name, rx in _RULES if rx.search(q)]
    calls: list[tuple[str, dict[str, Any]]] = []
    for name in wanted:
        if name == "compare_traces":
            if len(trace_ids) >= 2:
                base, test = _pick_pair(trace_ids)
                calls.append((name, {"base": base, "test": test}))
        elif name == "hotspots":
            calls.append((name, {"trace": trace, "n": 10}))
        elif name == "thread_breakdown":
            calls.append((name, {"trace": trace, "n": 8}))
        else:
            calls.append((name, {"trace": trace}))
    if not calls:
        calls = [("diagnose", {"trace": trace}), ("trace_summary", {"trace": trace}),
                 ("hotspots", {"trace": trace, "n": 10})]
    return [(n, a) for n, a in calls if n in tool_names]


def _text_of(content: Any) -> str:
    if isinstance(content, list):
        return "\n".join(str(b.get("text", "")) for b in content
                         if isinstance(b, dict) and b.get("type") == "text")
    return "" if content is None else str(content)


def _first_table(text: str, rows: int) -> str:
    lines = text.splitlines()
    start = next((i for i, ln in enumerate(lines) if ln.startswith("|")), None)
    if start is None:
        return ""
    end = start
    while end < len(lines) and lines[end].startswith("|"):
        end += 1
    body = lines[start:end]
    cut = body[: 2 + rows]
    if len(body) > len(cut):
        cut.append(f"\n({len(body) - 2 - rows} more rows)")
    return "\n".join(cut)


def _headline(text: str) -> str:
    """The first line of a tool result (where its finding is), cut to 4,000 characters: the
    patterns below backtrack quadratically on long text made of slice names."""
    return text.split("\n", 1)[0][:4000]


def _observations(results: dict[str, str]) -> list[str]:
    """Rule-based reading of the tools' headline numbers."""
    notes = []
    diag = results.get("diagnose", "")
    m = re.search(r"^1\. \*\*(\w+)\*\* \(([^)]*)\)\n(?:.*\n)*?   - Fix: (.+)$", diag, re.M)
    if m:
        notes.append(f"Change first ({m.group(1)}, {m.group(2)}): {m.group(3)}")
    hs = _headline(results.get("hotspots", ""))
    m = re.search(r"`([^`]+)` leads with (.+?) self time \(([\d.]+)% of", hs)
    if m and float(m.group(3)) >= 30:
        notes.append(f"`{m.group(1)}` alone takes {m.group(3)}% of the self time "
                     f"({m.group(2)}): start there.")
    elif m:
        notes.append(f"No single name dominates: the top one, `{m.group(1)}`, has "
                     f"{m.group(3)}% of the self time, so look at the whole top of the list.")
    gpu = _headline(results.get("gpu_breakdown", ""))
    m = re.search(r"idle ([\d.]+)%, computing ([\d.]+)%", gpu)
    if m and float(m.group(1)) >= 50:
        notes.append(f"The GPU is idle {m.group(1)}% of the time: the GPU waits for the CPU "
                     "side (data loading, kernel launches, synchronisation, host-device copies). "
                     "Look at the CPU hotspots and at the idle gaps.")
    elif m:
        notes.append(f"The GPU computes {m.group(2)}% of the time and is idle {m.group(1)}%.")
    cmp_ = _headline(results.get("compare_traces", ""))
    m = re.search(r"Biggest regression: `([^`]+)` \+(.+?)(?:,|\.\s|\.$)", cmp_)
    if m:
        notes.append(f"The largest regression is `{m.group(1)}` (+{m.group(2).strip()} of "
                     "self time).")
    return notes


def compose_answer(calls: dict[str, tuple[str, dict[str, Any]]],
                   results: list[dict[str, Any]]) -> str:
    """The text answer for ``tool_result`` blocks ``results``; ``calls`` maps a tool_use id
    to its ``(tool name, input)``. Starts with :data:`NOTICE`."""
    by_tool: dict[str, str] = {}
    findings, errors, sections = [], [], []
    for r in results:
        name, _args = calls.get(str(r.get("tool_use_id")), ("tool", {}))
        text = _text_of(r.get("content")).strip()
        first = text.splitlines()[0] if text else "(empty result)"
        if r.get("is_error"):
            errors.append(f"- `{name}` failed: {first}")
            continue
        by_tool[name] = text
        if name == "trace_summary":
            sections.append(f"### Trace summary\n\n{text}\n")
            continue
        if name == "diagnose":
            findings.append(f"- {first}")
            sections.insert(0, f"### Diagnosis\n\n{text.split(chr(10), 1)[-1].strip()}\n")
            continue
        findings.append(f"- {first}")
        table = _first_table(text, 8)
        if table:
            title = {"hotspots": "Hotspots", "gpu_breakdown": "GPU",
                     "thread_breakdown": "Threads", "compare_traces": "Comparison"}.get(
                         name, name)
            sections.append(f"### {title}\n\n{table}\n")
    parts = [NOTICE, ""]
    if findings:
        parts += ["**Findings**", "", *findings, ""]
    notes = _observations(by_tool)
    if notes:
        parts += ["**What it suggests**", "", *[f"- {n}" for n in notes], ""]
    if errors:
        parts += ["**Tools that failed**", "", *errors, ""]
    parts += sections
    return "\n".join(parts).rstrip() + "\n"


def _no_trace_answer(tool_names: set[str]) -> str:
    can = []
    if "trace_summary" in tool_names:
        can.append("summarise a performance trace (Chrome/Perfetto JSON, PyTorch profiler / "
                   "Kineto, Chrome DevTools, speedscope, folded stacks, cProfile)")
        can.append("list its hotspots (self and inclusive time per function or op), thread "
                   "busy/idle time and gaps, GPU idle/compute/communication breakdowns")
    if "compare_traces" in tool_names:
        can.append("compare two traces to find regressions")
    if "read_file" in tool_names:
        can.append("read and edit files in the working directory (edits need your approval)")
    lines = [NOTICE, "", "No trace is loaded, so there is nothing to analyse yet."]
    if can:
        lines += ["", "Offline, I can:", *[f"- {c}" for c in can]]
    lines += ["", "Load a trace with `%assistant load PATH` in a notebook, "
              "`jupyter-assistant chat \"question\" --trace PATH` on the command line, or "
              "`Assistant.run(question, trace=PATH)` in Python, then ask e.g. \"why is it "
              "slow?\", \"is the GPU idle?\" or \"compare base and test\"."]
    return "\n".join(lines) + "\n"


def _last_question(messages: list[dict[str, Any]]) -> str:
    for m in reversed(messages):
        if m.get("role") != "user":
            continue
        content = m.get("content")
        if isinstance(content, str):
            return content
        text = _text_of(content)
        if text.strip():
            return text
    return ""


class OfflineProvider(ModelProvider):
    """The rule-based provider (see the module docstring). ``chunk_chars`` sets the size of
    the streamed text pieces; ``delay`` (s) paces them. Never raises for a well-formed
    request; costs nothing (``price()`` is ``None``)."""

    name = "offline"

    def __init__(self, model: str | None = None, *, config: Any = None, chunk_chars: int = 160,
                 delay: float = 0.0) -> None:
        self.model = model or "rules"
        self.chunk_chars = max(1, int(chunk_chars))
        self.delay = float(delay)

    async def _text(self, text: str) -> AsyncIterator[StreamPart]:
        pieces = re.findall(r"[^\n]*\n|[^\n]+$", text)
        buf = ""
        for piece in pieces:
            buf += piece
            if len(buf) >= self.chunk_chars:
                yield TextPart(buf)
                buf = ""
                await (anyio.sleep(self.delay) if self.delay else anyio.lowlevel.checkpoint())
        if buf:
            yield TextPart(buf)

    async def stream(self, request: ModelRequest) -> AsyncIterator[StreamPart]:
        """One deterministic 'model call': tool_use blocks for a question, text for tool
        results (see the module docstring)."""
        await anyio.lowlevel.checkpoint()
        messages = request.messages
        tool_names = {str(t.get("name")) for t in request.tools}
        last = messages[-1] if messages else {}
        content = last.get("content")
        results = [b for b in content if isinstance(b, dict) and b.get("type") == "tool_result"] \
            if last.get("role") == "user" and isinstance(content, list) else []
        if results:
            calls: dict[str, tuple[str, dict[str, Any]]] = {}
            for m in messages[:-1]:
                if m.get("role") == "assistant" and isinstance(m.get("content"), list):
                    for b in m["content"]:
                        if isinstance(b, dict) and b.get("type") == "tool_use":
                            calls[str(b.get("id"))] = (str(b.get("name")), b.get("input") or {})
            async for part in self._text(compose_answer(calls, results)):
                yield part
            yield MessageDone(stop_reason="end_turn", usage=Usage(), model=self.model)
            return
        plan = plan_tools(_last_question(messages), tool_names, known_traces(request))
        if not plan:
            async for part in self._text(_no_trace_answer(tool_names)):
                yield part
            yield MessageDone(stop_reason="end_turn", usage=Usage(), model=self.model)
            return
        for i, (name, args) in enumerate(plan):
            call_id = f"toolu_offline_{len(messages):03d}_{i}"
            yield ToolUseStartPart(id=call_id, name=name)
            yield ToolUsePart(id=call_id, name=name, input=dict(args))
        yield MessageDone(stop_reason="tool_use", usage=Usage(), model=self.model)
