/**
 * What the sidebar knows of the notebooks: the active notebook and cell (as context for a
 * question), and applying an accepted cell edit to the open notebook's model.
 */
import { INotebookTracker, NotebookPanel } from '@jupyterlab/notebook';
import { ICellModel } from '@jupyterlab/cells';

/** The active cell, as a question's context. */
export interface CellContext {
  notebookPath: string;
  cellId: string;
  index: number;
  cellType: string;
  source: string;
  /** Text of the outputs (stream, text/plain), bounded. */
  outputs: string;
  /** `ename: evalue` and the traceback of an error output, bounded. */
  error: string;
}

const OUTPUT_CHARS = 2000;
const ERROR_CHARS = 3000;

// ANSI escape sequences (colours) in tracebacks
// eslint-disable-next-line no-control-regex
const ANSI = /\u001b\[[0-9;]*[A-Za-z]/g;

/** Notebook helpers over JupyterLab's notebook tracker. */
export class NotebookContext {
  constructor(private readonly _tracker: INotebookTracker | null) {}

  /** The active notebook panel, if any. */
  get panel(): NotebookPanel | null {
    return this._tracker?.currentWidget ?? null;
  }

  /** The active cell of the active notebook, or `null`. */
  activeCell(): CellContext | null {
    const panel = this.panel;
    const cell = panel?.content.activeCell;
    if (!panel || !cell) {
      return null;
    }
    const model = cell.model;
    const index = panel.content.activeCellIndex;
    let outputs = '';
    let error = '';
    if (model.type === 'code') {
      const json = model.toJSON() as { outputs?: Array<Record<string, unknown>> };
      for (const out of json.outputs ?? []) {
        if (out.output_type === 'error') {
          const tb = Array.isArray(out.traceback) ? (out.traceback as string[]).join('\n') : '';
          error += `${out.ename}: ${out.evalue}\n${tb}`.replace(ANSI, '');
        } else if (out.output_type === 'stream') {
          outputs += joinText(out.text);
        } else {
          const data = (out.data ?? {}) as Record<string, unknown>;
          outputs += joinText(data['text/plain']) + '\n';
        }
      }
    }
    return {
      notebookPath: panel.context.path,
      cellId: model.id,
      index,
      cellType: model.type,
      source: model.sharedModel.getSource(),
      outputs: bound(outputs, OUTPUT_CHARS),
      error: bound(error, ERROR_CHARS)
    };
  }

  /** The cell model with `cellId` in any open notebook (the active one first). */
  findCell(cellId: string): { panel: NotebookPanel; cell: ICellModel; index: number } | null {
    const panels: NotebookPanel[] = [];
    if (this.panel) {
      panels.push(this.panel);
    }
    this._tracker?.forEach(p => {
      if (p !== this.panel) {
        panels.push(p);
      }
    });
    for (const panel of panels) {
      const cells = panel.content.model?.cells;
      if (!cells) {
        continue;
      }
      for (let i = 0; i < cells.length; i++) {
        const cell = cells.get(i);
        if (cell.id === cellId) {
          return { panel, cell, index: i };
        }
      }
    }
    return null;
  }

  /**
   * Replace the source of cell `cellId` with `source` through the notebook's shared model
   * (so the cell's undo undoes it). Nothing is run. Returns false when no open notebook has
   * that cell.
   */
  applyEdit(cellId: string, source: string): boolean {
    const found = this.findCell(cellId);
    if (!found) {
      return false;
    }
    found.cell.sharedModel.setSource(source);
    return true;
  }

  /** Insert a new code cell with `source` below the active cell of the active notebook. */
  insertBelow(source: string): boolean {
    const panel = this.panel;
    const model = panel?.content.model;
    if (!panel || !model) {
      return false;
    }
    const index = Math.max(0, panel.content.activeCellIndex + 1);
    model.sharedModel.insertCell(index, { cell_type: 'code', source });
    panel.content.activeCellIndex = index;
    return true;
  }
}

/** The message that asks `question` about the cell, with the cell as context. */
export function cellQuestion(question: string, cell: CellContext, maxChars: number): string {
  const parts = [
    question,
    '',
    `Context: notebook \`${cell.notebookPath}\`, ${cell.cellType} cell ${cell.index + 1} ` +
      `(cell_id \`${cell.cellId}\`; to change it, call propose_cell_edit with this cell_id).`,
    'Source:',
    fence(cell.source)
  ];
  if (cell.outputs.trim()) {
    parts.push('Outputs:', fence(cell.outputs));
  }
  if (cell.error.trim()) {
    parts.push('Error:', fence(cell.error));
  }
  return bound(parts.join('\n'), maxChars);
}

function fence(text: string): string {
  const ticks = text.includes('```') ? '~~~~' : '```';
  return `${ticks}\n${text}\n${ticks}`;
}

function joinText(value: unknown): string {
  return Array.isArray(value) ? value.join('') : typeof value === 'string' ? value : '';
}

function bound(text: string, max: number): string {
  return text.length <= max ? text : text.slice(0, max - 20) + '\n… (cut)';
}
