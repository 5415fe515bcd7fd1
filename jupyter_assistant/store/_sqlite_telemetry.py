"""Telemetry tables of :class:`~jupyter_assistant.store.SQLiteStore`: model-call and
tool-call records, their queries by time / session / conversation / user, and the metrics."""

from __future__ import annotations

import dataclasses
import sqlite3
from collections.abc import Callable
from typing import Any, TypeVar

import orjson

from ..exceptions import NotFoundError
from ._metrics import compute_metrics
from ._records import ModelCallRecord, Page, ToolCallRecord
from ._util import check_page

__all__ = ["SQLiteTelemetry"]

_T = TypeVar("_T")
_R = TypeVar("_R", ModelCallRecord, ToolCallRecord)
_JSON_FIELDS = {"request", "input"}
_MODEL_FIELDS = [f.name for f in dataclasses.fields(ModelCallRecord)]
_TOOL_FIELDS = [f.name for f in dataclasses.fields(ToolCallRecord)]


def _dumps(value: Any) -> str:
    return orjson.dumps(value).decode()


def _record(cls: type[_R], row: sqlite3.Row) -> _R:
    d = {k: (orjson.loads(row[k]) if k in _JSON_FIELDS else row[k]) for k in row.keys()}
    return cls.from_dict(d)


class SQLiteTelemetry:
    """The :class:`~jupyter_assistant.store.TelemetryStore` half of ``SQLiteStore`` (a mixin:
    ``_run`` is the store's one-transaction-in-the-worker-thread runner)."""

    async def _run(self, fn: Callable[[sqlite3.Connection], _T], *, write: bool = False) -> _T:
        raise NotImplementedError

    # -- telemetry ---------------------------------------------------------------------------

    async def _insert_record(self, table: str, fields: list[str], record: Any) -> None:
        values = [_dumps(getattr(record, f)) if f in _JSON_FIELDS else getattr(record, f)
                  for f in fields]
        sql = (f"INSERT OR REPLACE INTO {table} ({', '.join(fields)}) "
               f"VALUES ({', '.join('?' * len(fields))})")

        def fn(conn: sqlite3.Connection) -> None:
            conn.execute(sql, values)

        await self._run(fn, write=True)

    async def record_model_call(self, record: ModelCallRecord) -> None:
        """Store (or replace, same ``id``) a model-call record."""
        await self._insert_record("model_calls", _MODEL_FIELDS, record)

    async def record_tool_call(self, record: ToolCallRecord) -> None:
        """Store (or replace, same ``id``) a tool-call record."""
        await self._insert_record("tool_calls", _TOOL_FIELDS, record)

    async def get_model_call(self, call_id: str) -> ModelCallRecord:
        """The model-call record ``call_id``; ``NotFoundError`` if there is none."""

        def fn(conn: sqlite3.Connection) -> ModelCallRecord:
            row = conn.execute(f"SELECT {', '.join(_MODEL_FIELDS)} FROM model_calls "
                               "WHERE id = ?", (call_id,)).fetchone()
            if row is None:
                raise NotFoundError(f"model call {call_id!r} not found")
            return _record(ModelCallRecord, row)

        return await self._run(fn)

    async def _select(
        self, cls: type[_R], table: str, columns: list[str], *, filters: dict[str, Any],
        since: float | None, until: float | None, limit: int | None, offset: int,
    ) -> tuple[list[_R], int]:
        where: list[str] = ["1 = 1"]
        args: list[Any] = []
        for column, value in filters.items():
            if value is not None:
                where.append(f"{column} = ?")
                args.append(value)
        if since is not None:
            where.append("started_at >= ?")
            args.append(since)
        if until is not None:
            where.append("started_at < ?")
            args.append(until)
        cond = " AND ".join(where)

        def fn(conn: sqlite3.Connection) -> tuple[list[_R], int]:
            total = conn.execute(f"SELECT COUNT(*) FROM {table} WHERE {cond}", args).fetchone()[0]
            rows = conn.execute(
                f"SELECT {', '.join(columns)} FROM {table} WHERE {cond} "
                "ORDER BY started_at DESC, id DESC LIMIT ? OFFSET ?",
                [*args, -1 if limit is None else limit, offset]).fetchall()
            return [_record(cls, r) for r in rows], total

        return await self._run(fn)

    async def list_model_calls(
        self, *, user_id: str | None = None, session_id: str | None = None,
        conversation_id: str | None = None, since: float | None = None,
        until: float | None = None, limit: int = 100, offset: int = 0,
    ) -> Page[ModelCallRecord]:
        """Model calls matching every filter given (``since <= started_at < until``),
        newest first, with the total."""
        check_page(limit, offset)
        items, total = await self._select(
            ModelCallRecord, "model_calls", _MODEL_FIELDS,
            filters={"user_id": user_id, "session_id": session_id,
                     "conversation_id": conversation_id},
            since=since, until=until, limit=limit, offset=offset)
        return Page(items, total, limit, offset)

    async def list_tool_calls(
        self, *, user_id: str | None = None, session_id: str | None = None,
        conversation_id: str | None = None, since: float | None = None,
        until: float | None = None, limit: int = 100, offset: int = 0,
    ) -> Page[ToolCallRecord]:
        """Tool calls matching every filter given (``since <= started_at < until``),
        newest first, with the total."""
        check_page(limit, offset)
        items, total = await self._select(
            ToolCallRecord, "tool_calls", _TOOL_FIELDS,
            filters={"user_id": user_id, "session_id": session_id,
                     "conversation_id": conversation_id},
            since=since, until=until, limit=limit, offset=offset)
        return Page(items, total, limit, offset)

    async def metrics(self, *, user_id: str | None = None, since: float | None = None,
                      until: float | None = None) -> dict[str, Any]:
        """Dashboard aggregates of the window (shape: ``compute_metrics`` in
        :mod:`~jupyter_assistant.store._metrics`); the request bodies are not read."""
        model_cols = [f for f in _MODEL_FIELDS if f != "request"]
        calls, _ = await self._select(ModelCallRecord, "model_calls", model_cols,
                                      filters={"user_id": user_id}, since=since, until=until,
                                      limit=None, offset=0)
        tools, _ = await self._select(ToolCallRecord, "tool_calls",
                                      [f for f in _TOOL_FIELDS if f != "input"],
                                      filters={"user_id": user_id}, since=since, until=until,
                                      limit=None, offset=0)
        return compute_metrics(calls, tools, since=since, until=until)
