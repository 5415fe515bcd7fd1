"""Pictures of a trace, drawn with matplotlib into PNG bytes (they render in JupyterLab, in
nbconvert/GitHub exports and in a notebook reopened without a kernel):

- :func:`timeline_png`: a timeline of the busiest threads / GPU streams (top-level slices,
  merged below one pixel so that a trace of millions of slices draws fast);
- :func:`icicle_png`: an icicle graph (an upside-down flame graph) of inclusive time per call
  path, from the slice table's ``parent`` links (Brendan Gregg's flame graph, with width =
  inclusive time; paths narrower than ``min_share`` are left out).

Only ``matplotlib.figure.Figure`` and the Agg canvas are used, never ``pyplot``, so the user's
backend and open figures are untouched.
"""

from __future__ import annotations

import io
import re
import zlib
from typing import Any

import numpy as np

__all__ = ["icicle_png", "timeline_png"]

_STEP = re.compile(r"#\d+$")
_KIND_COLORS = {"cpu": "#4c78a8", "gpu": "#54a24b"}
_FLAME = ["#f28e2b", "#e15759", "#ff9d9a", "#edc948", "#f1ce63", "#ffbe7d", "#d37295",
          "#b6992d", "#fabfd2", "#e8a33d"]


def _figure(width: float, height: float) -> Any:
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=(width, height), dpi=100)
    FigureCanvasAgg(fig)
    return fig


def _png(fig: Any) -> bytes:
    buf = io.BytesIO()
    fig.savefig(buf, format="png", bbox_inches="tight")
    return buf.getvalue()


def _merge(ts: np.ndarray, end: np.ndarray, tolerance: float) -> tuple[np.ndarray, np.ndarray]:
    """Union of intervals ``[ts, end)``, joining gaps up to ``tolerance``."""
    if len(ts) == 0:
        return ts, end
    order = np.argsort(ts, kind="stable")
    ts, end = ts[order], end[order]
    reach = np.maximum.accumulate(end)
    new = np.empty(len(ts), dtype=bool)
    new[0] = True
    new[1:] = ts[1:] > reach[:-1] + tolerance
    starts = np.flatnonzero(new)
    return ts[starts], np.maximum.reduceat(end, starts)


def timeline_png(trace: Any, lanes: int = 8, width_px: int = 1000) -> bytes | None:
    """PNG of the ``lanes`` busiest CPU threads and GPU streams (by busy time; see
    :meth:`~jupyter_assistant.Trace.thread_utilization`), x axis in ms from the trace start;
    ``None`` for a trace without slices."""
    ev = trace.events
    if len(ev) == 0:
        return None
    util = trace.thread_utilization()
    if "kind" in util.columns:
        util = util[util["kind"].isin(["cpu", "gpu"])] if util["kind"].isin(
            ["cpu", "gpu"]).any() else util
    util = util.sort_values("busy_us", ascending=False).head(lanes)
    t0, span = trace.start_us, max(trace.span_us, 1e-9)
    tolerance = span / width_px
    fig = _figure(10, 0.45 * len(util) + 1.0)
    ax = fig.add_subplot(1, 1, 1)
    labels = []
    top = ev[ev["depth"] == 0]
    for y, row in enumerate(util.itertuples(index=False)):
        lane = top[(top["pid"] == row.pid) & (top["tid"] == row.tid)]
        starts, ends = _merge(lane["ts"].to_numpy(float), lane["end"].to_numpy(float),
                              tolerance)
        kind = str(getattr(row, "kind", "cpu"))
        bars = list(zip(((starts - t0) / 1000).tolist(), ((ends - starts) / 1000).tolist(),
                        strict=True))
        ax.broken_barh(bars, (y - 0.4, 0.8), facecolors=_KIND_COLORS.get(kind, "#9d9d9d"))
        name = str(getattr(row, "thread_name", "") or f"{row.pid}/{row.tid}")
        labels.append(f"{name[:28]} ({kind}, {float(row.busy_pct):.0f}% busy)")
    ax.set_yticks(range(len(labels)))
    ax.set_yticklabels(labels, fontsize=8)
    ax.invert_yaxis()
    ax.set_xlim(0, span / 1000)
    unit = "ms" if trace.metadata.get("unit", "µs") == "µs" else "k" + str(
        trace.metadata.get("unit"))
    ax.set_xlabel(f"time since trace start ({unit})")
    ax.set_title(f"Timeline: the {len(labels)} busiest threads / streams", fontsize=10)
    ax.grid(axis="x", alpha=0.3)
    return _png(fig)


def _call_tree(ev: Any) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, list[str]]:
    """(node of each row, parent node, name code, depth of each node, names) of the call
    paths of the slice table."""
    names = ev["name"].astype("category")
    # "ProfilerStep#3" and "ProfilerStep#4" are one call path: numbered steps merge
    labels = [_STEP.sub("#N", str(c)) for c in names.cat.categories]
    categories = sorted(set(labels))
    lookup = {c: i for i, c in enumerate(categories)}
    remap = np.array([lookup[c] for c in labels] or [0], dtype=np.int64)
    codes = remap[names.cat.codes.to_numpy(np.int64)]
    parent = ev["parent"].to_numpy(np.int64)
    depth = ev["depth"].to_numpy(np.int64)
    node = np.full(len(ev), -1, dtype=np.int64)
    node_parent: list[np.ndarray] = []
    node_name: list[np.ndarray] = []
    node_depth: list[np.ndarray] = []
    offset = 0
    width = len(categories) + 1
    for d in range(int(depth.max()) + 1 if len(depth) else 0):
        rows = np.flatnonzero(depth == d)
        if len(rows) == 0:
            continue
        parents = np.where(parent[rows] >= 0, node[np.maximum(parent[rows], 0)], -1)
        keys = (parents + 1) * width + codes[rows]
        uniq, inverse = np.unique(keys, return_inverse=True)
        node[rows] = offset + inverse
        node_parent.append(uniq // width - 1)
        node_name.append(uniq % width)
        node_depth.append(np.full(len(uniq), d))
        offset += len(uniq)
    return node, _cat(node_parent), _cat(node_name), _cat(node_depth), categories


def _cat(parts: list[np.ndarray]) -> np.ndarray:
    return np.concatenate(parts) if parts else np.empty(0, np.int64)


def icicle_png(trace: Any, max_depth: int = 12, min_share: float = 0.005,
               width_px: int = 1000) -> bytes | None:
    """PNG of the icicle graph of the CPU threads (all threads when there is no CPU thread):
    each box is a call path, its width the path's inclusive time (µs summed over threads),
    children under their parent, widest first; ``None`` for a trace without slices."""
    ev = trace.events
    if len(ev) == 0:
        return None
    threads = trace.threads
    if len(threads) and "kind" in threads.columns and (threads["kind"] == "cpu").any():
        cpu = threads[threads["kind"] == "cpu"][["pid", "tid"]]
        keep = ev[["pid", "tid"]].reset_index(drop=True).merge(
            cpu.drop_duplicates(), how="left", indicator=True)["_merge"].eq("both").to_numpy()
        if keep.any():
            ev = _subset(ev, keep)
    ev = _subset(ev, (ev["depth"] <= max_depth).to_numpy())
    node, node_parent, node_name, node_depth, names = _call_tree(ev)
    total_per_node = np.bincount(node, weights=ev["dur"].to_numpy(float),
                                 minlength=len(node_parent))
    root_total = float(total_per_node[node_parent == -1].sum())
    if root_total <= 0:
        return None
    children: dict[int, list[int]] = {}
    for i in np.flatnonzero(total_per_node >= min_share * root_total).tolist():
        children.setdefault(int(node_parent[i]), []).append(i)
    fig = _figure(10, 0.3 * (min(int(node_depth.max()), max_depth) + 1) + 1.2)
    ax = fig.add_subplot(1, 1, 1)
    stack = [(-1, 0.0)]
    deepest = 0
    while stack:
        parent_node, x = stack.pop()
        for child in sorted(children.get(parent_node, []), key=lambda c: -total_per_node[c]):
            w = float(total_per_node[child]) / root_total
            d = int(node_depth[child])
            deepest = max(deepest, d)
            name = names[int(node_name[child])]
            color = _FLAME[zlib.crc32(name.encode()) % len(_FLAME)]
            ax.add_patch(_rect(x, d, w, color))
            chars = int(w * width_px / 7)
            if chars >= 4:
                label = name if len(name) <= chars else name[: chars - 1] + "…"
                ax.text(x + 0.003, d + 0.5, label, va="center", ha="left", fontsize=7,
                        clip_on=True)
            stack.append((child, x))
            x += w
    ax.set_xlim(0, 1)
    ax.set_ylim(deepest + 1, 0)
    ax.set_yticks([])
    ax.set_xticks([0, 0.25, 0.5, 0.75, 1.0])
    ax.set_xticklabels(["0%", "25%", "50%", "75%", "100%"])
    ax.set_xlabel(f"share of inclusive time ({root_total / 1000:,.1f} ms in top-level slices)")
    ax.set_title("Icicle graph of the hotspots (call paths, widest first)", fontsize=10)
    return _png(fig)


def _subset(ev: Any, keep: np.ndarray) -> Any:
    """The rows of ``ev`` where ``keep``, with ``parent`` renumbered to the new row positions
    (-1 where the parent was dropped). Keeping whole threads or all slices up to a depth
    keeps every kept slice's ancestors."""
    positions = np.flatnonzero(keep)
    remap = np.full(len(keep), -1, dtype=np.int64)
    remap[positions] = np.arange(len(positions))
    sub = ev.iloc[positions].reset_index(drop=True)
    old = sub["parent"].to_numpy(np.int64)
    return sub.assign(parent=np.where(old >= 0, remap[np.maximum(old, 0)], -1))


def _rect(x: float, depth: int, width: float, color: str) -> Any:
    from matplotlib.patches import Rectangle

    return Rectangle((x, depth), width, 0.95, facecolor=color, edgecolor="white",
                     linewidth=0.5)
