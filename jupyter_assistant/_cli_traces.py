"""Trace subcommands of the command line: ``summarize``, ``hotspots`` and ``diagnose``."""

from __future__ import annotations

import argparse
import os
import sys
from typing import Any

__all__ = ["add_parser", "run"]

_BY = ("self_dur", "total_dur", "count")


def _positive(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number") from None
    if value < 1:
        raise argparse.ArgumentTypeError("must be at least 1")
    return value


def add_parser(subparsers: Any, name: str) -> argparse.ArgumentParser:
    """Add the subcommand ``name`` (``summarize`` or ``hotspots``) to ``subparsers``."""
    if name == "summarize":
        p = subparsers.add_parser(
            "summarize", help="summarise a trace in markdown that fits a token budget",
            description="Print the markdown summary of a trace (what the assistant's model "
                        "reads first): span, busiest threads, hotspots, GPU utilisation, "
                        "anomalies.")
        p.add_argument("--max-tokens", type=_positive, default=1500, metavar="N",
                       help="token budget of the summary (estimated; default 1500)")
    elif name == "hotspots":
        p = subparsers.add_parser(
            "hotspots", help="the slice names with the most self time",
            description="Print the top slice names of a trace by self time (or total "
                        "time, or count), times in µs.")
        p.add_argument("-n", type=_positive, default=20, metavar="N",
                       help="number of names (default 20)")
        p.add_argument("--by", choices=_BY, default="self_dur",
                       help="ranking column (default self_dur)")
        p.add_argument("--kind", choices=("cpu", "gpu"), default=None,
                       help="only slices on CPU threads or on GPU streams")
    elif name == "diagnose":
        p = subparsers.add_parser(
            "diagnose", help="what bounds the trace, with evidence and the fix",
            description="Print the findings of Trace.diagnose(): kind (input_bound, "
                        "host_sync, launch_overhead, host_to_device_copy, "
                        "host_bound, gpu_compute_bound, communication_bound, cpu_hotspot, "
                        "layout_thrashing, long_tasks, gc_pressure, outlier_steps), "
                        "severity, share of "
                        "step time, evidence, fix and source, most important first.")
    else:  # pragma: no cover - a wiring mistake in cli._COMMANDS
        raise ValueError(f"unknown trace command {name!r}")
    p.add_argument("path", metavar="PATH",
                   help="trace file (any supported format, .gz too) or folder of per-rank "
                        "traces")
    p.add_argument("--format", default=None, help="force the trace format "
                   "(chrome, kineto, devtools, cpuprofile, speedscope, folded, cprofile)")
    p.add_argument("--json", action="store_true", help="print JSON instead of markdown")
    return p


def _write(data: bytes | str) -> None:
    if isinstance(data, bytes):
        sys.stdout.buffer.write(data)
        sys.stdout.buffer.write(b"\n")
    else:
        sys.stdout.write(data + "\n")
    sys.stdout.flush()


def run(args: argparse.Namespace) -> int:
    """Run ``summarize``, ``hotspots`` or ``diagnose``; returns 0. Raises
    ``TraceFormatError`` for an unreadable trace (``cli.main`` turns it into exit status
    2)."""
    import orjson

    from .traces import load_trace

    trace = load_trace(args.path, format=args.format)
    if args.command == "diagnose":
        _diagnose(trace, args.json)
        return 0
    if args.command == "summarize":
        summary = trace.summary(max_tokens=args.max_tokens)
        _write(orjson.dumps(summary.to_dict()) if args.json else summary.text)
        return 0
    table = trace.hotspots(n=args.n, by=args.by) if args.kind is None else \
        trace.hotspots(n=args.n, by=args.by, kind=args.kind)
    if args.json:
        _write(orjson.dumps(table.to_dict(orient="records"),
                            option=orjson.OPT_SERIALIZE_NUMPY))
        return 0
    from .traces import hotspots_markdown

    _write(hotspots_markdown(table, trace.metadata.get("unit")))  # samples, bytes, ...
    return 0


def _diagnose(trace: Any, as_json: bool) -> None:
    import orjson

    from .tools.trace_tools import render_diagnosis

    d = trace.diagnose()
    if as_json:
        records = [{k: (None if isinstance(v, float) and v != v else v) for k, v in r.items()}
                   for r in d.to_dict(orient="records")]
        _write(orjson.dumps({"headline": d.attrs.get("headline", ""), "findings": records}))
        return
    source = str(trace.metadata.get("source", "trace")).rstrip("/")
    _write(render_diagnosis(d, label=os.path.basename(source)))
