/**
 * Markdown of the assistant's answers, rendered with JupyterLab's own markdown pipeline
 * (its parser, sanitizer and code highlighting: `renderMarkdown` of @jupyterlab/rendermime),
 * untrusted, with a "Copy" and an "Insert into notebook" button on each code block.
 */
import { IRenderMimeRegistry, renderMarkdown } from '@jupyterlab/rendermime';

/** What a code block's "Insert into notebook" does with the code. */
export type InsertCode = (code: string) => void;

/** Renders markdown into elements; coalesces the renders of a streaming text. */
export class MarkdownRenderer {
  constructor(
    private readonly _rendermime: IRenderMimeRegistry | null,
    private readonly _insert: InsertCode
  ) {}

  /** Render `source` into `host` (replacing its content once the render is ready). */
  async render(host: HTMLElement, source: string): Promise<void> {
    const rm = this._rendermime;
    if (!rm) {
      host.textContent = source;
      return;
    }
    const target = document.createElement('div');
    await renderMarkdown({
      host: target,
      source,
      trusted: false,
      sanitizer: rm.sanitizer,
      resolver: rm.resolver,
      linkHandler: rm.linkHandler,
      latexTypesetter: rm.latexTypesetter,
      markdownParser: rm.markdownParser,
      shouldTypeset: false,
      translator: undefined
    });
    this.decorateCode(target);
    host.replaceChildren(...Array.from(target.childNodes));
  }

  /** Add the code-block buttons to every `<pre>` under `root`. */
  decorateCode(root: HTMLElement): void {
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
        button('Copy', 'Copy the code', async b => {
          await navigator.clipboard.writeText(code()).then(
            () => (b.textContent = 'Copied'),
            () => (b.textContent = 'Copy failed')
          );
          setTimeout(() => (b.textContent = 'Copy'), 1500);
        }),
        button('Insert into notebook', 'Insert the code as a new cell below the active cell', () =>
          this._insert(code())
        )
      );
      wrap.append(bar, pre);
    }
  }
}

/**
 * Calls `render(source)` for a text that keeps growing: at once for the first piece (so the
 * first token shows without delay), then at most every `intervalMs`, and once more at the
 * end with the last source.
 */
export class Throttle {
  private _timer: ReturnType<typeof setTimeout> | null = null;
  private _running = false;
  private _pending = false;
  private _last = 0;

  constructor(
    private readonly _render: () => Promise<void>,
    private readonly _intervalMs = 50
  ) {}

  schedule(): void {
    if (this._running) {
      this._pending = true;
      return;
    }
    if (this._timer !== null) {
      return;
    }
    const wait = Math.max(0, this._last + this._intervalMs - performance.now());
    this._timer = setTimeout(() => void this._run(), wait);
  }

  private async _run(): Promise<void> {
    this._timer = null;
    this._running = true;
    this._pending = false;
    try {
      await this._render();
    } finally {
      this._running = false;
      this._last = performance.now();
      if (this._pending) {
        this.schedule();
      }
    }
  }
}

/** A small JupyterLab-styled button. */
export function button(
  label: string,
  title: string,
  onClick: (b: HTMLButtonElement) => void | Promise<void>,
  className = ''
): HTMLButtonElement {
  const b = document.createElement('button');
  b.type = 'button';
  b.className = `jp-AssistantButton ${className}`.trim();
  b.textContent = label;
  b.title = title;
  b.addEventListener('click', () => void onClick(b));
  return b;
}
