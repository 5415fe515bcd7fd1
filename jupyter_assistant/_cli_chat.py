"""The ``chat`` subcommand: ask the assistant one question from the command line.

``jupyter-assistant chat "question" [--trace PATH] [--base PATH] [--model M] [--json]``
streams the answer to stdout as it arrives (tool calls are noted on stderr), or with
``--json`` writes every event of the turn as one JSON object per line (the wire format of
:mod:`jupyter_assistant.events`). Exit status: 0 when the turn ends with
``message_complete``; 1 on ``error`` (its code and message on stderr) or ``cancelled``.
Ctrl-C cancels the turn cleanly (the assistant stops the model stream and running tools,
emits ``cancelled``) and exits 1.

Without ``--model`` the model comes from the configuration: Anthropic when
``ANTHROPIC_API_KEY`` is set, else the offline rule-based provider. Web search is offered
when ``BRAVE_SEARCH_API_KEY`` is set. File edits need ``--yes`` or a ``y`` answer on the
terminal.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import signal
import sys
import uuid
from contextlib import aclosing
from typing import Any

__all__ = ["add_parser", "run"]


def _seconds(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number of seconds") from None
    if not (value > 0 and math.isfinite(value)):
        raise argparse.ArgumentTypeError(f"must be more than 0 seconds, not {text}")
    return value


def _model_spec(text: str) -> str:
    if not text.strip():  # else an empty --model would quietly mean the default
        raise argparse.ArgumentTypeError(
            "is empty; use anthropic:<model id>, openai:<model id> or offline")
    return text


def _directory(text: str) -> str:
    if not os.path.isdir(text):
        raise argparse.ArgumentTypeError(
            f"{text!r} is not a directory" if os.path.exists(text) else
            f"no such directory: {text!r}")
    return text


def add_parser(subparsers: Any, name: str) -> argparse.ArgumentParser:
    """Add the ``chat`` subcommand to ``subparsers``."""
    p = subparsers.add_parser(
        name, help="ask the assistant a question (streams the answer)",
        description="Ask the assistant one question, optionally about a trace, and stream "
                    "the answer. Exit status 0 when the answer completes, 1 on an error "
                    "or a cancel (Ctrl-C).")
    p.add_argument("question", help="the question ('-' reads it from stdin)")
    p.add_argument("--trace", metavar="PATH", help="trace the question is about (trace id "
                   "'current')")
    p.add_argument("--base", metavar="PATH", help="a second trace, id 'base', to compare with")
    p.add_argument("--model", metavar="M", default=None, type=_model_spec,
                   help="model spec: anthropic:<id>, openai:<id> (OPENAI_BASE_URL), offline "
                        "(default: Anthropic when ANTHROPIC_API_KEY is set, else offline)")
    p.add_argument("--json", action="store_true", help="print every event as one JSON line")
    p.add_argument("--root", metavar="DIR", default=None, type=_directory,
                   help="directory file tools are confined to (default: the current one)")
    p.add_argument("--yes", action="store_true", help="apply file edits without asking")
    p.add_argument("--deadline", type=_seconds, default=None, metavar="S",
                   help="seconds the whole turn may take (default 90)")
    return p


def _tool_note(event: Any) -> str | None:
    d = event.data
    if event.type == "tool_use_start":
        args = json.dumps(d.get("input") or {}, ensure_ascii=False)
        return f"[tool] {d.get('name')} {args[:200]}"
    if event.type == "tool_use_complete":
        if d.get("is_error"):
            first = str(d.get("content", "")).splitlines()[:1]
            return f"[tool] {d.get('name')} failed: {first[0] if first else ''}"
        return f"[tool] {d.get('name')} done in {float(d.get('duration_ms', 0)):.0f} ms"
    return None


async def _approve_on_tty(name: str, tool_input: dict[str, Any]) -> bool:
    import anyio.to_thread

    path = tool_input.get("path", "")
    print(f"\n[approve] {name} {path}: apply? [y/N] ", end="", file=sys.stderr, flush=True)
    answer = await anyio.to_thread.run_sync(sys.stdin.readline, abandon_on_cancel=True)
    return answer.strip().lower() in ("y", "yes")


async def _chat(args: argparse.Namespace, question: str) -> int:
    import anyio

    from .orchestrator import Assistant
    from .tools.web_search import web_search_backend_from_env, web_search_tool

    # a bad --base fails before the Assistant waits for the SDK (imported meanwhile)
    traces: dict[str, Any] = {}
    if args.base:
        from .traces import load_trace

        traces["base"] = await anyio.to_thread.run_sync(load_trace, args.base)
    backend = web_search_backend_from_env()
    interactive = sys.stdin.isatty() and not args.json and args.question != "-"
    assistant = Assistant(model=args.model, root=args.root, auto_approve=bool(args.yes),
                          turn_deadline=args.deadline,
                          tools=[web_search_tool(backend)] if backend else None,
                          approve=_approve_on_tty if interactive and not args.yes else None)
    session_id = uuid.uuid4().hex
    status = 1
    out = sys.stdout

    async def cancel_on_sigint() -> None:
        with anyio.open_signal_receiver(signal.SIGINT) as signals:
            async for _ in signals:
                print("\njupyter-assistant: cancelling…", file=sys.stderr, flush=True)
                await assistant.cancel(session_id)

    try:
        async with anyio.create_task_group() as tg:
            tg.start_soon(cancel_on_sigint)
            ended_with_newline = True
            # closed in this task even when writing fails (BrokenPipeError): the turn is
            # cancelled cleanly instead of being finalised from another task
            async with aclosing(assistant.run(question, session_id=session_id,
                                              trace=args.trace,
                                              traces=traces or None)) as events:
                async for event in events:
                    if args.json:
                        out.write(event.to_json() + "\n")
                        out.flush()
                    elif event.type == "text_delta":
                        text = event.data.get("text", "")
                        out.write(text)
                        out.flush()
                        if text:
                            ended_with_newline = text.endswith("\n")
                    else:
                        note = _tool_note(event)
                        if note:
                            print(note, file=sys.stderr, flush=True)
                    if event.type == "message_complete":
                        status = 0
                    elif event.type in ("error", "cancelled") and not args.json:
                        if not ended_with_newline:  # end the streamed text's line first
                            out.write("\n")
                            out.flush()
                            ended_with_newline = True
                        line = (f"{event.data.get('code')}: {event.data.get('message')}"
                                if event.type == "error" else
                                f"cancelled ({event.data.get('reason', 'user')})")
                        print(f"jupyter-assistant: {line}", file=sys.stderr, flush=True)
            if not args.json and not ended_with_newline:
                out.write("\n")
                out.flush()
            tg.cancel_scope.cancel()
    finally:
        with anyio.CancelScope(shield=True):
            await assistant.aclose()
    return status


def run(args: argparse.Namespace) -> int:
    """Run ``chat``; returns the exit status (0 answered, 1 error or cancelled)."""
    from . import prewarm

    # the provider's SDK is imported in the background while this thread imports the rest
    prewarm(args.model, tools=False)
    import anyio

    question = sys.stdin.read() if args.question == "-" else args.question
    return int(anyio.run(_chat, args, question))
