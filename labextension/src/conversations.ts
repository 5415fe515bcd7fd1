/**
 * The user's conversations by title, newest first, a page at a time: open one, or delete it
 * after a confirmation.
 */
import { Dialog, showDialog } from '@jupyterlab/apputils';
import { Widget } from '@lumino/widgets';
import { AssistantClient, Conversation } from './client';
import { button } from './button';

const PAGE = 20;

/** The conversation list (hidden until the "Conversations" button shows it). */
export class ConversationList extends Widget {
  private _items: Conversation[] = [];
  private _total = 0;
  private readonly _list: HTMLUListElement;
  private readonly _more: HTMLButtonElement;
  private readonly _status: HTMLElement;

  constructor(
    private readonly _client: AssistantClient,
    private readonly _open: (conversation: Conversation) => void,
    private readonly _deleted: (id: string) => void
  ) {
    super();
    this.addClass('jp-AssistantConversations');
    const title = document.createElement('div');
    title.className = 'jp-AssistantConversations-title';
    title.textContent = 'Conversations';
    this._list = document.createElement('ul');
    this._list.setAttribute('aria-label', 'Conversations');
    this._status = document.createElement('div');
    this._status.className = 'jp-AssistantConversations-status';
    this._more = button('More', 'Load older conversations', () => void this.load(false));
    this.node.append(title, this._status, this._list, this._more);
  }

  /** Load the first page (`reset`) or the next one. */
  async load(reset = true): Promise<void> {
    this._status.textContent = 'Loading…';
    try {
      const page = await this._client.listConversations(PAGE, reset ? 0 : this._items.length);
      this._items = reset ? page.items : [...this._items, ...page.items];
      this._total = page.total;
      this._status.textContent = this._total ? '' : 'No conversations yet.';
      this._status.removeAttribute('role');
    } catch (err) {
      this._status.textContent = `Could not list the conversations: ${(err as Error).message}`;
      this._status.setAttribute('role', 'alert');
    }
    this._render();
  }

  private _render(): void {
    const rows = this._items.map(c => {
      const li = document.createElement('li');
      li.className = 'jp-AssistantConversations-item';
      const open = button(c.title || '(untitled)', `Open “${c.title}”`, () => this._open(c));
      open.classList.add('jp-AssistantConversations-open');
      const when = document.createElement('span');
      when.className = 'jp-AssistantConversations-when';
      const t = c.last_message_at ?? c.updated_at;
      when.textContent = t ? new Date(t * 1000).toLocaleString() : '';
      const del = button('Delete', `Delete “${c.title}”`, () => void this._delete(c));
      del.classList.add('jp-mod-delete');
      del.setAttribute('aria-label', `Delete ${c.title}`);
      li.append(open, when, del);
      return li;
    });
    this._list.replaceChildren(...rows);
    this._more.hidden = this._items.length >= this._total;
  }

  private async _delete(c: Conversation): Promise<void> {
    const result = await showDialog({
      title: 'Delete conversation',
      body: `Delete “${c.title || '(untitled)'}” and all its messages? This cannot be undone.`,
      buttons: [Dialog.cancelButton(), Dialog.warnButton({ label: 'Delete' })]
    });
    if (!result.button.accept) {
      return;
    }
    try {
      await this._client.deleteConversation(c.id);
      this._items = this._items.filter(i => i.id !== c.id);
      this._total -= 1;
      this._render();
      this._deleted(c.id);
    } catch (err) {
      this._status.textContent = `Could not delete: ${(err as Error).message}`;
      this._status.setAttribute('role', 'alert');
    }
  }
}
