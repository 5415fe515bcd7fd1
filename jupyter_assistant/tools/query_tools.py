"""``query_events``: a read-only query over ``Trace.events`` that cannot run code.

The filter language, its whitelist and its bounds are described in :mod:`._query`; this
module is the tool around it. The query engine (pandas, pyarrow) is imported when the tool
runs, not when it is defined.
"""

from __future__ import annotations

from ._base import ToolContext, tool
from ._render import render_table
from .trace_tools import get_trace

__all__ = ["query_events"]


@tool(category="trace")
def query_events(trace: str = "current", where: str | None = None,
                 columns: list[str] | None = None, group_by: list[str] | None = None,
                 agg: list[str] | None = None, sort_by: str | None = None,
                 descending: bool = True, limit: int = 20, *, ctx: ToolContext) -> str:
    """Query the slice table of a trace (one row per slice; columns name, cat, pid, tid,
    ts, dur, end, self_dur (µs), depth, parent, and format-specific ones such as stream or
    correlation). Read-only: filter with a Python-like condition, optionally group and
    aggregate, sort, limit. Rows keep their row number for slice_details.

    Args:
        trace: Trace id ("current" is the trace of this conversation turn).
        where: Condition on columns, e.g. "dur > 1000 and name.str.contains('aten::')",
            "tid == 7 and ts.between(1e6, 2e6)", "name.isin(['a', 'b'])", "not (depth > 0)".
            Allowed: comparisons, and/or/not, + - * /, in [...], and the methods
            .str.contains(s, case=True, regex=False), .str.startswith(s),
            .str.endswith(s), .isin([...]), .between(lo, hi), .isna(), .notna().
            Regexes (regex=True) use RE2 syntax: no lookaround, no backreferences.
        columns: Columns to show for row results (default: name, cat, pid, tid, ts, dur,
            self_dur, depth).
        group_by: Columns to group by, e.g. ["name"] or ["tid", "name"].
        agg: Aggregations per group: "count", "sum(dur)", "mean(self_dur)", "min(ts)",
            "max(dur)", "median(dur)".
        sort_by: Column of the result to sort by, e.g. "dur" or "sum(dur)".
        descending: Sort largest first.
        limit: Rows to return (1-200).
    """
    from ._query import MAX_LIMIT, queryable_columns, run_query

    t = get_trace(ctx, trace)
    result, total = run_query(t.events, where=where, columns=columns, group_by=group_by,
                              agg=agg, sort_by=sort_by, descending=descending,
                              limit=max(1, min(int(limit), MAX_LIMIT)))
    grouped = bool(group_by or agg)
    what = "groups" if grouped else "slices"
    head = (f"{total:,} {what} of trace {trace!r}"
            + (f" match {where!r}" if where else "")
            + (f"; showing {len(result)}" if len(result) < total else "") + ".")
    if not total:
        cols = ", ".join(queryable_columns(t.events))
        return head + f" Columns: {cols}."
    table = render_table(result, max_rows=len(result), index=not grouped, index_name="row")
    return head + "\n\n" + table
