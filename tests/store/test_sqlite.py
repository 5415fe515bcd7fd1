"""SQLite backend specifics: file persistence, migrations, cascade, WAL, crash safety."""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import anyio
import pytest

from jupyter_assistant.events import Event
from jupyter_assistant.exceptions import StoreError
from jupyter_assistant.store import ModelCallRecord, SQLiteStore
from jupyter_assistant.store._sqlite_schema import SCHEMA_VERSION

# The schema as version 1 shipped it, written out by hand (not taken from MIGRATIONS), so
# that a change to migration 1 that would break existing files is caught here.
V1_SCHEMA = """
CREATE TABLE conversations (
    id TEXT PRIMARY KEY, user_id TEXT NOT NULL, title TEXT NOT NULL DEFAULT '',
    model TEXT NOT NULL DEFAULT '', total_tokens INTEGER NOT NULL DEFAULT 0,
    message_count INTEGER NOT NULL DEFAULT 0, last_message_at REAL,
    created_at REAL NOT NULL, updated_at REAL NOT NULL);
CREATE INDEX conversations_by_user ON conversations (user_id, updated_at DESC, id DESC);
CREATE TABLE messages (
    seq INTEGER PRIMARY KEY AUTOINCREMENT, id TEXT NOT NULL UNIQUE,
    conversation_id TEXT NOT NULL REFERENCES conversations (id) ON DELETE CASCADE,
    role TEXT NOT NULL, content TEXT NOT NULL, tokens INTEGER NOT NULL DEFAULT 0,
    metadata TEXT NOT NULL DEFAULT '{}', created_at REAL NOT NULL);
CREATE INDEX messages_by_conversation ON messages (conversation_id, seq);
INSERT INTO conversations VALUES ('old', 'alice', 'From v1', 'm', 7, 1, 100.0, 90.0, 100.0);
INSERT INTO messages (id, conversation_id, role, content, tokens, metadata, created_at)
    VALUES ('msg-old', 'old', 'user', '[{"type":"text","text":"hi"}]', 7, '{}', 100.0);
PRAGMA user_version = 1;
"""


def _raw(path: Path) -> sqlite3.Connection:
    return sqlite3.connect(path, isolation_level=None)


@pytest.mark.anyio
async def test_reopen_keeps_everything(tmp_path: Path) -> None:
    path = tmp_path / "a.db"
    async with SQLiteStore(path) as store:
        conv = await store.create_conversation("alice")
        msg = await store.add_message("alice", conv.id, "user", "persist me", tokens=3)
        await store.create_session("alice", "s1", conversation_id=conv.id)
        await store.append_event(Event.create("text_delta", session_id="s1", turn_id="t",
                                              seq=1, data={"text": "a"}))
        await store.record_model_call(ModelCallRecord(id="c1", provider="p", model="m",
                                                      request={"k": [1, 2]}))
    assert store.migrated_from == 0
    async with SQLiteStore(path) as again:
        assert again.migrated_from == SCHEMA_VERSION
        assert await again.get_conversation("alice", conv.id) == conv.__class__(
            **{**conv.to_dict(), "title": "persist me", "message_count": 1, "total_tokens": 3,
               "last_message_at": msg.created_at, "updated_at": msg.created_at})
        assert (await again.list_messages("alice", conv.id)).items == [msg]
        assert [e.data for e in await again.events_after("s1")] == [{"text": "a"}]
        assert (await again.get_model_call("c1")).request == {"k": [1, 2]}


@pytest.mark.anyio
async def test_migrates_a_v1_file(tmp_path: Path) -> None:
    path = tmp_path / "v1.db"
    with _raw(path) as conn:
        conn.executescript(V1_SCHEMA)
    async with SQLiteStore(path) as store:
        assert store.migrated_from == 1
        conv = await store.get_conversation("alice", "old")
        assert (conv.title, conv.message_count, conv.total_tokens) == ("From v1", 1, 7)
        [msg] = (await store.list_messages("alice", "old")).items
        assert msg.content == [{"type": "text", "text": "hi"}]
        await store.add_message("alice", "old", "assistant", "hello", tokens=2)
        await store.create_session("alice", "s")  # tables of later versions exist
        await store.record_model_call(ModelCallRecord(id="c", provider="p", model="m"))
    conn = _raw(path)
    try:
        assert conn.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION
        tables = {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type='table'")}
        assert {"sessions", "session_events", "model_calls", "tool_calls"} <= tables
    finally:
        conn.close()


@pytest.mark.anyio
async def test_newer_schema_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "future.db"
    with _raw(path) as conn:
        conn.execute(f"PRAGMA user_version = {SCHEMA_VERSION + 1}")
    with pytest.raises(StoreError, match="newer"):
        await SQLiteStore(path).open()


@pytest.mark.anyio
async def test_wal_foreign_keys_and_cascade(tmp_path: Path) -> None:
    path = tmp_path / "c.db"
    async with SQLiteStore(path) as store:
        conv = await store.create_conversation("alice")
        other = await store.create_conversation("alice")
        for i in range(4):
            await store.add_message("alice", conv.id, "user", f"m{i}")
        await store.add_message("alice", other.id, "user", "keep")
        conn = _raw(path)
        try:
            assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
            count = "SELECT COUNT(*) FROM messages WHERE conversation_id = ?"
            assert conn.execute(count, (conv.id,)).fetchone()[0] == 4
            await store.delete_conversation("alice", conv.id)
            assert conn.execute(count, (conv.id,)).fetchone()[0] == 0  # ON DELETE CASCADE
            assert conn.execute(count, (other.id,)).fetchone()[0] == 1
        finally:
            conn.close()


@pytest.mark.anyio
async def test_two_connections_share_the_file(tmp_path: Path) -> None:
    """The Jupyter server and a kernel may open the same file: stats stay consistent."""
    path = tmp_path / "shared.db"
    async with SQLiteStore(path) as a, SQLiteStore(path) as b:
        conv = await a.create_conversation("alice")

        async def write(store: SQLiteStore, tag: str) -> None:
            for i in range(15):
                await store.add_message("alice", conv.id, "user", f"{tag}{i}", tokens=2)

        async with anyio.create_task_group() as tg:
            tg.start_soon(write, a, "a")
            tg.start_soon(write, b, "b")
        got = await b.get_conversation("alice", conv.id)
        assert (got.message_count, got.total_tokens) == (30, 60)
        assert (await a.list_messages("alice", conv.id)).total == 30


@pytest.mark.anyio
async def test_cancelled_writes_are_all_or_nothing(tmp_path: Path) -> None:
    async with SQLiteStore(tmp_path / "x.db") as store:
        conv = await store.create_conversation("alice")

        async def writer() -> None:
            while True:
                await store.add_message("alice", conv.id, "user", "m", tokens=5)

        with anyio.move_on_after(0.3):
            async with anyio.create_task_group() as tg:
                for _ in range(4):
                    tg.start_soon(writer)
        got = await store.get_conversation("alice", conv.id)
        page = await store.list_messages("alice", conv.id, limit=100_000)
        assert got.message_count == page.total == len(page.items) > 0
        assert got.total_tokens == 5 * got.message_count


@pytest.mark.anyio
async def test_default_path_and_closed_store(tmp_path: Path,
                                             monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("JUPYTER_DATA_DIR", str(tmp_path / "data"))
    store = SQLiteStore()
    assert store.path == tmp_path / "data" / "jupyter_assistant" / "assistant.db"
    with pytest.raises(StoreError, match="not open"):
        await store.create_conversation("alice")
    async with store:
        await store.create_conversation("alice")
    assert store.path.exists()  # type: ignore[union-attr]


CRASH_WRITER = textwrap.dedent("""
    import sys, anyio
    from jupyter_assistant.store import SQLiteStore

    async def main(path):
        store = SQLiteStore(path)
        await store.open()
        await store.create_conversation("alice", conversation_id="crash")
        print("ready", flush=True)
        i = 0
        while True:
            msg = await store.add_message("alice", "crash", "user", f"m{i}", tokens=1)
            print(msg.id, flush=True)  # acknowledged: add_message returned
            i += 1

    anyio.run(main, sys.argv[1])
""")


def test_kill_9_loses_no_acknowledged_message(tmp_path: Path) -> None:
    path = tmp_path / "crash.db"
    proc = subprocess.Popen([sys.executable, "-c", CRASH_WRITER, str(path)],
                            stdout=subprocess.PIPE, text=True)
    assert proc.stdout is not None
    acked: list[str] = []
    deadline = time.monotonic() + 60
    try:
        assert proc.stdout.readline().strip() == "ready"
        while len(acked) < 150 and time.monotonic() < deadline:
            line = proc.stdout.readline()
            if not line:
                break
            acked.append(line.strip())
    finally:
        os.kill(proc.pid, signal.SIGKILL)
        rest, _ = proc.communicate(timeout=30)
    acked += [line for line in rest.split() if line]
    assert proc.returncode == -signal.SIGKILL
    assert len(acked) >= 150

    async def check() -> None:
        async with SQLiteStore(path) as store:
            page = await store.list_messages("alice", "crash", limit=100_000)
            stored = [m.id for m in page.items]
            conv = await store.get_conversation("alice", "crash")
            assert set(acked) <= set(stored), "an acknowledged message was lost"
            assert stored[: len(acked)] == acked
            assert len(stored) - len(acked) <= 1  # at most one committed but not yet printed
            assert conv.message_count == conv.total_tokens == len(stored)

    anyio.run(check)
