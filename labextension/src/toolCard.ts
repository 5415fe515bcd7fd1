/**
 * A tool call as a card: the tool's name, its state (running / finished / failed), its
 * duration, its arguments and its result. A `propose_cell_edit` call also shows the
 * proposed change of the cell as a line diff with Accept / Reject.
 */
import { diffLines } from 'diff';
import { button } from './button';
import { CELL_EDIT_TOOL, ToolCall } from './state';

/** What a cell-edit card needs from the notebook. */
export interface CellEditHost {
  /** The current source of the cell, or `null` when no open notebook has it. */
  currentSource(cellId: string): string | null;
  /** Apply the edit; false when the cell is gone. */
  apply(cellId: string, source: string): boolean;
  /** The user decided (so the decision is remembered). */
  decided(tool: ToolCall): void;
}

const STATE_LABEL = { running: 'running', finished: 'finished', failed: 'failed' };

/** Fill `card` (a `div`) for `tool`, replacing what it showed. */
export function renderToolCard(card: HTMLElement, tool: ToolCall, host: CellEditHost): void {
  card.className = `jp-AssistantToolCard jp-mod-${tool.state}`;
  card.dataset.tool = tool.name;
  card.dataset.state = tool.state;
  card.setAttribute('role', 'group');
  card.setAttribute('aria-label', `Tool ${tool.name}: ${STATE_LABEL[tool.state]}`);
  const head = document.createElement('div');
  head.className = 'jp-AssistantToolCard-head';
  const name = document.createElement('span');
  name.className = 'jp-AssistantToolCard-name';
  name.textContent = tool.name;
  const state = document.createElement('span');
  state.className = 'jp-AssistantToolCard-state';
  state.textContent =
    tool.state === 'failed' && tool.errorCode
      ? `failed (${tool.errorCode})`
      : STATE_LABEL[tool.state];
  head.append(name, state);
  if (tool.durationMs !== undefined) {
    const dur = document.createElement('span');
    dur.className = 'jp-AssistantToolCard-duration';
    dur.textContent = formatDuration(tool.durationMs);
    head.append(dur);
  }
  const children: HTMLElement[] = [head];
  if (tool.progress) {
    const p = document.createElement('div');
    p.className = 'jp-AssistantToolCard-progress';
    p.textContent = tool.progress;
    children.push(p);
  }
  const args = details('Arguments', JSON.stringify(tool.input, null, 2));
  children.push(args);
  if (tool.content) {
    children.push(details('Result', tool.content, tool.state === 'failed'));
  }
  if (tool.name === CELL_EDIT_TOOL && tool.state === 'finished') {
    children.push(cellEdit(tool, host));
  }
  card.replaceChildren(...children);
}

function details(label: string, text: string, open = false): HTMLElement {
  const d = document.createElement('details');
  d.open = open;
  const s = document.createElement('summary');
  s.textContent = label;
  const pre = document.createElement('pre');
  pre.textContent = text;
  d.append(s, pre);
  return d;
}

/** `1.2 s`, `35 ms`. */
export function formatDuration(ms: number): string {
  return ms >= 1000 ? `${(ms / 1000).toFixed(1)} s` : `${Math.round(ms)} ms`;
}

function cellEdit(tool: ToolCall, host: CellEditHost): HTMLElement {
  const box = document.createElement('div');
  box.className = 'jp-AssistantDiff';
  const cellId = String(tool.input.cell_id ?? '');
  const proposed = String(tool.input.new_source ?? '');
  const current = host.currentSource(cellId);
  const title = document.createElement('div');
  title.className = 'jp-AssistantDiff-title';
  if (tool.input.explanation) {
    title.textContent = String(tool.input.explanation);
  } else {
    title.textContent = `Proposed change of cell ${cellId}`;
  }
  box.append(title);
  if (current === null && !tool.decision) {
    const missing = document.createElement('div');
    missing.className = 'jp-AssistantNotice jp-mod-error';
    missing.textContent = `No open notebook has the cell ${cellId}: open its notebook to review the edit.`;
    box.append(missing);
    return box;
  }
  box.append(diffView(current ?? '', proposed));
  if (tool.decision) {
    const done = document.createElement('div');
    done.className = 'jp-AssistantDiff-decision';
    done.textContent = tool.decision === 'accepted' ? 'Accepted' : 'Rejected';
    box.append(done);
    return box;
  }
  const actions = document.createElement('div');
  actions.className = 'jp-AssistantDiff-actions';
  actions.append(
    button(
      'Accept',
      'Apply this change to the cell (undo with the notebook’s undo)',
      () => {
        if (!host.apply(cellId, proposed)) {
          actions.replaceChildren(notice(`The cell ${cellId} is no longer open.`));
          return;
        }
        tool.decision = 'accepted';
        host.decided(tool);
      },
      'jp-mod-accept'
    ),
    button('Reject', 'Leave the cell as it is', () => {
      tool.decision = 'rejected';
      host.decided(tool);
    })
  );
  box.append(actions);
  return box;
}

function notice(text: string): HTMLElement {
  const n = document.createElement('div');
  n.className = 'jp-AssistantNotice jp-mod-error';
  n.textContent = text;
  return n;
}

/** A line diff of `before` -> `after` (`-` removed, `+` added lines). */
export function diffView(before: string, after: string): HTMLElement {
  const pre = document.createElement('pre');
  pre.className = 'jp-AssistantDiff-lines';
  pre.setAttribute('aria-label', 'Diff of the cell');
  for (const change of diffLines(before, after)) {
    const cls = change.added ? 'jp-mod-added' : change.removed ? 'jp-mod-removed' : '';
    const mark = change.added ? '+' : change.removed ? '-' : ' ';
    for (const line of change.value.replace(/\n$/, '').split('\n')) {
      const div = document.createElement('div');
      div.className = `jp-AssistantDiff-line ${cls}`.trim();
      div.textContent = `${mark} ${line}`;
      pre.append(div);
    }
  }
  return pre;
}
