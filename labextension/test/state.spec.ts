/** The chat state: events of the wire format and stored messages become chat items. */
import { StoredMessage } from '../src/client';
import { AssistantEvent } from '../src/sse';
import {
  applyEvent,
  AssistantItem,
  itemsFromMessages,
  newTurn,
  snapshotLastSeq,
  turnFromSnapshot,
  turnText
} from '../src/state';

let seq = 0;
function ev(type: string, data: Record<string, unknown> = {}, session = 's_1'): AssistantEvent {
  seq += 1;
  return { type: type as AssistantEvent['type'], session_id: session, turn_id: 't_1', seq, timestamp: seq, data };
}

beforeEach(() => {
  seq = 0;
});

test('text, tools and usage of a turn, in the order they came', () => {
  const turn = newTurn();
  const what = [
    applyEvent(turn, ev('session_started', { conversation_id: 'c_1', model: 'anthropic:claude-x' })),
    applyEvent(turn, ev('text_delta', { text: 'Look' })),
    applyEvent(turn, ev('text_delta', { text: 'ing…' })),
    applyEvent(turn, ev('tool_use_start', { id: 'toolu_1', name: 'hotspots', input: { n: 5 } })),
    applyEvent(turn, ev('tool_use_progress', { id: 'toolu_1', message: 'reading' })),
    applyEvent(turn, ev('tool_use_complete', { id: 'toolu_1', name: 'hotspots', is_error: false, content: '| name |', duration_ms: 42 })),
    applyEvent(turn, ev('usage', { input_tokens: 100, output_tokens: 20, cache_read_input_tokens: 5, cost_usd: 0.002 })),
    applyEvent(turn, ev('text_delta', { text: 'Done.' })),
    applyEvent(turn, ev('message_complete', { text: 'Looking…Done.' }))
  ];
  expect(what).toEqual([null, 'parts', 'text', 'parts', 'parts', 'parts', 'usage', 'parts', 'status']);
  expect(turn.model).toBe('anthropic:claude-x');
  expect(turn.sessionId).toBe('s_1');
  expect(turn.parts.map(p => p.kind)).toEqual(['text', 'tool', 'text']);
  expect(turnText(turn)).toBe('Looking…Done.');
  const tool = turn.parts[1].kind === 'tool' ? turn.parts[1].tool : null;
  expect(tool).toMatchObject({ name: 'hotspots', input: { n: 5 }, state: 'finished', content: '| name |', durationMs: 42 });
  expect(tool?.progress).toBeUndefined();
  expect(turn.usage).toEqual({ inputTokens: 105, outputTokens: 20, costUsd: 0.002 });
  expect(turn.status).toBe('complete');
});

test('an error event keeps its code and message; running tools end failed', () => {
  const turn = newTurn();
  applyEvent(turn, ev('tool_use_start', { id: 'toolu_1', name: 'slow', input: {} }));
  applyEvent(turn, ev('error', { code: 'turn_deadline', message: 'The turn took longer than 90 s', retryable: false }));
  expect(turn.status).toBe('error');
  expect(turn.error).toEqual({ code: 'turn_deadline', message: 'The turn took longer than 90 s', retryable: false });
  expect(turn.parts[0]).toMatchObject({ kind: 'tool', tool: { state: 'failed', errorCode: 'cancelled' } });
});

test('a failed tool keeps its error code; a cancel ends the turn "cancelled"', () => {
  const turn = newTurn();
  applyEvent(turn, ev('tool_use_complete', { id: 'toolu_2', name: 'read_file', is_error: true, content: 'outside root', error_code: 'path_outside_root' }));
  applyEvent(turn, ev('cancelled', { reason: 'user' }));
  expect(turn.parts[0]).toMatchObject({ kind: 'tool', tool: { state: 'failed', errorCode: 'path_outside_root', name: 'read_file' } });
  expect(turn.status).toBe('cancelled');
  expect(turn.error).toBeUndefined();
});

test('an interrupted turn (server stopped) is not shown as a plain error', () => {
  const turn = newTurn();
  applyEvent(turn, ev('error', { code: 'interrupted', message: 'the server stopped', retryable: true }));
  expect(turn.status).toBe('interrupted');
  expect(turn.error?.retryable).toBe(true);
});

test('events of another session are ignored', () => {
  const turn = newTurn('s_1');
  expect(applyEvent(turn, ev('text_delta', { text: 'x' }, 's_2'))).toBeNull();
  expect(turn.parts).toEqual([]);
});

test('stored messages: user texts, one item per turn, tool results on their cards', () => {
  const msg = (role: 'user' | 'assistant', content: StoredMessage['content'], turn: string): StoredMessage => ({
    id: `m_${Math.random()}`,
    conversation_id: 'c_1',
    role,
    content,
    tokens: 0,
    metadata: { turn_id: turn, session_id: 's_' + turn, status: 'complete' },
    created_at: 0
  });
  const items = itemsFromMessages([
    msg('user', [{ type: 'text', text: 'Why slow?' }], 't1'),
    msg('assistant', [
      { type: 'text', text: 'Checking.' },
      { type: 'tool_use', id: 'toolu_1', name: 'hotspots', input: { n: 3 } }
    ], 't1'),
    msg('user', [{ type: 'tool_result', tool_use_id: 'toolu_1', content: [{ type: 'text', text: 'table' }] }], 't1'),
    msg('assistant', [{ type: 'text', text: 'It is GEMM.' }], 't1'),
    msg('user', 'thanks', 't2'),
    msg('assistant', [{ type: 'text', text: 'You are welcome.' }], 't2')
  ]);
  expect(items.map(i => i.kind)).toEqual(['user', 'assistant', 'user', 'assistant']);
  const first = items[1] as AssistantItem;
  expect(first.parts.map(p => p.kind)).toEqual(['text', 'tool', 'text']);
  expect(first.parts[1]).toMatchObject({ tool: { name: 'hotspots', state: 'finished', content: 'table' } });
  expect(turnText(first)).toBe('Checking.It is GEMM.');
  expect(items[2]).toMatchObject({ kind: 'user', text: 'thanks' });
  expect(first.status).toBe('complete');
});

test('a snapshot rebuilds the running turn and knows where to resume', () => {
  const events = [ev('session_started', {}), ev('text_delta', { text: 'par' }), ev('text_delta', { text: 'tial' })];
  const snap = { conversationId: 'c_1', sessionId: 's_1', userText: 'q', events };
  const turn = turnFromSnapshot(snap);
  expect(turnText(turn)).toBe('partial');
  expect(turn.status).toBe('streaming');
  expect(snapshotLastSeq(snap)).toBe(3);
  expect(snapshotLastSeq({ ...snap, events: [] })).toBe(0);
});
