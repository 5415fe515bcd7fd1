"""The chat widget of ``%assistant``: streaming markdown, a card per tool call, a Stop
button and a usage footer, built from stock ipywidgets (plus the anywidget Stop button).

:class:`ChatView` is fed the turn's :class:`~jupyter_assistant.events.Event` objects on the
kernel's main thread (:meth:`ChatView.apply`) and redraws at most every
:attr:`ChatView.min_interval` seconds. The cell output it makes is one display whose bundle
holds the widget view and, once the turn has ended, the final answer as ``text/markdown``
(and ``text/plain``), so nbconvert, GitHub and a notebook reopened without the kernel show the
answer; the widget models themselves are saved as notebook widget state.
"""

from __future__ import annotations

import html
import json
import time
from dataclasses import dataclass, field
from typing import Any

from IPython.display import DisplayHandle, display

__all__ = ["ChatView", "ToolCard", "format_footer"]

_WIDGET_MIME = "application/vnd.jupyter.widget-view+json"
_COLORS = {"running": "var(--jp-brand-color1, #1976d2)",
           "ok": "var(--jp-success-color1, #388e3c)",
           "error": "var(--jp-error-color1, #d32f2f)"}


def _short(value: Any, limit: int = 160) -> str:
    try:
        text = json.dumps(value, ensure_ascii=False, default=str)
    except (TypeError, ValueError):
        text = str(value)
    return text if len(text) <= limit else text[: limit - 1] + "…"


@dataclass
class ToolCard:
    """One tool call as shown: ``name``, ``input``, ``status`` (``running``, ``ok``,
    ``error``), ``duration_ms`` and the error ``reason``."""

    id: str
    name: str
    input: dict[str, Any]
    status: str = "running"
    duration_ms: float | None = None
    reason: str = ""
    progress: str = ""

    def html(self) -> str:
        """The card as HTML (JupyterLab theme variables, so light and dark themes work)."""
        color = _COLORS.get(self.status, _COLORS["running"])
        status = {"running": "running…", "ok": "done", "error": "failed"}.get(self.status,
                                                                              self.status)
        if self.status == "running" and self.progress:
            status = f"running… {self.progress}"
        duration = f" · {self.duration_ms:,.0f} ms" if self.duration_ms is not None else ""
        reason = (f'<div style="color:{_COLORS["error"]};white-space:pre-wrap">'
                  f"{html.escape(self.reason)}</div>" if self.reason else "")
        return (f'<div class="jupyter-assistant-tool" style="border:1px solid '
                f"var(--jp-border-color2,#ccc);border-left:4px solid {color};padding:2px 8px;"
                f'margin:2px 0;font-size:var(--jp-code-font-size,12px)">'
                f"<b>{html.escape(self.name)}</b> "
                f'<code style="opacity:.8">{html.escape(_short(self.input))}</code> '
                f'<span style="color:{color}">{html.escape(status)}{duration}</span>'
                f"{reason}</div>")

    def markdown(self) -> str:
        """One markdown list item for the static answer."""
        duration = f", {self.duration_ms:,.0f} ms" if self.duration_ms is not None else ""
        line = f"- `{self.name}` {_short(self.input, 80)}: {self.status}{duration}"
        return line + (f" ({self.reason})" if self.reason else "")


def format_footer(model: str, ttft_ms: float | None, tokens_in: int, tokens_out: int,
                  cost_usd: float | None, elapsed_s: float | None) -> str:
    """``model · first token N ms · N in / N out tokens · $cost · N s`` (plain text)."""
    parts = [model]
    if ttft_ms is not None:
        parts.append(f"first token {ttft_ms:,.0f} ms")
    parts.append(f"{tokens_in:,} in / {tokens_out:,} out tokens")
    if cost_usd is not None:
        parts.append(f"${cost_usd:.4f}")
    if elapsed_s is not None:
        parts.append(f"{elapsed_s:.1f} s")
    return " · ".join(parts)


@dataclass
class _State:
    text: str = ""
    cards: dict[str, ToolCard] = field(default_factory=dict)
    tokens_in: int = 0
    tokens_out: int = 0
    cost_usd: float | None = None
    ttft_ms: float | None = None
    conversation_id: str | None = None
    terminal: str | None = None  # message_complete | error | cancelled
    error: dict[str, Any] = field(default_factory=dict)
    cancel_reason: str = ""


class ChatView:
    """The live chat widget of one turn (see the module docstring).

    ``model`` is the model spec shown in the footer; ``notice`` a line shown above the
    answer (e.g. that no language model is configured); ``on_stop`` is called when the Stop
    button's message reaches the kernel.
    """

    min_interval = 0.1  # seconds between redraws of the streaming markdown

    def __init__(self, model: str, *, notice: str = "", on_stop: Any = None) -> None:
        import ipywidgets as w

        from ._stop import StopButton

        self.model = model
        self.notice = notice
        self.state = _State()
        self.started = time.monotonic()
        self._drawn_text: str | None = None
        self._last_draw = 0.0
        self._handle: DisplayHandle | None = None
        self._card_widgets: dict[str, Any] = {}
        self._finished = False
        head = f"<b>Assistant</b> · {html.escape(model)}"
        if notice:
            head += (f'<div style="color:var(--jp-warn-color1,#f57c00)">{html.escape(notice)}'
                     "</div>")
        self.header = w.HTML(head)
        self.answer = w.Output(layout=w.Layout(min_height="1.5em"))
        self.cards = w.VBox([])
        self.stop = StopButton(on_stop=on_stop)
        self.footer = w.HTML(self._footer_html())
        self.bar = w.HBox([self.stop, self.footer])
        self.final_markdown: str | None = None
        self.box = w.VBox([self.header, self.cards, self.answer, self.bar],
                          layout=w.Layout(border="1px solid var(--jp-border-color2, #ccc)",
                                          padding="4px 8px"))
        self.box.add_class("jupyter-assistant-chat")

    # -- output -----------------------------------------------------------------------------
    def show(self) -> None:
        """Display the widget in the running cell's output."""
        self._handle = display(self._bundle(final=False), raw=True, display_id=True)

    def _bundle(self, *, final: bool) -> dict[str, Any]:
        text = self.markdown() if final else "Assistant: working…"
        bundle: dict[str, Any] = {
            _WIDGET_MIME: {"version_major": 2, "version_minor": 0,
                           "model_id": self.box.model_id},
            "text/plain": text,
        }
        if final:
            bundle["text/markdown"] = text
        return bundle

    def markdown(self) -> str:
        """The turn as static markdown: answer, failures, cancel note, tools, footer."""
        s = self.state
        parts = []  # the notice is the widget's header (offline answers repeat it themselves)
        if s.text.strip():
            parts.append(s.text.strip())
        note = self.status_note()
        if note:
            parts.append(note)
        if s.cards:
            parts.append("Tools:\n" + "\n".join(c.markdown() for c in s.cards.values()))
        parts.append(f"*{self._footer_text()}*")
        return "\n\n".join(parts)

    def status_note(self) -> str:
        """How the turn ended when it did not complete: ``**Error** (`code`): message``
        or ``**Cancelled** (reason).``; ``""`` while running or after a complete answer."""
        s = self.state
        if s.terminal == "error":
            return (f"**Error** (`{s.error.get('code', 'error')}`): "
                    f"{s.error.get('message', '')}")
        if s.terminal == "cancelled":
            return f"**Cancelled** ({s.cancel_reason or 'user'})."
        if s.terminal is None and self._finished:
            return "**Cancelled** (the turn did not finish)."
        return ""

    def _footer_text(self) -> str:
        s = self.state
        return format_footer(self.model, s.ttft_ms, s.tokens_in, s.tokens_out, s.cost_usd,
                             time.monotonic() - self.started)

    def _footer_html(self) -> str:
        return (f'<span style="opacity:.7;font-size:var(--jp-ui-font-size0,11px)">'
                f"{html.escape(self._footer_text())}</span>")

    # -- events -----------------------------------------------------------------------------
    def apply(self, event: Any) -> None:
        """Update the state with one event and redraw what it changed (the streaming text is
        redrawn at most every :attr:`min_interval` s; call :meth:`finish` at the end)."""
        s, data = self.state, event.data
        kind = event.type
        if kind == "session_started":
            s.conversation_id = data.get("conversation_id") or s.conversation_id
        elif kind == "text_delta":
            if s.ttft_ms is None:
                s.ttft_ms = (time.monotonic() - self.started) * 1000
            s.text += data.get("text", "")
            self.draw_text()
        elif kind == "tool_use_start":
            card = s.cards[data["id"]] = ToolCard(data["id"], data.get("name", "?"),
                                                  data.get("input") or {})
            self._draw_card(card)
        elif kind == "tool_use_progress" and data.get("id") in s.cards:
            card = s.cards[data["id"]]
            card.progress = str(data.get("message", ""))
            self._draw_card(card)
        elif kind == "tool_use_complete" and data.get("id") in s.cards:
            card = s.cards[data["id"]]
            card.status = "error" if data.get("is_error") else "ok"
            card.duration_ms = data.get("duration_ms")
            if data.get("is_error"):
                card.reason = str(data.get("content", ""))[:500]
            self._draw_card(card)
        elif kind == "usage":
            s.tokens_in += int(data.get("input_tokens") or 0)
            s.tokens_out += int(data.get("output_tokens") or 0)
            if data.get("cost_usd") is not None:
                s.cost_usd = (s.cost_usd or 0.0) + float(data["cost_usd"])
            self.footer.value = self._footer_html()
        elif kind == "message_complete":
            s.terminal = kind
            if data.get("text") and not s.text:
                s.text = data["text"]
        elif kind == "error":
            s.terminal, s.error = kind, dict(data)
        elif kind == "cancelled":
            s.terminal, s.cancel_reason = kind, str(data.get("reason", "user"))

    def draw_text(self, force: bool = False) -> None:
        """Redraw the streaming markdown if it changed (and the last redraw is old enough)."""
        now = time.monotonic()
        text = self.state.text
        note = self.status_note()
        if note:
            text = f"{text.rstrip()}\n\n{note}" if text.strip() else note
        if self._drawn_text == text:
            return
        if not force and now - self._last_draw < self.min_interval:
            return
        self._last_draw = now
        self._drawn_text = text
        self.answer.outputs = ({"output_type": "display_data", "metadata": {},
                                "data": {"text/markdown": text, "text/plain": text}},)

    def _draw_card(self, card: ToolCard) -> None:
        import ipywidgets as w

        widget = self._card_widgets.get(card.id)
        if widget is None:
            widget = self._card_widgets[card.id] = w.HTML(card.html())
            self.cards.children = (*self.cards.children, widget)
        else:
            widget.value = card.html()

    def note(self, text: str) -> None:
        """Show a status line in the footer (e.g. "Stopping…")."""
        self.footer.value = self._footer_html() + f" <b>{html.escape(text)}</b>"

    def finish(self) -> None:
        """The turn is over: final redraw, hide Stop, and put the markdown answer in the
        cell's output bundle."""
        self._finished = True
        for card in self.state.cards.values():
            if card.status == "running":
                card.status, card.reason = "error", "stopped with the turn"
                self._draw_card(card)
        self.draw_text(force=True)
        self.stop.running = False
        self.footer.value = self._footer_html()
        self.final_markdown = self.markdown()
        if self._handle is not None:
            self._handle.update(self._bundle(final=True), raw=True)

    def retire(self) -> None:
        """Replace the finished widget by its static markdown answer (wherever it is shown)
        and close its widget models, so the kernel does not keep them."""
        if self._handle is not None and self.final_markdown is not None:
            text = self.final_markdown
            self._handle.update({"text/markdown": text, "text/plain": text}, raw=True)
        for widget in (*self._card_widgets.values(), self.cards, self.header, self.answer,
                       self.stop, self.footer, self.bar, self.box):
            # every stock widget has Layout (and most a Style) models of its own
            for part in (getattr(widget, "layout", None), getattr(widget, "style", None)):
                if part is not None:
                    part.close()
            widget.close()
        self._card_widgets.clear()
