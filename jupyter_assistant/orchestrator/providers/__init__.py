"""Model providers: Anthropic (official SDK), OpenAI-compatible endpoints, offline.

:func:`create_provider` turns a model spec into a provider; the provider modules are imported
only when asked for (the SDKs are slow to import).
"""

from __future__ import annotations

import importlib
import inspect
import os
from typing import TYPE_CHECKING, Any

from ...exceptions import ConfigError
from ._base import (
    MessageDone,
    ModelPrice,
    ModelProvider,
    ModelRequest,
    StreamPart,
    TextPart,
    ToolUsePart,
    ToolUseStartPart,
    Usage,
    tool_use_from_json,
)

if TYPE_CHECKING:  # pragma: no cover
    from ...config import AssistantConfig

__all__ = [
    "PROVIDERS",
    "MessageDone",
    "ModelPrice",
    "ModelProvider",
    "ModelRequest",
    "StreamPart",
    "TextPart",
    "ToolUsePart",
    "ToolUseStartPart",
    "Usage",
    "create_provider",
    "default_model_spec",
    "tool_use_from_json",
]

#: provider prefix -> "module:class" (imported lazily by :func:`create_provider`).
PROVIDERS: dict[str, str] = {
    "anthropic": "jupyter_assistant.orchestrator.providers.anthropic:AnthropicProvider",
    "openai": "jupyter_assistant.orchestrator.providers.openai:OpenAIProvider",
    "offline": "jupyter_assistant.orchestrator.providers.offline:OfflineProvider",
}


def default_model_spec(config: AssistantConfig | None = None) -> str:
    """``config.model`` when set; else ``anthropic:<default model>`` when
    ``ANTHROPIC_API_KEY`` or ``ANTHROPIC_AUTH_TOKEN`` is set; else ``offline``."""
    if config is not None and config.model:
        return str(config.model)
    if os.environ.get("ANTHROPIC_API_KEY") or os.environ.get("ANTHROPIC_AUTH_TOKEN"):
        from ...config import DEFAULT_ANTHROPIC_MODEL

        model = config.default_anthropic_model if config is not None else DEFAULT_ANTHROPIC_MODEL
        return f"anthropic:{model}"
    return "offline"


def create_provider(spec: str, *, config: AssistantConfig | None = None) -> ModelProvider:
    """The provider for ``spec``: ``anthropic:<model id>`` (or ``anthropic`` for the default
    Claude model), ``openai:<model id>``, or ``offline``.

    ``config`` (an :class:`~jupyter_assistant.config.AssistantConfig`) supplies timeouts,
    the default Claude model and ``openai_base_url``. Raises
    :class:`~jupyter_assistant.exceptions.ConfigError` for an empty or unknown prefix, or a
    provider whose module is not installed.
    """
    if not isinstance(spec, str) or not spec.strip():
        raise ConfigError(f"model spec must be a non-empty string, not {spec!r}")
    prefix, _, model = spec.strip().partition(":")
    target = PROVIDERS.get(prefix)
    if target is None:
        raise ConfigError(f"unknown model provider {prefix!r} in {spec!r}; use one of "
                          f"{', '.join(f'{p}:<model id>' for p in PROVIDERS)} ('offline' needs "
                          "no model id)")
    if prefix == "openai" and not model:
        raise ConfigError(f"model spec {spec!r} needs a model id: openai:<model id>")
    module_name, _, class_name = target.partition(":")
    try:
        cls = getattr(importlib.import_module(module_name), class_name)
    except (ImportError, AttributeError) as exc:
        raise ConfigError(f"model provider {prefix!r} is not available: {exc}") from None
    return _construct(cls, model or None, config)


def _construct(cls: type[ModelProvider], model: str | None, config: Any) -> ModelProvider:
    """Call ``cls`` with the arguments its signature accepts: ``model`` (first positional or
    keyword), ``config``, and ``base_url`` from ``config.openai_base_url`` for OpenAI."""
    params = inspect.signature(cls).parameters
    args: list[Any] = []
    kwargs: dict[str, Any] = {}
    if model is not None:
        if "model" in params and params["model"].kind is not inspect.Parameter.POSITIONAL_ONLY:
            kwargs["model"] = model
        else:
            args.append(model)
    if config is not None and "config" in params:
        kwargs["config"] = config
    elif config is not None and "base_url" in params and cls.name == "openai" \
            and getattr(config, "openai_base_url", None):
        kwargs["base_url"] = config.openai_base_url
    return cls(*args, **kwargs)
