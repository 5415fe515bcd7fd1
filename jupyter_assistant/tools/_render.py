"""Compact markdown rendering of DataFrames and numbers for tool results.

Tool results are read by a language model (and by the offline provider), so tables are
GitHub-flavoured markdown (via pandas ``to_markdown``, which uses ``tabulate``), bounded in
rows and cell width, with numbers formatted for reading: microseconds as ``12,345`` or
``1.25``, fractions as ``0.123``. Pipes inside cells are escaped so a slice name such as
``a|b`` cannot break the table.

numpy, pandas and the trace engine are imported by the functions that need them, so that
the tool modules (which import this one) define their tools without importing pandas.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # pragma: no cover
    import pandas as pd

__all__ = ["MAX_CELL_CHARS", "MAX_TABLE_ROWS", "fmt_number", "fmt_us", "render_table"]

#: Largest number of rows a rendered table shows.
MAX_TABLE_ROWS = 200
#: Longest cell text before it is shortened with a middle ellipsis (``traces.shorten_name``).
MAX_CELL_CHARS = 80


def fmt_number(value: Any) -> str:
    """A number for reading: ``1,234,567`` for |x| >= 100, ``12.35`` for |x| >= 1,
    three significant digits below; integers unchanged; NaN/None as ``""``."""
    if value is None:
        return ""
    import numpy as np

    if isinstance(value, (bool, np.bool_)):
        return str(bool(value))
    if isinstance(value, (int, np.integer)):
        return f"{int(value):,}" if abs(int(value)) >= 10_000 else str(int(value))
    try:
        x = float(value)
    except (TypeError, ValueError):
        return str(value)
    if math.isnan(x):
        return ""
    if math.isinf(x):
        return "inf" if x > 0 else "-inf"
    ax = abs(x)
    if ax >= 100:
        return f"{x:,.0f}"
    if ax >= 1:
        return f"{x:.2f}"
    if ax == 0:
        return "0"
    return f"{x:.3g}"


def fmt_us(us: float) -> str:
    """A duration given in µs, in the largest unit that keeps it >= 1: ``850 µs``,
    ``12.3 ms``, ``4.56 s``."""
    x = float(us)
    if abs(x) >= 1e6:
        return f"{x / 1e6:.3g} s"
    if abs(x) >= 1e3:
        return f"{x / 1e3:.3g} ms"
    return f"{x:.3g} µs"


def _cell(value: Any, max_chars: int) -> str:
    import numpy as np
    import pandas as pd

    from ..traces import shorten_name

    if isinstance(value, (float, np.floating, int, np.integer, bool, np.bool_)) or value is None:
        text = fmt_number(value)
    else:
        text = "" if value is pd.NA or value is pd.NaT else str(value)
    return shorten_name(text.replace("\n", " "), max_chars).replace("|", "\\|")


def render_table(
    df: pd.DataFrame,
    *,
    max_rows: int = 20,
    index: bool = False,
    index_name: str = "row",
    max_cell_chars: int = MAX_CELL_CHARS,
) -> str:
    """Render ``df`` as a markdown table of at most ``max_rows`` rows (capped at
    :data:`MAX_TABLE_ROWS`); a line ``(showing N of M rows)`` follows a cut table.

    ``index=True`` adds the index as the first column, named ``index_name``. An empty frame
    renders as ``(no rows)``.
    """
    import pandas as pd

    total = len(df)
    if total == 0:
        return "(no rows)"
    limit = max(1, min(int(max_rows), MAX_TABLE_ROWS))
    shown = df.head(limit)
    if index:
        shown = shown.reset_index(names=index_name)
    cells = {
        str(col): [_cell(v, max_cell_chars) for v in shown[col].tolist()]
        for col in shown.columns
    }
    align = ["right" if pd.api.types.is_numeric_dtype(shown[col].dtype)
             and not pd.api.types.is_bool_dtype(shown[col].dtype) else "left"
             for col in shown.columns]
    text = pd.DataFrame(cells).to_markdown(index=False, disable_numparse=True, colalign=align)
    if total > limit:
        text += f"\n(showing {limit} of {total:,} rows)"
    return text
