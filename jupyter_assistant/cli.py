"""The ``jupyter-assistant`` command line.

Subcommands live in their own modules, listed in :data:`_COMMANDS` as ``(name, module)``.
Such a module exposes ``add_parser(subparsers, name) -> argparse.ArgumentParser`` (adds
the subcommand ``name``) and ``run(args) -> int`` (the exit status). Modules are imported
when the parser is built, so they must import heavy dependencies inside ``run``.

The console script and ``python -m jupyter_assistant`` run :func:`console_main`, which is
:func:`main` plus a prompt exit (see there).

Exit status: 0 success, 2 a trace cannot be read
(:class:`~jupyter_assistant.exceptions.TraceFormatError`) or bad usage, 1 any other
error; errors print one line on stderr, without a traceback. Log records of the package and
its libraries are not shown (the error line says what went wrong), except records at
``ERROR`` and above as one line each; ``-v`` / ``--verbose`` shows records from ``INFO`` up,
with tracebacks.
"""

from __future__ import annotations

import argparse
import gc
import importlib
import logging
import sys
import warnings
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import NoReturn, TextIO

from . import __version__
from .exceptions import AssistantError, TraceFormatError

__all__ = ["build_parser", "console_main", "main"]

#: (subcommand, module) in the order ``--help`` lists them. Add a line to add a command.
_COMMANDS: list[tuple[str, str]] = [
    ("summarize", "jupyter_assistant._cli_traces"),
    ("hotspots", "jupyter_assistant._cli_traces"),
    ("diagnose", "jupyter_assistant._cli_traces"),
    ("chat", "jupyter_assistant._cli_chat"),
]


class _Parser(argparse.ArgumentParser):
    """Usage errors as one line naming the problem (argparse prints the usage first)."""

    def error(self, message: str) -> NoReturn:
        self.exit(2, f"{self.prog}: error: {message} (see '{self.prog} --help')\n")


def build_parser() -> argparse.ArgumentParser:
    """The top-level parser with every subcommand of :data:`_COMMANDS`."""
    parser = _Parser(
        prog="jupyter-assistant",
        description="An AI performance and debug assistant for Jupyter: trace summaries, "
                    "hotspots, diagnosis and questions to the assistant from the command "
                    "line.",
        epilog="'jupyter-assistant COMMAND --help' describes a command. Exit status: 0 "
               "success, 1 an error, 2 bad usage or a trace that cannot be read.")
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for name, module in _COMMANDS:
        mod = importlib.import_module(module)
        p = mod.add_parser(sub, name)
        p.add_argument("-v", "--verbose", action="store_true",
                       help="show log records (INFO and above, with tracebacks) on stderr")
        p.set_defaults(_run=mod.run)
    return parser


class _OneLine(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        return f"jupyter-assistant: {record.levelname.lower()}: {record.getMessage()}"


@contextmanager
def _log_to_stderr(verbose: bool) -> Iterator[None]:
    """While a command runs: log records go to stderr through one handler on the root
    logger (never Python's last-resort handler, which printed a turn's failure a second
    time, before the CLI's own line); the root logger is restored afterwards."""
    root = logging.getLogger()
    handler = logging.StreamHandler(sys.stderr)
    if verbose:
        handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: "
                                               "%(message)s"))
    else:
        handler.setLevel(logging.ERROR)
        handler.setFormatter(_OneLine())
    level = root.level
    root.addHandler(handler)
    if verbose:
        root.setLevel(logging.INFO)
    try:
        yield
    finally:
        root.removeHandler(handler)
        root.setLevel(level)


def _show_warning(message: Warning | str, category: type[Warning], filename: str,
                  lineno: int, file: TextIO | None = None, line: str | None = None) -> None:
    """Warnings (e.g. a file of a trace folder left out) as one line each, like errors."""
    print(f"jupyter-assistant: warning: {message}", file=file or sys.stderr)


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; returns the exit status (see the module docstring)."""
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        # both restore the caller's warning display and logging afterwards
        with warnings.catch_warnings(), _log_to_stderr(bool(args.verbose)):
            warnings.showwarning = _show_warning
            return int(args._run(args))
    except TraceFormatError as exc:
        print(f"jupyter-assistant: cannot read trace: {exc}", file=sys.stderr)
        return 2
    except AssistantError as exc:
        print(f"jupyter-assistant: {exc.code}: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("jupyter-assistant: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:  # e.g. `| head`
        return 0
    except Exception as exc:  # the CLI's last resort: one line on stderr, status 1
        print(f"jupyter-assistant: error: {type(exc).__name__}: {exc}", file=sys.stderr)
        return 1


def console_main() -> int:
    """The ``jupyter-assistant`` console script and ``python -m jupyter_assistant``: runs
    :func:`main` on ``sys.argv`` and returns its exit status (``argparse`` raises
    ``SystemExit`` for ``--help`` and usage errors), after :func:`gc.freeze`.

    Why the freeze: when the process exits, CPython's finalisation runs full garbage
    collections over every object the collector tracks. After a ``chat`` turn these are
    some 160,000, almost all made by ``import anthropic`` (its ~1,500 pydantic models,
    their schemas and validators), and the collections plus the teardown took 0.6-1 s
    after the answer was printed (``bench/cold_start.py``, "answer printed ->
    process exit"). Frozen objects are left out of those collections; the OS reclaims the
    memory. The rest of exit is unchanged: non-daemon threads are joined, ``atexit``
    handlers run (logging flushes its handlers), stdout and stderr are flushed, objects
    outside reference cycles are freed as usual. Not done in :func:`main`, which tests and
    embedding programs call in a process that goes on.
    """
    try:
        return main()
    finally:
        gc.freeze()


if __name__ == "__main__":  # pragma: no cover
    sys.exit(console_main())
