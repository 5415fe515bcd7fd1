/**
 * @jest-environment jsdom
 *
 * The Copy / Insert buttons of a code block while an answer streams: an answer sent one
 * character per `text_delta` through the chat state, each prefix rendered by marked (the
 * parser of JupyterLab) into jsdom and decorated the way the panel does it.
 */
import { marked } from 'marked';
import { codeStreaming, decorateCode, endsInOpenFence, STREAMING_TITLE } from '../src/codeBlocks';
import { AssistantEvent } from '../src/sse';
import { applyEvent, AssistantItem, newTurn, TurnPart } from '../src/state';

const CODE = "loader = DataLoader(ds, pin_memory=True)\nx = x.to('cuda', non_blocking=True)\n";
const ANSWER = `Pin the host memory:\n\n\`\`\`python\n${CODE}\`\`\`\n\nThen profile again.`;

let seq = 0;
function ev(type: string, data: Record<string, unknown> = {}): AssistantEvent {
  seq += 1;
  return { type: type as AssistantEvent['type'], session_id: 's_1', turn_id: 't_1', seq, timestamp: seq, data };
}

/** The text part as the panel shows it: marked's HTML, with the code-block bars. */
function render(turn: AssistantItem, part: TurnPart, insert: (code: string) => void): HTMLElement {
  const host = document.createElement('div');
  host.innerHTML = marked.parse(part.kind === 'text' ? part.text : '', { async: false, gfm: true });
  decorateCode(host, insert, codeStreaming(turn, part));
  return host;
}

function buttons(host: HTMLElement): HTMLButtonElement[] {
  return Array.from(host.querySelectorAll<HTMLButtonElement>('.jp-AssistantCode-bar button'));
}

test('a fence is open from its opening line until its closing line has ended', () => {
  expect(endsInOpenFence('no code')).toBe(false);
  expect(endsInOpenFence('``')).toBe(false);
  expect(endsInOpenFence('```')).toBe(true);
  expect(endsInOpenFence('```py')).toBe(true);
  expect(endsInOpenFence('```python\nx = 1\n``')).toBe(true);
  // the last line may still become "```python" (content, not a fence): closed at its newline
  expect(endsInOpenFence('```python\nx = 1\n```')).toBe(true);
  expect(endsInOpenFence('```python\nx = 1\n```\n')).toBe(false);
  expect(endsInOpenFence('```python\nx = 1\n```  \r\nmore')).toBe(false);
  // a closing fence is at least as long as the opening one, of the same character
  expect(endsInOpenFence('````\n```\n')).toBe(true);
  expect(endsInOpenFence('~~~\n```\n')).toBe(true);
  expect(endsInOpenFence('~~~\nx\n~~~~\n')).toBe(false);
  // a line with an info string never closes; inline code of three backticks never opens
  expect(endsInOpenFence('```\nx\n```python\n')).toBe(true);
  expect(endsInOpenFence('use ```a``` here\n```a``` b\n')).toBe(false);
  // fences in list items and block quotes
  expect(endsInOpenFence('1. Pin it:\n   ```python\n   x = 1\n')).toBe(true);
  expect(endsInOpenFence('1. Pin it:\n   ```python\n   x = 1\n   ```\n')).toBe(false);
  expect(endsInOpenFence('> ```\n> x\n')).toBe(true);
  expect(endsInOpenFence('- ```\n  x\n  ```\n2. done')).toBe(false);
  // two blocks: the second is the open one
  expect(endsInOpenFence('```\na\n```\ntext\n~~~\nb')).toBe(true);
});

test('Copy and Insert are disabled while the block streams, and enabled once it is closed', () => {
  seq = 0;
  const inserted: string[] = [];
  const turn = newTurn();
  applyEvent(turn, ev('session_started', { conversation_id: 'c_1' }));
  const open = ANSWER.indexOf('```');
  const close = ANSWER.indexOf('```', open + 3);
  const seen = new Set<string>();
  for (let n = 1; n <= ANSWER.length; n++) {
    applyEvent(turn, ev('text_delta', { text: ANSWER[n - 1] }));
    const part = turn.parts[0];
    const host = render(turn, part, code => inserted.push(code));
    const bar = buttons(host);
    const streaming = n >= open + 3 && n < close + 4; // "```" .. the closing fence's newline
    if (n < open + 3) {
      expect(bar).toEqual([]);
      continue;
    }
    expect(bar.map(b => b.textContent)).toEqual(['Copy', 'Insert into notebook']);
    expect(bar.map(b => b.disabled)).toEqual([streaming, streaming]);
    expect(host.querySelector('.jp-AssistantCode')!.classList.contains('jp-mod-streaming')).toBe(streaming);
    expect(bar[1].title).toBe(streaming ? STREAMING_TITLE : 'Insert the code as a new cell below the active cell');
    bar[1].click(); // a disabled button's click does nothing
    seen.add(streaming ? 'streaming' : 'closed');
  }
  expect(seen).toEqual(new Set(['streaming', 'closed']));
  // every click after the closing fence inserted the whole block, none before it
  expect(inserted.length).toBe(ANSWER.length - (close + 4) + 1);
  expect(new Set(inserted)).toEqual(new Set([CODE]));
});

test('a block left open is enabled when the turn ends, or when a tool call follows the text', () => {
  for (const end of ['message_complete', 'cancelled', 'error', 'tool_use_start']) {
    seq = 0;
    const inserted: string[] = [];
    const turn = newTurn();
    applyEvent(turn, ev('text_delta', { text: '```python\nx = 1\n' }));
    const part = turn.parts[0];
    expect(buttons(render(turn, part, c => inserted.push(c))).map(b => b.disabled)).toEqual([true, true]);
    applyEvent(turn, ev(end, end === 'tool_use_start' ? { id: 'toolu_1', name: 'hotspots', input: {} } : {}));
    expect(turn.status === 'streaming').toBe(end === 'tool_use_start');
    const bar = buttons(render(turn, part, c => inserted.push(c)));
    expect(bar.map(b => b.disabled)).toEqual([false, false]);
    bar[1].click();
    expect(inserted).toEqual(['x = 1\n']);
  }
});

test('only the last block of a text can be streaming; the ones above it are complete', () => {
  const turn = newTurn();
  applyEvent(turn, ev('text_delta', { text: '```\na = 1\n```\n\nand\n\n~~~\nb = ' }));
  const host = render(turn, turn.parts[0], () => undefined);
  expect(buttons(host).map(b => b.disabled)).toEqual([false, false, true, true]);
});
