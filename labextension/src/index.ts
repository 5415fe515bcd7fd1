/**
 * The jupyter-assistant JupyterLab extension: registers its plugins and nothing else.
 *
 * - `jupyter-assistant:client` provides the REST + SSE client (Jupyter's token and XSRF).
 * - `jupyter-assistant:sidebar` adds the side panel `jupyter-assistant-sidebar`.
 * - `jupyter-assistant:commands` adds the commands (palette, file browser and notebook
 *   context menus).
 */
import {
  ILayoutRestorer,
  JupyterFrontEnd,
  JupyterFrontEndPlugin
} from '@jupyterlab/application';
import { ICommandPalette } from '@jupyterlab/apputils';
import { PageConfig } from '@jupyterlab/coreutils';
import { IDefaultFileBrowser } from '@jupyterlab/filebrowser';
import { INotebookTracker } from '@jupyterlab/notebook';
import { IRenderMimeRegistry } from '@jupyterlab/rendermime';
import { ServerConnection } from '@jupyterlab/services';
import { LabIcon } from '@jupyterlab/ui-components';
import iconSvg from '../style/icon.svg';
import { AssistantClient } from './client';
import { MarkdownRenderer } from './markdown';
import { NotebookContext } from './notebook';
import { AssistantSidebar, SIDEBAR_ID } from './sidebar';
import { IAssistantClient, IAssistantSidebar } from './tokens';

export { AssistantClient } from './client';
export { IAssistantClient, IAssistantSidebar } from './tokens';

/** The assistant's icon. */
export const assistantIcon = new LabIcon({ name: 'jupyter-assistant:icon', svgstr: iconSvg });

/** Command ids. */
export const CommandIDs = {
  open: 'jupyter-assistant:open',
  newConversation: 'jupyter-assistant:new-conversation',
  askAboutCell: 'jupyter-assistant:ask-about-cell',
  askAboutTrace: 'jupyter-assistant:ask-about-trace'
} as const;

const clientPlugin: JupyterFrontEndPlugin<AssistantClient> = {
  id: 'jupyter-assistant:client',
  description: 'The REST and SSE client of the assistant server extension.',
  autoStart: true,
  provides: IAssistantClient,
  activate: (app: JupyterFrontEnd): AssistantClient => {
    const settings = app.serviceManager.serverSettings ?? ServerConnection.makeSettings();
    return new AssistantClient({
      baseUrl: settings.baseUrl || PageConfig.getBaseUrl(),
      request: (url, init) => ServerConnection.makeRequest(url, init, settings)
    });
  }
};

const sidebarPlugin: JupyterFrontEndPlugin<AssistantSidebar> = {
  id: 'jupyter-assistant:sidebar',
  description: 'The assistant side panel: chat, conversations, traces, cell edits.',
  autoStart: true,
  requires: [IAssistantClient],
  optional: [ILayoutRestorer, INotebookTracker, IRenderMimeRegistry],
  provides: IAssistantSidebar,
  activate: (
    app: JupyterFrontEnd,
    client: AssistantClient,
    restorer: ILayoutRestorer | null,
    tracker: INotebookTracker | null,
    rendermime: IRenderMimeRegistry | null
  ): AssistantSidebar => {
    const notebooks = new NotebookContext(tracker);
    const markdown = new MarkdownRenderer(rendermime, code => {
      if (!notebooks.insertBelow(code)) {
        void navigator.clipboard?.writeText(code);
      }
    });
    const sidebar = new AssistantSidebar(client, markdown, notebooks);
    sidebar.title.icon = assistantIcon;
    app.shell.add(sidebar, 'right', { rank: 600 });
    restorer?.add(sidebar, SIDEBAR_ID);
    void app.restored.then(() => sidebar.restore());
    return sidebar;
  }
};

const commandsPlugin: JupyterFrontEndPlugin<void> = {
  id: 'jupyter-assistant:commands',
  description: 'Commands of the assistant: open, new conversation, ask about a cell or a trace.',
  autoStart: true,
  requires: [IAssistantSidebar],
  optional: [ICommandPalette, IDefaultFileBrowser],
  activate: (
    app: JupyterFrontEnd,
    sidebar: AssistantSidebar,
    palette: ICommandPalette | null,
    browser: IDefaultFileBrowser | null
  ): void => {
    const { commands, shell } = app;
    const open = () => {
      shell.activateById(SIDEBAR_ID);
      sidebar.input.focus();
      // run from the command palette, a command ends with the palette activating the main
      // area's current widget (a notebook, the Launcher), which takes the focus in Lumino's
      // next message-loop frame: take it back in the frame after
      requestAnimationFrame(() => sidebar.input.focus());
    };
    commands.addCommand(CommandIDs.open, {
      label: 'Open the Assistant',
      caption: 'Open the assistant side panel',
      icon: assistantIcon,
      execute: open
    });
    // the keyboard's way in (Ctrl+Shift+C, the palette, is taken by Chromium's DevTools)
    commands.addKeyBinding({ command: CommandIDs.open, keys: ['Alt A'], selector: 'body' });
    commands.addCommand(CommandIDs.newConversation, {
      label: 'Assistant: New Conversation',
      execute: () => {
        open();
        sidebar.newConversation();
      }
    });
    commands.addCommand(CommandIDs.askAboutCell, {
      label: 'Ask the Assistant About This Cell',
      execute: () => {
        open();
        void sidebar.askAboutCell();
      }
    });
    commands.addCommand(CommandIDs.askAboutTrace, {
      label: 'Ask the Assistant About This Trace',
      icon: assistantIcon,
      isVisible: () => {
        const item = browser?.selectedItems().next();
        return !!item && !item.done && item.value.type !== 'directory';
      },
      execute: async () => {
        const item = browser?.selectedItems().next();
        if (!item || item.done) {
          return;
        }
        open();
        const model = await app.serviceManager.contents.get(item.value.path, {
          content: true,
          format: 'base64'
        });
        const bytes = Uint8Array.from(atob(String(model.content).replace(/\s/g, '')), c =>
          c.charCodeAt(0)
        );
        await sidebar.uploadTrace(new Blob([bytes]), item.value.name);
        sidebar.input.value = sidebar.input.value || 'Why is this trace slow?';
        sidebar.input.focus();
      }
    });
    app.contextMenu.addItem({
      command: CommandIDs.askAboutTrace,
      selector: '.jp-DirListing-item[data-isdir="false"]',
      rank: 20
    });
    app.contextMenu.addItem({
      command: CommandIDs.askAboutCell,
      selector: '.jp-Notebook .jp-Cell',
      rank: 30
    });
    for (const command of [CommandIDs.open, CommandIDs.newConversation, CommandIDs.askAboutCell]) {
      palette?.addItem({ command, category: 'Assistant' });
    }
  }
};

const plugins: JupyterFrontEndPlugin<unknown>[] = [clientPlugin, sidebarPlugin, commandsPlugin];
export default plugins;
