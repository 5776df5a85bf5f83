/**
 * /last: the latest report of each of the chat's mailboxes (not one held as a blank screenshot), sent again. The chat's mailboxes are those
 * whose recipients, by the directory of now, include this chat (core/recipients.ts: a user's private
 * chat, or a registered group), so a user no longer subscribed to a mailbox gets nothing of it. The
 * report is queued in the outbox as a new round for this chat, and goes through the dispatcher like any
 * delivery: the directory check before each send, file_id reuse, the send limits, outages. It is taken
 * from the spool while it is kept (SPOOL_RETENTION_HOURS after its deliveries, within
 * REPORT_RETENTION_DAYS); else the answer says so.
 */
import { Composer, type Context } from 'grammy';
import type { MediaMode, TallImageMode } from '../core/message-plan.js';
import { type Recipient, recipientsFor } from '../core/recipients.js';
import type { Directory, MailboxEntry } from '../directory/directory.js';
import type { Logger } from '../observability/logger.js';
import type { SecretScrubber } from '../observability/secret-scrubber.js';
import { sanitizeServerText } from '../observability/server-text.js';
import type { ChatLanguages } from '../store/chat-languages.js';
import type { OutboxStore } from '../store/outbox-store.js';
import type { ReportStore, StoredReport } from '../store/report-store.js';
import { spooledFilesKept } from '../store/spool.js';
import { DiskSpoolFiles, type SpoolFiles } from '../store/spool-files.js';
import { type Language, type LastReportLine, languageFor, texts } from '../texts/index.js';
import { usersWithTelegramId } from './subscribers.js';

export interface LastCommandOptions {
  directory: Directory;
  reports: ReportStore;
  /** Where the reports' files are kept (`spoolFilesFor`; default: on disk only). */
  spoolFiles?: SpoolFiles;
  outbox: OutboxStore;
  languages: ChatLanguages;
  logger: Logger;
  scrubber: SecretScrubber;
  /** MEDIA_MODE: the media mode of mailboxes without one. */
  defaultMediaMode: MediaMode;
  /** TALL_IMAGE_MODE: the tall-image mode of mailboxes and groups without one (as at intake). */
  defaultTallImageMode?: TallImageMode;
  /** LAST_COMMAND_INTERVAL_SECONDS in ms: least time between two /last of one chat that are carried out; 0 for none. */
  intervalMs: number;
  /** Called once deliveries were queued (wakes the dispatcher). */
  onQueued?: () => void;
  now?: () => number;
}

/** Longest report subject quoted in the answer. */
const SUBJECT_MAX_LENGTH = 100;
/** Chats remembered for the interval; past this, those whose time is up are forgotten. */
const CHATS_REMEMBERED = 10_000;

interface ChatWindow {
  until: number;
  /** The chat was told to wait in this window: further /last are ignored until it ends. */
  warned: boolean;
}

export function createLastCommand(options: LastCommandOptions): Composer<Context> {
  const log = options.logger.child({ component: 'last-command' });
  const now = options.now ?? Date.now;
  const windows = new Map<number, ChatWindow>();
  const composer = new Composer<Context>();

  /** Whether this /last may be carried out now; answers "wait" once per window otherwise. */
  async function admitted(ctx: Context, chatId: number, language: Language): Promise<boolean> {
    if (options.intervalMs <= 0) return true;
    const at = now();
    const window = windows.get(chatId);
    if (window && at < window.until) {
      if (!window.warned) {
        window.warned = true;
        await ctx.reply(texts(language).lastTooSoon(Math.ceil((window.until - at) / 1000)));
      }
      return false;
    }
    if (windows.size >= CHATS_REMEMBERED) {
      for (const [known, old] of windows) if (old.until <= at) windows.delete(known);
    }
    windows.set(chatId, { until: at + options.intervalMs, warned: false });
    return true;
  }

  composer.chatType('private').command('last', async (ctx) => {
    const language = languageFor(ctx.from.language_code);
    if (!(await admitted(ctx, ctx.chat.id, language))) return;
    const snapshot = options.directory.snapshot();
    if (usersWithTelegramId(snapshot, ctx.from.id).length === 0) {
      await ctx.reply(texts(language).statusNotSubscribed);
      return;
    }
    await options.languages.set(ctx.chat.id, language);
    await answer(ctx, ctx.chat.id, language);
  });

  composer.chatType(['group', 'supergroup']).command('last', async (ctx) => {
    // a group the directory does not know is none of the bot's business: no answer at all
    const snapshot = options.directory.snapshot();
    if (!snapshot.groups.some((group) => group.telegramId === ctx.chat.id)) return;
    const language = await options.languages.get(ctx.chat.id);
    if (!(await admitted(ctx, ctx.chat.id, language))) return;
    await answer(ctx, ctx.chat.id, language);
  });

  async function answer(ctx: Context, chatId: number, language: Language): Promise<void> {
    const t = texts(language);
    const snapshot = options.directory.snapshot();
    const mine: Array<{ mailbox: MailboxEntry; recipient: Recipient }> = [];
    for (const mailbox of snapshot.mailboxes) {
      const recipient = recipientsFor(
        mailbox,
        snapshot,
        options.defaultMediaMode,
        options.defaultTallImageMode,
      ).find((candidate) => candidate.chatId === chatId);
      if (recipient) mine.push({ mailbox, recipient });
    }
    if (mine.length === 0) {
      await ctx.reply(t.lastNothingSubscribed);
      return;
    }
    mine.sort((a, b) => a.mailbox.email.localeCompare(b.mailbox.email));
    const lines: LastReportLine[] = [];
    let queued = 0;
    for (const { mailbox, recipient } of mine) {
      const report = await options.reports.latestForwarded(mailbox.email);
      if (!report) {
        lines.push({ mailbox: mailbox.email, state: 'none' });
        continue;
      }
      const about = {
        mailbox: mailbox.email,
        subject: sanitizeServerText(report.subject, options.scrubber, SUBJECT_MAX_LENGTH),
        receivedAt: report.internalDate ?? report.recordedAt,
      };
      if (!(await filesKept(report, options.spoolFiles ?? new DiskSpoolFiles()))) {
        lines.push({ ...about, state: 'gone' });
      } else if (await options.outbox.hasPending(report.id, chatId)) {
        lines.push({ ...about, state: 'pending' });
      } else {
        const deliveryId = await options.outbox.requeue(report.id, {
          chatId,
          recipientKind: recipient.kind,
          recipientKey: recipient.key,
          recipientName: recipient.name,
          language,
          mediaMode: recipient.mediaMode,
          // the chat's mode of now, as the intake fixes it on a first delivery (NULL would read 'document')
          tallImageMode: recipient.tallImageMode,
          threadId: recipient.threadId,
        });
        queued++;
        log.info(
          { chatId, reportId: report.id, deliveryId, mailbox: mailbox.email },
          '/last: report queued again',
        );
        lines.push({ ...about, state: 'queued' });
      }
    }
    if (queued > 0) options.onQueued?.();
    await ctx.reply(t.lastReports(lines));
  }

  return composer;
}

/** Whether the report's files are still in the spool (a report without files has nothing to lose). */
async function filesKept(report: StoredReport, spoolFiles: SpoolFiles): Promise<boolean> {
  if (report.files.length === 0) return true;
  if (report.spoolDir === null || report.spoolRemovedAt !== null) return false;
  return spooledFilesKept(spoolFiles, report.files);
}
