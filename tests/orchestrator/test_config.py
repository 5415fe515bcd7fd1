"""AssistantConfig traits, the provider registry, and the price table."""

from __future__ import annotations

import pytest
from traitlets import TraitError
from traitlets.config import Config

from jupyter_assistant import Assistant, AssistantConfig, ConfigError, tool
from jupyter_assistant.config import DEFAULT_ANTHROPIC_MODEL
from jupyter_assistant.orchestrator import PRICES, price_for
from jupyter_assistant.orchestrator.providers import create_provider, default_model_spec
from jupyter_assistant.orchestrator.providers._base import ModelPrice, Usage


def test_design_defaults() -> None:
    cfg = AssistantConfig()
    assert (cfg.stream_idle_timeout, cfg.tool_timeout, cfg.web_search_timeout,
            cfg.file_tool_timeout, cfg.turn_deadline) == (45, 30, 10, 5, 90)
    assert (cfg.max_model_calls, cfg.max_message_chars) == (10, 10_000)
    assert cfg.auto_approve is False and cfg.model is None
    assert cfg.timeout_for_category("web") == 10 and cfg.timeout_for_category("file") == 5
    assert cfg.timeout_for_category("trace") == 30


def test_every_setting_is_configurable_and_documented() -> None:
    traits = AssistantConfig.class_traits(config=True)
    for name in ("model", "store_url", "openai_base_url", "auto_approve", "turn_deadline",
                 "tool_timeout", "stream_idle_timeout", "max_model_calls", "max_message_chars",
                 "tool_output_chars", "web_search_timeout", "file_tool_timeout"):
        assert name in traits, name
    assert all(len(t.help) > 60 for t in traits.values())


def test_config_file_values_and_overrides() -> None:
    c = Config()
    c.AssistantConfig.turn_deadline = 120.0
    c.AssistantConfig.max_model_calls = 4
    cfg = AssistantConfig(config=c)
    assert cfg.turn_deadline == 120 and cfg.max_model_calls == 4
    updated = cfg.updated(max_model_calls=7, tool_timeout=None)
    assert updated.turn_deadline == 120 and updated.max_model_calls == 7
    assert updated.tool_timeout == 30
    with pytest.raises(ConfigError, match="unknown AssistantConfig setting 'no_such_setting'"):
        cfg.updated(no_such_setting=1)
    with pytest.raises(ConfigError, match="turn_deadline"):
        cfg.updated(turn_deadline="soon")  # traitlets' own TraitError, as a ConfigError


@pytest.mark.parametrize(("name", "value"), [("turn_deadline", 0), ("max_model_calls", -1),
                                             ("stream_idle_timeout", -5.0),
                                             ("model_retries", -1)])
def test_invalid_limits_are_refused(name: str, value: float) -> None:
    with pytest.raises(ConfigError, match=name) as info:
        AssistantConfig(**{name: value})
    assert isinstance(info.value, ValueError) and not isinstance(info.value, TraitError)
    with pytest.raises(ConfigError, match=name):
        AssistantConfig().updated(**{name: value})


def test_assistant_keywords_beat_config(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("ANTHROPIC_API_KEY", raising=False)
    monkeypatch.delenv("ANTHROPIC_AUTH_TOKEN", raising=False)
    cfg = AssistantConfig(turn_deadline=50, tool_timeout=3)
    a = Assistant("offline", config=cfg, turn_deadline=20, include_default_tools=False)
    assert a.config.turn_deadline == 20 and a.config.tool_timeout == 3
    assert cfg.turn_deadline == 50  # the given config is not modified


def test_default_model_spec(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("ANTHROPIC_API_KEY", raising=False)
    monkeypatch.delenv("ANTHROPIC_AUTH_TOKEN", raising=False)
    assert default_model_spec() == "offline"
    assert default_model_spec(AssistantConfig(model="openai:llama3.1")) == "openai:llama3.1"
    monkeypatch.setenv("ANTHROPIC_AUTH_TOKEN", "tok")
    assert default_model_spec() == f"anthropic:{DEFAULT_ANTHROPIC_MODEL}"
    assert Assistant(include_default_tools=False).model == f"anthropic:{DEFAULT_ANTHROPIC_MODEL}"


@pytest.mark.parametrize("spec", ["", "gemini:pro", "openai", "openai:"])
def test_bad_specs_raise_config_error(spec: str) -> None:
    with pytest.raises(ConfigError):
        create_provider(spec)
    with pytest.raises(ConfigError):
        Assistant(spec or "nope:", include_default_tools=False)


def test_registry_builds_every_provider() -> None:
    assert create_provider("offline").name == "offline"
    openai = create_provider("openai:llama3.1",
                             config=AssistantConfig(openai_base_url="http://127.0.0.1:9/v1"))
    assert openai.spec == "openai:llama3.1"
    assert "127.0.0.1:9" in str(getattr(openai, "base_url", ""))
    assert create_provider("anthropic:claude-opus-5-5").model == "claude-opus-5-5"


def test_tools_are_collected() -> None:
    @tool
    def trace_summary() -> str:
        """Overrides the built-in tool of the same name."""
        return "mine"

    def plain(x: int) -> int:
        """A plain function becomes a tool."""
        return x

    a = Assistant("offline", tools=[trace_summary, plain])
    assert a.tools["trace_summary"] is trace_summary and a.tools["plain"].name == "plain"
    assert {"hotspots", "read_file"} <= set(a.tools)
    bare = Assistant("offline", tools=[plain], include_default_tools=False)
    assert set(bare.tools) == {"plain"}
    with pytest.raises(ConfigError):
        Assistant("offline", tools=[42], include_default_tools=False)


def test_price_table() -> None:
    sonnet = price_for("claude-sonnet-5-5")
    assert sonnet == ModelPrice(input=2.0, output=10.0, cache_read=0.10, cache_write=2.50)
    assert price_for("anthropic:claude-haiku-4-5-20251001") == PRICES["claude-haiku-4-5"]
    assert price_for("claude-sonnet-5-5[1m]") == sonnet
    assert price_for("llama3.1") is None
    # the newest models the SDK names (anthropic 2.17's ModelParam) are priced, not "unknown"
    assert price_for("claude-fable-5-2") == ModelPrice(input=8.0, output=40.0, cache_read=0.20,
                                                       cache_write=10.0)
    assert price_for("claude-mythos-5-2") == price_for("claude-fable-5-2")
    assert price_for(DEFAULT_ANTHROPIC_MODEL) is not None
    usage = Usage(input_tokens=1_000_000, output_tokens=1_000_000,
                  cache_read_input_tokens=1_000_000, cache_creation_input_tokens=1_000_000)
    assert sonnet.cost(usage) == pytest.approx(2.0 + 10.0 + 0.10 + 2.50)
    for name, price in PRICES.items():
        assert name.startswith("claude-")
        assert price.cache_read < price.input < price.cache_write and price.input < price.output
