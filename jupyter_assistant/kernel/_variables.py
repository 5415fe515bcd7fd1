"""What the model may know about the kernel: the user's variables and the last exception.

Values are only read, never executed: no user code runs (``repr`` is called only on builtin
containers and scalars, through :mod:`reprlib`, and on pandas / numpy / torch objects whose
representation is their data; a ``torch.nn.Module`` is read through torch's own
accessors: ``parameters()``, ``named_parameters()``, ``children()``). Private names
(``_x``), modules, IPython's own names (``In``, ``Out``, ``get_ipython``...) and the names
the kernel had at start are left out.

Sizes: every text is cut to a budget in characters (≈ 4 characters per token).
"""

from __future__ import annotations

import reprlib
import sys
import traceback
import types
from collections.abc import Iterator, Sized
from typing import Any

__all__ = ["describe", "inspect_value", "kernel_context", "last_error_text", "user_variables"]

_CHARS_PER_TOKEN = 4
_SHORT = reprlib.Repr()  # keyword arguments need Python 3.12
for _attr, _limit in (("maxlevel", 2), ("maxstring", 80), ("maxother", 80), ("maxlist", 6),
                      ("maxdict", 6), ("maxtuple", 6), ("maxset", 6), ("maxlong", 40)):
    setattr(_SHORT, _attr, _limit)
_PLAIN = (int, float, complex, bool, str, bytes, list, tuple, dict, set, frozenset,
          type(None))


def _module(value: Any) -> str:
    return type(value).__module__ or ""


def _is_dataframe(value: Any) -> bool:
    return _module(value).startswith("pandas") and type(value).__name__ == "DataFrame"


def _is_series(value: Any) -> bool:
    return _module(value).startswith("pandas") and type(value).__name__ == "Series"


def _is_tensor(value: Any) -> bool:
    return _module(value).startswith("torch") and hasattr(value, "device")


def _is_module(value: Any) -> bool:
    """A ``torch.nn.Module`` (the user's own subclasses too), found by its class's MRO: no
    torch import."""
    return any(c.__module__ == "torch.nn.modules.module" and c.__qualname__ == "Module"
               for c in type(value).__mro__)


def _is_array(value: Any) -> bool:
    """An array type (numpy, jax, cupy...): ``shape`` and ``dtype`` defined on its class, which
    is looked up, not the value (an instance lookup may run a ``__getattr__``)."""
    cls = type(value)
    return hasattr(cls, "shape") and hasattr(cls, "dtype") and not _is_dataframe(value)


def _is_trace(value: Any) -> bool:
    return (_module(value).startswith("jupyter_assistant.traces")
            and type(value).__name__ == "Trace")


def user_variables(shell: Any) -> dict[str, Any]:
    """The user's variables of ``shell.user_ns`` (see the module docstring), in definition
    order."""
    hidden = getattr(shell, "user_ns_hidden", {}) or {}
    found: dict[str, Any] = {}
    for name, value in list(shell.user_ns.items()):
        if name.startswith("_") or (name in hidden and hidden[name] is value):
            continue
        if isinstance(value, (types.ModuleType, types.FunctionType, type)):
            continue
        if name in ("In", "Out", "exit", "quit", "get_ipython"):
            continue
        found[name] = value
    return found


def _type_name(value: Any) -> str:
    t = type(value)
    module = t.__module__
    return t.__qualname__ if module in ("builtins", "__main__") else f"{module}.{t.__qualname__}"


def describe(value: Any) -> str:
    """One line about ``value``: its shape, dtype(s), device, length or short repr."""
    try:
        if _is_dataframe(value):
            cols = ", ".join(f"{c}: {t}" for c, t in list(value.dtypes.astype(str).items())[:8])
            more = f", … {value.shape[1] - 8} more" if value.shape[1] > 8 else ""
            return f"DataFrame {value.shape[0]:,} rows × {value.shape[1]} columns ({cols}{more})"
        if _is_series(value):
            return f"Series {len(value):,} rows, dtype {value.dtype}, name {value.name!r}"
        if _is_trace(value):
            return repr(value)
        if _is_tensor(value):
            return _tensor_line(value)
        if _is_module(value):
            return _module_line(value)
        if _is_array(value):
            return f"array shape {tuple(value.shape)}, dtype {value.dtype}"
        if isinstance(value, _PLAIN):
            size = f"len {len(value):,}, " if isinstance(value, Sized) else ""
            return f"{size}{_SHORT.repr(value)}"
        # only a length computed in C: a ``__len__`` written in Python is code that may do
        # anything (read a file, query a database), and none of it may run here
        length = getattr(type(value), "__len__", None)
        if length is not None and not isinstance(length, types.FunctionType):
            try:
                return f"len {len(value):,}"
            except Exception:
                return ""
    except Exception as exc:  # a broken object must not break the listing
        return f"(could not be described: {type(exc).__name__})"
    return ""


def _tensor_line(value: Any) -> str:
    """``tensor shape (…), dtype …, device …`` plus the layout when not strided (sparse),
    ``nested`` for nested tensors (no single shape) and ``requires_grad``."""
    if getattr(value, "is_nested", False):
        head = f"nested tensor of {value.size(0):,} tensors ({value.dim()} dims)"
    else:
        head = f"tensor shape {tuple(value.shape)}"
    text = f"{head}, dtype {value.dtype}, device {value.device}"
    layout = str(getattr(value, "layout", "torch.strided"))
    if layout != "torch.strided":
        text += f", layout {layout}"
    if getattr(value, "requires_grad", False):
        text += ", requires_grad"
    return text


def _module_line(value: Any) -> str:
    """A ``torch.nn.Module``: its direct submodules, parameter count, their dtypes and
    devices, and train/eval mode (nothing is called but torch's own accessors)."""
    params = list(value.parameters())
    sizes = [_numel(p) for p in params]
    count = sum(n for n in sizes if n is not None)
    lazy = sum(n is None for n in sizes)
    dtypes = ", ".join(sorted({str(p.dtype).removeprefix("torch.") for p in params}))
    devices = ", ".join(sorted({str(p.device) for p in params}))
    where = f" ({dtypes}) on {devices}" if params else ""
    uninitialized = f" and {lazy} not initialized yet (lazy)" if lazy else ""
    children = len(list(value.children()))
    mode = "training" if getattr(value, "training", False) else "eval"
    return (f"module {type(value).__name__}, {children} submodules, {count:,} parameters"
            f"{uninitialized}{where}, {mode} mode")


def _numel(param: Any) -> int | None:
    """Elements of a parameter; ``None`` for a lazy module's uninitialised one."""
    try:
        return int(param.numel())
    except Exception:
        return None


def _rank(item: tuple[str, Any]) -> int:
    value = item[1]
    if _is_dataframe(value) or _is_trace(value):
        return 0
    if _is_tensor(value) or _is_array(value) or _is_series(value) or _is_module(value):
        return 1
    return 2


def variable_lines(shell: Any) -> Iterator[str]:
    """``- name (type): description`` per user variable, data first."""
    for name, value in sorted(user_variables(shell).items(), key=_rank):
        detail = describe(value)
        yield f"- `{name}` ({_type_name(value)})" + (f": {detail}" if detail else "")


def last_error_text(max_lines: int = 30) -> str | None:
    """The last exception of the kernel (``sys.last_exc`` / ``sys.last_value``, which
    IPython sets): type, message and the last ``max_lines`` lines of its traceback; ``None``
    when there was none."""
    exc = getattr(sys, "last_exc", None) or getattr(sys, "last_value", None)
    if exc is None:
        return None
    lines = "".join(traceback.format_exception(type(exc), exc, exc.__traceback__)).splitlines()
    tail = lines[-max_lines:]
    cut = len(lines) - len(tail)
    head = f"{type(exc).__name__}: {exc}"
    body = "\n".join(tail)
    more = f"… ({cut} earlier traceback lines left out)\n" if cut else ""
    return f"{head}\n\nTraceback (end):\n{more}{body}"


def _fit(text: str, max_chars: int) -> str:
    if len(text) <= max_chars:
        return text
    cut = text[: max(0, max_chars - 40)].rstrip()
    return f"{cut}\n… ({len(text) - max_chars:,} more characters)"


def kernel_context(shell: Any, max_tokens: int = 1500) -> str:
    """The kernel context the model is told at the start of a turn: the variables and the
    last exception, within ``max_tokens`` (≈ 4 characters each; the last error gets at most a
    third of it)."""
    budget = max(200, int(max_tokens)) * _CHARS_PER_TOKEN
    parts = ["You are running inside the user's Jupyter kernel (IPython). Call "
             "`list_variables`, `inspect_variable` and `last_error` to look at the user's "
             "data and errors, and the trace tools for the traces they loaded. Values are "
             "read, never executed; you cannot run code."]
    error = last_error_text()
    if error:
        parts.append("The last exception raised in the kernel:\n\n```\n"
                     + _fit(error, budget // 3) + "\n```")
    used = sum(len(p) for p in parts)
    lines = list(variable_lines(shell))
    if lines:
        room = budget - used - 100
        kept: list[str] = []
        for line in lines:
            line = _fit(line, 400)
            if sum(len(k) + 1 for k in kept) + len(line) > room:
                break
            kept.append(line)
        more = f"\n- … and {len(lines) - len(kept)} more (call `list_variables`)" \
            if len(kept) < len(lines) else ""
        parts.append("The user's variables:\n" + "\n".join(kept) + more)
    else:
        parts.append("The user has defined no variables yet.")
    return "\n\n".join(parts)


# -- inspect_variable ------------------------------------------------------------------------

def _frame_markdown(frame: Any, max_chars: int) -> str:
    try:
        text = frame.to_markdown()
    except Exception:  # tabulate missing or an odd index
        text = frame.to_string()
    return _fit(text, max_chars)


def inspect_value(name: str, value: Any, rows: int = 5, max_chars: int = 8000) -> str:
    """Markdown about one variable, at most ``max_chars`` characters: a DataFrame's shape,
    columns with dtypes and null counts, ``describe()`` and ``rows`` first rows; a Series,
    array or tensor's shape, dtype (device) and statistics; a Trace's summary; else a short
    repr of builtin values."""
    rows = max(0, min(int(rows), 50))
    out = [f"`{name}`: {_type_name(value)}"]
    if _is_dataframe(value):
        out[0] += f", {value.shape[0]:,} rows × {value.shape[1]} columns"
        cols = value.columns[:60]
        import pandas as pd

        info = pd.DataFrame({"dtype": value.dtypes[cols].astype(str),
                             "nulls": value[cols].isna().sum(),
                             "non_null": value[cols].notna().sum()})
        info.index.name = "column"
        out.append("Columns:\n\n" + _frame_markdown(info, max_chars // 3))
        if value.shape[1] > 60:
            out.append(f"(… {value.shape[1] - 60} more columns)")
        try:
            desc = value[cols].describe(include="all").T
            out.append("describe():\n\n" + _frame_markdown(desc, max_chars // 3))
        except Exception as exc:
            out.append(f"describe() failed: {type(exc).__name__}: {exc}")
        if rows:
            out.append(f"First {rows} rows:\n\n"
                       + _frame_markdown(value.head(rows)[cols[:20]], max_chars // 4))
    elif _is_series(value):
        out.append(describe(value))
        out.append(f"nulls: {int(value.isna().sum()):,}")
        try:
            out.append("describe():\n\n" + _frame_markdown(value.describe().to_frame(),
                                                            max_chars // 3))
        except Exception as exc:
            out.append(f"describe() failed: {type(exc).__name__}: {exc}")
        if rows:
            out.append(f"First {rows} values:\n\n"
                       + _frame_markdown(value.head(rows).to_frame(), max_chars // 4))
    elif _is_trace(value):
        out.append(repr(value))
        out.append(str(value.summary(max_tokens=max(200, max_chars // 8)).text))
    elif _is_tensor(value) or _is_array(value):
        out.append(describe(value))
        out.append(_array_stats(value))
    elif _is_module(value):
        out.append(describe(value))
        out.append(_module_parameters(value, max_chars // 2))
    elif isinstance(value, _PLAIN):
        out.append(describe(value))
    else:
        attrs = [a for a in dir(type(value)) if not a.startswith("_")][:40]
        out.append("public attributes: " + ", ".join(attrs) if attrs else "no public attributes")
    return _fit("\n\n".join(p for p in out if p), max_chars)


def _module_parameters(value: Any, max_chars: int, limit: int = 40) -> str:
    """A markdown table of a module's parameters: name, shape, dtype, device,
    requires_grad; at most ``limit`` rows and ``max_chars`` characters, whole rows only,
    the rest counted."""
    rows = ["| parameter | shape | dtype | device | requires_grad |",
            "| --- | --- | --- | --- | --- |"]
    used = sum(len(r) + 1 for r in rows) + 40   # room for the "more" line
    kept = rest = 0
    try:
        for name, p in value.named_parameters():
            shape = tuple(p.shape) if _numel(p) is not None else "(not initialized)"
            row = f"| {name} | {shape} | {p.dtype} | {p.device} | {p.requires_grad} |"
            if rest or kept >= limit or used + len(row) + 1 > max_chars:
                rest += 1
                continue
            rows.append(row)
            used += len(row) + 1
            kept += 1
    except Exception as exc:  # a broken module must not break the answer
        return f"(parameters could not be listed: {type(exc).__name__})"
    if not kept and not rest:
        return "no parameters"
    more = f"\n\n(… {rest:,} more parameters)" if rest else ""
    return "\n".join(rows) + more


def _array_stats(value: Any) -> str:
    """Element count, min, max and mean of an array or tensor (of its magnitude when
    complex); torch tensors are reduced in their own dtype (the mean accumulates in
    float64), so no full float copy is made, on the CPU or on the GPU. Skipped over 50 M
    elements."""
    try:
        size = int(getattr(value, "numel", lambda: value.size)())
        if size == 0 or size > 50_000_000:
            return f"{size:,} elements (statistics skipped)"
        if _is_tensor(value):
            data = value.detach()
            label = "|x| " if data.is_complex() else ""
            data = data.abs() if label else data
            float64 = sys.modules["torch"].float64
            lo, hi, mean = data.min(), data.max(), data.mean(dtype=float64)
        else:
            label = ""
            lo, hi, mean = value.min(), value.max(), value.mean()
        return (f"{size:,} element{'s' if size != 1 else ''}; {label}min {float(lo):.6g}, "
                f"max {float(hi):.6g}, mean {float(mean):.6g}")
    except Exception as exc:  # non-numeric dtype, or a device that cannot be read
        return f"(no statistics: {type(exc).__name__})"
