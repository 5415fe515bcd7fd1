"""Orchestrator benchmarks against the local Anthropic peer (real SDK, real HTTP, 127.0.0.1).

(a) parallel tools: one response with 5 tool calls of 1 s each; turn time / 1 s (goal <= 1.1).
(b) overhead: time to first ``text_delta`` and total time of a 2,000-token streamed answer,
    ``Assistant.run`` against the bare SDK stream (``messages.create(stream=True)``), median
    of interleaved runs (goal <= 5% total overhead).
(c) faults: N turns with 30% injected faults (429/529/500, dropped connection, stall,
    truncation before any output = transient; mid-stream overloaded error, drop, stall =
    not retryable), run C at a time: turns not ending within deadline + 1 s (goal 0) and
    share of transient faults recovered (goal >= 95%).

Run: ``python bench/orchestrator_bench.py [--turns 500] [--concurrency 20]``; prints a
markdown table (and JSON with ``--json``) and writes the raw numbers to
``bench/results/orchestrator.json``.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import random
import statistics
import time
from pathlib import Path
from typing import Any

import anthropic
import anyio

from jupyter_assistant import Assistant, AssistantConfig, tool
from jupyter_assistant.testing import AnthropicServer, Reply

MODEL = "claude-sonnet-5-5"


@tool
async def wait_one_second() -> str:
    """Sleeps 1 s."""
    await anyio.sleep(1.0)
    return "waited 1 s"


def assistant(**kw: Any) -> Assistant:
    cfg = AssistantConfig(model_retries=3, retry_base_delay=0.05, retry_max_delay=0.5)
    return Assistant(f"anthropic:{MODEL}", include_default_tools=False, config=cfg, **kw)


async def bench_parallel_tools(server: AnthropicServer, reps: int) -> dict[str, Any]:
    """The first turn is cold (SDK client built, connection opened); then ``reps`` warm."""
    ratios = []
    async with assistant(tools=[wait_one_second]) as a:
        for _ in range(reps + 1):
            server.script(Reply.tool_uses([("wait_one_second", {})] * 5),
                          Reply.text("All five waits are done."))
            t0 = time.perf_counter()
            events = [e async for e in a.run("wait five times")]
            ratios.append((time.perf_counter() - t0) / 1.0)
            assert events[-1].type == "message_complete", events[-1].data
    return {"turn_time_over_1s": statistics.median(ratios[1:]), "cold_first_turn": ratios[0],
            "runs": ratios}


async def _bare_sdk(client: anthropic.AsyncAnthropic) -> tuple[float, float]:
    t0 = time.perf_counter()
    first = None
    stream = await client.messages.create(model=MODEL, max_tokens=4096, stream=True,
                                          messages=[{"role": "user", "content": "talk"}])
    async for event in stream:
        if first is None and event.type == "content_block_delta":
            first = time.perf_counter() - t0
    assert first is not None
    return first, time.perf_counter() - t0


async def _orchestrated(a: Assistant) -> tuple[float, float]:
    t0 = time.perf_counter()
    first = None
    async for event in a.run("talk"):
        if first is None and event.type == "text_delta":
            first = time.perf_counter() - t0
        last = event
    assert first is not None and last.type == "message_complete", last.data
    return first, time.perf_counter() - t0


async def bench_overhead(server: AnthropicServer, reps: int, tokens: int) -> dict[str, Any]:
    answer = Reply.text(" ".join(f"t{i}" for i in range(tokens)), chunks=tokens,
                        usage={"output_tokens": tokens})
    server.set_default(lambda body: answer)
    bare: list[tuple[float, float]] = []
    ours: list[tuple[float, float]] = []
    async with anthropic.AsyncAnthropic(max_retries=0) as client, assistant() as a:
        await _bare_sdk(client)  # warm up both paths (imports, connection pools)
        await _orchestrated(a)
        for i in range(reps):
            for which in ((0, 1) if i % 2 == 0 else (1, 0)):
                if which == 0:
                    bare.append(await _bare_sdk(client))
                else:
                    ours.append(await _orchestrated(a))
    server.set_default(None)

    def med(xs: list[tuple[float, float]], k: int) -> float:
        return statistics.median(x[k] for x in xs)

    return {"tokens": tokens, "reps": reps,
            "bare_ttft_ms": med(bare, 0) * 1e3, "ours_ttft_ms": med(ours, 0) * 1e3,
            "bare_total_ms": med(bare, 1) * 1e3, "ours_total_ms": med(ours, 1) * 1e3,
            "total_overhead_pct": (med(ours, 1) / med(bare, 1) - 1) * 100,
            "ttft_overhead_ms": (med(ours, 0) - med(bare, 0)) * 1e3}


TRANSIENT = ["error status=429 retry_after_ms=20", "error status=529", "error status=500",
             "drop after=0", "stall after=2 seconds=5", "truncate after=3"]
MID_STREAM = ["midstream_error after=5", "drop after=6", "stall after=6 seconds=5"]


async def bench_faults(turns: int, rate: float, concurrency: int, deadline: float,
                       idle: float, seed: int) -> dict[str, Any]:
    rng = random.Random(seed)
    plan: list[str | None] = []
    for _ in range(turns):
        if rng.random() >= rate:
            plan.append(None)
        else:
            plan.append(rng.choice(TRANSIENT if rng.random() < 0.7 else MID_STREAM))
    results: list[dict[str, Any]] = []
    limiter = anyio.Semaphore(concurrency)
    async with assistant(turn_deadline=deadline, stream_idle_timeout=idle) as a:
        async def one(i: int, fault: str | None) -> None:
            async with limiter:
                text = f"turn {i}" + (f" [[{fault} times=1 id={i}]]" if fault else "")
                t0 = time.perf_counter()
                events = [e async for e in a.run(text)]
                terminals = [e for e in events if e.is_terminal]
                results.append({"fault": fault, "seconds": time.perf_counter() - t0,
                                "end": events[-1].type, "code": events[-1].data.get("code"),
                                "ok_stream": len(terminals) == 1 and events[-1].is_terminal
                                and events[0].type == "session_started"})

        t0 = time.perf_counter()
        async with anyio.create_task_group() as tg:
            for i, fault in enumerate(plan):
                tg.start_soon(one, i, fault)
        wall = time.perf_counter() - t0
    transient = [r for r in results if r["fault"] in TRANSIENT]
    mid = [r for r in results if r["fault"] in MID_STREAM]
    late = [r for r in results if r["seconds"] > deadline + 1.0]
    return {"turns": turns, "faults": len(transient) + len(mid), "transient": len(transient),
            "transient_recovered_pct": 100.0 * sum(r["end"] == "message_complete"
                                                   for r in transient) / max(1, len(transient)),
            "mid_stream": len(mid),
            "mid_stream_ended_in_error": sum(r["end"] == "error" for r in mid),
            "clean_turns_completed": sum(r["end"] == "message_complete"
                                         for r in results if r["fault"] is None),
            "not_within_deadline_plus_1s": len(late), "bad_event_streams":
            sum(not r["ok_stream"] for r in results),
            "max_turn_s": max(r["seconds"] for r in results), "wall_s": wall,
            "deadline_s": deadline, "idle_timeout_s": idle, "concurrency": concurrency}


async def main_async(args: argparse.Namespace) -> dict[str, Any]:
    with AnthropicServer() as server:
        os.environ["ANTHROPIC_BASE_URL"] = server.base_url
        os.environ.setdefault("ANTHROPIC_API_KEY", "sk-bench-local")
        out = {"machine": f"{platform.machine()} {os.cpu_count()} cpu, "
                          f"Python {platform.python_version()}, anthropic {anthropic.__version__}",
               "date": time.strftime("%Y-%m-%d")}
        out["a"] = await bench_parallel_tools(server, args.reps_a)
        out["b"] = await bench_overhead(server, args.reps_b, args.tokens)
        out["c"] = await bench_faults(args.turns, args.fault_rate, args.concurrency,
                                      args.deadline, args.idle, args.seed)
    return out


def table(r: dict[str, Any]) -> str:
    a, b, c = r["a"], r["b"], r["c"]
    rows = [
        (f"(a) 5 tool calls of 1 s in one response: turn time / 1 s (median of "
         f"{len(a['runs']) - 1} warm turns; the cold first turn in brackets)", "<= 1.1",
         f"{a['turn_time_over_1s']:.3f} ({a['cold_first_turn']:.2f})"),
        (f"(b) {b['tokens']:,}-token answer, total time: ours vs bare SDK (median of "
         f"{b['reps']})", "<= 5%",
         f"{b['ours_total_ms']:.0f} ms vs {b['bare_total_ms']:.0f} ms "
         f"({b['total_overhead_pct']:+.1f}%)"),
        ("(b) time to first text_delta: ours vs bare SDK", "-",
         f"{b['ours_ttft_ms']:.1f} ms vs {b['bare_ttft_ms']:.1f} ms "
         f"({b['ttft_overhead_ms']:+.1f} ms)"),
        (f"(c) {c['turns']} turns, {c['faults']} faults injected: turns not ending within "
         f"deadline ({c['deadline_s']:g} s) + 1 s", "0", str(c["not_within_deadline_plus_1s"])),
        (f"(c) transient faults recovered ({c['transient']} before any output)", ">= 95%",
         f"{c['transient_recovered_pct']:.1f}%"),
        (f"(c) mid-stream faults ending in an `error` event ({c['mid_stream']})", "all",
         str(c["mid_stream_ended_in_error"])),
        ("(c) event streams breaking the contract (first/terminal/seq)", "0",
         str(c["bad_event_streams"])),
    ]
    lines = ["| benchmark | goal | result |", "|---|---|---|"]
    lines += [f"| {name} | {goal} | {value} |" for name, goal, value in rows]
    return "\n".join(lines)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--reps-a", type=int, default=5)
    p.add_argument("--reps-b", type=int, default=10)
    p.add_argument("--tokens", type=int, default=2000)
    p.add_argument("--turns", type=int, default=500)
    p.add_argument("--fault-rate", type=float, default=0.3)
    p.add_argument("--concurrency", type=int, default=20)
    p.add_argument("--deadline", type=float, default=3.0)
    p.add_argument("--idle", type=float, default=0.3)
    p.add_argument("--seed", type=int, default=7)
    p.add_argument("--json", action="store_true")
    p.add_argument("--out", type=Path,
                   default=Path(__file__).parent / "results" / "orchestrator.json")
    args = p.parse_args()
    result = anyio.run(main_async, args)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps({"args": {k: str(v) for k, v in vars(args).items()},
                                    **result}, indent=2))
    print(f"{result['machine']}, {result['date']}")
    print(table(result))
    if args.json:
        print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
