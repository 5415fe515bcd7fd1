"""Dashboard aggregates computed from telemetry records — one definition for every backend.

Each backend selects the model-call and tool-call records of the window (``since <=
started_at < until``, optionally one user) and hands them to :func:`compute_metrics`, so the
numbers are the same whatever the store. Percentiles are numpy's default (linear
interpolation between closest ranks, Hyndman & Fan type 7). numpy is imported when
metrics are computed, not with the store (which every ``Assistant`` opens).
"""

from __future__ import annotations

import datetime as _dt
from collections import defaultdict
from collections.abc import Iterable
from typing import Any

from ._records import ModelCallRecord, ToolCallRecord

__all__ = ["TOOL_ERROR_STATUSES", "compute_metrics", "distribution"]

#: Tool-call statuses that count as errors in the error rate (``refused`` and ``cancelled``
#: are decisions, not failures).
TOOL_ERROR_STATUSES = frozenset({"error", "timeout"})

_TOKEN_FIELDS = (
    "input_tokens",
    "output_tokens",
    "cache_read_input_tokens",
    "cache_creation_input_tokens",
)


def distribution(values: Iterable[float | None]) -> dict[str, float | None]:
    """``{"p50", "p95", "mean", "max"}`` of the non-null ``values`` (all ``None`` when empty)."""
    import numpy as np

    arr = np.asarray([v for v in values if v is not None], dtype=np.float64)
    if arr.size == 0:
        return {"p50": None, "p95": None, "mean": None, "max": None}
    p50, p95 = np.percentile(arr, [50, 95])
    return {"p50": float(p50), "p95": float(p95), "mean": float(arr.mean()),
            "max": float(arr.max())}


def _day(ts: float) -> str:
    return _dt.datetime.fromtimestamp(ts, tz=_dt.timezone.utc).date().isoformat()


def _usage_totals(calls: list[ModelCallRecord]) -> dict[str, Any]:
    out: dict[str, Any] = {name: sum(getattr(c, name) for c in calls) for name in _TOKEN_FIELDS}
    out["cost_usd"] = float(sum(c.cost_usd for c in calls if c.cost_usd is not None))
    return out


def compute_metrics(
    model_calls: Iterable[ModelCallRecord],
    tool_calls: Iterable[ToolCallRecord],
    *,
    since: float | None = None,
    until: float | None = None,
) -> dict[str, Any]:
    """Aggregate telemetry for the dashboard (``GET /assistant/api/metrics``).

    Returns a JSON-ready dict::

        {"since", "until",
         "model_calls": {"count", "ok", "errors", "cancelled", "error_rate",
                         "latency_ms": {"p50", "p95", "mean", "max"},   # status ok only
                         "ttft_ms": {...},                                # status ok only
                         "input_tokens", "output_tokens", "cache_read_input_tokens",
                         "cache_creation_input_tokens", "cost_usd"},
         "errors_by_code": {code: {"count", "rate"}},        # rate = count / all calls
         "by_day": [{"day": "YYYY-MM-DD" (UTC), "calls", "errors", <tokens>, "cost_usd"}],
         "by_model": [{"model", "provider", "calls", "errors", <tokens>, "cost_usd",
                       "latency_ms": {...}, "ttft_ms": {...}}],
         "tool_calls": {"count", "errors", "error_rate", "by_status": {status: n},
                        "duration_ms": {...},
                        "by_name": [{"name", "calls", "errors", "duration_ms": {...}}]}}

    Latencies are ``duration_ms`` (whole call) and ``ttft_ms`` (time to first token), in
    milliseconds; costs in USD (calls without a price count as 0); an error is a model call
    with ``status == "error"`` or a tool call with status in :data:`TOOL_ERROR_STATUSES`.
    Lists are sorted by day, model and tool name.
    """
    calls = list(model_calls)
    tools = list(tool_calls)
    ok = [c for c in calls if c.status == "ok"]
    errors = [c for c in calls if c.status == "error"]
    n = len(calls)

    summary: dict[str, Any] = {
        "count": n,
        "ok": len(ok),
        "errors": len(errors),
        "cancelled": sum(1 for c in calls if c.status == "cancelled"),
        "error_rate": (len(errors) / n) if n else 0.0,
        "latency_ms": distribution(c.duration_ms for c in ok),
        "ttft_ms": distribution(c.ttft_ms for c in ok),
        **_usage_totals(calls),
    }

    by_code: dict[str, int] = defaultdict(int)
    for c in errors:
        by_code[c.error_code or "unknown"] += 1
    errors_by_code = {code: {"count": k, "rate": k / n} for code, k in sorted(by_code.items())}

    days: dict[str, list[ModelCallRecord]] = defaultdict(list)
    models: dict[str, list[ModelCallRecord]] = defaultdict(list)
    for c in calls:
        days[_day(c.started_at)].append(c)
        models[c.model].append(c)
    by_day = [
        {"day": day, "calls": len(group),
         "errors": sum(1 for c in group if c.status == "error"), **_usage_totals(group)}
        for day, group in sorted(days.items())
    ]
    by_model = []
    for model, group in sorted(models.items()):
        group_ok = [c for c in group if c.status == "ok"]
        by_model.append({
            "model": model,
            "provider": group[0].provider,
            "calls": len(group),
            "errors": sum(1 for c in group if c.status == "error"),
            **_usage_totals(group),
            "latency_ms": distribution(c.duration_ms for c in group_ok),
            "ttft_ms": distribution(c.ttft_ms for c in group_ok),
        })

    by_status: dict[str, int] = defaultdict(int)
    names: dict[str, list[ToolCallRecord]] = defaultdict(list)
    for t in tools:
        by_status[t.status] += 1
        names[t.name].append(t)
    tool_errors = sum(1 for t in tools if t.status in TOOL_ERROR_STATUSES)
    tool_summary = {
        "count": len(tools),
        "errors": tool_errors,
        "error_rate": (tool_errors / len(tools)) if tools else 0.0,
        "by_status": dict(sorted(by_status.items())),
        "duration_ms": distribution(t.duration_ms for t in tools),
        "by_name": [
            {"name": name, "calls": len(group),
             "errors": sum(1 for t in group if t.status in TOOL_ERROR_STATUSES),
             "duration_ms": distribution(t.duration_ms for t in group)}
            for name, group in sorted(names.items())
        ],
    }
    return {
        "since": since,
        "until": until,
        "model_calls": summary,
        "errors_by_code": errors_by_code,
        "by_day": by_day,
        "by_model": by_model,
        "tool_calls": tool_summary,
    }
