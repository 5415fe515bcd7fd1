/**
 * The REST + SSE client of the server extension (`/assistant/api`, README "Server
 * extension"). A plain class: the HTTP function is injected, so JupyterLab hands it
 * `ServerConnection.makeRequest` (Jupyter's token and XSRF header) and the unit tests a
 * plain `fetch` against a real HTTP server.
 */
import { AssistantEvent, isTerminal, readEventStream } from './sse';

/** `(url, init) => Response`, e.g. `fetch` or `ServerConnection.makeRequest`. */
export type RequestFn = (url: string, init: RequestInit) => Promise<Response>;

/** An error answered by the server (`{"error": {"code", "message"}}`) or of the network. */
export class AssistantApiError extends Error {
  /** HTTP status (0: no answer: the network failed). */
  readonly status: number;
  /** The server's error code (`invalid_input`, `rate_limited`, ...) or `network_error`. */
  readonly code: string;

  constructor(status: number, code: string, message: string) {
    super(message);
    this.name = 'AssistantApiError';
    this.status = status;
    this.code = code;
  }
}

/** `GET info`: what the sidebar needs to know about the server's settings. */
export interface ServerInfo {
  /** The default model spec (`anthropic:<id>`, `openai:<id>`, `offline`). */
  model: string;
  /** Model specs a request may choose (empty: any well-formed spec). */
  allowed_models: string[];
  /** Largest trace upload, in bytes. */
  max_upload_bytes: number;
  /** Longest user message, in characters. */
  max_message_chars: number;
}

/** A conversation of the store (DESIGN.md, "Store"); times are Unix seconds. */
export interface Conversation {
  id: string;
  title: string;
  model: string;
  total_tokens: number;
  message_count: number;
  last_message_at: number | null;
  created_at: number;
  updated_at: number;
}

/** A stored message: `content` is a string or a list of Anthropic content blocks. */
export interface StoredMessage {
  id: string;
  conversation_id: string;
  role: 'user' | 'assistant';
  content: string | Array<Record<string, unknown>>;
  tokens: number;
  metadata: Record<string, unknown>;
  created_at: number;
}

/** One page of a listing. */
export interface Page<T> {
  items: T[];
  total: number;
  limit: number;
  offset: number;
}

/** An uploaded trace, with its budgeted markdown summary (which opens with a Verdict). */
export interface UploadedTrace {
  id: string;
  name: string;
  size: number;
  format: string;
  created_at: number;
  summary: { text: string; tokens: number };
}

/** The body of `POST chat`. */
export interface ChatRequest {
  message: string;
  conversation_id?: string;
  trace_id?: string;
  model?: string;
}

/** Callbacks and options of a streamed turn. */
export interface StreamOptions {
  /** Every event, once, in `seq` order (duplicates after a reconnect are dropped). */
  onEvent(event: AssistantEvent): void;
  /** A keep-alive comment arrived. */
  onKeepAlive?(): void;
  /** The stream broke before the turn ended; the client reconnects after `delayMs`. */
  onReconnect?(attempt: number, lastSeq: number, delayMs: number): void;
  /** Stops reading (the turn goes on in the server; see {@link AssistantClient.cancel}). */
  signal?: AbortSignal;
}

/** How a streamed turn ended. */
export interface StreamResult {
  sessionId: string;
  lastSeq: number;
  /** The terminal event (`message_complete`, `error` or `cancelled`). */
  terminal: AssistantEvent;
}

/** Usage of one conversation summed over its model-call records. */
export interface ConversationUsage {
  input_tokens: number;
  output_tokens: number;
  cost_usd: number;
  calls: number;
}

/** Options of {@link AssistantClient}. */
export interface ClientOptions {
  /** The server's base URL (ends with `/`), e.g. `PageConfig.getBaseUrl()`. */
  baseUrl: string;
  /** The HTTP function. */
  request: RequestFn;
  /** Waits before each reconnect of a broken stream, in ms (its length = attempts). */
  reconnectDelaysMs?: number[];
  /**
   * A stream that sends nothing (no event, no keep-alive comment) for this long, in ms, is
   * taken for dead and resumed (default 45 s: three of the server's 15 s keep-alives).
   */
  idleTimeoutMs?: number;
}

const DEFAULT_RECONNECT_MS = [200, 500, 1000, 2000, 4000, 8000];
const DEFAULT_IDLE_MS = 45000;

/** The client of `/assistant/api`. Every method rejects with {@link AssistantApiError}. */
export class AssistantClient {
  readonly baseUrl: string;
  private readonly _request: RequestFn;
  private readonly _delays: number[];
  private readonly _idleMs: number;

  constructor(options: ClientOptions) {
    this._idleMs = options.idleTimeoutMs ?? DEFAULT_IDLE_MS;
    this.baseUrl = options.baseUrl.endsWith('/') ? options.baseUrl : options.baseUrl + '/';
    this._request = options.request;
    this._delays = options.reconnectDelaysMs ?? DEFAULT_RECONNECT_MS;
  }

  /** The absolute URL of `path` under `/assistant/api`. */
  url(path: string): string {
    return `${this.baseUrl}assistant/api/${path}`;
  }

  // -- REST -------------------------------------------------------------------------------

  /** `GET info`. */
  info(): Promise<ServerInfo> {
    return this._json('info');
  }

  /** `GET conversations` (newest first). */
  listConversations(limit = 20, offset = 0): Promise<Page<Conversation>> {
    return this._json(`conversations?limit=${limit}&offset=${offset}`);
  }

  /** `GET conversations/{id}`. */
  getConversation(id: string): Promise<Conversation> {
    return this._json(`conversations/${encodeURIComponent(id)}`);
  }

  /** `DELETE conversations/{id}` (and its messages). */
  async deleteConversation(id: string): Promise<void> {
    await this._fetch(`conversations/${encodeURIComponent(id)}`, { method: 'DELETE' });
  }

  /** Every message of a conversation, oldest first (pages of 500). */
  async listMessages(id: string): Promise<StoredMessage[]> {
    const out: StoredMessage[] = [];
    for (;;) {
      const page: Page<StoredMessage> = await this._json(
        `conversations/${encodeURIComponent(id)}/messages?limit=500&offset=${out.length}`
      );
      out.push(...page.items);
      if (page.items.length === 0 || out.length >= page.total) {
        return out;
      }
    }
  }

  /** Sum of the model-call records of a conversation (tokens, cost in USD). */
  async conversationUsage(id: string): Promise<ConversationUsage> {
    const usage: ConversationUsage = { input_tokens: 0, output_tokens: 0, cost_usd: 0, calls: 0 };
    for (let offset = 0; ; ) {
      const page: Page<Record<string, unknown>> = await this._json(
        `requests?conversation_id=${encodeURIComponent(id)}&limit=500&offset=${offset}`
      );
      for (const r of page.items) {
        usage.input_tokens += Number(r.input_tokens ?? 0) + Number(r.cache_read_input_tokens ?? 0);
        usage.output_tokens += Number(r.output_tokens ?? 0);
        usage.cost_usd += Number(r.cost_usd ?? 0);
        usage.calls += 1;
      }
      offset += page.items.length;
      if (page.items.length === 0 || offset >= page.total) {
        return usage;
      }
    }
  }

  /** `POST traces`: upload a trace file (raw body); answers its summary. */
  uploadTrace(file: Blob, name: string): Promise<UploadedTrace> {
    return this._json(`traces?name=${encodeURIComponent(name)}`, {
      method: 'POST',
      body: file,
      headers: { 'Content-Type': 'application/octet-stream' }
    });
  }

  /** `POST sessions/{id}/cancel`: cancel the running turn of a session. */
  cancel(sessionId: string): Promise<{ cancelled: boolean; status: string }> {
    return this._json(`sessions/${encodeURIComponent(sessionId)}/cancel`, { method: 'POST' });
  }

  // -- streams ----------------------------------------------------------------------------

  /**
   * `POST chat`, then read the turn's events to its terminal event. When the stream
   * breaks first (network, server restart behind a proxy), reconnect to
   * `GET sessions/{id}/events` with `Last-Event-ID` and go on, so no event is missed or
   * repeated. Rejects with {@link AssistantApiError} when the server refuses the turn or
   * the stream cannot be resumed.
   */
  async chat(body: ChatRequest, options: StreamOptions): Promise<StreamResult> {
    const state = { sessionId: '', lastSeq: 0, terminal: null as AssistantEvent | null };
    let response: Response;
    try {
      response = await this._fetch('chat', {
        method: 'POST',
        body: JSON.stringify(body),
        headers: { 'Content-Type': 'application/json', Accept: 'text/event-stream' },
        signal: options.signal
      });
    } catch (err) {
      throw asApiError(err);
    }
    const broken = await this._read(response, state, options);
    if (state.terminal) {
      return { sessionId: state.sessionId, lastSeq: state.lastSeq, terminal: state.terminal };
    }
    if (!state.sessionId) {
      throw new AssistantApiError(0, 'network_error', `the chat stream ended before it started${broken ? `: ${broken}` : ''}`);
    }
    return this._resumeLoop(state.sessionId, state, options);
  }

  /**
   * `GET sessions/{id}/events` with `Last-Event-ID: lastSeq`: the events after `lastSeq`,
   * then the live turn to its terminal event (reconnecting as {@link chat} does).
   */
  resume(sessionId: string, lastSeq: number, options: StreamOptions): Promise<StreamResult> {
    return this._resumeLoop(sessionId, { sessionId, lastSeq, terminal: null }, options, true);
  }

  private async _resumeLoop(
    sessionId: string,
    state: { sessionId: string; lastSeq: number; terminal: AssistantEvent | null },
    options: StreamOptions,
    immediate = false
  ): Promise<StreamResult> {
    let attempt = 0;
    for (;;) {
      if (!immediate) {
        if (attempt >= this._delays.length) {
          throw new AssistantApiError(
            0,
            'network_error',
            `lost the connection to the server and could not resume session ${sessionId} after ${attempt} attempts`
          );
        }
        const delay = this._delays[attempt];
        attempt += 1;
        options.onReconnect?.(attempt, state.lastSeq, delay);
        await sleep(delay, options.signal);
      }
      immediate = false;
      let response: Response;
      try {
        response = await this._fetch(`sessions/${encodeURIComponent(sessionId)}/events`, {
          headers: { 'Last-Event-ID': String(state.lastSeq), Accept: 'text/event-stream' },
          signal: options.signal
        });
      } catch (err) {
        const e = asApiError(err);
        if (e.status !== 0 || options.signal?.aborted) {
          throw e; // the server answered (404: unknown or expired session): do not retry
        }
        continue;
      }
      const before = state.lastSeq;
      await this._read(response, state, options);
      if (state.terminal) {
        return { sessionId, lastSeq: state.lastSeq, terminal: state.terminal };
      }
      if (state.lastSeq > before) {
        attempt = 0; // progress was made: start the backoff again
      }
    }
  }

  /** Read one response; returns the failure text when the body broke, '' when it ended. */
  private async _read(
    response: Response,
    state: { sessionId: string; lastSeq: number; terminal: AssistantEvent | null },
    options: StreamOptions
  ): Promise<string> {
    try {
      await readEventStream(
        response,
        {
          onEvent: event => {
            if (event.seq <= state.lastSeq && state.sessionId === event.session_id) {
              return; // already seen (a replay after a reconnect)
            }
            state.sessionId = event.session_id;
            state.lastSeq = event.seq;
            if (isTerminal(event)) {
              state.terminal = event;
            }
            options.onEvent(event);
          },
          onKeepAlive: options.onKeepAlive
        },
        options.signal,
        this._idleMs
      );
      return '';
    } catch (err) {
      if (options.signal?.aborted) {
        throw new AssistantApiError(0, 'aborted', 'stopped reading the stream');
      }
      return err instanceof Error ? err.message : String(err);
    }
  }

  private async _fetch(path: string, init: RequestInit = {}): Promise<Response> {
    let response: Response;
    try {
      response = await this._request(this.url(path), init);
    } catch (err) {
      throw asApiError(err);
    }
    if (!response.ok) {
      throw await errorOf(response);
    }
    return response;
  }

  private async _json<T>(path: string, init: RequestInit = {}): Promise<T> {
    const response = await this._fetch(path, init);
    return (await response.json()) as T;
  }
}

/** The {@link AssistantApiError} of a failed response (`{"error": {"code", "message"}}`). */
export async function errorOf(response: Response): Promise<AssistantApiError> {
  let code = `http_${response.status}`;
  let message = response.statusText || `HTTP ${response.status}`;
  try {
    const body = (await response.json()) as { error?: { code?: string; message?: string } };
    if (body.error) {
      code = body.error.code ?? code;
      message = body.error.message ?? message;
    }
  } catch {
    // not JSON (a proxy's page): keep the status line
  }
  const retry = response.headers.get('Retry-After');
  if (retry) {
    message += ` (retry after ${retry} s)`;
  }
  return new AssistantApiError(response.status, code, message);
}

function asApiError(err: unknown): AssistantApiError {
  if (err instanceof AssistantApiError) {
    return err;
  }
  if (err instanceof Error && err.name === 'AbortError') {
    return new AssistantApiError(0, 'aborted', 'stopped reading the stream');
  }
  const message = err instanceof Error ? err.message : String(err);
  return new AssistantApiError(0, 'network_error', `cannot reach the Jupyter server: ${message}`);
}

function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal?.aborted) {
      reject(new AssistantApiError(0, 'aborted', 'stopped reading the stream'));
      return;
    }
    const timer = setTimeout(() => {
      signal?.removeEventListener('abort', onAbort);
      resolve();
    }, ms);
    const onAbort = () => {
      clearTimeout(timer);
      reject(new AssistantApiError(0, 'aborted', 'stopped reading the stream'));
    };
    signal?.addEventListener('abort', onAbort, { once: true });
  });
}
