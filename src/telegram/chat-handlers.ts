/**
 * What the bot does with updates from people and groups: registration by phone
 * (user-registration.ts), the chat commands (chat-commands.ts) and group registration by promotion
 * (group-registration.ts), behind one error boundary: an expected situation never throws out of here,
 * and an unexpected error is logged (scrubbed) and answered with a short "try later".
 */
import { type Api, type BotError, Composer, type Context, GrammyError } from 'grammy';
import type { Config } from '../config.js';
import type { Directory } from '../directory/directory.js';
import { DirectoryUnavailableError } from '../directory/directory.js';
import type { AdminAlerts } from '../observability/admin-alerts.js';
import type { Logger } from '../observability/logger.js';
import type { SecretScrubber } from '../observability/secret-scrubber.js';
import type { ChatLanguages } from '../store/chat-languages.js';
import type { GroupApprovals } from '../store/group-approvals.js';
import type { OutboxStore } from '../store/outbox-store.js';
import type { ReportStore } from '../store/report-store.js';
import type { SpoolFiles } from '../store/spool-files.js';
import { languageFor, texts } from '../texts/index.js';
import { createChatCommands } from './chat-commands.js';
import { createGroupRegistration } from './group-registration.js';
import { createLastCommand } from './last-command.js';
import { createUserRegistration } from './user-registration.js';

export { publishCommands } from './chat-commands.js';

export interface ChatHandlerDependencies {
  /** GROUP_REGISTRATION, ADMIN_CHAT_ID and PHONE_REGION are read from here. */
  config: Config;
  /** Where users and groups are looked up and registered. */
  directory: Directory;
  /** Remembers each chat's language: a user's from their Telegram client, a group's from the admin who registered it. */
  languages: ChatLanguages;
  /** Pending deliveries: cancelled on /stop and when the bot is blocked or removed, moved with a migrating group. */
  outbox: OutboxStore;
  /** The admin chat: refused registrations, removed groups. */
  alerts: AdminAlerts;
  logger: Logger;
  scrubber: SecretScrubber;
  /**
   * For messages outside an update: telling a group its registration was undone when the directory
   * refused it after the fact. Without it, only the admin chat is told.
   */
  api?: Api;
  /** Group registrations waiting for the admin chat (GROUP_REGISTRATION=approval). */
  approvals: GroupApprovals;
  /** The recorded reports, for /last; without it /last is not offered. */
  reports?: ReportStore;
  /** Where the reports' files are kept, for /last (`spoolFilesFor`; default: on disk only). */
  spoolFiles?: SpoolFiles;
  /** Deliveries were queued by a command (/last): wakes the dispatcher. */
  onQueued?: () => void;
}

export function createChatHandlers(deps: ChatHandlerDependencies): Composer<Context> {
  const log = deps.logger.child({ component: 'chat-handlers' });
  const composer = new Composer<Context>();
  composer
    .errorBoundary((error) => answerUnexpected(error, deps, log))
    .use(
      createGroupRegistration(deps),
      createUserRegistration(deps),
      ...(deps.reports ? [lastCommandOf(deps, deps.reports)] : []),
      createChatCommands(deps),
    );
  return composer;
}

function lastCommandOf(deps: ChatHandlerDependencies, reports: ReportStore): Composer<Context> {
  return createLastCommand({
    directory: deps.directory,
    reports,
    ...(deps.spoolFiles ? { spoolFiles: deps.spoolFiles } : {}),
    outbox: deps.outbox,
    languages: deps.languages,
    logger: deps.logger,
    scrubber: deps.scrubber,
    defaultMediaMode: deps.config.MEDIA_MODE,
    defaultTallImageMode: deps.config.TALL_IMAGE_MODE,
    intervalMs: deps.config.LAST_COMMAND_INTERVAL_SECONDS * 1000,
    ...(deps.onQueued ? { onQueued: deps.onQueued } : {}),
  });
}

/**
 * Logs an error that escaped a handler and, where someone is waiting for an answer (a private chat, a
 * group that just added the bot), says so. Never throws: the update loop goes on.
 */
async function answerUnexpected(error: BotError<Context>, deps: ChatHandlerDependencies, log: Logger) {
  const { ctx } = error;
  const cause = error.error;
  const fields = { updateId: ctx.update.update_id, chatId: ctx.chat?.id, err: deps.scrubber.describe(cause) };
  // Telegram refusing an answer (blocked, kicked, flood) is part of life, not a bug
  if (cause instanceof GrammyError || cause instanceof DirectoryUnavailableError) {
    log.warn(fields, 'could not finish handling an update');
  } else {
    log.error(fields, 'unexpected error while handling an update');
  }
  if (!someoneIsWaiting(ctx)) return;
  const t = texts(languageFor(ctx.from?.language_code));
  try {
    await ctx.reply(cause instanceof DirectoryUnavailableError ? t.tryLater : t.somethingWentWrong);
  } catch (replyError) {
    log.warn({ chatId: ctx.chat?.id, err: deps.scrubber.describe(replyError) }, 'could not answer either');
  }
}

/** A person who wrote to the bot in private, or a group that just added or promoted it. */
function someoneIsWaiting(ctx: Context): boolean {
  if (ctx.myChatMember !== undefined) {
    const status = ctx.myChatMember.new_chat_member.status;
    return ctx.chat?.type !== 'private' && (status === 'administrator' || status === 'member');
  }
  return ctx.chat?.type === 'private' && ctx.message !== undefined;
}
