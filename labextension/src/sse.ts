/**
 * Reading a server-sent event stream (WHATWG HTML, "Server-sent events") from a fetch
 * `Response`: frames are parsed by `eventsource-parser`; each `data:` is one event of the
 * assistant's wire format (DESIGN.md, "Events"), its `id:` the event's `seq`.
 */
import { createParser } from 'eventsource-parser';

/** The event types of the wire format; the last three end a turn. */
export type AssistantEventType =
  | 'session_started'
  | 'text_delta'
  | 'tool_use_start'
  | 'tool_use_progress'
  | 'tool_use_complete'
  | 'usage'
  | 'message_complete'
  | 'error'
  | 'cancelled';

/** One event: `{type, session_id, turn_id, seq, timestamp (Unix ms), data}`. */
export interface AssistantEvent {
  type: AssistantEventType;
  session_id: string;
  turn_id: string;
  seq: number;
  timestamp: number;
  data: Record<string, unknown>;
}

/** The types that end a turn: exactly one of them is the last event of every turn. */
export const TERMINAL_TYPES: ReadonlySet<string> = new Set([
  'message_complete',
  'error',
  'cancelled'
]);

/** True when `event` ends its turn. */
export function isTerminal(event: AssistantEvent): boolean {
  return TERMINAL_TYPES.has(event.type);
}

/** Callbacks of {@link readEventStream}. */
export interface StreamCallbacks {
  /** Every parsed event, in order. */
  onEvent(event: AssistantEvent): void;
  /** A keep-alive comment (`: keep-alive`) arrived: the server is alive. */
  onKeepAlive?(): void;
}

/** Raised when a stream sends nothing (no event, no keep-alive) for too long. */
export class StreamIdleError extends Error {
  constructor(idleMs: number) {
    super(`the stream sent nothing for ${Math.round(idleMs / 1000)} s`);
    this.name = 'StreamIdleError';
  }
}

/**
 * Read the SSE body of `response` to its end (or to `signal`'s abort), calling `callbacks`.
 * A frame whose `data:` is not an event of the wire format is skipped. Resolves when the
 * body ends; rejects when the connection fails mid-body (a `TypeError` from fetch), when
 * nothing at all arrives for `idleMs` (a {@link StreamIdleError}: the server sends a
 * keep-alive every 15 s, so silence means a dead connection), or on abort (`AbortError`).
 */
export async function readEventStream(
  response: Response,
  callbacks: StreamCallbacks,
  signal?: AbortSignal,
  idleMs = 0
): Promise<void> {
  if (!response.body) {
    throw new Error('the event stream has no body');
  }
  const parser = createParser({
    onEvent: message => {
      const event = parseEvent(message.data);
      if (event) {
        callbacks.onEvent(event);
      }
    },
    onComment: () => callbacks.onKeepAlive?.()
  });
  const reader = response.body.getReader();
  const decoder = new TextDecoder();
  const onAbort = () => {
    void reader.cancel().catch(() => undefined);
  };
  signal?.addEventListener('abort', onAbort);
  let idle = false;
  let timer: ReturnType<typeof setTimeout> | null = null;
  const arm = () => {
    if (idleMs > 0) {
      if (timer !== null) {
        clearTimeout(timer);
      }
      timer = setTimeout(() => {
        idle = true;
        void reader.cancel().catch(() => undefined);
      }, idleMs);
    }
  };
  try {
    arm();
    for (;;) {
      if (signal?.aborted) {
        throw new DOMException('aborted', 'AbortError');
      }
      const { done, value } = await reader.read();
      if (idle) {
        throw new StreamIdleError(idleMs);
      }
      if (done) {
        break;
      }
      arm();
      parser.feed(decoder.decode(value, { stream: true }));
    }
    if (signal?.aborted) {
      throw new DOMException('aborted', 'AbortError');
    }
  } finally {
    if (timer !== null) {
      clearTimeout(timer);
    }
    signal?.removeEventListener('abort', onAbort);
  }
}

/** The event in an SSE `data:` field, or `null` when it is not one. */
export function parseEvent(data: string): AssistantEvent | null {
  let value: unknown;
  try {
    value = JSON.parse(data);
  } catch {
    return null;
  }
  if (typeof value !== 'object' || value === null) {
    return null;
  }
  const v = value as Record<string, unknown>;
  if (typeof v.type !== 'string' || typeof v.seq !== 'number') {
    return null;
  }
  return {
    type: v.type as AssistantEventType,
    session_id: String(v.session_id ?? ''),
    turn_id: String(v.turn_id ?? ''),
    seq: v.seq,
    timestamp: typeof v.timestamp === 'number' ? v.timestamp : Date.now(),
    data: (typeof v.data === 'object' && v.data !== null ? v.data : {}) as Record<
      string,
      unknown
    >
  };
}
