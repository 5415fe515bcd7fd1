"""Parsing the ``%assistant`` line: options, subcommand, and the question verbatim.

``%assistant [--model M] [--trace NAME_OR_PATH] [--new] [--conversation ID] QUESTION``,
``%assistant load PATH [--as NAME]``, ``%%assistant profile [--profiler P] [--as NAME]
[--ask QUESTION]``, ``%assistant fix [NOTE]``, ``%assistant stats [--days N]``,
``%assistant help``. Options come first; the first word that is not an option (and not a
subcommand) starts the question, which is kept as typed (apostrophes, ``?``, ``--`` inside
it); ``--`` ends the options explicitly.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from IPython.core.error import UsageError

__all__ = ["SUBCOMMANDS", "USAGE", "Command", "parse_line"]

SUBCOMMANDS = ("load", "profile", "fix", "stats", "help")
_VALUE_OPTIONS = {"--model": "model", "--trace": "trace", "--conversation": "conversation",
                  "--as": "as_name", "--profiler": "profiler", "--days": "days"}
_FLAGS = {"--new": "new"}
_TOKEN = re.compile(r"""\s*(?:"([^"]*)"|'([^']*)'|(\S+))""")

USAGE = """\
%assistant [--model M] [--trace NAME_OR_PATH] [--new] [--conversation ID] QUESTION
%%assistant [options]            (the question is the cell body)
%assistant load PATH [--as NAME]  load a trace, bind it as NAME (default: trace), show it
%%assistant profile [--profiler cprofile|pyinstrument|torch] [--as NAME] [--ask QUESTION]
                                  run the cell under a profiler (default name: profile_trace)
%assistant fix [NOTE]             explain the last error and propose a corrected cell
%assistant stats [--days N]       telemetry dashboard: model and tool calls, latency, cost
Settings: %config AssistantMagics.model = 'anthropic:claude-sonnet-5-5'
          (all of them: %config AssistantMagics, %config AssistantConfig)"""


@dataclass
class Command:
    """A parsed ``%assistant`` line. ``sub`` is ``ask`` or a subcommand; ``text`` the
    question (``ask``), the path (``load``), the note (``fix``) or the ``--ask`` question
    (``profile``)."""

    sub: str = "ask"
    text: str = ""
    model: str | None = None
    trace: str | None = None
    conversation: str | None = None
    new: bool = False
    as_name: str | None = None
    profiler: str = "cprofile"
    ask: str | None = None
    days: int = 14


def _take(rest: str, option: str) -> tuple[str, str]:
    match = _TOKEN.match(rest)
    if match is None or not rest.strip():
        raise UsageError(f"{option} needs a value\n\n{USAGE}")
    value = next(g for g in match.groups() if g is not None)
    return value, rest[match.end():]


def parse_line(line: str) -> Command:
    """Parse a magic line (see the module docstring). Raises ``UsageError`` for an unknown
    option, an option without its value, or a bad ``--days``/``--profiler``."""
    cmd = Command()
    rest = line.strip()
    while rest:
        head = rest.split(None, 1)[0]
        tail = rest[len(head):]
        if head == "--":
            rest = tail.strip()
            break
        if head == "--ask":
            cmd.ask = tail.strip()
            rest = ""
            break
        if head in _VALUE_OPTIONS:
            value, rest = _take(tail, head)
            setattr(cmd, _VALUE_OPTIONS[head], value)
        elif head in _FLAGS:
            setattr(cmd, _FLAGS[head], True)
            rest = tail
        elif head.startswith("--") and len(head) > 2:
            raise UsageError(f"unknown option {head}\n\n{USAGE}")
        elif cmd.sub == "ask" and head in SUBCOMMANDS and not cmd.text:
            cmd.sub = head
            rest = tail
            if head == "load":
                cmd.text, rest = _take(rest, "load PATH")
        else:
            break
        rest = rest.strip()
    if cmd.sub in ("ask", "fix"):
        cmd.text = rest.strip()
    elif rest.strip():
        raise UsageError(f"unexpected text after %assistant {cmd.sub}: {rest.strip()!r}\n\n"
                         f"{USAGE}")
    if cmd.profiler not in ("cprofile", "pyinstrument", "torch"):
        raise UsageError(f"--profiler must be cprofile, pyinstrument or torch, not "
                         f"{cmd.profiler!r}")
    if not isinstance(cmd.days, int):
        try:
            cmd.days = int(cmd.days)
        except ValueError:
            raise UsageError(f"--days must be a whole number, not {cmd.days!r}") from None
    if cmd.as_name is not None and not cmd.as_name.isidentifier():
        raise UsageError(f"--as needs a Python name, not {cmd.as_name!r}")
    return cmd
