"""The trace engine: importers for Chrome/DevTools/Kineto, speedscope, folded stacks and
cProfile into one pandas slice table (:class:`Trace`), its analyses and its summary."""

from ._load import DEFAULT_MAX_BYTES, FORMATS, TraceLoadWarning, detect_format, load_trace
from ._model import Trace
from ._slices import build_slice_table, slices_from_stacks
from ._text import hotspots_markdown, shorten_name
from .analysis import compare_traces
from .chrome import read_chrome
from .cprofile import read_cprofile
from .cpuprofile import read_cpuprofile
from .diagnosis import diagnose
from .folded import read_folded
from .speedscope import read_speedscope
from .summary import Summary, summarize

__all__ = [
    "DEFAULT_MAX_BYTES",
    "FORMATS",
    "Summary",
    "Trace",
    "TraceLoadWarning",
    "build_slice_table",
    "compare_traces",
    "detect_format",
    "diagnose",
    "hotspots_markdown",
    "load_trace",
    "read_chrome",
    "read_cprofile",
    "read_cpuprofile",
    "read_folded",
    "read_speedscope",
    "shorten_name",
    "slices_from_stacks",
    "summarize",
]
