"""``%assistant stats``: the telemetry dashboard, from the store's model-call and tool-call
records (the same records ``GET /assistant/api/metrics`` and ``GET requests`` read).

Shown as plain rich outputs (markdown, DataFrames, PNG charts), so it reads the same in a
static export: totals over the last ``--days`` days (default 14), the recent model calls
(latency, time to first token, tokens, cost in USD, status) and tool calls (duration,
status), then charts of latency and cost per day and model.
"""

from __future__ import annotations

import io
import time
from typing import Any

import numpy as np
import pandas as pd
from IPython.display import Image, Markdown, display

from ._args import Command

__all__ = ["charts_png", "model_calls_frame", "show_stats", "tool_calls_frame"]

_MAX_RECORDS = 5000
_RECENT = 15


async def _fetch_all(list_fn: Any, **kwargs: Any) -> list[Any]:
    items: list[Any] = []
    while len(items) < _MAX_RECORDS:
        page = await list_fn(limit=500, offset=len(items), **kwargs)
        items.extend(page.items)
        if not page.items or len(items) >= page.total:
            break
    return items


def model_calls_frame(records: list[Any]) -> pd.DataFrame:
    """One row per model call: ``time`` (datetime64, UTC), ``model``, ``status``,
    ``latency_ms``, ``ttft_ms`` (float64, ms), ``input_tokens``, ``output_tokens`` (int64),
    ``cost_usd`` (float64, USD, NaN when unknown), ``error_code``; newest first."""
    frame = pd.DataFrame({
        "time": pd.to_datetime([r.started_at for r in records], unit="s", utc=True),
        "model": [f"{r.provider}:{r.model}" for r in records],
        "status": [r.status for r in records],
        "latency_ms": np.array([r.duration_ms for r in records], dtype=float),
        "ttft_ms": np.array([np.nan if r.ttft_ms is None else r.ttft_ms for r in records],
                            dtype=float),
        "input_tokens": np.array([r.input_tokens for r in records], dtype=np.int64),
        "output_tokens": np.array([r.output_tokens for r in records], dtype=np.int64),
        "cost_usd": np.array([np.nan if r.cost_usd is None else r.cost_usd for r in records],
                             dtype=float),
        "error_code": [r.error_code or "" for r in records],
    })
    return frame.sort_values("time", ascending=False, ignore_index=True)


def tool_calls_frame(records: list[Any]) -> pd.DataFrame:
    """One row per tool call: ``time`` (datetime64, UTC), ``tool``, ``status``,
    ``duration_ms`` (float64, ms), ``error_code``; newest first."""
    frame = pd.DataFrame({
        "time": pd.to_datetime([r.started_at for r in records], unit="s", utc=True),
        "tool": [r.name for r in records],
        "status": [r.status for r in records],
        "duration_ms": np.array([r.duration_ms for r in records], dtype=float),
        "error_code": [r.error_code or "" for r in records],
    })
    return frame.sort_values("time", ascending=False, ignore_index=True)


def charts_png(calls: pd.DataFrame) -> bytes | None:
    """PNG with two charts: median model-call latency (ms) per day and model, and cost
    (USD) per day and model (stacked); ``None`` without calls."""
    if calls.empty:
        return None
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    day = calls["time"].dt.strftime("%Y-%m-%d")
    latency = calls.assign(day=day).pivot_table(index="day", columns="model",
                                                values="latency_ms", aggfunc="median")
    cost = calls.assign(day=day).pivot_table(index="day", columns="model", values="cost_usd",
                                             aggfunc="sum").fillna(0.0)
    fig = Figure(figsize=(10, 3.2), dpi=100)
    FigureCanvasAgg(fig)
    left, right = fig.subplots(1, 2)
    x = np.arange(len(latency.index))
    for model in latency.columns:
        left.plot(x, latency[model].to_numpy(), marker="o", label=model)
    left.set_xticks(x)
    left.set_xticklabels(latency.index, rotation=30, fontsize=7)
    left.set_ylabel("median latency (ms)")
    left.set_title("Model-call latency per day", fontsize=10)
    left.legend(fontsize=7)
    bottom = np.zeros(len(cost.index))
    cx = np.arange(len(cost.index))
    for model in cost.columns:
        right.bar(cx, cost[model].to_numpy(), bottom=bottom, label=model)
        bottom += cost[model].to_numpy()
    right.set_xticks(cx)
    right.set_xticklabels(cost.index, rotation=30, fontsize=7)
    right.set_ylabel("cost (USD)")
    right.set_title("Cost per day", fontsize=10)
    right.legend(fontsize=7)
    buf = io.BytesIO()
    fig.savefig(buf, format="png", bbox_inches="tight")
    return buf.getvalue()


def _totals(calls: pd.DataFrame, tools: pd.DataFrame, days: int) -> str:
    if calls.empty and tools.empty:
        return (f"**Assistant telemetry, last {days} days**: no model or tool calls recorded "
                "yet in this store.")
    errors = int((calls["status"] != "ok").sum())
    cost = calls["cost_usd"].sum(min_count=1)
    cost_text = "unknown" if pd.isna(cost) else f"${cost:.4f}"
    ttft = calls["ttft_ms"].median()
    ttft_text = "n/a" if pd.isna(ttft) else f"{ttft:,.0f} ms"
    return (f"**Assistant telemetry, last {days} days**: {len(calls):,} model calls "
            f"({errors:,} not ok), {len(tools):,} tool calls, "
            f"{int(calls['input_tokens'].sum()):,} input / "
            f"{int(calls['output_tokens'].sum()):,} output tokens, cost {cost_text}; "
            f"median latency {calls['latency_ms'].median():,.0f} ms, median time to first "
            f"token {ttft_text}.")


def show_stats(magics: Any, cmd: Command) -> None:
    """The ``%assistant stats`` magic (see the module docstring)."""
    store = magics.store()
    since = time.time() - cmd.days * 86400

    async def fetch() -> tuple[list[Any], list[Any]]:
        calls = await _fetch_all(store.list_model_calls, user_id=magics.user_id, since=since)
        tools = await _fetch_all(store.list_tool_calls, user_id=magics.user_id, since=since)
        return calls, tools

    call_records, tool_records = magics.worker.call(fetch)
    calls, tools = model_calls_frame(call_records), tool_calls_frame(tool_records)
    display(Markdown(_totals(calls, tools, cmd.days)))
    if not calls.empty:
        display(Markdown("Recent model calls:"))
        display(calls.head(_RECENT).round({"latency_ms": 0, "ttft_ms": 0, "cost_usd": 5}))
    if not tools.empty:
        display(Markdown("Recent tool calls:"))
        display(tools.head(_RECENT).round({"duration_ms": 1}))
    png = charts_png(calls)
    if png is not None:
        display(Image(data=png, format="png"))
