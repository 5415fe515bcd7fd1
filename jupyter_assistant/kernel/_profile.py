"""``%%assistant profile``: run the cell body under a real profiler and load the result as a
:class:`~jupyter_assistant.Trace`.

Profilers: ``cprofile`` (the standard library's deterministic profiler, the default; the
pstats file is read by :mod:`jupyter_assistant.traces.cprofile`), ``pyinstrument`` (a
sampling profiler, 1 ms interval; its speedscope output is read by
:mod:`jupyter_assistant.traces.speedscope`) and ``torch`` (``torch.profiler`` with the CPU
and, when available, CUDA activities; its Kineto Chrome trace is read like any Kineto trace).
The body runs in the user namespace, so its variables land there as if it had run normally;
IPython syntax in the body (magics, ``!cmd``) is transformed first. An exception in the body
propagates (the profile is dropped) so ``%assistant fix`` can explain it.
"""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Any

from IPython.core.error import UsageError

from ..exceptions import AssistantError
from ._args import Command

__all__ = ["profile_cell", "run_profiled"]


def _compile(shell: Any, cell: str) -> tuple[Any, int]:
    code = shell.transform_cell(cell)
    # the number of the running cell, which IPython compiled last (execution_count may
    # already be the next one)
    numbers = (getattr(shell.compile, "_filename_map", {}) or {}).values()
    number = max(numbers, default=shell.execution_count)
    name = shell.compile.cache(code, number, raw_code=cell)
    return compile(shell.compile.ast_parse(code, filename=name), name, "exec"), number


def run_profiled(shell: Any, cell: str, profiler: str, directory: Path) -> Path:
    """Run ``cell`` in ``shell.user_ns`` under ``profiler`` and write the profile into
    ``directory``; returns the file. Raises ``UsageError`` when the profiler is not
    installed; whatever the cell raises."""
    code, number = _compile(shell, cell)
    ns = shell.user_ns
    if profiler == "cprofile":
        import cProfile

        path = directory / "cell.prof"
        prof = cProfile.Profile()
        prof.enable()
        try:
            exec(code, ns)
        finally:
            prof.disable()
        prof.dump_stats(str(path))
        return path
    if profiler == "pyinstrument":
        try:
            from pyinstrument import Profiler
            from pyinstrument.renderers import SpeedscopeRenderer
        except ImportError:
            raise UsageError("--profiler pyinstrument needs pyinstrument "
                             "(pip install pyinstrument)") from None
        path = directory / "cell.speedscope.json"
        sampler = Profiler(interval=0.001, async_mode="disabled")
        sampler.start(target_description=f"cell In [{number}]")
        try:
            exec(code, ns)
        finally:
            sampler.stop()
        path.write_text(sampler.output(SpeedscopeRenderer()), encoding="utf-8")
        return path
    if profiler == "torch":
        try:
            import torch
            from torch.profiler import ProfilerActivity, profile
        except ImportError:
            raise UsageError("--profiler torch needs PyTorch (pip install torch)") from None
        activities = [ProfilerActivity.CPU]
        if torch.cuda.is_available():
            activities.append(ProfilerActivity.CUDA)
        path = directory / "cell.pt.trace.json"
        with profile(activities=activities) as prof:
            exec(code, ns)
        prof.export_chrome_trace(str(path))
        return path
    raise UsageError(f"unknown profiler {profiler!r}")


def _name_cells(trace: Any, shell: Any) -> None:
    """Call notebook cells what the user sees (``In [3]``) in slice names, instead of the
    kernel's temporary file names (``/tmp/ipykernel_1234/5678.py``)."""
    cells = {name: number for name, number in
             (getattr(shell.compile, "_filename_map", {}) or {}).items() if number}
    names = trace.events.get("name")
    if not cells or names is None or not hasattr(names, "cat"):
        return

    def rename(label: str) -> str:
        for filename, number in cells.items():
            if filename in label:
                label = label.replace(filename, f"In [{number}]")
        return label

    categories = [rename(str(c)) for c in names.cat.categories]
    if len(set(categories)) == len(categories):
        trace.events["name"] = names.cat.rename_categories(categories)


#: Shown under the summary of a ``--profiler torch`` profile without a single PyTorch op.
NO_TORCH_OPS = ("*The torch profiler recorded no PyTorch operator: the cell ran no torch code "
                "(`torch.profiler` records PyTorch ops, not Python functions). Profile Python "
                "code with `--profiler cprofile` or `--profiler pyinstrument`.*")


def _has_torch_ops(trace: Any) -> bool:
    """Whether a Kineto trace holds any ``cpu_op`` (a PyTorch operator) or device work."""
    cats = trace.events.get("cat")
    if cats is None or not len(cats):
        return False
    ops = {"cpu_op", "kernel", "gpu_memcpy", "gpu_memset"}
    return bool(cats.isin(list(ops)).any())


def profile_cell(magics: Any, cmd: Command, cell: str) -> None:
    """The ``%%assistant profile`` magic: profile, bind the Trace as ``--as`` (default
    ``profile_trace``), show it, and with ``--ask`` ask the model about it."""
    from ..traces import load_trace
    from ._trace_view import show_trace

    name = cmd.as_name or "profile_trace"
    with tempfile.TemporaryDirectory(prefix="jupyter-assistant-profile-") as tmp:
        path = run_profiled(magics.shell, cell, cmd.profiler, Path(tmp))
        try:
            trace = load_trace(path)
        except AssistantError as exc:
            raise UsageError(f"the {cmd.profiler} profile could not be read: {exc.code}: "
                             f"{exc.message}") from None
    trace.metadata["source"] = f"%%assistant profile ({cmd.profiler})"
    _name_cells(trace, magics.shell)
    magics.shell.user_ns[name] = trace
    magics.current_trace = name
    show_trace(trace, name)
    if cmd.profiler == "torch" and not _has_torch_ops(trace):
        from IPython.display import Markdown, display

        display(Markdown(NO_TORCH_OPS))
    if cmd.ask:
        magics.ask(cmd.ask, cmd, trace=trace)
