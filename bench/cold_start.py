"""Cold start: how soon a fresh process gives its first answer (issue 9).

(a) ``jupyter-assistant chat "..." --model anthropic:<model>`` as a new process against the
    local Anthropic peer (:class:`jupyter_assistant.testing.AnthropicServer` through
    ``ANTHROPIC_BASE_URL``, real SDK, real HTTP on 127.0.0.1): seconds from ``Popen`` to the
    first byte of streamed answer text on stdout (goal <= 1.5 s).
(b) A fresh Python process that imports ``jupyter_assistant``, makes an ``Assistant`` (the
    built-in tools and one async tool that sleeps 1 s) and runs its first turn, in which the
    model asks for that tool five times in one response: seconds from ``run()`` to
    ``message_complete`` (goal <= 1.3 s), and from process start to the end of the turn.
(floor) The same question streamed by the smallest program that uses the official SDK (a
    fresh ``python -c``: ``import anthropic``, ``Anthropic().messages.stream(...)``, write each
    text delta): seconds from ``Popen`` to its first text, and to the end of ``import
    anthropic`` alone (a fresh ``python -c "import anthropic"`` that then writes one byte).
    Any client that sends its first request through the SDK pays at least this; (a) minus the
    floor is what ``jupyter-assistant`` itself adds.

Every run is a new process; runs alternate (a), (b), the floors, and the medians are reported. Run
from the repository root: ``python bench/cold_start.py [--runs 5] [--source DIR]``; prints a
markdown table and writes the raw runs to ``bench/results/cold_start.json``.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

MODEL = "claude-sonnet-5-5"
HERE = Path(__file__).resolve().parent

_WORKER = r"""
import time
t_start = time.perf_counter()
import sys
import anyio
from jupyter_assistant import Assistant, tool

@tool
async def wait_one_second() -> str:
    '''Sleeps 1 s.'''
    await anyio.sleep(1.0)
    return "waited 1 s"

async def main():
    t_imported = time.perf_counter()
    async with Assistant("anthropic:MODEL_ID", tools=[wait_one_second]) as a:
        t_made = t_run = time.perf_counter()
        last = None
        async for event in a.run("wait [[parallel_tools n=5 tool=wait_one_second]]"):
            last = event
        t_end = time.perf_counter()
    assert last.type == "message_complete", last.data
    print(f"{t_imported - t_start} {t_made - t_start} {t_end - t_run} {t_end - t_start}")

anyio.run(main)
""".replace("MODEL_ID", MODEL)


#: ``--source DIR``: run the children against the package in DIR (e.g. an older commit,
#: ``git archive <commit> jupyter_assistant | tar -x -C DIR``) instead of the installed one.
SOURCE: str | None = None


#: The floor: the smallest official-SDK program that streams the answer's first text.
_SDK_STREAM = r"""
import sys
import anthropic
with anthropic.Anthropic().messages.stream(
        model="MODEL_ID", max_tokens=256,
        messages=[{"role": "user", "content": "Why is step 3 slow?"}]) as stream:
    for text in stream.text_stream:
        sys.stdout.write(text)
        sys.stdout.flush()
""".replace("MODEL_ID", MODEL)

#: The SDK's import alone, then one byte on stdout.
_SDK_IMPORT = "import sys, anthropic; sys.stdout.write('.'); sys.stdout.flush()"


def _env(base_url: str) -> dict[str, str]:
    env = {**os.environ, "ANTHROPIC_BASE_URL": base_url,
           "ANTHROPIC_API_KEY": os.environ.get("ANTHROPIC_API_KEY", "sk-bench-local")}
    env.pop("PYTHONPATH", None)
    if SOURCE:
        env["PYTHONPATH"] = SOURCE
    return env


def _cpu_seconds(pid: int) -> float:
    """User + system CPU seconds the process ``pid`` has used so far (``/proc/PID/stat``)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _first_byte(cmd: list[str], base_url: str) -> tuple[float, float, bytes]:
    """Seconds from ``Popen`` of ``cmd`` to its first stdout byte, the CPU seconds the
    process had used by then (less sensitive to a busy machine), and all it wrote."""
    t0 = time.perf_counter()
    proc = subprocess.Popen(cmd, env=_env(base_url), stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, stdin=subprocess.DEVNULL,
                            cwd=tempfile.gettempdir(), bufsize=0)
    assert proc.stdout is not None
    first = proc.stdout.read(1)
    elapsed = time.perf_counter() - t0
    cpu = _cpu_seconds(proc.pid)
    rest, err = proc.communicate(timeout=60)
    assert proc.returncode == 0 and first, (proc.returncode, err.decode()[-2000:])
    return elapsed, cpu, first + rest


def chat_first_text(base_url: str) -> tuple[float, float]:
    """(a): seconds from Popen of ``jupyter-assistant chat`` to its first stdout byte, and
    the CPU seconds the process had used by then."""
    exe = shutil.which("jupyter-assistant", path=str(Path(sys.executable).parent))
    # the installed console script names the installed package's entry point; an older
    # package given by --source may not have it, so that one runs as ``python -m``
    cmd = [exe] if exe and not SOURCE else [sys.executable, "-m", "jupyter_assistant"]
    cmd += ["chat", "Why is step 3 slow?", "--model", f"anthropic:{MODEL}"]
    elapsed, cpu, out = _first_byte(cmd, base_url)
    assert out.decode().startswith("You said"), out[:200]
    return elapsed, cpu


def python_first_byte(base_url: str, code: str) -> tuple[float, float]:
    """(floor): seconds from ``Popen`` of ``python -c code`` to its first stdout byte, and the
    CPU seconds it had used by then."""
    elapsed, cpu, _ = _first_byte([sys.executable, "-c", code], base_url)
    return elapsed, cpu


def five_tools_first_turn(base_url: str) -> tuple[float, float, float, float]:
    """(b): seconds from the first line of the script to (``jupyter_assistant`` imported,
    ``Assistant`` made), from ``run()`` to ``message_complete``, and from the first line to
    the end of the turn, measured inside a fresh interpreter (its own start-up, about
    20 ms, is not counted)."""
    # (not run from the repository root: `-c` puts the working directory first on sys.path)
    out = subprocess.run([sys.executable, "-c", _WORKER], env=_env(base_url),
                         capture_output=True, text=True, timeout=120,
                         cwd=tempfile.gettempdir())
    assert out.returncode == 0, out.stderr[-2000:]
    imported, made, turn, total = (float(x) for x in out.stdout.split())
    return imported, made, turn, total


def chat_exit(base_url: str) -> float:
    """Seconds from the last byte of ``jupyter-assistant chat``'s answer on stdout (its
    final newline; nothing more is printed) to the end of the process (``waitpid``). Run as
    ``python -m jupyter_assistant``, the console script's code path, so that ``--source``
    measures older commits too."""
    question = "Why is step 3 slow?"
    expected = f"You said: {question}\n".encode()
    proc = subprocess.Popen([sys.executable, "-m", "jupyter_assistant", "chat", question,
                             "--model", f"anthropic:{MODEL}"], env=_env(base_url),
                            cwd=tempfile.gettempdir(), stdout=subprocess.PIPE,
                            stderr=subprocess.DEVNULL, stdin=subprocess.DEVNULL, bufsize=0)
    assert proc.stdout is not None
    out = b""
    while not out.endswith(b"\n") and (chunk := os.read(proc.stdout.fileno(), 4096)):
        out += chunk
    t0 = time.perf_counter()
    proc.wait(timeout=60)
    elapsed = time.perf_counter() - t0
    assert proc.returncode == 0 and out == expected, (proc.returncode, out[:200])
    return elapsed


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--runs", type=int, default=5)
    p.add_argument("--out", type=Path, default=HERE / "results" / "cold_start.json")
    p.add_argument("--source", metavar="DIR", default=None,
                   help="run the children against the jupyter_assistant package in DIR")
    args = p.parse_args()
    global SOURCE
    SOURCE = str(Path(args.source).resolve()) if args.source else None

    from jupyter_assistant.testing import AnthropicServer  # the peer: always this checkout's

    exits: list[float] = []  # answer printed -> process exit
    chat: list[tuple[float, float]] = []
    tools: list[tuple[float, float, float, float]] = []
    floor: list[tuple[float, float]] = []
    sdk_import: list[tuple[float, float]] = []
    load_before = os.getloadavg()[0]
    with AnthropicServer() as server:
        chat_first_text(server.base_url)  # untimed: the first run writes .pyc files
        five_tools_first_turn(server.base_url)
        python_first_byte(server.base_url, _SDK_STREAM)
        for _ in range(args.runs):
            exits.append(chat_exit(server.base_url))
            chat.append(chat_first_text(server.base_url))
            tools.append(five_tools_first_turn(server.base_url))
            floor.append(python_first_byte(server.base_url, _SDK_STREAM))
            sdk_import.append(python_first_byte(server.base_url, _SDK_IMPORT))
    import anthropic
    import pandas

    result: dict[str, Any] = {
        "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
        "source": SOURCE or "installed",
        "machine": f"{platform.machine()}, {os.cpu_count()} cpu, {platform.platform()}, "
                   f"Python {platform.python_version()}, anthropic {anthropic.__version__}, "
                   f"pandas {pandas.__version__}",
        "load_avg_before": load_before, "load_avg_after": os.getloadavg()[0],
        "chat_first_text": [{"wall_s": w, "cpu_s": c} for w, c in chat],
        "sdk_stream_first_text": [{"wall_s": w, "cpu_s": c} for w, c in floor],
        "sdk_import": [{"wall_s": w, "cpu_s": c} for w, c in sdk_import],
        "five_tools": [{"imported_s": i, "assistant_made_s": m, "turn_s": t,
                        "process_to_turn_end_s": e} for i, m, t, e in tools],
        "chat_answer_to_exit_s": exits,
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2))
    med = statistics.median
    print(f"{result['machine']}; {result['date']}; load {load_before:.1f} -> "
          f"{result['load_avg_after']:.1f}")
    print("| measure | goal | median | runs |")
    print("|---|---|---:|---|")
    walls, cpus = [w for w, _ in chat], [c for _, c in chat]
    print(f"| (a) `chat`: process start -> first streamed text | <= 1.5 s | {med(walls):.2f} s | "
          + ", ".join(f"{x:.2f}" for x in walls) + " |")
    print(f"| (a) the same: CPU time (user + system) the process used by its first text | - | "
          f"{med(cpus):.2f} s | " + ", ".join(f"{x:.2f}" for x in cpus) + " |")
    for label, runs in (("smallest official-SDK program: process start -> first streamed text",
                         floor),
                        ("`python -c \"import anthropic\"`: process start -> import done",
                         sdk_import)):
        for k, what in ((0, "wall"), (1, "CPU")):
            xs = [r[k] for r in runs]
            print(f"| (floor) {label} ({what}) | - | {med(xs):.2f} s | "
                  + ", ".join(f"{x:.2f}" for x in xs) + " |")
    over = [c[0] - f[0] for c, f in zip(chat, floor, strict=True)]
    print(f"| (a) minus the floor, same round: what `jupyter-assistant chat` adds | - | "
          f"{med(over):.2f} s | " + ", ".join(f"{x:.2f}" for x in over) + " |")
    turns = [t for _, _, t, _ in tools]
    print(f"| (b) five parallel 1 s tools: first turn in a fresh process (`run()` -> "
          f"`message_complete`) | <= 1.3 s | {med(turns):.2f} s | "
          + ", ".join(f"{x:.2f}" for x in turns) + " |")
    for k, label in ((0, "`import jupyter_assistant` and the tool"),
                     (1, "imports + `Assistant(...)` (SDK, built-in tools) before the turn"),
                     (3, "first line of the script -> end of the first turn")):
        xs = [t[k] for t in tools]
        print(f"| (b) the same process: {label} | - | {med(xs):.2f} s | "
              + ", ".join(f"{x:.2f}" for x in xs) + " |")
    print(f"| `chat`: answer printed -> process exit | - | {med(exits):.3f} s | "
          + ", ".join(f"{x:.3f}" for x in exits) + " |")


if __name__ == "__main__":
    main()
