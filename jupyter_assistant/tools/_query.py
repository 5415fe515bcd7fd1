"""A read-only query language over :attr:`Trace.events` that cannot run code.

A ``where`` filter is a Python *expression* parsed with :mod:`ast` and evaluated here, node by
node, on the DataFrame; nothing is passed to ``eval``, ``exec`` or ``DataFrame.query``. Allowed:

- column names (the columns of ``Trace.events`` except object columns such as ``args``),
  constants (str, int, float, bool, None) and lists/tuples of constants;
- comparisons ``== != < <= > >=`` (chains too: ``100 < dur < 1000``), ``in`` / ``not in`` a
  list of constants; ``and``, ``or``, ``not``; arithmetic ``+ - * /`` on numeric operands;
- the methods ``col.str.contains(s, case=True, regex=False)``, ``col.str.startswith(s)``,
  ``col.str.endswith(s)``, ``col.isin([...])``, ``col.between(lo, hi)``, ``col.isna()``,
  ``col.notna()`` with constant arguments.

Anything else (attribute access, subscripts, calls, lambdas, comprehensions, f-strings,
``**``) is refused with :class:`~jupyter_assistant.exceptions.ToolError` before any work is
done. Expressions are bounded (1,000 characters, 200 nodes). String methods run once per
distinct value of the column (per category of a categorical column), not once per row.

A regex (``regex=True``) never runs on Python's backtracking :mod:`re`, where a pattern such
as ``(.|.)*Z`` takes exponential time *while holding the GIL*, so that no thread, timeout or
signal handler of the process runs until it ends. It runs on RE2 (linear time in the text,
no backtracking; RE2 syntax: no lookaround, no backreferences) through pyarrow's
``match_substring_regex`` kernel, which releases the GIL. Linear is not cheap for every
pattern (a large counted repetition such as ``.{1000}`` makes RE2 fall back from its DFA
to a much slower NFA), so a regex is bounded to :data:`MAX_REGEX_CHARS` characters and runs
over the distinct values in batches of about :data:`REGEX_BATCH_BYTES` bytes; past
:data:`REGEX_BUDGET_S` seconds it stops with a :class:`ToolError`, so that even a thread the
orchestrator abandoned at its timeout stops soon after.

:func:`run_query` adds ``group_by`` / ``agg`` (``count``, ``sum``, ``mean``, ``min``, ``max``,
``median`` over numeric columns), ``sort_by`` and a bounded ``limit``.
"""

from __future__ import annotations

import ast
import operator
import re
import time
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from ..exceptions import ToolError

__all__ = ["AGG_FUNCTIONS", "MAX_LIMIT", "compile_filter", "parse_agg", "run_query"]

MAX_EXPR_CHARS = 1000
MAX_NODES = 200
#: Longest regex accepted, characters.
MAX_REGEX_CHARS = 200
#: Seconds of regex matching one string test may use before it is refused.
REGEX_BUDGET_S = 5.0
#: Bytes of distinct values (UTF-8) matched per RE2 call (between two budget checks).
REGEX_BATCH_BYTES = 64 * 1024
#: Largest ``limit`` of :func:`run_query`.
MAX_LIMIT = 200
#: Aggregations ``agg`` accepts.
AGG_FUNCTIONS = ("count", "sum", "mean", "min", "max", "median")

_CMP: dict[type[ast.cmpop], Callable[[Any, Any], Any]] = {
    ast.Eq: operator.eq, ast.NotEq: operator.ne, ast.Lt: operator.lt, ast.LtE: operator.le,
    ast.Gt: operator.gt, ast.GtE: operator.ge,
}
_ARITH: dict[type[ast.operator], Callable[[Any, Any], Any]] = {
    ast.Add: operator.add, ast.Sub: operator.sub, ast.Mult: operator.mul,
    ast.Div: operator.truediv,
}
_STR_METHODS = ("contains", "startswith", "endswith")

Value = Any  # pd.Series | scalar | list


def queryable_columns(df: pd.DataFrame) -> list[str]:
    """Columns a query may name: every column whose values are not arbitrary objects
    (``args`` dicts are excluded)."""
    return [str(c) for c in df.columns if not (df[c].dtype == object and str(c) == "args")]


class _Evaluator:
    def __init__(self, df: pd.DataFrame) -> None:
        self.df = df
        self.columns = set(queryable_columns(df))

    # -- values -------------------------------------------------------------------------
    def value(self, node: ast.expr) -> Value:
        if isinstance(node, ast.Constant):
            if node.value is not None and not isinstance(node.value, (str, int, float, bool)):
                raise ToolError(f"constant {node.value!r} is not allowed")
            return node.value
        if isinstance(node, (ast.List, ast.Tuple)):
            return [self.constant(e) for e in node.elts]
        if isinstance(node, ast.Name):
            return self.column(node.id)
        if isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.USub):
            return -self.numeric(self.value(node.operand))
        if isinstance(node, ast.BinOp) and type(node.op) in _ARITH:
            left = self.numeric(self.value(node.left))
            right = self.numeric(self.value(node.right))
            return _ARITH[type(node.op)](left, right)
        return self.condition(node)

    def constant(self, node: ast.expr) -> Any:
        if isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.USub):
            v = self.constant(node.operand)
            if isinstance(v, (int, float)) and not isinstance(v, bool):
                return -v
        if isinstance(node, ast.Constant) and (
                node.value is None or isinstance(node.value, (str, int, float, bool))):
            return node.value
        raise ToolError(f"expected a constant, got {ast.unparse(node)!r}")

    def column(self, name: str) -> pd.Series:
        if name not in self.columns:
            raise ToolError(f"unknown column {name!r}; columns: {', '.join(sorted(self.columns))}")
        return self.df[name]

    def numeric(self, v: Value) -> Value:
        if isinstance(v, pd.Series):
            if not pd.api.types.is_numeric_dtype(v.dtype) or pd.api.types.is_bool_dtype(v.dtype):
                raise ToolError(f"arithmetic needs a numeric column, {v.name!r} is {v.dtype}")
            return v
        if isinstance(v, bool) or not isinstance(v, (int, float)):
            raise ToolError(f"arithmetic needs numbers, got {v!r}")
        return v

    # -- conditions ---------------------------------------------------------------------
    def condition(self, node: ast.expr) -> Value:
        if isinstance(node, ast.BoolOp):
            parts = [self.mask(v) for v in node.values]
            out = parts[0]
            for p in parts[1:]:
                out = (out & p) if isinstance(node.op, ast.And) else (out | p)
            return out
        if isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.Not):
            return ~self.mask(node.operand)
        if isinstance(node, ast.Compare):
            return self.compare(node)
        if isinstance(node, ast.Call):
            return self.call(node)
        raise ToolError(f"not allowed in a query: {ast.unparse(node)!r} "
                        f"({type(node).__name__})")

    def compare(self, node: ast.Compare) -> pd.Series:
        result: pd.Series | None = None
        left = self.value(node.left)
        for op, right_node in zip(node.ops, node.comparators, strict=True):
            if isinstance(op, (ast.In, ast.NotIn)):
                if not isinstance(left, pd.Series) or not isinstance(right_node,
                                                                     (ast.List, ast.Tuple)):
                    raise ToolError("'in' needs a column on the left and a list of constants")
                part = left.isin(self.value(right_node))
                if isinstance(op, ast.NotIn):
                    part = ~part
                right: Value = None
            elif type(op) in _CMP:
                right = self.value(right_node)
                try:
                    part = _CMP[type(op)](self.plain(left, right), self.plain(right, left))
                except (TypeError, ValueError) as exc:
                    raise ToolError(f"cannot compare in {ast.unparse(node)!r}: {exc}") from None
            else:
                raise ToolError(f"operator {type(op).__name__} is not allowed")
            part = self.as_mask(part)
            result = part if result is None else (result & part)
            left = right
        assert result is not None
        return result

    @staticmethod
    def plain(v: Value, other: Value) -> Value:
        """A categorical column compared by order with a constant compares its values."""
        if isinstance(v, pd.Series) and isinstance(v.dtype, pd.CategoricalDtype):
            return v.astype(object) if not isinstance(other, pd.Series) else v.astype(str)
        return v

    def as_mask(self, v: Value) -> pd.Series:
        if isinstance(v, pd.Series):
            return v.fillna(False).astype(bool) if v.dtype == object else v.astype(bool)
        return pd.Series(bool(v), index=self.df.index)

    def mask(self, node: ast.expr) -> pd.Series:
        v = self.value(node)
        if isinstance(v, pd.Series) and not pd.api.types.is_bool_dtype(v.dtype):
            raise ToolError(f"{ast.unparse(node)!r} is not a condition")
        return self.as_mask(v)

    def call(self, node: ast.Call) -> pd.Series:
        func = node.func
        if not isinstance(func, ast.Attribute):
            raise ToolError(f"calling {ast.unparse(func)!r} is not allowed")
        kwargs = {k.arg: self.constant(k.value) for k in node.keywords if k.arg}
        if len(kwargs) != len(node.keywords):
            raise ToolError("**kwargs are not allowed")
        args = [self.value(a) if isinstance(a, (ast.List, ast.Tuple)) else self.constant(a)
                for a in node.args]
        # col.str.<method>(...)
        if (isinstance(func.value, ast.Attribute) and func.value.attr == "str"
                and isinstance(func.value.value, ast.Name) and func.attr in _STR_METHODS):
            return self.str_method(self.column(func.value.value.id), func.attr, args, kwargs)
        if isinstance(func.value, ast.Name):
            col = self.column(func.value.id)
            if func.attr == "isin" and len(args) == 1 and isinstance(args[0], list) and not kwargs:
                return col.isin(args[0])
            if func.attr == "between" and len(args) == 2 and not kwargs:
                return col.between(args[0], args[1])
            if func.attr in ("isna", "notna") and not args and not kwargs:
                return col.isna() if func.attr == "isna" else col.notna()
        raise ToolError(f"method call {ast.unparse(node)!r} is not allowed; allowed: "
                        "col.str.contains/startswith/endswith(s), col.isin([...]), "
                        "col.between(lo, hi), col.isna(), col.notna()")

    def str_method(self, col: pd.Series, method: str, args: list[Any],
                   kwargs: dict[str, Any]) -> pd.Series:
        if len(args) != 1 or not isinstance(args[0], str):
            raise ToolError(f".str.{method} takes one string argument")
        pat = args[0]
        allowed = {"case", "regex"} if method == "contains" else set()
        if set(kwargs) - allowed:
            raise ToolError(f".str.{method} does not take {sorted(set(kwargs) - allowed)}")
        return string_match(col, method, pat, case=bool(kwargs.get("case", True)),
                            regex=bool(kwargs.get("regex", False)))


class _Regex:
    """A checked RE2 pattern (see the module docstring); raises :class:`ToolError` for a
    pattern that is too long or not valid RE2 syntax."""

    def __init__(self, pat: str, *, case: bool = True) -> None:
        if len(pat) > MAX_REGEX_CHARS:
            raise ToolError(f"regex refused: it is {len(pat):,} characters; the limit is "
                            f"{MAX_REGEX_CHARS}")
        self.pat, self.ignore_case = pat, not case
        self.hits([""])  # compiles it: a bad pattern fails here, before any data is read

    def hits(self, values: Sequence[str]) -> np.ndarray:
        """Boolean array: which of ``values`` the pattern matches anywhere."""
        arr = pa.array(values, type=pa.large_string())
        out = np.zeros(len(arr), dtype=bool)
        # batch ends: about REGEX_BATCH_BYTES of text each (at least one value)
        ends = np.cumsum(pc.binary_length(arr).to_numpy(zero_copy_only=False))
        deadline = time.monotonic() + REGEX_BUDGET_S
        start = 0
        while start < len(arr):
            base = int(ends[start - 1]) if start else 0
            end = max(start + 1, int(np.searchsorted(ends, base + REGEX_BATCH_BYTES)))
            try:
                mask = pc.match_substring_regex(arr.slice(start, end - start), pattern=self.pat,
                                                ignore_case=self.ignore_case)
            except pa.ArrowInvalid as exc:
                raise ToolError(f"bad regex {self.pat!r}: {exc}. Regexes use RE2 syntax "
                                "(no lookaround such as (?=...), no backreferences such as "
                                "\\1)") from None
            out[start:end] = mask.to_numpy(zero_copy_only=False)
            start = end
            if start < len(arr) and time.monotonic() > deadline:
                raise ToolError(f"regex {self.pat!r} is too costly on this trace: it used "
                                f"its {REGEX_BUDGET_S:g} s budget on {start:,} of "
                                f"{len(arr):,} distinct values. Simplify it (large counted "
                                "repetitions such as .{1000} are slow) or use a plain "
                                "substring")
        return out


def string_match(col: pd.Series, method: str, pat: str, *, case: bool = True,
                 regex: bool = False) -> pd.Series:
    """Boolean mask: ``col`` values that contain (``method="contains"``, literally or as an
    RE2 regex, see the module docstring), start with or end with ``pat``. The test runs once
    per distinct value; missing values never match. Raises :class:`ToolError` for a regex
    that is refused."""
    rx = _Regex(pat, case=case) if regex and method == "contains" else None
    low = pat if case else pat.lower()

    def apply(values: list[str]) -> np.ndarray:
        if rx is not None:
            return rx.hits(values)
        if not case:
            values = [v.lower() for v in values]
        if method == "contains":
            return np.fromiter((low in v for v in values), bool, len(values))
        if method == "startswith":
            return np.fromiter((v.startswith(low) for v in values), bool, len(values))
        return np.fromiter((v.endswith(low) for v in values), bool, len(values))

    if isinstance(col.dtype, pd.CategoricalDtype):
        codes, uniques = col.cat.codes.to_numpy(), col.cat.categories
    else:
        codes, uniques = pd.factorize(col, use_na_sentinel=True)
    hits = apply(pd.Index(uniques).astype(str).tolist())
    mask = hits[np.clip(codes, 0, None)] & (codes >= 0) if len(hits) else \
        np.zeros(len(col), dtype=bool)
    return pd.Series(mask, index=col.index)


def compile_filter(expr: str) -> ast.Expression:
    """Parse and bound a ``where`` expression (raises :class:`ToolError`)."""
    if len(expr) > MAX_EXPR_CHARS:
        raise ToolError(f"where expression is {len(expr)} characters; the limit is "
                        f"{MAX_EXPR_CHARS}")
    try:
        tree = ast.parse(expr.strip(), mode="eval")
    except SyntaxError as exc:
        raise ToolError(f"where expression is not valid: {exc.msg}") from None
    if sum(1 for _ in ast.walk(tree)) > MAX_NODES:
        raise ToolError(f"where expression has more than {MAX_NODES} parts")
    return tree


def filter_events(df: pd.DataFrame, where: str) -> pd.Series:
    """Boolean mask of the rows of ``df`` matching ``where`` (see the module docstring)."""
    tree = compile_filter(where)
    try:
        return _Evaluator(df).mask(tree.body)
    except (TypeError, ValueError, KeyError, ArithmeticError) as exc:
        raise ToolError(f"query {where!r} failed: {exc}") from None


_AGG_SPEC = re.compile(r"^\s*(\w+)\s*(?:\(\s*(\w*)\s*\))?\s*$")


def parse_agg(spec: str, numeric: Sequence[str]) -> tuple[str, str | None]:
    """``"count"`` / ``"count()"`` -> ``("count", None)``; ``"sum(dur)"`` -> ``("sum", "dur")``.

    Raises :class:`ToolError` for an unknown function or a non-numeric column."""
    if not isinstance(spec, str) or len(spec) > 100:  # (the pattern is quadratic in spaces)
        raise ToolError(f"bad aggregation {str(spec)[:100]!r}: at most 100 characters, e.g. "
                        "sum(dur)")
    m = _AGG_SPEC.match(spec)
    if not m or m.group(1) not in AGG_FUNCTIONS:
        raise ToolError(f"bad aggregation {spec!r}; use count or f(column) with f in "
                        f"{', '.join(AGG_FUNCTIONS)}")
    fn, col = m.group(1), m.group(2) or None
    if fn != "count" and col is None:
        raise ToolError(f"{fn} needs a column, e.g. {fn}(dur)")
    if col is not None and col not in numeric:
        raise ToolError(f"cannot aggregate {col!r}; numeric columns: {', '.join(numeric)}")
    return fn, col


def run_query(
    df: pd.DataFrame,
    *,
    where: str | None = None,
    columns: Sequence[str] | None = None,
    group_by: Sequence[str] | None = None,
    agg: Sequence[str] | None = None,
    sort_by: str | None = None,
    descending: bool = True,
    limit: int = 20,
) -> tuple[pd.DataFrame, int]:
    """Filter, group, aggregate, sort and cut ``df``; returns ``(result, rows_before_limit)``.

    Without ``group_by``/``agg`` the result keeps the original row index (the slice's row
    number for ``slice_details``). Aggregate columns are named like their spec:
    ``count``, ``sum(dur)``. Raises :class:`ToolError` on any invalid part."""
    allowed = queryable_columns(df)
    numeric = [c for c in allowed if pd.api.types.is_numeric_dtype(df[c].dtype)
               and not pd.api.types.is_bool_dtype(df[c].dtype)]
    out = df[filter_events(df, where)] if where and where.strip() else df
    for what, names in (("columns", list(columns or [])), ("group_by", list(group_by or []))):
        for col in names:
            if col not in allowed:
                raise ToolError(f"unknown column {col!r}; columns: {', '.join(allowed)}")
        repeated = sorted({str(c) for c in names if names.count(c) > 1})
        if repeated:
            raise ToolError(f"{what} names {', '.join(map(repr, repeated))} more than once; "
                            "name each column once")
    if group_by or agg:
        specs = [parse_agg(a, numeric) for a in (agg or ["count"])]
        keys = list(group_by or [])
        grouped: Any = out.groupby(keys, observed=True, sort=False) if keys else None
        cols: dict[str, Any] = {}
        for fn, agg_col in specs:
            label = "count" if fn == "count" else f"{fn}({agg_col})"
            if grouped is None:
                cols[label] = [len(out) if fn == "count" else getattr(out[agg_col], fn)()]
            elif fn == "count":
                cols[label] = grouped.size()
            else:
                cols[label] = getattr(grouped[agg_col], fn)()
        result = pd.DataFrame(cols) if grouped is None else pd.DataFrame(cols).reset_index()
    else:
        keep = list(columns) if columns else [c for c in ("name", "cat", "pid", "tid", "ts",
                                                          "dur", "self_dur", "depth")
                                               if c in allowed]
        result = out[keep]
    if sort_by:
        if sort_by not in result.columns:
            raise ToolError(f"cannot sort by {sort_by!r}; result columns: "
                            f"{', '.join(map(str, result.columns))}")
        result = result.sort_values(sort_by, ascending=not descending, kind="stable")
    total = len(result)
    return result.head(max(1, min(int(limit), MAX_LIMIT))), total
