"""Load bench of the server extension: concurrent chats over SSE against a real
``jupyter server`` subprocess and the local Anthropic-protocol server (another subprocess).

Measures, for ``--turns`` chat turns run by ``--concurrency`` clients at once:

- time from sending ``POST /assistant/api/chat`` to the first SSE event (p50, p99, ms), and
  to the first ``text_delta`` (the model's first token, through the whole stack);
- events per second received by all clients together;
- errors: a non-200 answer, a stream that does not end with ``message_complete``, or a gap
  in the ``seq`` numbers (goal: none);
- the server's resident memory (VmRSS of the jupyter server process) every 100 turns, after
  a warm-up round (goal: flat).

Each turn asks the model for ``--deltas`` text deltas (``[[tokens n=N delay=D]]``), so one
turn is ``session_started``, N ``text_delta``, ``usage`` and ``message_complete`` events,
every one of them stored in SQLite before it is sent.

Usage::

    python bench/server_load.py    # 50 concurrent, 1,000 turns -> bench/results/server_load.json
    python bench/server_load.py --turns 200 --json /tmp/out.json
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import json
import os
import platform
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path
from typing import Any

import numpy as np
from tornado.httpclient import AsyncHTTPClient, HTTPClientError, HTTPRequest

TOKEN = "bench-token"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def rss_mb(pid: int) -> float:
    """Resident set size of ``pid`` in MiB (VmRSS from /proc)."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise RuntimeError(f"no VmRSS for pid {pid}")


def wait_http(url: str, proc: subprocess.Popen[bytes], timeout: float = 120) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"{proc.args} exited with {proc.returncode}")
        try:
            req = urllib.request.Request(url, headers={"Authorization": f"token {TOKEN}"})
            with urllib.request.urlopen(req, timeout=2):
                return
        except OSError:
            time.sleep(0.2)
    raise RuntimeError(f"{url} did not answer within {timeout} s")


def start_servers(home: Path) -> tuple[subprocess.Popen[bytes], subprocess.Popen[bytes], int]:
    """The Anthropic peer and the jupyter server, both subprocesses; returns the server port."""
    peer_port, port = free_port(), free_port()
    peer = subprocess.Popen([sys.executable, "-m", "jupyter_assistant.testing.anthropic_server",
                             "--port", str(peer_port)], stdout=subprocess.DEVNULL)
    (home / "config").mkdir()
    (home / "root").mkdir()
    (home / "config" / "jupyter_server_config.json").write_text(json.dumps({
        "ServerApp": {"jpserver_extensions": {"jupyter_assistant": True}},
        "AssistantApp": {"store_url": f"sqlite:///{home / 'assistant.db'}",
                         "traces_dir": str(home / "traces"), "model": "anthropic:claude-bench",
                         "chat_rate_limit": "1000000/minute"},
    }))
    env = {**os.environ, "JUPYTER_CONFIG_DIR": str(home / "config"),
           "JUPYTER_DATA_DIR": str(home / "data"), "JUPYTER_RUNTIME_DIR": str(home / "runtime"),
           "ANTHROPIC_BASE_URL": f"http://127.0.0.1:{peer_port}",
           "ANTHROPIC_API_KEY": "sk-ant-bench-dummy"}
    log = open(home / "server.log", "wb")
    server = subprocess.Popen(
        [sys.executable, "-m", "jupyter_server", "--ServerApp.ip=127.0.0.1",
         f"--ServerApp.port={port}", "--ServerApp.port_retries=0",
         f"--IdentityProvider.token={TOKEN}", "--ServerApp.open_browser=False",
         "--ServerApp.allow_root=True", f"--ServerApp.root_dir={home / 'root'}",
         "--ServerApp.log_level=WARN"], env=env, stdout=log, stderr=subprocess.STDOUT)
    log.close()
    wait_http(f"http://127.0.0.1:{port}/api/status", server)
    return peer, server, port


class Turn:
    """One chat turn as a client sees it."""

    def __init__(self) -> None:
        self.t0 = 0.0
        self.first_event: float | None = None
        self.first_delta: float | None = None
        self.end = 0.0
        self.seqs: list[int] = []
        self.types: list[str] = []
        self.error: str | None = None
        self._buf = b""

    def feed(self, chunk: bytes) -> None:
        now = time.perf_counter()
        self._buf += chunk
        while b"\n\n" in self._buf:
            block, self._buf = self._buf.split(b"\n\n", 1)
            if block.startswith(b":"):
                continue
            fields = dict(line.split(": ", 1) for line in block.decode().split("\n"))
            self.seqs.append(int(fields["id"]))
            self.types.append(fields["event"])
            if self.first_event is None:
                self.first_event = now
            if fields["event"] == "text_delta" and self.first_delta is None:
                self.first_delta = now


async def run_turn(client: AsyncHTTPClient, port: int, i: int, deltas: int,
                   delay: float) -> Turn:
    turn = Turn()
    body = json.dumps({"message": f"load turn {i} [[tokens n={deltas} delay={delay}]]"})
    request = HTTPRequest(f"http://127.0.0.1:{port}/assistant/api/chat", method="POST",
                          body=body, headers={"Authorization": f"token {TOKEN}",
                                              "Content-Type": "application/json"},
                          streaming_callback=turn.feed, request_timeout=120)
    turn.t0 = time.perf_counter()
    try:
        response = await client.fetch(request, raise_error=False)
        if response.code != 200:
            turn.error = f"HTTP {response.code}"
    except (HTTPClientError, OSError) as exc:
        turn.error = f"{type(exc).__name__}: {exc}"
    turn.end = time.perf_counter()
    if turn.error is None:
        if not turn.types or turn.types[-1] != "message_complete":
            turn.error = f"stream ended with {turn.types[-1:] or 'nothing'}"
        elif turn.seqs != list(range(1, len(turn.seqs) + 1)):
            turn.error = "seq gap"
    return turn


async def load(port: int, server_pid: int, *, turns: int, concurrency: int, deltas: int,
               delay: float, warmup: int) -> dict[str, Any]:
    client = AsyncHTTPClient(force_instance=True, max_clients=concurrency + 5)
    # warm-up: imports, SQLite caches, the SDK's connection pool
    await asyncio.gather(*(run_turn(client, port, -k, deltas, delay) for k in range(warmup)))
    rss = [(0, rss_mb(server_pid))]
    done: list[Turn] = []
    counter = iter(range(turns))

    async def worker() -> None:
        for i in counter:
            done.append(await run_turn(client, port, i, deltas, delay))
            if len(done) % 100 == 0:
                rss.append((len(done), rss_mb(server_pid)))

    start = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(concurrency)))
    wall = time.perf_counter() - start
    client.close()

    ok = [t for t in done if t.error is None]
    first = np.array([(t.first_event - t.t0) * 1000 for t in ok if t.first_event])
    first_delta = np.array([(t.first_delta - t.t0) * 1000 for t in ok if t.first_delta])
    total = np.array([(t.end - t.t0) * 1000 for t in ok])
    events = sum(len(t.seqs) for t in done)
    errors: dict[str, int] = {}
    for t in done:
        if t.error:
            errors[t.error] = errors.get(t.error, 0) + 1
    return {
        "turns": len(done), "concurrency": concurrency, "deltas_per_turn": deltas,
        "delta_delay_s": delay, "wall_s": wall, "turns_per_s": len(done) / wall,
        "events": events, "events_per_s": events / wall,
        "first_event_ms": {"p50": float(np.percentile(first, 50)),
                           "p99": float(np.percentile(first, 99)), "max": float(first.max())},
        "first_text_delta_ms": {"p50": float(np.percentile(first_delta, 50)),
                                "p99": float(np.percentile(first_delta, 99))},
        "turn_ms": {"p50": float(np.percentile(total, 50)),
                    "p99": float(np.percentile(total, 99))},
        "errors": sum(errors.values()), "error_kinds": errors,
        "rss_mb": [{"after_turns": n, "rss_mb": round(v, 1)} for n, v in rss],
        "rss_growth_mb": rss[-1][1] - rss[0][1],
        "rss_growth_second_half_mb": rss[-1][1] - dict(rss).get(len(done) // 2, rss[0][1]),
    }


def machine() -> str:
    cpu = next((ln.split(":", 1)[1].strip() for ln in
                Path("/proc/cpuinfo").read_text().splitlines() if ln.startswith("model name")),
               platform.processor())
    return f"{os.cpu_count()} cores ({cpu}), Python {platform.python_version()}, " \
           f"{platform.system()} {platform.release()}"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--turns", type=int, default=1000)
    parser.add_argument("--concurrency", type=int, default=50)
    parser.add_argument("--deltas", type=int, default=40, help="text deltas per answer")
    parser.add_argument("--delay", type=float, default=0.005,
                        help="seconds between the model's stream events")
    parser.add_argument("--warmup", type=int, default=50)
    parser.add_argument("--json", type=Path,
                        default=Path(__file__).parent / "results" / "server_load.json",
                        help="where to write the results (JSON)")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="server-load-") as tmp:
        peer, server, port = start_servers(Path(tmp))
        try:
            results = asyncio.run(load(port, server.pid, turns=args.turns,
                                       concurrency=args.concurrency, deltas=args.deltas,
                                       delay=args.delay, warmup=args.warmup))
        finally:
            for proc in (server, peer):
                proc.send_signal(signal.SIGTERM)
                try:
                    proc.wait(20)
                except subprocess.TimeoutExpired:
                    proc.kill()
    results["machine"] = machine()
    results["date"] = dt.date.today().isoformat()
    results["load_average_at_end"] = os.getloadavg()
    print(json.dumps(results, indent=2))
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(json.dumps(results, indent=2) + "\n")
    return 0 if results["errors"] == 0 else 1


if __name__ == "__main__":
    raise SystemExit(main())
