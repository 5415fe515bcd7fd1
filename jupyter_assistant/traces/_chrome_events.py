"""Collect Trace Event Format events into compact columns, one parsed chunk at a time.

``X`` (complete) events, the bulk of most traces, are turned into numpy columns with one
list comprehension per field; every other phase goes through a small per-event handler and
is kept in a short list until :mod:`jupyter_assistant.traces.chrome` assembles the trace.

Rules (Trace Event Format spec, "Trace Event Format", Google):

* ``ts``/``dur`` are µs; numbers, or strings holding a number (Hermes writes those), are
  accepted. A timed event without a numeric, finite ``ts`` raises ``TraceFormatError``
  naming ``traceEvents[i]``.
* ``X`` with a negative ``dur`` raises ``TraceFormatError``. ``X`` without ``dur`` uses
  ``tdur`` when present (as speedscope does), else gets duration 0 and a warning
  (``metadata["missing_dur"]`` counts them).
* ``pid``/``tid`` that are strings (Kineto's ``"Spans"``, Hermes' ``"7695"``) map to stable
  int64 ids: a numeric string to its number, any other string to ``2**40 + k`` in order of
  first appearance; the string is kept as the process/thread name.
* a missing ``name`` becomes ``"(unnamed)"`` (speedscope's choice), a missing ``cat`` ``""``;
  ``args`` are kept as dicts, an empty ``args`` as ``None``.
"""

from __future__ import annotations

import functools
import math
import operator
import re
from collections import Counter
from collections.abc import Callable
from operator import itemgetter
from typing import Any

import numpy as np

from ..exceptions import TraceFormatError

__all__ = ["ARG_INT_KEYS", "PROFILE_NAMES", "ChromeEvents", "IdMap", "Interner", "Warnings",
           "arg_ints"]

PROFILE_NAMES = frozenset({"Profile", "ProfileChunk", "CpuProfile"})
_INT = re.compile(r"\s*-?\d+\s*")
_MISSING = object()


class Warnings(list[str]):
    """A list of warnings that keeps the first ``limit`` messages and counts the rest."""

    def __init__(self, limit: int = 20) -> None:
        super().__init__()
        self.limit = limit
        self.dropped = 0

    def add(self, message: str) -> None:
        if len(self) < self.limit:
            self.append(message)
        else:
            self.dropped += 1

    def wants(self) -> bool:
        """True if another message would be kept; else counts it as dropped (so a caller
        can skip formatting it)."""
        if len(self) < self.limit:
            return True
        self.dropped += 1
        return False

    def final(self) -> list[str]:
        more = [f"... and {self.dropped} more warnings"] if self.dropped else []
        return list(self) + more


class IdMap:
    """Map Chrome ``pid``/``tid`` values to stable int64 ids (see the module docstring)."""

    BASE = 1 << 40

    def __init__(self) -> None:
        self.names: dict[int, str] = {}
        self._cache: dict[Any, int] = {}

    def one(self, v: Any) -> int:
        if type(v) is int and -(1 << 62) < v < (1 << 62):
            return v
        key = v if isinstance(v, (str, int, float, type(None))) else repr(v)
        got = self._cache.get(key)
        if got is not None:
            return got
        if v is None:
            out = 0
        elif isinstance(v, bool):
            out = int(v)
        elif isinstance(v, float) and math.isfinite(v) and v == int(v) and abs(v) < 1 << 62:
            out = int(v)
        elif isinstance(v, str) and _INT.fullmatch(v) and abs(int(v)) < 1 << 62:
            out = int(v)
        else:
            out = self.BASE + len(self.names)
            self.names[out] = v if isinstance(v, str) else str(key)[:80]
        self._cache[key] = out
        return out

    def array(self, values: list[Any]) -> np.ndarray:
        try:
            a = np.array(values) if values else np.empty(0, dtype=np.int64)
        except (ValueError, TypeError, OverflowError):  # lists mixed with numbers
            a = np.empty(0, dtype=object)
        if a.ndim == 1 and a.dtype.kind == "i" and len(a) == len(values):
            return a.astype(np.int64, copy=False)
        return np.fromiter((self.one(v) for v in values), dtype=np.int64, count=len(values))


class Interner:
    """Strings to int32 codes, shared by all chunks (for categorical name/cat columns)."""

    def __init__(self, missing: str) -> None:
        self.missing = missing
        self.codes_of: dict[str, int] = {}

    def code(self, v: Any) -> int:
        if v is None:
            v = self.missing
        elif not isinstance(v, str):
            v = str(v)
        c = self.codes_of.get(v)
        if c is None:
            c = self.codes_of[v] = len(self.codes_of)
        return c

    def codes(self, values: list[Any]) -> np.ndarray:
        get = self.codes_of.get
        try:
            out = list(map(get, values))
        except TypeError:  # unhashable names (garbage input): use their text
            values = [v if isinstance(v, str) or v is None else repr(v) for v in values]
            out = list(map(get, values))
        if None in out:
            out = [c if c is not None else self.code(v) for c, v in zip(out, values, strict=True)]
        return np.array(out, dtype=np.int32)

    @property
    def categories(self) -> list[str]:
        return list(self.codes_of)


def _number(v: Any) -> float | None:
    """``v`` as a finite float; ``None`` if ``v`` is missing; raises ValueError if not a number."""
    if v is None or v is _MISSING:
        return None
    if isinstance(v, (int, float)):
        x = float(v)
    elif isinstance(v, str):
        x = float(v)  # ValueError for text
    else:
        raise ValueError
    if not math.isfinite(x):
        raise ValueError
    return x


class ChromeEvents:
    """Accumulates the events of one trace; see the module docstring."""

    def __init__(self, source: str) -> None:
        self.source = source
        self.pids, self.tids = IdMap(), IdMap()
        self.names, self.cats = Interner("(unnamed)"), Interner("")
        self.x_parts: list[tuple[np.ndarray, ...]] = []  # (name, cat, pid, tid, ts, dur)
        self.x_args: list[Any] = []
        self.be: dict[tuple[int, int], list[tuple[Any, ...]]] = {}
        self.async_events: dict[tuple[Any, ...], list[tuple[Any, ...]]] = {}
        self.instants: list[tuple[Any, ...]] = []  # rows, from the one-by-one path
        self.instant_parts: list[tuple[Any, ...]] = []  # columns, from bulk chunks
        self.counters: list[tuple[Any, ...]] = []
        self.flows: list[tuple[Any, ...]] = []
        self.strings: dict[str, str] = {}  # see _shared
        self.flow_names, self.flow_cats, self.flow_ph = (Interner(""), Interner(""),
                                                         Interner(""))
        #: per ``X`` chunk: ``{column: int64 array}`` of :data:`ARG_INT_KEYS`, or the
        #: chunk's length when no event of it carries any of those keys
        self.x_arg_ints: list[dict[str, np.ndarray] | int] = []
        self.profiles: list[tuple[Any, ...]] = []
        self.async_tracks: dict[int, tuple[int, str]] = {}  # tid -> (pid, first slice name)
        self.process_names: dict[int, str] = {}
        self.process_labels: dict[int, str] = {}
        self.process_sort: dict[int, float] = {}
        self.thread_names: dict[tuple[int, int], str] = {}
        self.thread_sort: dict[tuple[int, int], float] = {}
        self.ignored: Counter[str] = Counter()
        self.warnings = Warnings()
        self.missing_dur = 0
        self.n_events = 0
        self._no_args = False
        self._text: bytes | None = None

    # -- helpers ---------------------------------------------------------------------
    def _bad(self, index: int, problem: str) -> TraceFormatError:
        return TraceFormatError(self.source, f"traceEvents[{index}]", problem)

    def _ts(self, e: dict[str, Any], index: int, key: str = "ts") -> float:
        v = e.get(key, _MISSING)
        if type(v) is float or type(v) is int:
            if math.isfinite(v):
                return float(v)
        try:
            x = _number(v)
        except (ValueError, OverflowError):
            raise self._bad(index, f"'{key}' is {_show(v)}, not a number") from None
        if x is None:
            raise self._bad(index, f"the {e.get('ph')!r} event has no '{key}'")
        return x

    def _floats(self, values: list[Any], key: str, where: Callable[[int], int],
                events: list[dict[str, Any]]) -> np.ndarray:
        try:
            a = np.array(values, dtype=np.float64)
            if a.ndim == 1 and np.isfinite(a).all():
                return a
        except (TypeError, ValueError, OverflowError):
            pass
        out = np.empty(len(values), dtype=np.float64)
        for k, v in enumerate(values):
            try:
                x = _number(v)
            except (ValueError, OverflowError):
                raise self._bad(where(k), f"'{key}' is {_show(v)}, not a number") from None
            if x is None and key == "dur":
                x = self._missing_dur(events[k], where(k))
            elif x is None:
                raise self._bad(where(k), f"the {_show(events[k].get('ph'))} event has no "
                                          f"'{key}'")
            out[k] = x
        return out

    def _missing_dur(self, e: dict[str, Any], index: int) -> float:
        try:
            tdur = _number(e.get("tdur"))
        except (ValueError, OverflowError):
            tdur = None
        if tdur is not None and tdur >= 0:
            return tdur
        self.missing_dur += 1
        self.warnings.add(f"traceEvents[{index}]: 'X' event {_show(e.get('name'))} has no "
                          "'dur'; duration 0 assumed")
        return 0.0

    # -- chunks ----------------------------------------------------------------------
    def add_chunk(self, first: int, events: list[Any], text: bytes | None = None) -> None:
        """Take one parsed slice of ``traceEvents`` (``events[0]`` is ``traceEvents[first]``);
        ``text`` is the JSON it came from, if known (when it holds no ``"args"`` key, no event
        has args and the column is filled without looking)."""
        self.n_events += len(events)
        if not set(map(type, events)) <= {dict}:
            k = next(i for i, e in enumerate(events) if not isinstance(e, dict))
            raise self._bad(first + k, f"an event must be a JSON object, not "
                                       f"{_show(events[k])}")
        ph = _values(events, "ph")
        if not set(map(type, ph)) <= _PH_TYPES:  # a list or number as "ph": unknown phase
            ph = [p if p is None or isinstance(p, str) else repr(p) for p in ph]
        self._no_args = text is not None and b'"args"' not in text
        self._text = text
        try:
            self._add_events(first, events, ph)
        finally:
            self._text = None

    def _add_events(self, first: int, events: list[dict[str, Any]], ph: list[Any]) -> None:
        if ph.count("X") == len(events):
            self._add_x(events, first, None)
            return
        kinds = np.fromiter(map(_PH_KIND.__getitem__, ph), np.int8, count=len(ph))
        groups = [np.flatnonzero(kinds == k).tolist() for k in range(4)]
        xpos, fpos, ipos, rest = groups
        if xpos:
            self._add_x([events[i] for i in xpos], first, xpos)
        if fpos:
            self._add_flows([events[i] for i in fpos], first, fpos)
        if ipos:
            ie = [events[i] for i in ipos]
            try:
                profiles = not PROFILE_NAMES.isdisjoint(_values(ie, "name"))
            except TypeError:  # an unhashable name: let the one-by-one path sort it out
                profiles = True
            if profiles:
                rest = sorted(rest + ipos)
            else:
                self._add_instants(ie, first, ipos)
        for i in rest:
            self._other(ph[i], events[i], first + i)

    def _add_flows(self, fe: list[dict[str, Any]], first: int, pos: list[int]) -> None:
        """Flow events in bulk (Kineto writes one ``s`` and one ``f`` per kernel launch)."""
        n = len(fe)
        ts = self._float_column(fe, "ts", lambda k: first + pos[k])
        ids = _values(fe, "id")
        if None in ids:
            ids = [v if v is not None else _event_id(e) for v, e in zip(ids, fe, strict=True)]
        bp = np.fromiter(map(_IS_E, _values(fe, "bp")), dtype=bool, count=n)
        self.flows.append((ids, self.flow_cats.codes(_values(fe, "cat")),
                           self.flow_names.codes(_values(fe, "name")),
                           self.flow_ph.codes(_values(fe, "ph")),
                           self._int_column(fe, "pid", self.pids),
                           self._int_column(fe, "tid", self.tids), ts, bp))

    def _add_instants(self, ie: list[dict[str, Any]], first: int, pos: list[int]) -> None:
        """``i``/``I``/``R`` events in bulk (Kineto writes one per memory event)."""
        ts = self._float_column(ie, "ts", lambda k: first + pos[k])
        scope = _values(ie, "s")
        try:
            ok = set(scope) <= _SCOPES
        except TypeError:  # an unhashable value
            ok = False
        if not ok:
            scope = [v if isinstance(v, str) and v in _SCOPES else "t" for v in scope]
        if self._no_args:
            args: list[Any] = [None] * len(ie)
        else:
            args = [e.get("args") or None for e in ie]
            if not set(map(type, args)) <= _ARG_TYPES:
                args = [a if isinstance(a, dict) else None for a in args]
        self.instant_parts.append((self._shared(_values(ie, "name")),
                                   self._shared(_values(ie, "cat")),
                                   self._int_column(ie, "pid", self.pids),
                                   self._int_column(ie, "tid", self.tids), ts,
                                   self._shared(scope), args))

    def _shared(self, values: list[Any]) -> list[Any]:
        """``values`` with each distinct string as one object (the parser makes a new one
        per event; a Kineto trace repeats a few instant names 100,000s of times)."""
        if not set(map(type, values)) <= {str}:
            return values
        return list(map(self.strings.setdefault, values, values))

    def _float_column(self, es: list[dict[str, Any]], key: str,
                      where: Callable[[int], int]) -> np.ndarray:
        a = _fast_floats(es, key, len(es))
        return a if a is not None else self._floats(_values(es, key), key, where, es)

    @staticmethod
    def _int_column(es: list[dict[str, Any]], key: str, ids: IdMap) -> np.ndarray:
        a = _fast_ints(es, key, len(es))
        return a if a is not None else ids.array(_values(es, key))

    def _add_x(self, xs: list[dict[str, Any]], first: int, xpos: list[int] | None) -> None:
        def where(k: int) -> int:
            return first + (k if xpos is None else xpos[k])

        n = len(xs)
        ts = self._float_column(xs, "ts", where)
        dur = self._float_column(xs, "dur", where)
        neg = np.flatnonzero(dur < 0)
        if neg.size:
            k = int(neg[0])
            raise self._bad(where(k), f"'X' event {_show(xs[k].get('name'))} has a negative "
                                      f"'dur' ({dur[k]:g} µs)")
        with np.errstate(over="ignore"):
            far = np.flatnonzero(np.isinf(ts + dur))
        if far.size:
            k = int(far[0])
            raise self._bad(where(k), f"'X' event {_show(xs[k].get('name'))} ends out of "
                                      "range ('ts' + 'dur' overflows)")
        pid = self._int_column(xs, "pid", self.pids)
        tid = self._int_column(xs, "tid", self.tids)
        name = self.names.codes(_values(xs, "name"))
        cat = self.cats.codes(_values(xs, "cat"))
        if self._no_args:
            self.x_args.extend([None] * n)
            self.x_arg_ints.append(n)
        else:
            args = [e.get("args") or None for e in xs]
            if not set(map(type, args)) <= _ARG_TYPES:
                args = [a if a is None or isinstance(a, dict) else {"value": a} for a in args]
            self.x_args.extend(args)
            self.x_arg_ints.append(arg_ints(args, self._text))
        self.x_parts.append((name, cat, pid, tid, ts, dur))

    def _other(self, p: Any, e: dict[str, Any], g: int) -> None:
        if p == "B" or p == "E":
            key = (self.pids.one(e.get("pid")), self.tids.one(e.get("tid")))
            args = e.get("args")
            self.be.setdefault(key, []).append(
                (self._ts(e, g), p == "B", e.get("name"), e.get("cat"),
                 args if isinstance(args, dict) and args else None, g))
        elif p in ("P", "I", "i", "R") and _is_profile(e.get("name")):
            self.profiles.append((e.get("name"), self.pids.one(e.get("pid")),
                                  self.tids.one(e.get("tid")), self._ts(e, g), e.get("id"),
                                  e.get("args"), g))
        elif p in ("i", "I", "R"):
            args = e.get("args")
            self.instants.append((e.get("name"), e.get("cat"), self.pids.one(e.get("pid")),
                                  self.tids.one(e.get("tid")), self._ts(e, g),
                                  e.get("s") if e.get("s") in ("g", "p", "t") else "t",
                                  args if isinstance(args, dict) and args else None))
        elif p == "C":
            self._counter(e, g)
        elif p == "M":
            self._metadata(e)
        elif p in ("b", "e", "n", "S", "F"):
            self._async(p, e, g)
        else:
            self.ignored[str(p)] += 1

    def _counter(self, e: dict[str, Any], g: int) -> None:
        args = e.get("args")
        if not isinstance(args, dict):
            self.ignored["C"] += 1
            return
        ts = self._ts(e, g)
        pid = self.pids.one(e.get("pid"))
        name = str(e.get("name", "(unnamed)"))
        if e.get("id") is not None:  # spec: name and id together name the counter
            name = f"{name}[{e.get('id')}]"
        for series, v in args.items():
            try:
                x = _number(v)
            except (ValueError, OverflowError):
                x = None
            if x is not None:
                self.counters.append((pid, name, str(series), ts, x))

    def _metadata(self, e: dict[str, Any]) -> None:
        args = e.get("args")
        if not isinstance(args, dict):
            return
        what = e.get("name")
        pid = self.pids.one(e.get("pid"))
        if what == "process_name" and "name" in args:
            self.process_names[pid] = str(args["name"])
        elif what == "process_labels" and "labels" in args:
            self.process_labels[pid] = str(args["labels"])
        elif what in ("process_sort_index", "thread_sort_index"):
            try:
                x = _number(args.get("sort_index"))
            except (ValueError, OverflowError):
                x = None
            if x is not None and what == "process_sort_index":
                self.process_sort[pid] = x
            elif x is not None:
                self.thread_sort[(pid, self.tids.one(e.get("tid")))] = x
        elif what == "thread_name" and "name" in args:
            self.thread_names[(pid, self.tids.one(e.get("tid")))] = str(args["name"])

    def _async(self, p: str, e: dict[str, Any], g: int) -> None:
        ident = _event_id(e)
        id2 = e.get("id2")
        scope_pid = None if isinstance(id2, dict) and "global" in id2 else \
            self.pids.one(e.get("pid"))
        pid = self.pids.one(e.get("pid"))
        ts = self._ts(e, g)
        if p == "n":
            self.instants.append((e.get("name"), e.get("cat"), pid,
                                  self.tids.one(e.get("tid")), ts, "async", None))
            return
        # legacy S/F pairs are not nestable: one track per (id, name), as catapult keys them
        key = (scope_pid, str(e.get("cat", "")), ident) + ((str(e.get("name")),)
                                                            if p in ("S", "F") else ())
        args = e.get("args")
        self.async_events.setdefault(key, []).append(
            (ts, p in ("b", "S"), e.get("name"), e.get("cat"),
             args if isinstance(args, dict) and args else None, g, pid))

    # -- results ---------------------------------------------------------------------
    def x_columns(self) -> dict[str, Any]:
        """The ``X`` slices so far as columns (``name``/``cat`` as int32 codes)."""
        if not self.x_parts:
            z = np.empty(0)
            return {"name": np.empty(0, np.int32), "cat": np.empty(0, np.int32),
                    "pid": z.astype(np.int64), "tid": z.astype(np.int64), "ts": z, "dur": z}
        cols = [np.concatenate([p[i] for p in self.x_parts]) for i in range(6)]
        self.x_parts = [tuple(cols)]
        return dict(zip(("name", "cat", "pid", "tid", "ts", "dur"), cols, strict=True))


_ARG_TYPES = frozenset({dict, type(None)})
_SCOPES = frozenset({"g", "p", "t"})
_IS_E = functools.partial(operator.eq, "e")


class _PhaseKinds(dict[Any, int]):
    """``ph`` -> 0 ``X``, 1 flow, 2 instant, 3 anything else (handled one by one)."""

    def __missing__(self, key: Any) -> int:
        return 3


_PH_KIND = _PhaseKinds({"X": 0, "s": 1, "t": 1, "f": 1, "i": 2, "I": 2, "R": 2})

#: Integer ``args`` that become columns of a Kineto trace: column -> the ``args`` keys
#: read, first present wins (old traces write ``external id``).
ARG_INT_KEYS: dict[str, tuple[str, ...]] = {
    "correlation": ("correlation",),
    "external_id": ("External id", "external id"),
    "stream": ("stream",),
}


def arg_ints(args: list[dict[str, Any] | None], text: bytes | None = None
             ) -> dict[str, np.ndarray] | int:
    """The :data:`ARG_INT_KEYS` of each ``args`` dict as int64 columns (-1 where absent or
    not a number; floats are truncated). ``text``, the JSON the dicts were parsed from, lets
    a chunk that holds none of the keys skip the look-ups: then ``len(args)`` is returned."""
    keys = [k for ks in ARG_INT_KEYS.values() for k in ks]
    if text is not None and not any(f'"{k}"'.encode() in text for k in keys):
        return len(args)
    out = {}
    for column, (key, *alts) in ARG_INT_KEYS.items():
        if alts and (text is None or any(f'"{a}"'.encode() in text for a in alts)):
            values: Any = [_first_of(a, (key, *alts)) for a in args]
        elif None in args:
            values = [a.get(key, -1) if a is not None else -1 for a in args]
        else:
            values = [a.get(key, -1) for a in args]  # type: ignore[union-attr]
        try:
            out[column] = np.array(values, dtype=np.int64)
        except (TypeError, ValueError, OverflowError):
            out[column] = _ints(values)
    return out


def _first_of(a: dict[str, Any] | None, keys: tuple[str, ...]) -> Any:
    if a is None:
        return -1
    for k in keys:
        if k in a:
            return a[k]
    return -1


def _ints(values: list[Any]) -> np.ndarray:
    """Integers, -1 where missing or not a finite number (floats truncated)."""
    out = np.full(len(values), -1, dtype=np.int64)
    for i, v in enumerate(values):
        if isinstance(v, bool):
            out[i] = int(v)
            continue
        try:
            x = float(v)
        except (TypeError, ValueError, OverflowError):
            continue
        if math.isfinite(x) and abs(x) < 2.0**63:
            out[i] = int(x)
    return out
_PH_TYPES = frozenset({str, type(None)})


def _is_profile(name: Any) -> bool:
    return isinstance(name, str) and name in PROFILE_NAMES


def _values(xs: list[dict[str, Any]], key: str) -> list[Any]:
    """``xs[i][key]`` for all i (``None`` where missing), by a C-level map when none misses."""
    try:
        return list(map(itemgetter(key), xs))
    except KeyError:
        return [e.get(key) for e in xs]


def _fast_floats(xs: list[dict[str, Any]], key: str, n: int) -> np.ndarray | None:
    """Float column when every event has a finite number (or numeric string), else None."""
    try:
        a = np.fromiter(map(itemgetter(key), xs), np.float64, count=n)
    except (KeyError, TypeError, ValueError, OverflowError):
        return None
    return a if np.isfinite(a).all() else None


def _fast_ints(xs: list[dict[str, Any]], key: str, n: int) -> np.ndarray | None:
    """int64 column when every event has an int, else None (then :class:`IdMap` decides)."""
    try:
        return np.fromiter(map(itemgetter(key), xs), np.int64, count=n)
    except (KeyError, TypeError, ValueError, OverflowError):
        return None


def _event_id(e: dict[str, Any]) -> str:
    v = e.get("id")
    if v is None:
        id2 = e.get("id2")
        if isinstance(id2, dict):
            v = id2.get("local", id2.get("global"))
    return "" if v is None else str(v)


def _show(v: Any) -> str:
    text = repr(v)
    return text if len(text) <= 60 else text[:57] + "..."
