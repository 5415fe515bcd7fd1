/**
 * The chat's state, without any DOM: the items of the open conversation (user messages,
 * assistant turns made of text and tool calls, trace summaries) and how events and stored
 * messages change them. The widgets render it; the unit tests check it.
 */
import { AssistantEvent } from './sse';
import { StoredMessage } from './client';

/** The name of the tool by which the model proposes a new source for a notebook cell. */
export const CELL_EDIT_TOOL = 'propose_cell_edit';

/** A tool call of a turn, as its card shows it. */
export interface ToolCall {
  id: string;
  name: string;
  input: Record<string, unknown>;
  state: 'running' | 'finished' | 'failed';
  /** Result text (possibly truncated by the server). */
  content: string;
  errorCode?: string;
  /** Server-measured duration, in ms. */
  durationMs?: number;
  /** Last progress message of a running tool. */
  progress?: string;
  /** For a cell edit: what the user decided. */
  decision?: 'accepted' | 'rejected';
}

/** A part of an assistant turn, in the order the model produced it. */
export type TurnPart = { kind: 'text'; text: string } | { kind: 'tool'; tool: ToolCall };

/** Tokens and cost of a turn (sums of its `usage` events). */
export interface TurnUsage {
  inputTokens: number;
  outputTokens: number;
  costUsd: number;
}

/** An assistant turn. */
export interface AssistantItem {
  kind: 'assistant';
  key: string;
  sessionId: string;
  turnId: string;
  parts: TurnPart[];
  status: 'streaming' | 'complete' | 'error' | 'cancelled' | 'interrupted';
  error?: { code: string; message: string; retryable: boolean };
  usage: TurnUsage;
  model?: string;
}

/** A message of the user. */
export interface UserItem {
  kind: 'user';
  key: string;
  text: string;
}

/** An uploaded trace and its summary (markdown, opens with the Verdict). */
export interface TraceItem {
  kind: 'trace';
  key: string;
  traceId: string;
  name: string;
  summary: string;
}

/** A notice of the panel itself (an upload refused, a lost connection...). */
export interface NoticeItem {
  kind: 'notice';
  key: string;
  level: 'error' | 'info';
  code?: string;
  text: string;
}

export type ChatItem = UserItem | AssistantItem | TraceItem | NoticeItem;

let keyCounter = 0;

/** A key unique in this page. */
export function newKey(prefix: string): string {
  keyCounter += 1;
  return `${prefix}-${keyCounter}`;
}

/** A new, empty assistant turn. */
export function newTurn(sessionId = '', turnId = ''): AssistantItem {
  return {
    kind: 'assistant',
    key: newKey('turn'),
    sessionId,
    turnId,
    parts: [],
    status: 'streaming',
    usage: { inputTokens: 0, outputTokens: 0, costUsd: 0 },
  };
}

/** The tool call `id` of `turn`, if any. */
export function findTool(turn: AssistantItem, id: string): ToolCall | undefined {
  for (const part of turn.parts) {
    if (part.kind === 'tool' && part.tool.id === id) {
      return part.tool;
    }
  }
  return undefined;
}

/** The whole answer text of a turn. */
export function turnText(turn: AssistantItem): string {
  return turn.parts
    .filter((p): p is { kind: 'text'; text: string } => p.kind === 'text')
    .map(p => p.text)
    .join('');
}

/**
 * Apply one event of the wire format to `turn`. Returns what changed: `'text'` (only the
 * last text part grew), `'parts'` (a part was added or a tool changed), `'status'` (the
 * turn ended) or `null` (nothing: an event of another session, or a usage-only event).
 */
export function applyEvent(
  turn: AssistantItem,
  event: AssistantEvent
): 'text' | 'parts' | 'status' | 'usage' | null {
  if (turn.sessionId && event.session_id !== turn.sessionId) {
    return null;
  }
  turn.sessionId = event.session_id;
  turn.turnId = turn.turnId || event.turn_id;
  const d = event.data;
  switch (event.type) {
    case 'session_started':
      turn.model = typeof d.model === 'string' ? d.model : turn.model;
      return null;
    case 'text_delta': {
      const text = String(d.text ?? '');
      const last = turn.parts[turn.parts.length - 1];
      if (last && last.kind === 'text') {
        last.text += text;
        return 'text';
      }
      turn.parts.push({ kind: 'text', text });
      return 'parts';
    }
    case 'tool_use_start': {
      const id = String(d.id ?? '');
      if (findTool(turn, id)) {
        return null;
      }
      turn.parts.push({
        kind: 'tool',
        tool: {
          id,
          name: String(d.name ?? '?'),
          input: (d.input as Record<string, unknown>) ?? {},
          state: 'running',
          content: ''
        }
      });
      return 'parts';
    }
    case 'tool_use_progress': {
      const tool = findTool(turn, String(d.id ?? ''));
      if (!tool) {
        return null;
      }
      tool.progress = String(d.message ?? '');
      return 'parts';
    }
    case 'tool_use_complete': {
      const id = String(d.id ?? '');
      let tool = findTool(turn, id);
      if (!tool) {
        tool = { id, name: String(d.name ?? '?'), input: {}, state: 'running', content: '' };
        turn.parts.push({ kind: 'tool', tool });
      }
      tool.state = d.is_error ? 'failed' : 'finished';
      tool.content = String(d.content ?? '');
      tool.durationMs = typeof d.duration_ms === 'number' ? d.duration_ms : undefined;
      tool.errorCode = typeof d.error_code === 'string' ? d.error_code : undefined;
      tool.progress = undefined;
      return 'parts';
    }
    case 'usage':
      turn.usage.inputTokens +=
        Number(d.input_tokens ?? 0) + Number(d.cache_read_input_tokens ?? 0);
      turn.usage.outputTokens += Number(d.output_tokens ?? 0);
      turn.usage.costUsd += Number(d.cost_usd ?? 0);
      return 'usage';
    case 'message_complete':
      turn.status = 'complete';
      endRunningTools(turn);
      return 'status';
    case 'error':
      turn.status = d.code === 'interrupted' ? 'interrupted' : 'error';
      turn.error = {
        code: String(d.code ?? 'error'),
        message: String(d.message ?? 'the turn failed'),
        retryable: Boolean(d.retryable)
      };
      endRunningTools(turn);
      return 'status';
    case 'cancelled':
      turn.status = 'cancelled';
      endRunningTools(turn);
      return 'status';
    default:
      return null;
  }
}

function endRunningTools(turn: AssistantItem): void {
  for (const part of turn.parts) {
    if (part.kind === 'tool' && part.tool.state === 'running') {
      part.tool.state = 'failed';
      part.tool.errorCode = part.tool.errorCode ?? 'cancelled';
    }
  }
}

function blocksOf(content: StoredMessage['content']): Array<Record<string, unknown>> {
  return typeof content === 'string' ? [{ type: 'text', text: content }] : content;
}

/**
 * The items of a stored conversation: user texts, one assistant item per turn (its
 * model calls' texts and tool calls, with the results of the `tool_result` blocks).
 */
export function itemsFromMessages(messages: StoredMessage[]): ChatItem[] {
  const items: ChatItem[] = [];
  let turn: AssistantItem | null = null;
  for (const message of messages) {
    const blocks = blocksOf(message.content);
    const meta = message.metadata ?? {};
    const turnId = String(meta.turn_id ?? '');
    if (message.role === 'user') {
      const results = blocks.filter(b => b.type === 'tool_result');
      if (results.length && turn) {
        for (const r of results) {
          const tool = findTool(turn, String(r.tool_use_id ?? ''));
          if (tool) {
            tool.state = r.is_error ? 'failed' : 'finished';
            tool.content = resultText(r.content);
          }
        }
        continue;
      }
      const text = blocks
        .filter(b => b.type === 'text')
        .map(b => String(b.text ?? ''))
        .join('\n');
      if (text) {
        items.push({ kind: 'user', key: newKey('user'), text });
        turn = null;
      }
      continue;
    }
    if (!turn || (turnId && turn.turnId !== turnId)) {
      turn = newTurn(String(meta.session_id ?? ''), turnId);
      turn.status = meta.status === 'interrupted' ? 'interrupted' : 'complete';
      items.push(turn);
    }
    for (const b of blocks) {
      if (b.type === 'text' && b.text) {
        turn.parts.push({ kind: 'text', text: String(b.text) });
      } else if (b.type === 'tool_use') {
        turn.parts.push({
          kind: 'tool',
          tool: {
            id: String(b.id ?? ''),
            name: String(b.name ?? '?'),
            input: (b.input as Record<string, unknown>) ?? {},
            state: 'finished',
            content: ''
          }
        });
      }
    }
  }
  return items;
}

function resultText(content: unknown): string {
  if (typeof content === 'string') {
    return content;
  }
  if (Array.isArray(content)) {
    return content.map(b => String((b as Record<string, unknown>).text ?? '')).join('');
  }
  return '';
}

/** A turn in progress, as the panel keeps it across a page reload. */
export interface TurnSnapshot {
  conversationId: string | null;
  sessionId: string;
  userText: string;
  events: AssistantEvent[];
}

/** The turn rebuilt from a snapshot's events (in order). */
export function turnFromSnapshot(snapshot: TurnSnapshot): AssistantItem {
  const turn = newTurn(snapshot.sessionId);
  for (const event of snapshot.events) {
    applyEvent(turn, event);
  }
  return turn;
}

/** Last `seq` of a snapshot (0: none yet). */
export function snapshotLastSeq(snapshot: TurnSnapshot): number {
  const n = snapshot.events.length;
  return n ? snapshot.events[n - 1].seq : 0;
}
