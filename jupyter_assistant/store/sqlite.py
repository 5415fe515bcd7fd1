"""``SQLiteStore``: the embedded default store, one SQLite file in the Jupyter data directory.

Why stdlib ``sqlite3`` driven through ``anyio.to_thread.run_sync`` rather than ``aiosqlite``:
every method here is *one* short transaction (e.g. insert a message and update the
conversation's stats) that runs as one function call in a worker thread, so it is atomic
even when the calling task is cancelled (anyio waits for the thread to finish) and costs one
thread hop instead of one per statement. With ``aiosqlite`` a transaction is a sequence of
awaits on a shared connection, so a cancellation between two of them leaves the transaction
open for the next caller to commit by accident; it is also asyncio-only while the project
runs on anyio. One connection, used by one thread at a time (a ``CapacityLimiter(1)``).

The file is in WAL mode with ``foreign_keys=ON`` (messages and session events are deleted
with their parent by ``ON DELETE CASCADE``) and ``busy_timeout`` so the Jupyter server and a
kernel can share it. Every write is committed before its method returns; with the default
``synchronous=NORMAL`` a committed write survives a crash of the process (``kill -9``); pass
``synchronous="FULL"`` to survive power loss as well (one fsync per commit).
"""

from __future__ import annotations

import dataclasses
import os
import sqlite3
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import anyio
import anyio.to_thread
import orjson

from ..events import Event
from ..exceptions import AssistantError, NotFoundError, StoreError
from ._base import SESSION_TTL_S
from ._records import Conversation, Message, Page, SessionRecord
from ._sqlite_schema import migrate
from ._sqlite_telemetry import SQLiteTelemetry, _dumps
from ._util import check_id, check_page, check_role, known_id, new_id, now, title_from_content

__all__ = ["SQLiteStore", "default_sqlite_path"]

_T = TypeVar("_T")

_CONV_COLS = ("id, user_id, title, model, total_tokens, message_count, last_message_at, "
              "created_at, updated_at")
_MSG_COLS = "id, conversation_id, role, content, tokens, metadata, created_at"
_SESSION_COLS = "id, user_id, conversation_id, status, last_seq, created_at, updated_at, expires_at"


def default_sqlite_path() -> Path:
    """``jupyter_data_dir()/jupyter_assistant/assistant.db`` (the Jupyter data directory of
    ``jupyter --data-dir``, honouring ``JUPYTER_DATA_DIR``)."""
    from jupyter_core.paths import jupyter_data_dir

    return Path(jupyter_data_dir()) / "jupyter_assistant" / "assistant.db"


def _message(row: sqlite3.Row) -> Message:
    return Message(id=row["id"], conversation_id=row["conversation_id"], role=row["role"],
                   content=orjson.loads(row["content"]), tokens=row["tokens"],
                   metadata=orjson.loads(row["metadata"]), created_at=row["created_at"])


class SQLiteStore(SQLiteTelemetry):
    """The :class:`~jupyter_assistant.store.Store` protocol on one SQLite file.

    ``path``: the database file (created with its directory; ``None`` ->
    :func:`default_sqlite_path`; ``":memory:"`` for a private in-memory database).
    ``session_ttl``: seconds a session and its event log live after their last update
    (default 24 h). ``synchronous``: SQLite's ``PRAGMA synchronous`` (``NORMAL`` or ``FULL``).
    ``busy_timeout``: seconds to wait for another process's write lock.

    Call ``await open()`` first (runs the migrations of
    :mod:`~jupyter_assistant.store._sqlite_schema`); ``aclose()`` at the end. Raises
    :class:`~jupyter_assistant.exceptions.NotFoundError` for objects that do not exist for
    the user, :class:`~jupyter_assistant.exceptions.InputError` for a bad id, role or page,
    :class:`~jupyter_assistant.exceptions.StoreError` for anything SQLite refuses and when
    used before ``open()``.
    """

    def __init__(
        self, path: str | os.PathLike[str] | None = None, *,
        session_ttl: float = SESSION_TTL_S, synchronous: str = "NORMAL",
        busy_timeout: float = 10.0,
    ) -> None:
        self.path = default_sqlite_path() if path is None else (
            path if str(path) == ":memory:" else Path(path))
        self.session_ttl = float(session_ttl)
        if synchronous.upper() not in {"OFF", "NORMAL", "FULL", "EXTRA"}:
            raise StoreError(f"invalid sqlite synchronous mode {synchronous!r}")
        self.synchronous = synchronous.upper()
        self.busy_timeout = float(busy_timeout)
        self._conn: sqlite3.Connection | None = None
        self._limiter = anyio.CapacityLimiter(1)
        self.migrated_from: int | None = None

    def __repr__(self) -> str:
        return f"SQLiteStore({str(self.path)!r})"

    # -- plumbing ----------------------------------------------------------------------------

    def _connect(self) -> sqlite3.Connection:
        if isinstance(self.path, Path):
            self.path.parent.mkdir(parents=True, exist_ok=True)
        conn = sqlite3.connect(str(self.path), timeout=self.busy_timeout,
                               isolation_level=None, check_same_thread=False)
        try:
            conn.row_factory = sqlite3.Row
            conn.execute("PRAGMA journal_mode=WAL")
            conn.execute(f"PRAGMA synchronous={self.synchronous}")
            conn.execute("PRAGMA foreign_keys=ON")
            old, _ = migrate(conn)
            self.migrated_from = old
            conn.execute("DELETE FROM sessions WHERE expires_at <= ?", (now(),))
        except BaseException:
            conn.close()
            raise
        return conn

    async def _run(
        self, fn: Callable[[sqlite3.Connection], _T], *, write: bool = False
    ) -> _T:
        """Run ``fn(conn)`` in the worker thread inside one transaction (``BEGIN IMMEDIATE``
        for writes, so the write lock is taken up front; ``BEGIN`` for a consistent read)."""
        conn = self._conn
        if conn is None:
            raise StoreError(f"{self!r} is not open: await store.open() first")

        def job() -> _T:
            try:
                conn.execute("BEGIN IMMEDIATE" if write else "BEGIN")
                try:
                    result = fn(conn)
                except BaseException:
                    conn.execute("ROLLBACK")
                    raise
                conn.execute("COMMIT")
                return result
            except AssistantError:
                raise
            except sqlite3.Error as exc:
                raise StoreError(f"sqlite ({self.path}): {exc}") from exc

        return await anyio.to_thread.run_sync(job, limiter=self._limiter)

    async def open(self) -> None:
        """Open the file (creating it), switch to WAL, migrate to the current schema and
        purge expired sessions. Idempotent. ``StoreError`` if the file cannot be used."""
        if self._conn is not None:
            return

        def connect() -> sqlite3.Connection:
            try:
                return self._connect()
            except sqlite3.Error as exc:
                raise StoreError(f"cannot open sqlite store {self.path}: {exc}") from exc

        self._conn = await anyio.to_thread.run_sync(connect, limiter=self._limiter)

    async def aclose(self) -> None:
        """Close the connection (every write is already committed). Idempotent."""
        conn, self._conn = self._conn, None
        if conn is not None:
            await anyio.to_thread.run_sync(conn.close, limiter=self._limiter)

    async def __aenter__(self) -> SQLiteStore:
        await self.open()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()

    # -- conversations -----------------------------------------------------------------------

    @staticmethod
    def _get_conv(conn: sqlite3.Connection, user_id: str, cid: str) -> Conversation:
        row = conn.execute(f"SELECT {_CONV_COLS} FROM conversations WHERE id = ? AND user_id = ?",
                           (cid, user_id)).fetchone()
        if row is None:
            raise NotFoundError(f"conversation {cid!r} not found")
        return Conversation(**dict(row))

    async def create_conversation(
        self, user_id: str, *, title: str = "", model: str = "",
        conversation_id: str | None = None,
    ) -> Conversation:
        """Create an empty conversation of ``user_id``; a new id unless ``conversation_id``
        is given. ``StoreError`` (code ``conflict``) when that id exists."""
        cid = conversation_id if conversation_id is not None else new_id()
        check_id(cid, "conversation")
        t = now()
        conv = Conversation(id=cid, user_id=user_id, title=title, model=model,
                            created_at=t, updated_at=t)

        def fn(conn: sqlite3.Connection) -> Conversation:
            try:
                conn.execute(
                    "INSERT INTO conversations (id, user_id, title, model, created_at, "
                    "updated_at) VALUES (?, ?, ?, ?, ?, ?)", (cid, user_id, title, model, t, t))
            except sqlite3.IntegrityError:
                raise StoreError(f"conversation {cid!r} already exists", code="conflict") from None
            return conv

        return await self._run(fn, write=True)

    async def get_conversation(self, user_id: str, conversation_id: str) -> Conversation:
        """The conversation with its stats; ``NotFoundError`` if not ``user_id``'s."""
        return await self._run(lambda c: self._get_conv(c, user_id, conversation_id))

    async def list_conversations(
        self, user_id: str, *, limit: int = 50, offset: int = 0
    ) -> Page[Conversation]:
        """``user_id``'s conversations, most recently updated first, with the total."""
        check_page(limit, offset)

        def fn(conn: sqlite3.Connection) -> Page[Conversation]:
            total = conn.execute("SELECT COUNT(*) FROM conversations WHERE user_id = ?",
                                 (user_id,)).fetchone()[0]
            rows = conn.execute(
                f"SELECT {_CONV_COLS} FROM conversations WHERE user_id = ? "
                "ORDER BY updated_at DESC, id DESC LIMIT ? OFFSET ?",
                (user_id, limit, offset)).fetchall()
            return Page([Conversation(**dict(r)) for r in rows], total, limit, offset)

        return await self._run(fn)

    async def delete_conversation(self, user_id: str, conversation_id: str) -> None:
        """Delete the conversation; its messages go with it (``ON DELETE CASCADE``).
        ``NotFoundError`` if not ``user_id``'s."""

        def fn(conn: sqlite3.Connection) -> None:
            cur = conn.execute("DELETE FROM conversations WHERE id = ? AND user_id = ?",
                               (conversation_id, user_id))
            if cur.rowcount == 0:
                raise NotFoundError(f"conversation {conversation_id!r} not found")

        await self._run(fn, write=True)

    async def add_message(
        self, user_id: str, conversation_id: str, role: str, content: Any, *,
        tokens: int = 0, metadata: dict[str, Any] | None = None,
    ) -> Message:
        """Insert a message and update the stats (``message_count``, ``total_tokens``,
        ``last_message_at``, ``updated_at``; the title from the first user message when the
        conversation has none) in one transaction. ``InputError`` for a role other than
        ``user``/``assistant``; ``NotFoundError`` if the conversation is not ``user_id``'s."""
        check_role(role)
        msg = Message(id=new_id(), conversation_id=conversation_id, role=role,
                      content=content, tokens=int(tokens), metadata=dict(metadata or {}),
                      created_at=now())
        content_json, metadata_json = _dumps(msg.content), _dumps(msg.metadata)
        title = title_from_content(content) if role == "user" else ""

        def fn(conn: sqlite3.Connection) -> Message:
            self._get_conv(conn, user_id, conversation_id)
            conn.execute(
                "INSERT INTO messages (id, conversation_id, role, content, tokens, metadata, "
                "created_at) VALUES (?, ?, ?, ?, ?, ?, ?)",
                (msg.id, conversation_id, role, content_json, msg.tokens, metadata_json,
                 msg.created_at))
            conn.execute(
                "UPDATE conversations SET message_count = message_count + 1, "
                "total_tokens = total_tokens + ?, last_message_at = ?, updated_at = ?, "
                "title = CASE WHEN title = '' THEN ? ELSE title END WHERE id = ?",
                (msg.tokens, msg.created_at, msg.created_at, title, conversation_id))
            return msg

        return await self._run(fn, write=True)

    async def list_messages(
        self, user_id: str, conversation_id: str, *, limit: int = 100, offset: int = 0
    ) -> Page[Message]:
        """Messages of the conversation, oldest first, with the total."""
        check_page(limit, offset)

        def fn(conn: sqlite3.Connection) -> Page[Message]:
            self._get_conv(conn, user_id, conversation_id)
            total = conn.execute("SELECT COUNT(*) FROM messages WHERE conversation_id = ?",
                                 (conversation_id,)).fetchone()[0]
            rows = conn.execute(
                f"SELECT {_MSG_COLS} FROM messages WHERE conversation_id = ? "
                "ORDER BY seq LIMIT ? OFFSET ?", (conversation_id, limit, offset)).fetchall()
            return Page([_message(r) for r in rows], total, limit, offset)

        return await self._run(fn)

    async def update_message_metadata(
        self, user_id: str, message_id: str, metadata: dict[str, Any]
    ) -> Message:
        """Merge ``metadata`` into the message's metadata (keys given replace old values);
        ``NotFoundError`` unless the message is in one of ``user_id``'s conversations."""

        def fn(conn: sqlite3.Connection) -> Message:
            row = conn.execute(
                f"SELECT {', '.join('m.' + c for c in _MSG_COLS.split(', '))} FROM messages m "
                "JOIN conversations c ON c.id = m.conversation_id "
                "WHERE m.id = ? AND c.user_id = ?", (message_id, user_id)).fetchone()
            if row is None:
                raise NotFoundError(f"message {message_id!r} not found")
            msg = _message(row)
            msg.metadata.update(metadata)
            conn.execute("UPDATE messages SET metadata = ? WHERE id = ?",
                         (_dumps(msg.metadata), message_id))
            return msg

        return await self._run(fn, write=True)

    # -- sessions ----------------------------------------------------------------------------

    @staticmethod
    def _live_session(conn: sqlite3.Connection, session_id: str) -> SessionRecord:
        known_id(session_id, "session")
        row = conn.execute(f"SELECT {_SESSION_COLS} FROM sessions WHERE id = ? "
                           "AND expires_at > ?", (session_id, now())).fetchone()
        if row is None:
            raise NotFoundError(f"session {session_id!r} not found")
        return SessionRecord(**dict(row))

    async def create_session(
        self, user_id: str, session_id: str, *, conversation_id: str | None = None
    ) -> SessionRecord:
        """Create session ``session_id`` (status ``running``), or — when ``user_id`` already
        has it — mark it ``running`` again and renew its TTL, keeping its event log.
        ``StoreError`` (code ``conflict``) if another user has it."""
        check_id(session_id, "session")

        def fn(conn: sqlite3.Connection) -> SessionRecord:
            t = now()
            try:
                sess = self._live_session(conn, session_id)
            except NotFoundError:
                conn.execute("DELETE FROM sessions WHERE id = ?", (session_id,))  # expired
                sess = SessionRecord(id=session_id, user_id=user_id,
                                     conversation_id=conversation_id, created_at=t,
                                     updated_at=t, expires_at=t + self.session_ttl)
                conn.execute(f"INSERT INTO sessions ({_SESSION_COLS}) "
                             "VALUES (?, ?, ?, ?, ?, ?, ?, ?)", dataclasses.astuple(sess))
                return sess
            if sess.user_id != user_id:
                raise StoreError(f"session {session_id!r} belongs to another user",
                                 code="conflict")
            sess.status = "running"
            sess.conversation_id = conversation_id or sess.conversation_id
            sess.updated_at, sess.expires_at = t, t + self.session_ttl
            conn.execute("UPDATE sessions SET status = ?, conversation_id = ?, updated_at = ?, "
                         "expires_at = ? WHERE id = ?",
                         (sess.status, sess.conversation_id, t, sess.expires_at, session_id))
            return sess

        return await self._run(fn, write=True)

    async def get_session(self, user_id: str, session_id: str) -> SessionRecord:
        """The live session; ``NotFoundError`` if unknown, expired or another user's."""

        def fn(conn: sqlite3.Connection) -> SessionRecord:
            sess = self._live_session(conn, session_id)
            if sess.user_id != user_id:
                raise NotFoundError(f"session {session_id!r} not found")
            return sess

        return await self._run(fn)

    async def set_session_status(self, session_id: str, status: str) -> None:
        """Set the status and renew the TTL; ``NotFoundError`` if unknown or expired."""

        def fn(conn: sqlite3.Connection) -> None:
            self._live_session(conn, session_id)
            t = now()
            conn.execute("UPDATE sessions SET status = ?, updated_at = ?, expires_at = ? "
                         "WHERE id = ?", (status, t, t + self.session_ttl, session_id))

        await self._run(fn, write=True)

    async def append_event(self, event: Event) -> None:
        """Append ``event`` to its session's log, keyed by ``(session_id, seq)``; an event
        whose ``seq`` is stored already is ignored (idempotent). Renews the TTL.
        ``NotFoundError`` if the session is unknown or expired."""
        known_id(event.session_id, "session")
        payload = _dumps(event.to_dict())

        def fn(conn: sqlite3.Connection) -> None:
            # one UPDATE both checks that the session is live and renews it (no SELECT
            # first: this runs for every streamed event); a miss rolls the transaction back
            t = now()
            if conn.execute("UPDATE sessions SET last_seq = MAX(last_seq, ?), updated_at = ?, "
                            "expires_at = ? WHERE id = ? AND expires_at > ?",
                            (event.seq, t, t + self.session_ttl, event.session_id, t)
                            ).rowcount != 1:
                raise NotFoundError(f"session {event.session_id!r} not found")
            conn.execute("INSERT OR IGNORE INTO session_events (session_id, seq, event) "
                         "VALUES (?, ?, ?)", (event.session_id, event.seq, payload))

        await self._run(fn, write=True)

    async def events_after(self, session_id: str, after_seq: int = 0) -> list[Event]:
        """The events with ``seq > after_seq`` in ``seq`` order; ``NotFoundError`` if the
        session is unknown or expired."""

        def fn(conn: sqlite3.Connection) -> list[Event]:
            self._live_session(conn, session_id)
            rows = conn.execute("SELECT event FROM session_events WHERE session_id = ? "
                                "AND seq > ? ORDER BY seq", (session_id, after_seq)).fetchall()
            return [Event.from_dict(orjson.loads(r[0])) for r in rows]

        return await self._run(fn)

    async def list_sessions(self, *, status: str | None = None) -> list[SessionRecord]:
        """Live sessions (optionally only those with ``status``), oldest first."""

        def fn(conn: sqlite3.Connection) -> list[SessionRecord]:
            sql = f"SELECT {_SESSION_COLS} FROM sessions WHERE expires_at > ?"
            args: list[Any] = [now()]
            if status is not None:
                sql += " AND status = ?"
                args.append(status)
            rows = conn.execute(sql + " ORDER BY created_at, id", args).fetchall()
            return [SessionRecord(**dict(r)) for r in rows]

        return await self._run(fn)

    async def purge_expired(self) -> int:
        """Delete expired sessions and (by cascade) their event logs; returns how many."""
        return await self._run(
            lambda c: c.execute("DELETE FROM sessions WHERE expires_at <= ?", (now(),)).rowcount,
            write=True)
