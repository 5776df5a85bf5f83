/**
 * The commands people use in their private chat with the bot — /status, /stop, /help (/start is in
 * user-registration.ts, /last in last-command.ts) — a hint for anything else, and the command menu published with setMyCommands.
 * Commands are answered in private chats only; in groups the bot stays quiet.
 */
import { type Api, Composer, type Context } from 'grammy';
import type { BotCommand } from 'grammy/types';
import { DirectoryUnavailableError } from '../directory/directory.js';
import { DEFAULT_LANGUAGE, LANGUAGES, languageFor, type Texts, texts } from '../texts/index.js';
import type { ChatHandlerDependencies } from './chat-handlers.js';
import { listedMailboxes, mailboxesOf, unlinkTelegramId, usersWithTelegramId } from './subscribers.js';
import { REMOVE_KEYBOARD } from './user-registration.js';

/** The bot's commands, in menu order. */
export const COMMANDS = ['start', 'status', 'last', 'stop', 'help'] as const;

/** The commands answered in groups (the others are for private chats). */
export const GROUP_COMMANDS = ['last'] as const;

/** The command menu in one language. */
export function commandMenu(
  t: Texts,
  commands: readonly (typeof COMMANDS)[number][] = COMMANDS,
): BotCommand[] {
  return commands.map((command) => ({ command, description: t.commandDescriptions[command] }));
}

/**
 * Publishes the command menu (setMyCommands, default scope): in each language of the texts for
 * clients in that language, and in Russian, the default, for every other client; and the same for
 * group chats (scope all_group_chats) with the commands answered there.
 * Call once the bot is known to Telegram (BotPolling's `onReady`); Telegram keeps the menu.
 */
export async function publishCommands(api: Api): Promise<void> {
  await api.setMyCommands(commandMenu(texts(DEFAULT_LANGUAGE)));
  for (const language of LANGUAGES) {
    await api.setMyCommands(commandMenu(texts(language)), { language_code: language });
  }
  // groups see only what is answered there
  const groups = { type: 'all_group_chats' } as const;
  await api.setMyCommands(commandMenu(texts(DEFAULT_LANGUAGE), GROUP_COMMANDS), { scope: groups });
  for (const language of LANGUAGES) {
    await api.setMyCommands(commandMenu(texts(language), GROUP_COMMANDS), {
      scope: groups,
      language_code: language,
    });
  }
}

export function createChatCommands(deps: ChatHandlerDependencies): Composer<Context> {
  const { directory, languages, outbox } = deps;
  const log = deps.logger.child({ component: 'chat-commands' });
  const composer = new Composer<Context>();
  const privateChats = composer.chatType('private');

  privateChats.command('status', async (ctx) => {
    const language = languageFor(ctx.from.language_code);
    const t = texts(language);
    const snapshot = directory.snapshot();
    const linked = usersWithTelegramId(snapshot, ctx.from.id);
    if (linked.length === 0) {
      await ctx.reply(t.statusNotSubscribed);
      return;
    }
    await languages.set(ctx.chat.id, language);
    const active = linked.filter((user) => user.active);
    if (active.length === 0) {
      await ctx.reply(linked.every((user) => user.pausedByAdmin) ? t.pausedByAdmin : t.statusPaused);
      return;
    }
    await ctx.reply(t.statusSubscribed(listedMailboxes(snapshot, mailboxesOf(active))));
  });

  privateChats.command('stop', async (ctx) => {
    const t = texts(languageFor(ctx.from.language_code));
    const linked = usersWithTelegramId(directory.snapshot(), ctx.from.id);
    if (linked.length === 0) {
      await ctx.reply(t.stopNotSubscribed, { reply_markup: REMOVE_KEYBOARD });
      return;
    }
    try {
      await unlinkTelegramId(deps, linked);
    } catch (error) {
      if (!(error instanceof DirectoryUnavailableError)) throw error;
      log.warn({ userId: ctx.from.id, err: deps.scrubber.describe(error) }, 'unsubscribe postponed');
      await ctx.reply(t.tryLater);
      return;
    }
    // reports already queued for this chat are not sent after the user said stop
    const cancelled = await outbox.cancelChat(ctx.chat.id, 'the user unsubscribed with /stop');
    log.info(
      { userId: ctx.from.id, users: linked.map((user) => user.key), cancelled: cancelled.length },
      'user unsubscribed',
    );
    await ctx.reply(t.unsubscribed, { reply_markup: REMOVE_KEYBOARD });
  });

  privateChats.command('help', async (ctx) => {
    const t = texts(languageFor(ctx.from.language_code));
    // QUIET_HOURS (issue 13 part 5) may not be a setting of this build: then the help stays generic
    const quietHours = (deps.config as { QUIET_HOURS?: string | undefined }).QUIET_HOURS;
    await ctx.reply(quietHours ? `${t.help}\n\n${t.quietHoursNote(quietHours)}` : t.help);
  });

  // anything else in a private chat (text, an unknown command, a sticker): say what the bot understands
  privateChats.on('message', async (ctx) => {
    await ctx.reply(texts(languageFor(ctx.from.language_code)).unknownMessage);
  });

  return composer;
}
