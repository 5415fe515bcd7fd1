/**
 * The assistant's side panel (widget id `jupyter-assistant-sidebar`): a toolbar (model,
 * "New conversation", "Conversations", "Upload trace", usage gauge), the conversation list,
 * the chat log, and the composer ("Message the assistant", "Send", "Stop", "Ask about this
 * cell"). A running turn survives a page reload: its events are kept in `localStorage` and
 * the stream resumes with `Last-Event-ID`.
 */
import { Panel, Widget } from '@lumino/widgets';
import {
  AssistantApiError,
  AssistantClient,
  Conversation,
  ServerInfo,
  StreamOptions,
  StreamResult
} from './client';
import { ChatView } from './chatView';
import { ConversationList } from './conversations';
import { button } from './button';
import { MarkdownRenderer } from './markdown';
import { cellQuestion, NotebookContext } from './notebook';
import { AssistantEvent } from './sse';
import {
  applyEvent,
  AssistantItem,
  ChatItem,
  itemsFromMessages,
  newKey,
  newTurn,
  snapshotLastSeq,
  ToolCall,
  turnFromSnapshot,
  TurnSnapshot
} from './state';
import { CellEditHost } from './toolCard';

/** The side panel's widget id. */
export const SIDEBAR_ID = 'jupyter-assistant-sidebar';

const PANEL_KEY = 'jupyter-assistant:panel';
const TURN_KEY = 'jupyter-assistant:turn';
const DEFAULT_MAX_CHARS = 10000;

interface PanelState {
  conversationId: string | null;
  model: string;
}

/**
 * Timings of the last turn (read by the benchmark): `*At` are `performance.now()` ms;
 * `*UnixMs` are Unix ms (the server's event timestamps and the browser's clock, one machine).
 */
export interface TurnTimings {
  sendAt: number;
  firstEventAt: number;
  firstTextEventAt: number;
  /** The first text is in the DOM. */
  firstTextRenderedAt: number;
  /** The frame after it: the first text is painted. */
  firstTextPaintedAt: number;
  sendUnixMs: number;
  firstTextPaintedUnixMs: number;
  /** The server's timestamp (Unix ms) of session_started and of the first text_delta. */
  serverStartedMs: number;
  serverFirstTextMs: number;
}

/** The assistant's side panel. */
export class AssistantSidebar extends Panel {
  readonly chat: ChatView;
  readonly notebooks: NotebookContext;
  private readonly _client: AssistantClient;
  private readonly _list: ConversationList;
  private readonly _input: HTMLTextAreaElement;
  private readonly _send: HTMLButtonElement;
  private readonly _stop: HTMLButtonElement;
  private readonly _model: HTMLSelectElement;
  private readonly _gauge: HTMLElement;
  private readonly _traceChip: HTMLElement;
  private readonly _status: HTMLElement;
  private readonly _file: HTMLInputElement;
  private _info: ServerInfo | null = null;
  private _items: ChatItem[] = [];
  private _conversationId: string | null = null;
  private _trace: { id: string; name: string } | null = null;
  private _turn: AssistantItem | null = null;
  private _snapshot: TurnSnapshot | null = null;
  private _abort: AbortController | null = null;
  private _stopWanted = false;
  private _saveTimer: ReturnType<typeof setTimeout> | null = null;
  /** Timings of the last turn (see {@link TurnTimings}). */
  timings: TurnTimings | null = null;

  constructor(client: AssistantClient, markdown: MarkdownRenderer, notebooks: NotebookContext) {
    super();
    this.id = SIDEBAR_ID;
    this.addClass('jp-AssistantSidebar');
    this.title.caption = 'Assistant';
    this._client = client;
    this.notebooks = notebooks;

    // toolbar
    const bar = new Widget();
    bar.addClass('jp-AssistantToolbar');
    this._model = document.createElement('select');
    this._model.className = 'jp-AssistantModel';
    this._model.setAttribute('aria-label', 'Model');
    this._model.addEventListener('change', () => this._persist());
    this._file = document.createElement('input');
    this._file.type = 'file';
    this._file.hidden = true;
    this._file.setAttribute('aria-label', 'Trace file');
    this._file.addEventListener('change', () => {
      const f = this._file.files?.[0];
      if (f) {
        void this.uploadTrace(f, f.name);
      }
      this._file.value = '';
    });
    this._gauge = document.createElement('div');
    this._gauge.className = 'jp-AssistantGauge';
    this._gauge.setAttribute('aria-label', 'Usage of this conversation');
    bar.node.append(
      this._model,
      button('New conversation', 'Start a new conversation', () => this.newConversation()),
      button('Conversations', 'Show or hide your conversations', () => this.toggleList()),
      button('Upload trace', 'Upload a trace file (or drop it on the panel)', () =>
        this._file.click()
      ),
      this._file,
      this._gauge
    );

    // conversation list, chat, composer
    this._list = new ConversationList(
      client,
      c => void this.openConversation(c.id).then(() => this._list.hide()),
      id => {
        if (id === this._conversationId) {
          this.newConversation();
        }
      }
    );
    this._list.hide();
    const cells: CellEditHost = {
      currentSource: id => this.notebooks.findCell(id)?.cell.sharedModel.getSource() ?? null,
      apply: (id, source) => this.notebooks.applyEdit(id, source),
      decided: tool => this._rerenderTool(tool)
    };
    this.chat = new ChatView(markdown, cells);
    this.chat.onFirstText = () => {
      const t = this.timings;
      if (t && !t.firstTextRenderedAt) {
        t.firstTextRenderedAt = performance.now();
        requestAnimationFrame(() => {
          t.firstTextPaintedAt = performance.now();
          t.firstTextPaintedUnixMs = Date.now();
        });
      }
    };

    const composer = new Widget();
    composer.addClass('jp-AssistantComposer');
    this._traceChip = document.createElement('div');
    this._traceChip.className = 'jp-AssistantTraceChip';
    this._traceChip.hidden = true;
    this._status = document.createElement('div');
    this._status.className = 'jp-AssistantStatus';
    this._status.setAttribute('role', 'status');
    this._input = document.createElement('textarea');
    this._input.className = 'jp-AssistantInput';
    this._input.rows = 3;
    this._input.placeholder = 'Ask about your code or a trace (Enter sends, Shift+Enter: new line)';
    this._input.setAttribute('aria-label', 'Message the assistant');
    this._input.addEventListener('keydown', e => {
      if (e.key === 'Enter' && !e.shiftKey && !e.isComposing) {
        e.preventDefault();
        void this.send();
      }
    });
    this._send = button('Send', 'Send the message (Enter)', () => void this.send(), 'jp-mod-accept');
    this._stop = button('Stop', 'Stop the running turn (Escape)', () => void this.stop(), 'jp-mod-stop');
    this._stop.hidden = true;
    const actions = document.createElement('div');
    actions.className = 'jp-AssistantComposer-actions';
    actions.append(
      button('Ask about this cell', 'Send the active cell (source, outputs, error) with your question', () =>
        void this.askAboutCell()
      ),
      this._stop,
      this._send
    );
    composer.node.append(this._traceChip, this._status, this._input, actions);

    this.addWidget(bar);
    this.addWidget(this._list);
    this.addWidget(this.chat);
    this.addWidget(composer);

    this.node.addEventListener('keydown', e => {
      if (e.key === 'Escape' && this._turn) {
        e.preventDefault();
        void this.stop();
      }
    });
    this.node.addEventListener('dragover', e => {
      if (e.dataTransfer?.types.includes('Files')) {
        e.preventDefault();
        this.addClass('jp-mod-dropTarget');
      }
    });
    this.node.addEventListener('dragleave', () => this.removeClass('jp-mod-dropTarget'));
    this.node.addEventListener('drop', e => {
      this.removeClass('jp-mod-dropTarget');
      const f = e.dataTransfer?.files?.[0];
      if (f) {
        e.preventDefault();
        void this.uploadTrace(f, f.name);
      }
    });
    window.addEventListener('pagehide', () => this._saveSnapshot());
  }

  /** The message textbox. */
  get input(): HTMLTextAreaElement {
    return this._input;
  }

  /** True while a turn runs. */
  get running(): boolean {
    return this._turn !== null;
  }

  /** Load the server's settings and reopen the last conversation (resuming its turn). */
  async restore(): Promise<void> {
    try {
      this._info = await this._client.info();
    } catch (err) {
      this._notice(`Cannot reach the assistant's server extension: ${(err as Error).message}`, 'error', (err as AssistantApiError).code);
    }
    const saved = readJSON<PanelState>(PANEL_KEY);
    this._fillModels(saved?.model);
    const snapshot = readJSON<TurnSnapshot>(TURN_KEY);
    const conversationId = snapshot?.conversationId ?? saved?.conversationId ?? null;
    if (conversationId) {
      await this.openConversation(conversationId, snapshot?.sessionId);
    }
    if (snapshot?.sessionId) {
      this._resumeTurn(snapshot);
    } else if (snapshot) {
      localStorage.removeItem(TURN_KEY);
    }
  }

  private _fillModels(saved?: string): void {
    const info = this._info;
    const models = new Set<string>();
    if (info?.model) {
      models.add(info.model);
    }
    for (const m of info?.allowed_models ?? []) {
      models.add(m);
    }
    this._model.replaceChildren(
      ...Array.from(models).map(m => {
        const o = document.createElement('option');
        o.value = m;
        o.textContent = m === info?.model ? `${m} (default)` : m;
        return o;
      })
    );
    if (saved && models.has(saved)) {
      this._model.value = saved;
    }
    this._model.disabled = models.size < 2;
  }

  /** Start a new conversation (the running turn, if any, goes on in the server). */
  newConversation(): void {
    this._detach();
    this._conversationId = null;
    this._items = [];
    this.chat.clear();
    this._gauge.replaceChildren();
    this._persist();
    this._input.focus();
  }

  /** Show or hide the conversation list. */
  toggleList(): void {
    if (this._list.isHidden) {
      this._list.show();
      void this._list.load();
    } else {
      this._list.hide();
    }
  }

  /** Open conversation `id` (its stored messages; those of `skipSession` are left out). */
  async openConversation(id: string, skipSession?: string): Promise<void> {
    this._detach();
    this._conversationId = id;
    this._persist();
    try {
      const messages = await this._client.listMessages(id);
      const kept = skipSession ? messages.filter(m => m.metadata?.session_id !== skipSession) : messages;
      this._items = itemsFromMessages(kept);
      this.chat.setItems(this._items);
      void this._updateGauge();
    } catch (err) {
      const e = err as AssistantApiError;
      this._conversationId = null;
      this._persist();
      this._items = [];
      this.chat.clear();
      if (e.status !== 404) {
        // (a 404: it was deleted meanwhile, e.g. from another tab: start afresh, silently)
        this._notice(`Could not open the conversation: ${e.message}`, 'error', e.code);
      }
    }
  }

  /** Send the textbox's text (or `text`). */
  async send(text?: string): Promise<void> {
    const message = (text ?? this._input.value).trim();
    if (!message || this._turn) {
      return;
    }
    const max = this._info?.max_message_chars ?? DEFAULT_MAX_CHARS;
    if (message.length > max) {
      this._notice(`The message is ${message.length} characters, over the server's limit of ${max}.`, 'error', 'invalid_input');
      return;
    }
    if (text === undefined) {
      this._input.value = '';
    }
    this.timings = {
      sendAt: performance.now(),
      firstEventAt: 0,
      firstTextEventAt: 0,
      firstTextRenderedAt: 0,
      firstTextPaintedAt: 0,
      sendUnixMs: Date.now(),
      firstTextPaintedUnixMs: 0,
      serverStartedMs: 0,
      serverFirstTextMs: 0
    };
    this._add({ kind: 'user', key: newKey('user'), text: message });
    const turn = newTurn();
    this._startTurn(turn, { conversationId: this._conversationId, sessionId: '', userText: message, events: [] });
    const body = {
      message,
      conversation_id: this._conversationId ?? undefined,
      trace_id: this._trace?.id,
      model: this._model.value && this._model.value !== this._info?.model ? this._model.value : undefined
    };
    await this._runTurn(turn, options => this._client.chat(body, options));
  }

  /** Ask about the active notebook cell: its source, outputs and error go with the question. */
  async askAboutCell(question?: string): Promise<void> {
    const cell = this.notebooks.activeCell();
    if (!cell) {
      this._notice('No notebook cell is active: click into a cell of a notebook first.', 'error');
      return;
    }
    const q = (question ?? this._input.value).trim() || 'Explain this cell, and why it fails or is slow if it does.';
    if (question === undefined) {
      this._input.value = '';
    }
    await this.send(cellQuestion(q, cell, this._info?.max_message_chars ?? DEFAULT_MAX_CHARS));
  }

  /** Stop the running turn (`POST sessions/{id}/cancel`); the stream then ends "Cancelled". */
  async stop(): Promise<void> {
    const turn = this._turn;
    if (!turn) {
      return;
    }
    if (!turn.sessionId) {
      this._stopWanted = true; // cancel as soon as the session is known
      return;
    }
    this._status.textContent = 'Stopping…';
    try {
      await this._client.cancel(turn.sessionId);
    } catch (err) {
      const e = err as AssistantApiError;
      this._notice(`Could not stop the turn: ${e.message}`, 'error', e.code);
    }
  }

  /** Upload a trace; its summary and verdict show in the chat and later questions use it. */
  async uploadTrace(file: Blob, name: string): Promise<void> {
    const max = this._info?.max_upload_bytes;
    if (max !== undefined && file.size > max) {
      this._notice(
        `${name} is ${formatBytes(file.size)}, over the server's upload limit of ${formatBytes(max)} (c.AssistantApp.max_upload_bytes).`,
        'error',
        'payload_too_large'
      );
      return;
    }
    this._status.textContent = `Uploading and reading ${name}…`;
    try {
      const trace = await this._client.uploadTrace(file, name);
      this._add({ kind: 'trace', key: newKey('trace'), traceId: trace.id, name: trace.name, summary: trace.summary.text });
      this.setTrace({ id: trace.id, name: trace.name });
      this._status.textContent = '';
    } catch (err) {
      const e = err as AssistantApiError;
      this._status.textContent = '';
      this._notice(`Could not load the trace ${name}: ${e.message}`, 'error', e.code);
    }
  }

  /** The trace later questions are about (`null`: none). */
  setTrace(trace: { id: string; name: string } | null): void {
    this._trace = trace;
    this._traceChip.hidden = !trace;
    if (trace) {
      const label = document.createElement('span');
      label.textContent = `Trace: ${trace.name}`;
      this._traceChip.replaceChildren(
        label,
        button('×', 'Stop asking about this trace', () => this.setTrace(null), 'jp-mod-minimal')
      );
    }
  }

  // -- turns ------------------------------------------------------------------------------

  private _startTurn(turn: AssistantItem, snapshot: TurnSnapshot): void {
    this._turn = turn;
    this._snapshot = snapshot;
    this._stopWanted = false;
    this._add(turn);
    this._send.hidden = true;
    this._stop.hidden = false;
    this._status.textContent = '';
  }

  private async _runTurn(
    turn: AssistantItem,
    start: (options: StreamOptions) => Promise<StreamResult>
  ): Promise<void> {
    const abort = new AbortController();
    this._abort = abort;
    const options: StreamOptions = {
      signal: abort.signal,
      onEvent: event => this._onEvent(turn, event),
      onReconnect: (attempt, lastSeq) => {
        this._status.textContent = `Connection lost; resuming after event ${lastSeq} (attempt ${attempt})…`;
      }
    };
    try {
      await start(options);
      this._status.textContent = '';
    } catch (err) {
      if (abort.signal.aborted) {
        return; // the panel stopped following this turn (another conversation was opened)
      }
      const e = err as AssistantApiError;
      turn.status = 'error';
      turn.error = { code: e.code ?? 'error', message: e.message, retryable: e.status === 429 || e.status === 0 };
      this.chat.refresh(turn, 'status');
      this._status.textContent = '';
    } finally {
      if (this._abort === abort) {
        this._finishTurn();
      }
    }
  }

  private _onEvent(turn: AssistantItem, event: AssistantEvent): void {
    const t = this.timings;
    if (t) {
      const now = performance.now();
      if (!t.firstEventAt) {
        t.firstEventAt = now;
        t.serverStartedMs = event.timestamp;
      }
      if (event.type === 'text_delta' && !t.firstTextEventAt) {
        t.firstTextEventAt = now;
        t.serverFirstTextMs = event.timestamp;
      }
    }
    if (this._snapshot) {
      this._snapshot.sessionId = event.session_id;
      this._snapshot.events.push(event);
      this._scheduleSave();
    }
    if (event.type === 'session_started') {
      const cid = event.data.conversation_id;
      if (typeof cid === 'string' && cid && cid !== this._conversationId) {
        this._conversationId = cid;
        if (this._snapshot) {
          this._snapshot.conversationId = cid;
        }
        this._persist();
      }
    }
    const what = applyEvent(turn, event);
    if (what) {
      this.chat.refresh(turn, what);
    }
    if (this._stopWanted && turn.sessionId) {
      this._stopWanted = false;
      void this.stop();
    }
  }

  private _resumeTurn(snapshot: TurnSnapshot): void {
    this._add({ kind: 'user', key: newKey('user'), text: snapshot.userText });
    const turn = turnFromSnapshot(snapshot);
    if (turn.status !== 'streaming') {
      // it had ended before the reload: show it as it ended
      this._add(turn);
      localStorage.removeItem(TURN_KEY);
      return;
    }
    this._startTurn(turn, snapshot);
    this._status.textContent = `Resuming the running turn after event ${snapshotLastSeq(snapshot)}…`;
    void this._runTurn(turn, options =>
      this._client.resume(snapshot.sessionId, snapshotLastSeq(snapshot), options)
    ).then(() => {
      if (!this._turn) {
        this._status.textContent = '';
      }
    });
  }

  private _finishTurn(): void {
    this._turn = null;
    this._snapshot = null;
    this._abort = null;
    if (this._saveTimer !== null) {
      clearTimeout(this._saveTimer);
      this._saveTimer = null;
    }
    localStorage.removeItem(TURN_KEY);
    this._send.hidden = false;
    this._stop.hidden = true;
    void this._updateGauge();
  }

  /** Stop following the running turn (it goes on in the server). */
  private _detach(): void {
    if (this._abort) {
      this._abort.abort();
      this._finishTurn();
    }
  }

  private _scheduleSave(): void {
    if (this._saveTimer === null) {
      this._saveTimer = setTimeout(() => {
        this._saveTimer = null;
        this._saveSnapshot();
      }, 100);
    }
  }

  private _saveSnapshot(): void {
    if (this._snapshot && this._snapshot.sessionId) {
      try {
        localStorage.setItem(TURN_KEY, JSON.stringify(this._snapshot));
      } catch {
        // storage full: a reload then reopens the stored conversation without this turn
      }
    }
  }

  // -- helpers ----------------------------------------------------------------------------

  private _add(item: ChatItem): void {
    this._items.push(item);
    this.chat.append(item);
  }

  private _notice(text: string, level: 'error' | 'info', code?: string): void {
    this._add({ kind: 'notice', key: newKey('notice'), level, text, code });
  }

  private _rerenderTool(tool: ToolCall): void {
    const item = this._items.find(
      i => i.kind === 'assistant' && i.parts.some(p => p.kind === 'tool' && p.tool === tool)
    );
    if (item) {
      this.chat.refresh(item, 'parts');
    }
  }

  private _persist(): void {
    const state: PanelState = { conversationId: this._conversationId, model: this._model.value };
    localStorage.setItem(PANEL_KEY, JSON.stringify(state));
  }

  private async _updateGauge(): Promise<void> {
    const id = this._conversationId;
    if (!id) {
      this._gauge.replaceChildren();
      return;
    }
    try {
      const [conv, usage] = await Promise.all([
        this._client.getConversation(id),
        this._client.conversationUsage(id)
      ]);
      if (id !== this._conversationId) {
        return;
      }
      this._renderGauge(conv, usage.cost_usd, usage.calls);
    } catch {
      this._gauge.textContent = '';
    }
  }

  private _renderGauge(conv: Conversation, cost: number, calls: number): void {
    const text = document.createElement('span');
    text.className = 'jp-AssistantGauge-text';
    text.textContent = `${conv.total_tokens.toLocaleString()} tokens · $${cost.toFixed(4)}`;
    text.title = `${calls} model calls in this conversation; cost estimated from the model's list prices`;
    const meter = document.createElement('meter');
    meter.className = 'jp-AssistantGauge-meter';
    meter.min = 0;
    meter.max = 200000;
    meter.value = Math.min(conv.total_tokens, 200000);
    meter.setAttribute('aria-label', 'Tokens used in this conversation');
    const link = document.createElement('a');
    link.href = this._client.url('metrics');
    link.target = '_blank';
    link.rel = 'noopener';
    link.textContent = 'metrics';
    this._gauge.replaceChildren(meter, text, link);
  }
}

function readJSON<T>(key: string): T | null {
  try {
    const raw = localStorage.getItem(key);
    return raw ? (JSON.parse(raw) as T) : null;
  } catch {
    return null;
  }
}

function formatBytes(n: number): string {
  return n >= 1 << 20 ? `${(n / (1 << 20)).toFixed(1)} MiB` : `${Math.ceil(n / 1024)} KiB`;
}
