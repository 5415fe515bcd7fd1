"""Kernel benchmarks: ``%assistant`` in a real IPython kernel against the local Anthropic peer.

(a) time to first streamed text: from sending the ``%assistant`` execute request to the first
    widget update that carries answer text (what the user sees), for the first turn right after
    ``%load_ext`` (cold: the warm-up is still importing), the first turn once the warm-up is
    done (goal <= 300 ms), and later turns (median);
(b) kernel memory (RSS of the kernel process) over 100 turns: flat is the goal;
(c) interrupt: a turn whose stream stalls after its first words is interrupted (SIGINT, as
    JupyterLab's stop button sends it); time from the interrupt to the cell's end (goal <= 1 s).

The peer streams a 40-word answer in 8 deltas. The store is a SQLite file, as by default.
Run: ``python bench/kernel_bench.py [--turns 100]``; prints a markdown table and writes the
raw numbers to ``bench/results/kernel.json``.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import queue
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

from jupyter_client.manager import KernelManager

from jupyter_assistant.testing import AnthropicServer, Reply

ANSWER = " ".join(f"word{i}" for i in range(40))
WAIT_WARM_UP = ("import threading\n"
                "[t.join() for t in threading.enumerate() if t.name == "
                "'jupyter-assistant-warm-up']")


class Kernel:
    def __init__(self, env: dict[str, str]) -> None:
        self.km = KernelManager(kernel_name="python3")
        self.km.start_kernel(env=env)
        self.kc = self.km.client()
        self.kc.start_channels()
        self.kc.wait_for_ready(timeout=60)

    def run(self, code: str, timeout: float = 60) -> tuple[float, float | None]:
        """(seconds until idle, seconds until the first answer text or None)."""
        start = time.perf_counter()
        msg_id = self.kc.execute(code)
        first: float | None = None
        while True:
            try:
                msg = self.kc.get_iopub_msg(timeout=timeout)
            except queue.Empty:
                raise TimeoutError(code) from None
            content = msg["content"]
            if first is None and msg["msg_type"] == "comm_msg":
                outputs = content.get("data", {}).get("state", {}).get("outputs")
                if outputs and "word0" in json.dumps(outputs):
                    first = time.perf_counter() - start
            if (msg["parent_header"].get("msg_id") == msg_id and msg["msg_type"] == "status"
                    and content["execution_state"] == "idle"):
                break
        reply = self.kc.get_shell_msg(timeout=10)
        assert reply["content"]["status"] == "ok", reply["content"]
        return time.perf_counter() - start, first

    def interrupt_latency(self) -> float:
        """Seconds from interrupting a stalled turn to the end of its cell."""
        msg_id = self.kc.execute("%assistant [[stall after=6 seconds=60]] go")
        while True:  # wait for the first words
            msg = self.kc.get_iopub_msg(timeout=60)
            state = msg["content"].get("data", {}).get("state", {})
            if msg["msg_type"] == "comm_msg" and "outputs" in state and state["outputs"]:
                break
        start = time.perf_counter()
        self.km.interrupt_kernel()
        while True:
            msg = self.kc.get_iopub_msg(timeout=60)
            if (msg["parent_header"].get("msg_id") == msg_id and msg["msg_type"] == "status"
                    and msg["content"]["execution_state"] == "idle"):
                elapsed = time.perf_counter() - start
                break
        reply = self.kc.get_shell_msg(timeout=10)
        assert reply["content"]["status"] == "ok", reply["content"]
        return elapsed

    def rss_mb(self) -> float:
        pid = self.km.provisioner.process.pid  # type: ignore[union-attr]
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
        raise RuntimeError("no VmRSS")

    def close(self) -> None:
        self.kc.stop_channels()
        self.km.shutdown_kernel(now=True)


def ms(seconds: float) -> str:
    return f"{seconds * 1000:,.0f} ms"


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--turns", type=int, default=100)
    args = parser.parse_args()
    results: dict[str, Any] = {"machine": platform.platform(), "cpus": os.cpu_count()}
    with AnthropicServer() as peer, tempfile.TemporaryDirectory() as tmp:
        peer.set_default(lambda body: Reply.text(ANSWER, chunks=8))
        env = {**os.environ, "ANTHROPIC_BASE_URL": peer.base_url,
               "ANTHROPIC_API_KEY": "sk-ant-bench", "JUPYTER_DATA_DIR": tmp}
        # (a) cold: the first turn right after %load_ext
        k = Kernel(env)
        try:
            k.run("%load_ext jupyter_assistant")
            results["cold_first_text_s"] = k.run("%assistant hello")[1]
        finally:
            k.close()
        # (a) warm, then (b) memory
        k = Kernel(env)
        try:
            load_s, _ = k.run("%load_ext jupyter_assistant")
            results["load_ext_s"] = load_s
            k.run(WAIT_WARM_UP)
            results["warm_first_text_s"] = k.run("%assistant hello")[1]
            later: list[float] = []
            turn_s: list[float] = []
            rss: dict[int, float] = {1: k.rss_mb()}
            for i in range(2, args.turns + 1):
                total, first = k.run(f"%assistant question {i}")
                assert first is not None
                later.append(first)
                turn_s.append(total)
                if i in (10, 25, 50, 75) or i % 100 == 0 or i == args.turns:
                    rss[i] = k.rss_mb()
            results["later_first_text_median_s"] = statistics.median(later)
            results["later_first_text_p90_s"] = sorted(later)[int(0.9 * len(later))]
            results["turn_median_s"] = statistics.median(turn_s)
            results["rss_mb"] = rss
            peer.set_default(None)  # directives: the stall
            results["interrupt_s"] = [k.interrupt_latency() for _ in range(5)]
        finally:
            k.close()
    out = Path(__file__).parent / "results" / "kernel.json"
    out.write_text(json.dumps(results, indent=2) + "\n")
    print("| measure | value |\n|---|---|")
    print(f"| `%load_ext jupyter_assistant` | {ms(results['load_ext_s'])} |")
    print(f"| first text, first turn right after `%load_ext` (cold) | "
          f"{ms(results['cold_first_text_s'])} |")
    print(f"| first text, first turn after the warm-up (goal <= 300 ms) | "
          f"{ms(results['warm_first_text_s'])} |")
    print(f"| first text, later turns (median / p90) | {ms(results['later_first_text_median_s'])}"
          f" / {ms(results['later_first_text_p90_s'])} |")
    print(f"| whole turn, later turns (median) | {ms(results['turn_median_s'])} |")
    print(f"| interrupt -> cell ends (median of 5, max) | "
          f"{ms(statistics.median(results['interrupt_s']))}, "
          f"{ms(max(results['interrupt_s']))} |")
    print("| kernel RSS after turn " + ", ".join(str(k) for k in rss) + " | "
          + ", ".join(f"{v:,.0f}" for v in rss.values()) + " MB |")


if __name__ == "__main__":
    main()
