"""The SQLite schema as an ordered list of migrations, and the code that applies them.

The database's version is ``PRAGMA user_version`` (0 for a new file). Migration ``n``
(1-based) moves a version ``n - 1`` database to version ``n``; :func:`migrate` applies the
missing ones in order, each in its own ``BEGIN IMMEDIATE`` transaction together with the
``user_version`` bump (SQLite DDL is transactional), so a crash leaves the file at a whole
version and two processes opening a new file at once do not both migrate it. Append new migrations
at the end; never edit one that has shipped.
"""

from __future__ import annotations

import sqlite3

from ..exceptions import StoreError

__all__ = ["MIGRATIONS", "SCHEMA_VERSION", "migrate", "schema_version"]

MIGRATIONS: tuple[str, ...] = (
    # 1: conversations and their messages.
    """
    CREATE TABLE conversations (
        id              TEXT PRIMARY KEY,
        user_id         TEXT NOT NULL,
        title           TEXT NOT NULL DEFAULT '',
        model           TEXT NOT NULL DEFAULT '',
        total_tokens    INTEGER NOT NULL DEFAULT 0,
        message_count   INTEGER NOT NULL DEFAULT 0,
        last_message_at REAL,
        created_at      REAL NOT NULL,
        updated_at      REAL NOT NULL
    );
    CREATE INDEX conversations_by_user ON conversations (user_id, updated_at DESC, id DESC);
    CREATE TABLE messages (
        seq             INTEGER PRIMARY KEY AUTOINCREMENT,
        id              TEXT NOT NULL UNIQUE,
        conversation_id TEXT NOT NULL REFERENCES conversations (id) ON DELETE CASCADE,
        role            TEXT NOT NULL,
        content         TEXT NOT NULL,
        tokens          INTEGER NOT NULL DEFAULT 0,
        metadata        TEXT NOT NULL DEFAULT '{}',
        created_at      REAL NOT NULL
    );
    CREATE INDEX messages_by_conversation ON messages (conversation_id, seq);
    """,
    # 2: sessions (TTL) and their event logs, for resume.
    """
    CREATE TABLE sessions (
        id              TEXT PRIMARY KEY,
        user_id         TEXT NOT NULL,
        conversation_id TEXT,
        status          TEXT NOT NULL DEFAULT 'running',
        last_seq        INTEGER NOT NULL DEFAULT 0,
        created_at      REAL NOT NULL,
        updated_at      REAL NOT NULL,
        expires_at      REAL NOT NULL
    );
    CREATE INDEX sessions_by_expiry ON sessions (expires_at);
    CREATE TABLE session_events (
        session_id TEXT NOT NULL REFERENCES sessions (id) ON DELETE CASCADE,
        seq        INTEGER NOT NULL,
        event      TEXT NOT NULL,
        PRIMARY KEY (session_id, seq)
    ) WITHOUT ROWID;
    """,
    # 3: telemetry of model calls and tool calls.
    """
    CREATE TABLE model_calls (
        id                          TEXT PRIMARY KEY,
        provider                    TEXT NOT NULL,
        model                       TEXT NOT NULL,
        session_id                  TEXT,
        turn_id                     TEXT,
        conversation_id             TEXT,
        user_id                     TEXT,
        started_at                  REAL NOT NULL,
        ttft_ms                     REAL,
        duration_ms                 REAL NOT NULL,
        input_tokens                INTEGER NOT NULL,
        output_tokens               INTEGER NOT NULL,
        cache_read_input_tokens     INTEGER NOT NULL,
        cache_creation_input_tokens INTEGER NOT NULL,
        cost_usd                    REAL,
        stop_reason                 TEXT,
        status                      TEXT NOT NULL,
        error_code                  TEXT,
        request_id                  TEXT,
        attempt                     INTEGER NOT NULL,
        request                     TEXT NOT NULL,
        replay_of                   TEXT
    );
    CREATE INDEX model_calls_by_time ON model_calls (started_at);
    CREATE INDEX model_calls_by_session ON model_calls (session_id, started_at);
    CREATE INDEX model_calls_by_conversation ON model_calls (conversation_id, started_at);
    CREATE INDEX model_calls_by_user ON model_calls (user_id, started_at);
    CREATE TABLE tool_calls (
        id              TEXT PRIMARY KEY,
        name            TEXT NOT NULL,
        tool_use_id     TEXT NOT NULL,
        session_id      TEXT,
        turn_id         TEXT,
        conversation_id TEXT,
        user_id         TEXT,
        started_at      REAL NOT NULL,
        duration_ms     REAL NOT NULL,
        status          TEXT NOT NULL,
        error_code      TEXT,
        input           TEXT NOT NULL
    );
    CREATE INDEX tool_calls_by_time ON tool_calls (started_at);
    CREATE INDEX tool_calls_by_session ON tool_calls (session_id, started_at);
    CREATE INDEX tool_calls_by_conversation ON tool_calls (conversation_id, started_at);
    CREATE INDEX tool_calls_by_user ON tool_calls (user_id, started_at);
    """,
)

#: The version a database has after :func:`migrate`.
SCHEMA_VERSION = len(MIGRATIONS)


def schema_version(conn: sqlite3.Connection) -> int:
    """The database's ``PRAGMA user_version``."""
    return int(conn.execute("PRAGMA user_version").fetchone()[0])


def migrate(conn: sqlite3.Connection) -> tuple[int, int]:
    """Bring the database to :data:`SCHEMA_VERSION`; returns ``(old, new)`` versions.

    ``conn`` must be in autocommit mode (``isolation_level=None``). Raises
    :class:`~jupyter_assistant.exceptions.StoreError` when the file is newer than this
    code knows (written by a later jupyter-assistant) or a migration fails (it is rolled
    back; the file stays at the previous version).
    """
    old = schema_version(conn)
    if old > SCHEMA_VERSION:
        raise StoreError(
            f"the database has schema version {old}, newer than this jupyter-assistant "
            f"knows ({SCHEMA_VERSION}); upgrade jupyter-assistant")
    for version in range(old + 1, SCHEMA_VERSION + 1):
        try:
            conn.execute("BEGIN IMMEDIATE")
            # Another process may have migrated while we waited for the write lock.
            if schema_version(conn) < version:
                for statement in _statements(MIGRATIONS[version - 1]):
                    conn.execute(statement)
                conn.execute(f"PRAGMA user_version = {version:d}")
            conn.execute("COMMIT")
        except sqlite3.Error as exc:
            if conn.in_transaction:
                conn.execute("ROLLBACK")
            raise StoreError(f"sqlite migration to schema version {version} failed: "
                             f"{exc}") from exc
    return old, SCHEMA_VERSION


def _statements(script: str) -> list[str]:
    """Split a migration script into complete SQL statements."""
    out: list[str] = []
    buf = ""
    for piece in script.split(";"):
        buf += piece + ";"
        if sqlite3.complete_statement(buf):
            if buf.strip(" \n;"):
                out.append(buf.strip())
            buf = ""
    if buf.strip(" \n;"):
        raise StoreError(f"incomplete SQL statement in migration: {buf.strip()!r}")
    return out
