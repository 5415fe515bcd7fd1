"""Match ``B``/``E`` (and async ``b``/``e``) events of one track into slices.

The Trace Event Format says duration events on a thread must nest and an ``E`` closes the
most recent open ``B``; it also lets events come out of timestamp order. Real files break
the nesting now and then, so matching is forgiving and every repair is counted:

* ``B`` and ``E`` events are taken in ``ts`` order (ties keep file order). When a ``B`` and
  an ``E`` share a ``ts``, the ``B`` goes first only if it has the ``E``'s name (a zero-length
  slice); among ``E`` events with one ``ts``, the one naming the open slice goes first.
  (Both tie rules are speedscope's, ``trace-event.ts``.)
* an ``E`` without a name, or naming the open slice, closes it (``E`` args are merged into
  the slice's args, as the spec says).
* an ``E`` naming a slice further down the stack closes the slices above it at its ``ts``
  (each counted as a repair) and then that slice; an ``E`` naming no open slice, or arriving
  when none is open, is dropped (a repair).
* a ``B`` still open at the end is closed at the track's last timestamp (a repair).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from ._chrome_events import Warnings

__all__ = ["match_begin_end"]

# event tuple: (ts, is_begin, name, cat, args, index, ...)


def match_begin_end(
    events: list[tuple[Any, ...]],
    last_ts: float,
    warn: Warnings,
    where: str,
) -> tuple[list[tuple[Any, ...]], int]:
    """Slices ``(name, cat, ts, dur, args, begin_event)`` from one track's ``B``/``E`` events.

    ``last_ts`` closes slices left open (it is raised to the last event's ``ts`` if lower);
    ``warn`` collects messages (:class:`~._chrome_events.Warnings`); ``where`` names the track.
    Returns the slices and the number of repairs.
    """
    begins = sorted((e for e in events if e[1]), key=lambda e: e[0])
    ends = sorted((e for e in events if not e[1]), key=lambda e: e[0])
    out: list[tuple[Any, ...]] = []
    stack: list[tuple[Any, ...]] = []
    repaired = 0
    i = j = 0
    nb, ne = len(begins), len(ends)

    def close(b: tuple[Any, ...], ts: float, e_args: Any) -> None:
        args = b[4]
        if e_args:
            args = {**(args or {}), **e_args}
        out.append((b[2], b[3], b[0], ts - b[0], args, b))

    while i < nb or j < ne:
        if j >= ne or (i < nb and (begins[i][0] < ends[j][0] or (
                begins[i][0] == ends[j][0] and begins[i][2] == ends[j][2]))):
            stack.append(begins[i])
            i += 1
            continue
        e = ends[j]
        if stack and e[2] and e[2] != stack[-1][2]:
            top = stack[-1][2]
            for k in range(j + 1, ne):
                if ends[k][0] != e[0]:
                    break
                if ends[k][2] == top:
                    ends[j], ends[k] = ends[k], ends[j]
                    e = ends[j]
                    break
        j += 1
        ts = e[0]
        if not stack:
            repaired += 1
            if warn.wants():
                warn.add(f"{where}: traceEvents[{e[5]}] 'E' {e[2]!r} at ts={ts:g} has no open "
                         "'B'; dropped")
            continue
        if not e[2] or e[2] == stack[-1][2]:
            close(stack.pop(), ts, e[4])
            continue
        depth = next((k for k in range(len(stack) - 1, -1, -1) if stack[k][2] == e[2]), -1)
        if depth < 0:
            repaired += 1
            if warn.wants():
                warn.add(f"{where}: traceEvents[{e[5]}] 'E' {e[2]!r} at ts={ts:g} matches no "
                         f"open 'B' (open: {stack[-1][2]!r}); dropped")
            continue
        while len(stack) > depth + 1:
            b = stack.pop()
            repaired += 1
            if warn.wants():
                warn.add(f"{where}: 'B' {b[2]!r} (traceEvents[{b[5]}]) closed at ts={ts:g} by "
                         f"the 'E' of the enclosing {e[2]!r}")
            close(b, ts, None)
        close(stack.pop(), ts, e[4])
    if stack:
        end = max(last_ts, max(e[0] for e in events))
        for b in reversed(stack):
            repaired += 1
            if warn.wants():
                warn.add(f"{where}: 'B' {b[2]!r} (traceEvents[{b[5]}]) is never closed; closed "
                         f"at the track's last timestamp {end:g}")
            close(b, end, None)
    return out, repaired
