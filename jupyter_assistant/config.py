"""Configuration of the assistant: model, limits, timeouts, store, approvals.

:class:`AssistantConfig` is a traitlets ``Configurable``: every setting can come from a
Jupyter config file (``c.AssistantConfig.turn_deadline = 120``), from the command line, or
from keyword arguments of :class:`~jupyter_assistant.Assistant` (keyword arguments win).
Times are seconds; sizes are characters or tokens as each help string says.

The defaults are the ones of DESIGN.md: stream idle timeout 45 s, tool 30 s (web search 10 s,
file tools 5 s), whole turn 90 s, at most 10 model calls per turn, user messages of at most
10,000 characters.
"""

from __future__ import annotations

from typing import Any

from traitlets import Bool, Float, Int, TraitError, Unicode, validate
from traitlets.config import Configurable

from .exceptions import ConfigError

__all__ = ["DEFAULT_ANTHROPIC_MODEL", "AssistantConfig"]

#: The Claude model used when ``model`` names the provider only (``"anthropic"``) or when
#: ``model`` is unset and an Anthropic key is present. Claude Sonnet 5.5, the current Sonnet
#: model per https://platform.claude.com/docs/en/about-claude/models/overview (checked
#: 2026-11-22): the best combination of speed and intelligence, $2 / $10 per million
#: input / output tokens.
DEFAULT_ANTHROPIC_MODEL = "claude-sonnet-5-5"

_POSITIVE_FLOATS = ("stream_idle_timeout", "tool_timeout", "web_search_timeout",
                    "file_tool_timeout", "turn_deadline", "connect_timeout")
_POSITIVE_INTS = ("max_model_calls", "max_message_chars", "tool_output_chars",
                  "max_output_tokens", "tool_threads")


class AssistantConfig(Configurable):
    """Every model, limit and timeout setting of the assistant (``config=True`` traits).

    Raises :class:`~jupyter_assistant.exceptions.ConfigError` when a limit or timeout is set
    to zero or a negative number, or a retry setting to a negative number (traitlets itself
    raises ``TraitError`` for a value of the wrong type; :meth:`updated` turns that into a
    ``ConfigError`` too).
    """

    model = Unicode(
        None, allow_none=True, config=True,
        help="""The model, as ``provider:model id``: ``anthropic:claude-sonnet-5-5``,
        ``openai:llama3.1`` (any OpenAI-compatible chat-completions endpoint, see
        ``openai_base_url``) or ``offline`` (rule-based, no language model). ``anthropic``
        alone means ``anthropic:<default_anthropic_model>``. When unset, the assistant uses
        Anthropic if ``ANTHROPIC_API_KEY`` (or ``ANTHROPIC_AUTH_TOKEN``) is set in the
        environment, else the offline provider, which says so in its answers.""",
    )
    default_anthropic_model = Unicode(
        DEFAULT_ANTHROPIC_MODEL, config=True,
        help="""The Claude model id used when ``model`` is ``anthropic`` or unset with an
        Anthropic key present. See https://platform.claude.com/docs/en/about-claude/models/overview
        for the current ids.""",
    )
    openai_base_url = Unicode(
        None, allow_none=True, config=True,
        help="""Base URL of the OpenAI-compatible endpoint used by ``openai:<model>`` models,
        e.g. ``http://localhost:11434/v1`` for Ollama or ``http://localhost:8000/v1`` for vLLM.
        When unset, the ``OPENAI_BASE_URL`` environment variable is used, then the OpenAI
        API itself.""",
    )
    store_url = Unicode(
        None, allow_none=True, config=True,
        help="""Where conversations, sessions and telemetry are kept: ``memory://`` (lost at
        exit), ``sqlite:///path/to/assistant.db`` or a plain path (the embedded default is a
        SQLite file in the Jupyter data directory), or ``redis://host:6379/0`` for
        deployments with several servers. Unset means in memory for a Python ``Assistant``;
        the server extension picks the SQLite default.""",
    )
    auto_approve = Bool(
        False, config=True,
        help="""Run tools that need approval (file edits, code execution) without asking the
        user. Leave off unless the assistant works in a sandbox: with it off, such tools ask
        through the approval callback, and refuse (with an ``is_error`` result the model
        sees) when there is nobody to ask.""",
    )
    system_prompt = Unicode(
        None, allow_none=True, config=True,
        help="""Replaces the built-in system prompt (the instructions that make the model a
        performance and debugging assistant). The summary of the current trace, when there is
        one, is still appended after it.""",
    )
    include_default_tools = Bool(
        True, config=True,
        help="""Offer the built-in tools (trace analysis, file read/edit, web search when a
        backend is configured) and the tools registered under the ``jupyter_assistant.tools``
        entry point group, in addition to the tools passed to ``Assistant(tools=...)``.""",
    )
    stream_idle_timeout = Float(
        45.0, config=True,
        help="""Seconds without any server-sent event (keep-alive pings count) after which a
        model stream is considered dead and aborted with error code ``stream_idle_timeout``.
        The call is retried when nothing of it was shown yet; otherwise the turn ends with an
        ``error`` event and the partial answer stays.""",
    )
    connect_timeout = Float(
        10.0, config=True,
        help="""Seconds allowed to open the connection to the model endpoint (TCP + TLS);
        a failure is error code ``connection`` and is retried.""",
    )
    tool_timeout = Float(
        30.0, config=True,
        help="""Default seconds one tool call may run. A tool that takes longer is abandoned
        and the model receives an ``is_error`` tool_result saying it timed out; the turn goes
        on. A tool may declare its own timeout (``@tool(timeout=...)``), which wins.""",
    )
    tool_threads = Int(
        16, config=True,
        help="""Most worker threads the sync tools of one assistant may occupy at once.
        A sync tool that outlives its timeout is abandoned but keeps its thread, and its
        slot, until it really returns; when every slot is taken, a further sync tool call
        waits for one within its own timeout and otherwise gets an ``is_error`` result
        (code ``timeout``) saying so. Async tools, the store and the model clients never
        use these slots.""",
    )
    web_search_timeout = Float(
        10.0, config=True,
        help="""Seconds a web search tool call (tool category ``web``) may run, unless the
        tool declares its own timeout.""",
    )
    file_tool_timeout = Float(
        5.0, config=True,
        help="""Seconds a file tool call (read, edit, undo; tool category ``file``) may run,
        unless the tool declares its own timeout.""",
    )
    turn_deadline = Float(
        90.0, config=True,
        help="""Seconds a whole turn (every model call, retry and tool call of one user
        message) may take. When it passes, the running stream and tools are stopped, the
        history is closed consistently, and the turn ends with error code
        ``turn_deadline``.""",
    )
    max_model_calls = Int(
        10, config=True,
        help="""Most model calls in one turn (retries of a failed call do not count). A model
        that keeps calling tools past it gets a final note and the turn ends with error code
        ``max_model_calls``.""",
    )
    max_message_chars = Int(
        10_000, config=True,
        help="""Longest user message accepted, in characters. A longer one is refused before
        anything is sent to the model (error code ``message_too_long``).""",
    )
    tool_output_chars = Int(
        20_000, config=True,
        help="""Longest tool result sent back to the model, in characters. Longer output is
        cut, with a note telling the model how many characters were removed.""",
    )
    max_output_tokens = Int(
        8192, config=True,
        help="""``max_tokens`` of every model call: the most tokens one model response may
        have. A response that hits it stops with ``stop_reason`` ``max_tokens``.""",
    )
    model_retries = Int(
        3, config=True,
        help="""How many times one model call is retried after a transient failure (429 rate
        limit, 529 overloaded, 5xx, dropped connection, stalled stream) that happened before
        any of its output was shown. Retries wait with exponential backoff and jitter, honour
        ``retry-after`` / ``retry-after-ms``, and never outlast the turn deadline.""",
    )
    retry_base_delay = Float(
        0.5, config=True,
        help="""Seconds before the first retry of a failed model call when the provider gave
        no ``retry-after``; doubled for each further retry (with +-25% jitter).""",
    )
    retry_max_delay = Float(
        8.0, config=True,
        help="""Longest wait between two attempts of a model call, in seconds (a longer
        ``retry-after`` from the provider is still honoured if the turn deadline allows).""",
    )

    @validate(*_POSITIVE_FLOATS, *_POSITIVE_INTS)
    def _positive(self, proposal: dict[str, Any]) -> Any:
        value = proposal["value"]
        if value is None or value <= 0:
            name = proposal["trait"].name
            raise ConfigError(f"AssistantConfig.{name} must be > 0, got {value!r}")
        return value

    @validate("model_retries", "retry_base_delay", "retry_max_delay")
    def _non_negative(self, proposal: dict[str, Any]) -> Any:
        value = proposal["value"]
        if value < 0:
            raise ConfigError(f"AssistantConfig.{proposal['trait'].name} must be >= 0, "
                              f"got {value!r}")
        return value

    def timeout_for_category(self, category: str) -> float:
        """Default timeout (s) of a tool of ``category`` (``web``, ``file``, others)."""
        if category == "web":
            return float(self.web_search_timeout)
        if category == "file":
            return float(self.file_tool_timeout)
        return float(self.tool_timeout)

    def updated(self, **overrides: Any) -> AssistantConfig:
        """A copy with ``overrides`` applied (``None`` values are ignored).

        Raises :class:`~jupyter_assistant.exceptions.ConfigError` for an invalid value or an
        unknown setting.
        """
        values = {name: getattr(self, name) for name in self.trait_names(config=True)}
        for name, value in overrides.items():
            if name not in values:
                raise ConfigError(f"unknown AssistantConfig setting {name!r}; settings: "
                                  f"{', '.join(sorted(values))}")
            if value is not None:
                values[name] = value
        clone = AssistantConfig(parent=self.parent)
        for name, value in values.items():
            try:
                setattr(clone, name, value)
            except TraitError as exc:  # a value of the wrong type
                raise ConfigError(f"AssistantConfig.{name}: {exc}") from None
        return clone
