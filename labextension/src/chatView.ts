/**
 * The chat log: renders the items of {@link ./state} (user messages, assistant turns with
 * streaming markdown and tool cards, trace summaries, notices). A long conversation opens
 * fast: its texts show as plain text first and become markdown when they scroll into view.
 */
import { Widget } from '@lumino/widgets';
import { codeStreaming } from './codeBlocks';
import { MarkdownRenderer, Throttle } from './markdown';
import { AssistantItem, ChatItem, TurnPart } from './state';
import { CellEditHost, renderToolCard } from './toolCard';

/** Milliseconds of markdown rendering per batch while the user scrolls a long history. */
const RENDER_BUDGET_MS = 6;
/** Milliseconds without scrolling after which the texts in view are rendered as markdown. */
const SCROLL_IDLE_MS = 120;
/** Items a conversation shows at once when opened; older ones follow in chunks. */
const FIRST_ITEMS = 60;
const CHUNK_ITEMS = 50;

interface PartView {
  part: TurnPart;
  el: HTMLElement;
  /** The turn of the part (none for a trace summary). */
  turn?: AssistantItem;
  /** The last render showed a code block still streaming (its buttons disabled). */
  codeStreaming?: boolean;
  throttle?: Throttle;
  rendered?: boolean;
  /** What the element shows: the text, or the tool card's state. */
  shown?: string;
}

interface ItemView {
  item: ChatItem;
  el: HTMLElement;
  parts: PartView[];
  partsEl?: HTMLElement;
  footer?: HTMLElement;
}

/** The scrolling list of chat items. */
export class ChatView extends Widget {
  private _views = new Map<string, ItemView>();
  private _observer: IntersectionObserver | null = null;
  private _lazy = new WeakMap<Element, PartView>();
  private _visible = new Set<PartView>();
  private _idleTimer: ReturnType<typeof setTimeout> | null = null;
  private _pumping = false;
  private _fillToken = 0;
  /** Called after the first text of a turn is in the DOM (for the bench). */
  onFirstText: ((turn: AssistantItem) => void) | null = null;

  constructor(
    private readonly _markdown: MarkdownRenderer,
    private readonly _cells: CellEditHost
  ) {
    super();
    this.addClass('jp-AssistantChat');
    this.node.setAttribute('role', 'log');
    this.node.setAttribute('aria-live', 'polite');
    this.node.setAttribute('aria-label', 'Conversation');
    this.node.tabIndex = 0;
    if (typeof IntersectionObserver !== 'undefined') {
      this._observer = new IntersectionObserver(entries => this._onVisible(entries), {
        root: this.node,
        rootMargin: '400px 0px'
      });
    }
  }

  /**
   * Replace everything with `items` (texts render as markdown once visible). The newest
   * items show at once; older ones are added above them in chunks, each in its own task,
   * keeping the view where it is, so a long history never blocks the page for long.
   * {@link filled} resolves when all are in.
   */
  setItems(items: ChatItem[]): void {
    this._observer?.disconnect();
    this._visible.clear();
    this._views.clear();
    const token = ++this._fillToken;
    const split = Math.max(0, items.length - FIRST_ITEMS);
    this.node.replaceChildren(this._fragment(items, split, items.length));
    this.scrollToEnd();
    this.filled = new Promise(resolve => {
      let end = split;
      const step = () => {
        if (token !== this._fillToken || end <= 0) {
          resolve();
          return;
        }
        const start = Math.max(0, end - CHUNK_ITEMS);
        const fromBottom = this.node.scrollHeight - this.node.scrollTop;
        this.node.prepend(this._fragment(items, start, end));
        this.node.scrollTop = this.node.scrollHeight - fromBottom;
        end = start;
        setTimeout(step, 0);
      };
      setTimeout(step, 0);
    });
  }

  /** Resolves when the items of the last {@link setItems} are all in the DOM. */
  filled: Promise<void> = Promise.resolve();

  private _fragment(items: ChatItem[], start: number, end: number): DocumentFragment {
    const frag = document.createDocumentFragment();
    for (let i = start; i < end; i++) {
      frag.append(this._build(items[i], true).el);
    }
    return frag;
  }

  /** Add `item` at the end. */
  append(item: ChatItem): void {
    const stick = this._atEnd();
    this.node.append(this._build(item, false).el);
    if (stick || item.kind === 'user') {
      this.scrollToEnd();
    }
  }

  /** Remove every item. */
  clear(): void {
    this.setItems([]);
  }

  /** Show what changed in `item` (`'text'`: only the last text part grew). */
  refresh(item: ChatItem, what: 'text' | 'parts' | 'status' | 'usage' | 'all'): void {
    const view = this._views.get(item.key);
    if (!view) {
      return;
    }
    const stick = this._atEnd();
    if (item.kind === 'assistant') {
      if (what === 'text' && view.parts.length) {
        this._updateText(view.parts[view.parts.length - 1], item);
      } else {
        this._syncParts(view, item, false);
        this._renderFooter(view, item);
      }
    } else {
      const fresh = this._build(item, false);
      view.el.replaceWith(fresh.el);
    }
    if (stick) {
      this.scrollToEnd();
    }
  }

  scrollToEnd(): void {
    this.node.scrollTop = this.node.scrollHeight;
  }

  private _atEnd(): boolean {
    const n = this.node;
    return n.scrollHeight - n.scrollTop - n.clientHeight < 40;
  }

  private _build(item: ChatItem, lazy: boolean): ItemView {
    const el = document.createElement('div');
    el.className = `jp-AssistantItem jp-mod-${item.kind}`;
    el.dataset.key = item.key;
    const view: ItemView = { item, el, parts: [] };
    this._views.set(item.key, view);
    switch (item.kind) {
      case 'user': {
        el.setAttribute('aria-label', 'You');
        const text = document.createElement('div');
        text.className = 'jp-AssistantItem-text';
        text.textContent = item.text;
        el.append(text);
        break;
      }
      case 'notice': {
        el.classList.add(`jp-mod-${item.level}`);
        el.setAttribute('role', item.level === 'error' ? 'alert' : 'status');
        el.textContent = item.code ? `${item.text} (${item.code})` : item.text;
        break;
      }
      case 'trace': {
        const head = document.createElement('div');
        head.className = 'jp-AssistantItem-head';
        head.textContent = 'Uploaded trace: its summary';
        head.title = item.name;
        const body = document.createElement('div');
        body.className = 'jp-AssistantMarkdown jp-RenderedHTMLCommon jp-mod-plain';
        body.textContent = item.summary;
        el.append(head, body);
        const pv: PartView = { part: { kind: 'text', text: item.summary }, el: body };
        this._schedule(pv, lazy);
        break;
      }
      case 'assistant': {
        el.setAttribute('aria-label', 'Assistant');
        view.partsEl = document.createElement('div');
        view.partsEl.className = 'jp-AssistantItem-parts';
        view.footer = document.createElement('div');
        view.footer.className = 'jp-AssistantItem-footer';
        el.append(view.partsEl, view.footer);
        this._syncParts(view, item, lazy);
        this._renderFooter(view, item);
        break;
      }
    }
    return view;
  }

  private _syncParts(view: ItemView, turn: AssistantItem, lazy: boolean): void {
    turn.parts.forEach((part, i) => {
      let pv = view.parts[i];
      if (!pv) {
        const el = document.createElement('div');
        pv = { part, el, turn };
        view.parts.push(pv);
        view.partsEl!.append(el);
        if (part.kind === 'text') {
          el.className = 'jp-AssistantMarkdown jp-RenderedHTMLCommon jp-mod-plain';
          this._updateText(pv, turn, lazy);
          return;
        }
      }
      pv.turn = turn;
      if (part.kind === 'tool') {
        const t = part.tool;
        const shown = [t.state, t.durationMs, t.progress, t.decision, t.content.length].join('|');
        if (shown !== pv.shown) {
          pv.shown = shown; // re-render only a changed card (an open <details> stays open)
          renderToolCard(pv.el, t, this._cells);
        }
      } else if (!lazy && pv.shown !== part.text) {
        this._updateText(pv, turn);
      } else if (pv.codeStreaming && !codeStreaming(turn, part)) {
        // the turn ended or a tool call followed: the last code block is complete now
        this._schedule(pv, false);
      }
    });
  }

  private _updateText(pv: PartView, turn: AssistantItem, lazy = false): void {
    if (pv.part.kind !== 'text') {
      return;
    }
    if (!pv.rendered) {
      // the plain text at once: the first token is on screen without waiting for markdown
      pv.el.textContent = pv.part.text;
      if (!lazy && turn.status === 'streaming' && this.onFirstText) {
        this.onFirstText(turn);
      }
    }
    pv.shown = pv.part.text;
    this._schedule(pv, lazy);
  }

  private _schedule(pv: PartView, lazy: boolean): void {
    if (lazy && this._observer) {
      this._lazy.set(pv.el, pv);
      this._observer.observe(pv.el);
      return;
    }
    if (!pv.throttle) {
      pv.throttle = new Throttle(async () => {
        const text = pv.part.kind === 'text' ? pv.part.text : '';
        // noted before the render: a turn that ends while it runs schedules one more
        const streaming = (pv.codeStreaming = codeStreaming(pv.turn, pv.part));
        await this._markdown.render(pv.el, text, streaming);
        pv.el.classList.remove('jp-mod-plain');
        pv.rendered = true;
        if (this._atEnd()) {
          this.scrollToEnd();
        }
      });
    }
    pv.throttle.schedule();
  }

  private _onVisible(entries: IntersectionObserverEntry[]): void {
    for (const entry of entries) {
      const pv = this._lazy.get(entry.target);
      if (!pv) {
        continue;
      }
      if (entry.isIntersecting) {
        this._visible.add(pv);
      } else {
        this._visible.delete(pv);
      }
    }
    // render once the scrolling pauses: a fast scroll through a long history only lays out
    // plain text, and what stays in view becomes markdown
    if (this._idleTimer !== null) {
      clearTimeout(this._idleTimer);
    }
    this._idleTimer = setTimeout(() => {
      this._idleTimer = null;
      void this._pump();
    }, SCROLL_IDLE_MS);
  }

  /** Render the texts in view, a few milliseconds of work at a time. */
  private async _pump(): Promise<void> {
    if (this._pumping) {
      return;
    }
    this._pumping = true;
    try {
      while (this._visible.size && this._idleTimer === null) {
        const start = performance.now();
        for (const pv of Array.from(this._visible)) {
          if (performance.now() - start > RENDER_BUDGET_MS || this._idleTimer !== null) {
            break;
          }
          this._visible.delete(pv);
          this._observer?.unobserve(pv.el);
          this._lazy.delete(pv.el);
          if (pv.el.isConnected && !pv.rendered) {
            await this._markdown.render(pv.el, pv.part.kind === 'text' ? pv.part.text : '');
            pv.el.classList.remove('jp-mod-plain');
            pv.rendered = true;
          }
        }
        await new Promise(resolve => setTimeout(resolve, 0));
      }
    } finally {
      this._pumping = false;
    }
  }

  private _renderFooter(view: ItemView, turn: AssistantItem): void {
    const footer = view.footer!;
    const children: HTMLElement[] = [];
    if (turn.status === 'streaming' && !turn.parts.length) {
      children.push(span('jp-AssistantItem-thinking', 'Thinking…'));
    }
    if (turn.status === 'cancelled') {
      children.push(span('jp-AssistantItem-cancelled', 'Cancelled'));
    }
    if (turn.status === 'interrupted' && !turn.error) {
      children.push(span('jp-AssistantItem-cancelled', 'Interrupted (the server stopped)'));
    }
    if (turn.error) {
      const err = span('jp-AssistantError', '');
      err.setAttribute('role', 'alert');
      const code = span('jp-AssistantError-code', turn.error.code);
      const msg = span('jp-AssistantError-message', turn.error.message);
      err.append(code, msg);
      if (turn.error.retryable) {
        err.append(span('jp-AssistantError-retry', 'You can send it again.'));
      }
      children.push(err);
    }
    const u = turn.usage;
    if (u.inputTokens || u.outputTokens) {
      children.push(
        span(
          'jp-AssistantItem-usage',
          `${u.inputTokens + u.outputTokens} tokens` +
            (u.costUsd ? ` · $${u.costUsd.toFixed(4)}` : '')
        )
      );
    }
    footer.replaceChildren(...children);
  }
}

function span(className: string, text: string): HTMLElement {
  const s = document.createElement('span');
  s.className = className;
  s.textContent = text;
  return s;
}
