/** The tokens other plugins use to reach the assistant's services. */
import { Token } from '@lumino/coreutils';
import { AssistantClient } from './client';
import { AssistantSidebar } from './sidebar';

/** The REST + SSE client of `/assistant/api`. */
export const IAssistantClient = new Token<AssistantClient>(
  'jupyter-assistant:IAssistantClient',
  'The REST and SSE client of the assistant server extension.'
);

/** The assistant's side panel. */
export const IAssistantSidebar = new Token<AssistantSidebar>(
  'jupyter-assistant:IAssistantSidebar',
  'The assistant side panel.'
);
