"""``AssistantApp`` settings: traitlets, what they forward to the orchestrator, and the
typed services it builds."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from jupyter_assistant import Assistant
from jupyter_assistant.server import AssistantApp
from jupyter_assistant.server._traces import TraceRegistry
from jupyter_assistant.server._turns import TurnRegistry
from jupyter_assistant.store import RateLimiter, SQLiteStore


def test_every_setting_is_configurable_and_documented() -> None:
    names = {"model", "allowed_models", "store_url", "chat_rate_limit", "write_rate_limit",
             "rate_limit_storage_url", "turn_deadline", "tool_timeout", "stream_idle_timeout",
             "max_model_calls", "max_message_chars", "max_upload_bytes", "max_body_bytes",
             "auto_approve", "root_dir", "traces_dir", "user_identity", "single_user_id",
             "sse_keepalive_interval", "shutdown_grace"}
    traits = AssistantApp.class_traits(config=True)
    assert names <= set(traits)
    for name in names:
        assert len(traits[name].help) > 30, name
    app = AssistantApp()
    assert (app.chat_rate_limit, app.write_rate_limit) == ("5/minute", "10/minute")
    assert app.max_upload_bytes == 100 * 1024 * 1024 and app.auto_approve is False
    assert (app.turn_deadline, app.tool_timeout, app.stream_idle_timeout) == (90, 30, 45)
    assert (app.max_model_calls, app.max_message_chars) == (10, 10_000)


async def test_services_are_typed_attributes(assistant_app: AssistantApp, jp_serverapp: Any,
                                             tmp_path: Path) -> None:
    app = assistant_app
    assert isinstance(app.store, SQLiteStore)
    assert isinstance(app.assistant, Assistant) and app.assistant.store is app.store
    assert isinstance(app.rate_limiter, RateLimiter)
    assert isinstance(app.traces, TraceRegistry) and app.traces.directory == tmp_path / "traces"
    assert isinstance(app.turns, TurnRegistry)
    assert app.root_dir == jp_serverapp.root_dir
    assert app.assistant.root == Path(jp_serverapp.root_dir)
    assert app.assistant.model == "anthropic:claude-test"
    assert app.assistant_for(None) is app.assistant
    assert app.assistant_for("offline") is app.assistant_for("offline")
    assert app.assistant_for("offline").model.startswith("offline")


@pytest.mark.parametrize("jp_server_config", [{
    "ServerApp": {"jpserver_extensions": {"jupyter_assistant": True}},
    "AssistantConfig": {"turn_deadline": 33.0, "tool_timeout": 7.0, "max_message_chars": 500},
    "AssistantApp": {"store_url": "memory://", "model": "offline", "max_message_chars": 200,
                     "allowed_models": ["offline"]},
}])
async def test_assistant_config_applies_unless_the_app_overrides_it(
        assistant_app: AssistantApp, sse: Any) -> None:
    app = assistant_app
    assert app.turn_deadline == 33 and app.tool_timeout == 7  # from c.AssistantConfig
    assert app.max_message_chars == 200  # c.AssistantApp wins
    cfg = app.assistant.config
    assert (cfg.turn_deadline, cfg.tool_timeout, cfg.max_message_chars) == (33, 7, 200)
    r = await sse("chat", body={"message": "m" * 201})
    assert r.code == 400 and "200" in r.error_body["error"]["message"]
    # allowed_models restricts what a request may pick
    r = await sse("chat", body={"message": "hi", "model": "anthropic:claude-other"})
    assert r.code == 400 and "allowed_models" in r.error_body["error"]["message"]
    # the offline model answers and says that no language model is configured
    r = await sse("chat", body={"message": "what are the hotspots?", "model": "offline"})
    assert r.code == 200 and r.types[-1] == "message_complete"
    assert r.events[0]["data"]["model"].startswith("offline")
    assert "no language model" in r.events[-1]["data"]["text"].lower()


@pytest.mark.parametrize("assistant_settings", [{
    "model": "offline", "allowed_models": ["offline", "anthropic:claude-other"]}])
async def test_server_start_prewarms_the_sdks_of_the_models_requests_may_name(
        assistant_app: AssistantApp) -> None:
    import sys

    threads = assistant_app._prewarm_threads
    assert [t.name for t in threads] == ["jupyter-assistant-prewarm"] * 2  # offline, anthropic
    for t in threads:
        t.join(60)
        assert not t.is_alive()
    assert "anthropic" in sys.modules and "jupyter_assistant.tools.trace_tools" in sys.modules


async def test_turns_run_in_the_task_group_the_extension_owns(assistant_app: AssistantApp,
                                                              sse: Any) -> None:
    r = await sse("chat", body={"message": "hello"})
    assert r.code == 200 and r.types[-1] == "message_complete"
    owner = assistant_app._tasks_owner
    assert owner is not None and not owner.done()  # the one root task, owning the group
    assert assistant_app.turns._tg is not None
    await assistant_app.stop_extension()
    assert owner.done() and not owner.cancelled() and owner.exception() is None
    assert assistant_app.turns._tg is None and assistant_app._tasks_owner is None
