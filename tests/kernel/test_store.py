"""One store, one conversation: a conversation the kernel writes (default SQLite file in the
Jupyter data directory, user ``local``) is read by a real ``jupyter server`` with the
extension's default store, and a conversation started on the server is continued from the
notebook."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from kernel_helpers import Kernel, start_kernel

from jupyter_assistant.testing import AnthropicServer, Reply

API = ("assistant", "api")


@pytest.fixture
def data_dir(jp_data_dir: Path) -> Path:
    """The kernel and the server share pytest-jupyter's Jupyter data directory."""
    return jp_data_dir


@pytest.fixture
def jp_server_config(peer: AnthropicServer) -> dict[str, Any]:
    # no store_url: the extension's default, the SQLite file in the Jupyter data directory
    return {"ServerApp": {"jpserver_extensions": {"jupyter_assistant": True}},
            "AssistantApp": {"model": "anthropic:claude-test"}}


@pytest.fixture
def shared_kernel(kernel_env: dict[str, str], data_dir: Path) -> Iterator[Kernel]:
    kernel = start_kernel({**kernel_env, "JUPYTER_DATA_DIR": str(data_dir)},
                          str(Path(__file__).parent))
    try:
        kernel.ok("%load_ext jupyter_assistant")
        yield kernel
    finally:
        kernel.close()


async def _get(jp_fetch: Any, *parts: str) -> Any:
    response = await jp_fetch(*API, *parts, method="GET")
    return json.loads(response.body)


async def test_the_server_lists_and_reads_the_notebook_conversation(
        shared_kernel: Kernel, peer: AnthropicServer, jp_fetch: Any, data_dir: Path) -> None:
    peer.script(Reply.text("First answer from the notebook."),
                Reply.text("Second answer, same conversation."))
    shared_kernel.ok("%assistant where does my time go")
    shared_kernel.ok("%assistant and then?")
    assert (data_dir / "jupyter_assistant" / "assistant.db").is_file()
    page = await _get(jp_fetch, "conversations")
    assert page["total"] == 1
    (conv,) = page["items"]
    assert conv["title"].startswith("where does my time go")
    assert conv["message_count"] == 4
    messages = await _get(jp_fetch, "conversations", conv["id"], "messages")
    texts = json.dumps([m["content"] for m in messages["items"]])
    assert "and then?" in texts and "Second answer, same conversation." in texts
    # the second turn carried the first one as history
    assert len(peer.message_requests()[-1]["messages"]) == 3
    # --new starts another conversation
    shared_kernel.ok("%assistant --new something else")
    assert (await _get(jp_fetch, "conversations"))["total"] == 2


async def test_the_notebook_continues_a_server_conversation(
        shared_kernel: Kernel, peer: AnthropicServer, jp_fetch: Any) -> None:
    created = await jp_fetch(*API, "conversations", method="POST",
                             body=json.dumps({"title": "from the sidebar"}))
    cid = json.loads(created.body)["id"]
    await jp_fetch(*API, "conversations", cid, "messages", method="POST",
                   body=json.dumps({"role": "user", "content": "sidebar question"}))
    await jp_fetch(*API, "conversations", cid, "messages", method="POST",
                   body=json.dumps({"role": "assistant",
                                    "content": [{"type": "text", "text": "sidebar answer"}]}))
    shared_kernel.ok(f"%assistant --conversation {cid} follow-up from the notebook")
    sent = peer.message_requests()[-1]["messages"]
    assert json.dumps(sent).count("sidebar") == 2  # the sidebar's turn is history
    messages = await _get(jp_fetch, "conversations", cid, "messages")
    assert messages["total"] == 4
