/**
 * setMyCommands / getMyCommands / deleteMyCommands: the command lists the bot published, kept per
 * scope and language_code. Validation follows TDLib `set_commands` (trim, optional leading `/`,
 * 1–32 chars, description 1–256 chars after trimming, 2-letter language code) and the server's
 * answers for the rest (`BOT_COMMAND_INVALID`, `BOT_COMMANDS_TOO_MUCH`).
 */
import type { BotCommand, BotCommandScope } from 'grammy/types';
import { badRequest } from './bot-api-error.js';
import type { ChatRegistry } from './chat-registry.js';

/** One published command list. */
export interface PublishedCommands {
  scope: BotCommandScope;
  /** `''` for all languages. */
  languageCode: string;
  commands: BotCommand[];
}

const SCOPE_TYPES = new Set([
  'default',
  'all_private_chats',
  'all_group_chats',
  'all_chat_administrators',
  'chat',
  'chat_administrators',
  'chat_member',
]);

export class BotCommandStore {
  private readonly lists = new Map<string, PublishedCommands>();

  constructor(private readonly chats: ChatRegistry) {}

  /** setMyCommands: validates and stores (an empty list deletes the scope/language entry). */
  set(params: Record<string, unknown>): true {
    const commands = this.parseCommands(params.commands);
    const scope = this.parseScope(params.scope);
    const languageCode = parseLanguageCode(params.language_code);
    const key = storeKey(scope, languageCode);
    if (commands.length === 0) this.lists.delete(key);
    else this.lists.set(key, { scope, languageCode, commands });
    return true;
  }

  /** getMyCommands: the list for exactly this scope and language (no fallback), or []. */
  get(params: Record<string, unknown>): BotCommand[] {
    const scope = this.parseScope(params.scope);
    const languageCode = parseLanguageCode(params.language_code);
    return this.lists.get(storeKey(scope, languageCode))?.commands.map((command) => ({ ...command })) ?? [];
  }

  /** deleteMyCommands. */
  delete(params: Record<string, unknown>): true {
    const scope = this.parseScope(params.scope);
    const languageCode = parseLanguageCode(params.language_code);
    this.lists.delete(storeKey(scope, languageCode));
    return true;
  }

  /** What a test reads: the list for a scope (default: `{type: 'default'}`) and language (default ''). */
  lookup(scope: BotCommandScope = { type: 'default' }, languageCode = ''): BotCommand[] | undefined {
    return this.lists.get(storeKey(scope, languageCode))?.commands.map((command) => ({ ...command }));
  }

  all(): PublishedCommands[] {
    return [...this.lists.values()].map((entry) => ({
      ...entry,
      commands: entry.commands.map((c) => ({ ...c })),
    }));
  }

  private parseCommands(raw: unknown): BotCommand[] {
    if (raw === undefined || raw === null || raw === '') return [];
    if (typeof raw === 'string') throw badRequest("can't parse commands JSON object");
    if (!Array.isArray(raw)) throw badRequest('expected an Array of BotCommand');
    if (raw.length > 100) throw badRequest('BOT_COMMANDS_TOO_MUCH');
    return raw.map((item): BotCommand => {
      if (typeof item !== 'object' || item === null) throw badRequest('expected BotCommand');
      const entry = item as Record<string, unknown>;
      if (typeof entry.command !== 'string') throw badRequest('field "command" must be of type String');
      if (typeof entry.description !== 'string')
        throw badRequest('field "description" must be of type String');
      let command = entry.command.trim();
      if (command.startsWith('/')) command = command.slice(1);
      if (command === '') throw badRequest('command must be non-empty');
      if ([...command].length > 32) throw badRequest('command length must not exceed 32');
      if (!/^[a-z0-9_]+$/.test(command)) throw badRequest('BOT_COMMAND_INVALID');
      const description = entry.description.trim();
      if (description === '') throw badRequest('command description must be non-empty');
      if ([...description].length > 256) throw badRequest('command description length must not exceed 256');
      return { command, description };
    });
  }

  private parseScope(raw: unknown): BotCommandScope {
    if (raw === undefined || raw === null || raw === '') return { type: 'default' };
    if (typeof raw !== 'object' || Array.isArray(raw))
      throw badRequest("can't parse BotCommandScope JSON object");
    const scope = raw as Record<string, unknown>;
    if (typeof scope.type !== 'string' || !SCOPE_TYPES.has(scope.type)) {
      throw badRequest('unsupported bot command scope type');
    }
    switch (scope.type) {
      case 'chat':
      case 'chat_administrators':
        return { type: scope.type, chat_id: this.chats.resolveChatId(scope.chat_id) };
      case 'chat_member': {
        const chatId = this.chats.resolveChatId(scope.chat_id);
        if (typeof scope.user_id !== 'number') throw badRequest('user not found');
        return { type: 'chat_member', chat_id: chatId, user_id: scope.user_id };
      }
      default:
        return { type: scope.type } as BotCommandScope;
    }
  }
}

function parseLanguageCode(raw: unknown): string {
  if (raw === undefined || raw === null) return '';
  if (typeof raw !== 'string' || !(raw === '' || /^[a-z]{2}$/.test(raw))) {
    throw badRequest('invalid language code specified');
  }
  return raw;
}

function storeKey(scope: BotCommandScope, languageCode: string): string {
  const record = scope as unknown as Record<string, unknown>;
  return JSON.stringify([scope.type, record.chat_id ?? null, record.user_id ?? null, languageCode]);
}
