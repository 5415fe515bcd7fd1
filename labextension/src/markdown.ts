/**
 * Markdown of the assistant's answers, rendered with JupyterLab's own markdown pipeline
 * (its parser, sanitizer and code highlighting: `renderMarkdown` of @jupyterlab/rendermime),
 * untrusted, with a "Copy" and an "Insert into notebook" button on each code block (see
 * {@link ./codeBlocks}).
 */
import { IRenderMimeRegistry, renderMarkdown } from '@jupyterlab/rendermime';
import { decorateCode, InsertCode } from './codeBlocks';

/** Renders markdown into elements; coalesces the renders of a streaming text. */
export class MarkdownRenderer {
  constructor(
    private readonly _rendermime: IRenderMimeRegistry | null,
    private readonly _insert: InsertCode
  ) {}

  /**
   * Render `source` into `host` (replacing its content once the render is ready). With
   * `codeStreaming`, the last code block's buttons are disabled (its closing fence has not
   * arrived yet).
   */
  async render(host: HTMLElement, source: string, codeStreaming = false): Promise<void> {
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
    decorateCode(target, this._insert, codeStreaming);
    host.replaceChildren(...Array.from(target.childNodes));
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
