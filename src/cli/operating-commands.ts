/**
 * The operating commands: `check` (config, directory, mailboxes, token), `reports` (recent reports and
 * their deliveries), `resend` (queue a recorded report again) and `parse` (a mail file as the bot sees it).
 */
import { createReadStream, existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import type { Command } from 'commander';
import type { Config } from '../config.js';
import { type Recipient, recipientsFor } from '../core/recipients.js';
import type { CheckResult } from '../health-check.js';
import { createLogger } from '../observability/logger.js';
import { ChatLanguages } from '../store/chat-languages.js';
import { DATABASE_FILE } from '../store/database.js';
import { RefreshTokenStore } from '../store/oauth2-refresh-tokens.js';
import { type Delivery, OutboxStore } from '../store/outbox-store.js';
import type { PostgresDatabase } from '../store/postgres-database.js';
import { ReportStore } from '../store/report-store.js';
import { spooledFilesKept, spoolRoot } from '../store/spool.js';
import { spoolFilesFor } from '../store/spool-files.js';
import type { SqlDatabase } from '../store/sql-database.js';
import type { SqliteDatabase } from '../store/sqlite-database.js';
import {
  config,
  integer,
  load,
  MB,
  printTable,
  scrubber,
  stateDatabase,
  UsageError,
} from './command-options.js';
import { seatableCheck } from './seatable-commands.js';

export function registerOperatingCommands(program: Command): void {
  program
    .command('check')
    .description(
      'check the configuration, the directory, every mailbox and the bot token; exit 1 on any failure',
    )
    .action(checkCommand);

  program
    .command('reports')
    .description('recent reports with each recipient\u2019s delivery state')
    .option('--limit <n>', 'how many', integer, 20)
    .option('--json', 'JSON output')
    .action(reportsCommand);

  program
    .command('resend')
    .description("send a recorded report again (to its mailbox's current recipients, or to one chat)")
    .argument('<report-id>', 'the report number (see: reports)', integer)
    .option('--chat <id>', 'only this Telegram chat id', integer)
    .action(resendCommand);

  program
    .command('parse')
    .description('parse a mail file the way the bot does and print the report as JSON')
    .argument('<file>', 'an .eml file')
    .action(parseCommand);
}

async function parseCommand(file: string): Promise<void> {
  const cfg = config();
  if (!existsSync(file)) throw new UsageError(`${file}: no such file`);
  const spoolDir = mkdtempSync(path.join(tmpdir(), 'stb-parse-'));
  try {
    const { parseMail } = await load.mailParser();
    const mail = await parseMail(createReadStream(file), {
      spoolDir,
      maxFileBytes: cfg.MAX_FILE_MB * MB,
      maxMailBytes: cfg.MAX_MAIL_MB * MB,
      forwardTypes: cfg.FORWARD_FILE_TYPES,
    });
    const output = {
      subject: mail.subject,
      from: mail.from,
      date: mail.date,
      link: mail.link,
      files: mail.files.map(({ filename, contentType, size, sha256 }) => ({
        filename,
        contentType,
        size,
        sha256,
      })),
      skipped: mail.skipped.map(({ filename, contentType, reason }) => ({ filename, contentType, reason })),
      // a TEXT report: how its table goes out (FORWARD_FILE_TYPES `text`), and the text itself
      textTable: mail.textTable ?? null,
    };
    console.log(JSON.stringify(output, null, 2));
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    if (code === 'EISDIR' || code === 'EACCES') throw new UsageError(`${file}: cannot read (${code})`);
    throw new UsageError(`${file}: ${scrubber.describe(error)}`);
  } finally {
    rmSync(spoolDir, { recursive: true, force: true });
  }
}

async function checkCommand(): Promise<void> {
  const cfg = config();
  const logger = createLogger({ level: 'silent', scrubber });
  let db: SqlDatabase;
  try {
    db = await stateDatabase(cfg);
  } catch (error) {
    // the directory, the OAuth2 tokens and the reports live there: nothing else can be checked
    printTable([
      {
        status: 'FAIL',
        check: 'state database',
        detail: scrubber.describe(error),
        hint: cfg.DATABASE_URL
          ? 'check DATABASE_URL (host, port, database, user, password) and that PostgreSQL runs'
          : `check that DATA_DIR (${cfg.DATA_DIR}) is writable`,
      },
    ]);
    console.log('\n1 check(s) failed; the other checks need the state database');
    process.exitCode = 1;
    return;
  }
  try {
    const { createDirectory } = await load.directories();
    const { runHealthCheck } = await load.healthCheck();
    const directory = createDirectory({
      config: cfg,
      db,
      logger,
      scrubber,
      localPollMs: 0,
    });
    const results = await runHealthCheck({
      config: cfg,
      directory,
      scrubber,
      refreshTokens: new RefreshTokenStore(db),
      ...(cfg.DIRECTORY === 'seatable' ? { directoryChecks: () => seatableCheck(cfg) } : {}),
    });
    // after the configuration lines
    const configurationLines = results.filter((result) => result.check === 'configuration').length;
    results.splice(configurationLines, 0, await stateDatabaseCheck(cfg, db));
    printTable(
      results.map((result) => ({
        status: result.status,
        check: result.check,
        detail: scrubber.scrub(result.detail),
        hint: result.hint ?? '',
      })),
    );
    const failed = results.filter((result) => result.status === 'FAIL').length;
    console.log(failed === 0 ? '\nall checks passed' : `\n${failed} check(s) failed`);
    if (failed > 0) process.exitCode = 1;
  } finally {
    await db.close();
  }
}

/** The `check` line of the state database: its engine, where it is and its schema version. */
async function stateDatabaseCheck(cfg: Config, db: SqlDatabase): Promise<CheckResult> {
  try {
    if (db.engine === 'postgres') {
      const postgres = db as PostgresDatabase;
      const row = await db.get<{ version: number | string | null }>(
        'SELECT max(version) AS version FROM schema_migrations',
      );
      return {
        check: 'state database',
        status: 'OK',
        detail: `PostgreSQL ${postgres.location}, schema ${postgres.schema}, version ${Number(row?.version ?? 0)}`,
      };
    }
    // SQLite only: the schema version is the file's user_version
    const version = (db as SqliteDatabase).connection.pragma('user_version', { simple: true }) as number;
    return {
      check: 'state database',
      status: 'OK',
      detail: `SQLite ${path.resolve(cfg.DATA_DIR, DATABASE_FILE)}, version ${version}`,
    };
  } catch (error) {
    return { check: 'state database', status: 'FAIL', detail: scrubber.describe(error) };
  }
}

async function reportsCommand(options: { limit: number; json?: boolean }): Promise<void> {
  const cfg = config();
  const state = await stateDatabase(cfg);
  try {
    const store = new ReportStore(state);
    const outbox = new OutboxStore(state);
    const reports = [];
    for (const report of await store.recent(options.limit)) {
      const deliveries = await outbox.forReport(report.id);
      reports.push({
        id: report.id,
        recordedAt: report.recordedAt,
        mailbox: report.mailbox,
        status: report.status,
        reason: report.reason,
        subject: report.subject,
        from: report.sender,
        files: report.files.map(({ filename, contentType, size }) => ({ filename, contentType, size })),
        skipped: report.skipped.map(({ filename, contentType, reason }) => ({
          filename,
          contentType,
          reason,
        })),
        deliveries: deliveries.map((delivery) => ({
          chatId: delivery.chatId,
          recipient: delivery.recipientName,
          kind: delivery.recipientKind,
          state: delivery.state,
          messagesSent: delivery.stepsDone,
          attempts: delivery.attempts,
          lastError: delivery.lastError,
          finishedAt: delivery.finishedAt,
        })),
      });
    }
    if (options.json) {
      console.log(JSON.stringify(reports, null, 2));
      return;
    }
    if (reports.length === 0) console.log('(no reports yet)');
    for (const report of reports) {
      const files = report.files.map((file) => file.filename).join(', ') || 'no files';
      console.log(
        `#${report.id}  ${report.recordedAt}  ${report.mailbox}  ${report.status}${report.reason ? ` (${report.reason})` : ''}`,
      );
      console.log(`    ${report.subject || '(no subject)'} — ${files}`);
      for (const delivery of report.deliveries) {
        const error = delivery.lastError ? ` — ${delivery.lastError}` : '';
        console.log(
          `    ${delivery.state.padEnd(9)} ${delivery.kind} ${delivery.recipient} (${delivery.chatId})${error}`,
        );
      }
    }
  } finally {
    await state.close();
  }
}

async function resendCommand(reportId: number, options: { chat?: number }): Promise<void> {
  const cfg = config();
  const state = await stateDatabase(cfg);
  try {
    const store = new ReportStore(state);
    const outbox = new OutboxStore(state);
    const report = await store.report(reportId);
    if (!report) throw new UsageError(`no report #${reportId} (see: superset-telegram-bot reports)`);
    if (report.status !== 'forward')
      throw new UsageError(`report #${reportId} was not forwarded (${report.status}): nothing to resend`);
    // through the same path as the bot's sender: with DATABASE_URL the files are in the database
    if (!(await spooledFilesKept(spoolFilesFor(state, spoolRoot(cfg.DATA_DIR)), report.files))) {
      throw new UsageError(
        `the files of report #${reportId} were already removed from the spool (SPOOL_RETENTION_HOURS)`,
      );
    }
    // the directory of now decides: not the chats of the first delivery, which may have left since
    const { createDirectory } = await load.directories();
    const logger = createLogger({ level: 'silent', scrubber });
    const directory = createDirectory({
      config: cfg,
      db: state,
      logger,
      scrubber,
      localPollMs: 0,
    });
    await directory.start();
    let recipients: Recipient[];
    try {
      const snapshot = directory.snapshot();
      const mailbox = snapshot.mailboxes.find((entry) => entry.email === report.mailbox.toLowerCase());
      recipients = recipientsFor(
        {
          email: report.mailbox,
          mediaMode: mailbox?.mediaMode ?? null,
          tallImageMode: mailbox?.tallImageMode ?? null,
        },
        snapshot,
        cfg.MEDIA_MODE,
        cfg.TALL_IMAGE_MODE,
      );
    } finally {
      await directory.stop();
    }
    const languages = new ChatLanguages(state);
    const targets: Array<Parameters<OutboxStore['requeue']>[1]> = [];
    for (const recipient of recipients) {
      if (options.chat !== undefined && recipient.chatId !== options.chat) continue;
      targets.push({
        chatId: recipient.chatId,
        recipientKind: recipient.kind as Delivery['recipientKind'],
        recipientKey: recipient.key,
        recipientName: recipient.name,
        language: (await languages.get(recipient.chatId)) as string,
        mediaMode: recipient.mediaMode as string,
        tallImageMode: recipient.tallImageMode as string,
        threadId: recipient.threadId,
      });
    }
    if (options.chat !== undefined && targets.length === 0) {
      // a chat the operator names is theirs to choose; the bot sends there without asking the directory
      console.log(
        `chat ${options.chat} is not a current recipient of ${report.mailbox}: sending as you asked`,
      );
      targets.push({
        chatId: options.chat,
        recipientKind: 'admin',
        recipientKey: '',
        recipientName: `chat ${options.chat} (named in resend)`,
        language: await languages.get(options.chat),
        mediaMode: cfg.MEDIA_MODE,
        tallImageMode: cfg.TALL_IMAGE_MODE as string,
        threadId: null,
      });
    }
    if (targets.length === 0)
      throw new UsageError(
        `report #${reportId}: ${report.mailbox} has no active recipients in the directory now; name a chat with --chat`,
      );
    await state.transaction(async () => {
      for (const target of targets) await outbox.requeue(reportId, target);
      // sent to its recipients, a report held as blank is released: /last gives it from now on (one chat
      // named with --chat is the operator's look at it, not a release)
      if (options.chat === undefined) await store.release(reportId);
    });
    console.log(
      `report #${reportId} queued again for ${targets.length} chat(s); the running bot sends it within seconds`,
    );
  } finally {
    await state.close();
  }
}
