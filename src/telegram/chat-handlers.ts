/**
 * What the bot does with updates from people and groups: registration by phone, group registration
 * by promotion, and the chat commands. (Registration is built in its own issue; this is the seam.)
 */
import { Composer, type Context } from 'grammy';
import type { Config } from '../config.js';
import type { Directory } from '../directory/directory.js';
import type { AdminAlerts } from '../observability/admin-alerts.js';
import type { Logger } from '../observability/logger.js';
import type { SecretScrubber } from '../observability/secret-scrubber.js';
import type { ChatLanguages } from '../store/chat-languages.js';
import type { OutboxStore } from '../store/outbox-store.js';

export interface ChatHandlerDependencies {
  config: Config;
  directory: Directory;
  languages: ChatLanguages;
  outbox: OutboxStore;
  alerts: AdminAlerts;
  logger: Logger;
  scrubber: SecretScrubber;
}

export function createChatHandlers(_deps: ChatHandlerDependencies): Composer<Context> {
  return new Composer<Context>();
}
