/**
 * The code blocks of an assistant's answer: the "Copy" and "Insert into notebook" bar of each
 * rendered `<pre>`, and whether a streaming answer ends inside a fenced code block whose
 * closing fence has not arrived yet (fences as CommonMark 0.31 §4.5 defines them: a line of
 * at least three backticks or tildes opens a block; a line of the same character, at least as
 * long and with nothing else on it, closes it).
 *
 * While that block streams, both of its buttons are disabled: "Insert into notebook" would
 * insert a partial cell, and a copy would put half a program on the clipboard without any
 * sign that it is cut. Both come alive once the closing fence's line has arrived, or the
 * answer is no longer streaming (the turn completed, failed or was cancelled: what the block
 * shows then is all there will be, the same as after a reload).
 */
import { button } from './button';
import { AssistantItem, TurnPart } from './state';

/** What a code block's "Insert into notebook" does with the code. */
export type InsertCode = (code: string) => void;

/** Tooltips of the buttons of a complete block and of one that is still streaming. */
export const COPY_TITLE = 'Copy the code';
export const INSERT_TITLE = 'Insert the code as a new cell below the active cell';
export const STREAMING_TITLE = 'The code block is still streaming: wait for its end';

/**
 * A fence line: container markers (block quote `>`, list bullets `-+*`, ordered `1.` `1)`)
 * and indentation, then the fence (group 1) and the rest of the line (group 2). Lenient about
 * indentation, so fences inside list items and quotes count too.
 */
const FENCE = /^(?:[ \t]*(?:>|(?:[-+*]|\d{1,9}[.)])(?=[ \t])))*[ \t]*(`{3,}|~{3,})(.*)$/;

/**
 * Whether markdown `source` ends inside an open fenced code block. A closing fence counts
 * only once its line has ended (a newline follows it): while streaming, a last line "```" may
 * still become "```python", which opens nothing and closes nothing.
 */
export function endsInOpenFence(source: string): boolean {
  const lines = source.split('\n');
  let open: { char: string; length: number } | null = null;
  lines.forEach((raw, i) => {
    const m = FENCE.exec(raw.replace(/\r$/, ''));
    if (!m) {
      return;
    }
    const [, fence, rest] = m;
    if (open === null) {
      // a backtick fence's info string has no backticks (```a``` is inline code)
      if (!(fence[0] === '`' && rest.includes('`'))) {
        open = { char: fence[0], length: fence.length };
      }
    } else if (
      fence[0] === open.char &&
      fence.length >= open.length &&
      rest.trim() === '' &&
      i < lines.length - 1
    ) {
      open = null;
    }
  });
  return open !== null;
}

/**
 * Whether the last code block of `part` (a part of `turn`) is still streaming: the turn is
 * streaming, `part` is its last part (a text followed by a tool call is finished) and its
 * text ends inside an open fence.
 */
export function codeStreaming(turn: AssistantItem | undefined, part: TurnPart): boolean {
  return (
    turn !== undefined &&
    turn.status === 'streaming' &&
    turn.parts[turn.parts.length - 1] === part &&
    part.kind === 'text' &&
    endsInOpenFence(part.text)
  );
}

/**
 * Wrap every `<pre>` under `root` (not yet wrapped) in a `.jp-AssistantCode` with a bar of
 * "Copy" and "Insert into notebook" buttons. With `lastStreaming`, the last block's buttons
 * are disabled (class `jp-mod-streaming` on its wrapper, tooltip {@link STREAMING_TITLE}).
 */
export function decorateCode(root: HTMLElement, insert: InsertCode, lastStreaming = false): void {
  for (const pre of Array.from(root.querySelectorAll('pre'))) {
    if (pre.parentElement?.classList.contains('jp-AssistantCode')) {
      continue;
    }
    const wrap = document.createElement('div');
    wrap.className = 'jp-AssistantCode';
    pre.replaceWith(wrap);
    const bar = document.createElement('div');
    bar.className = 'jp-AssistantCode-bar';
    const code = () => pre.textContent ?? '';
    bar.append(
      button('Copy', COPY_TITLE, async b => {
        await navigator.clipboard.writeText(code()).then(
          () => (b.textContent = 'Copied'),
          () => (b.textContent = 'Copy failed')
        );
        setTimeout(() => (b.textContent = 'Copy'), 1500);
      }),
      button('Insert into notebook', INSERT_TITLE, () => insert(code()))
    );
    wrap.append(bar, pre);
  }
  const blocks = root.querySelectorAll('.jp-AssistantCode');
  blocks.forEach((wrap, i) => {
    const streaming = lastStreaming && i === blocks.length - 1;
    wrap.classList.toggle('jp-mod-streaming', streaming);
    const bar = wrap.querySelectorAll<HTMLButtonElement>(':scope > .jp-AssistantCode-bar > button');
    const [copy, insertButton] = Array.from(bar);
    copy.disabled = insertButton.disabled = streaming;
    copy.title = streaming ? STREAMING_TITLE : COPY_TITLE;
    insertButton.title = streaming ? STREAMING_TITLE : INSERT_TITLE;
  });
}
