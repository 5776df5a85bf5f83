#!/usr/bin/env node
/**
 * The command line: `superset-telegram-bot <command>`. Reads `.env` from the working directory (real
 * environment variables win), validates the config, and runs one command.
 */
import { createReadStream, existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { Command, InvalidArgumentError, Option } from 'commander';
import type { CountryCode } from 'libphonenumber-js';
import { type Config, ConfigError, loadConfig, secretValues } from './config.js';
import type { MediaMode } from './core/message-plan.js';
import { type Recipient, recipientsFor } from './core/recipients.js';
import type { ChatGone, TlsMode } from './directory/directory.js';
import { DirectoryInputError, LocalDirectory } from './directory/local/local-directory.js';
import type { CheckResult } from './health-check.js';
import { createLogger } from './observability/logger.js';
import { SecretScrubber, SHORT_SECRET_LENGTH } from './observability/secret-scrubber.js';
import { ChatLanguages } from './store/chat-languages.js';
import { openDatabase } from './store/database.js';
import { type Delivery, OutboxStore } from './store/outbox-store.js';
import { ReportStore } from './store/report-store.js';

const MB = 1024 * 1024;

// Each command loads only what it needs: an admin's `user list` should not wait for grammY, imapflow
// and prom-client to load.
const load = {
  app: () => import('./app.js'),
  directories: () => import('./directory/create-directory.js'),
  seatableSchema: () => import('./directory/seatable/seatable-schema.js'),
  healthCheck: () => import('./health-check.js'),
  mailParser: () => import('./mail/mail-parser.js'),
};
const scrubber = new SecretScrubber();

/** An error the user can fix; printed as one line without a stack. */
class UsageError extends Error {}

function config(): Config {
  const loaded = loadConfig(process.env);
  scrubber.add(...secretValues(loaded));
  return loaded;
}

function integer(value: string): number {
  if (!/^-?\d+$/.test(value)) throw new InvalidArgumentError('expected a whole number');
  return Number(value);
}

function collect(value: string, previous: string[] = []): string[] {
  return [...previous, value];
}

const mediaModeOption = () =>
  new Option('--media-mode <mode>', 'how PNGs are sent: photo, document or both').choices([
    'photo',
    'document',
    'both',
  ]);

/** Opens the embedded directory for a management command; refuses when SeaTable is the directory. */
function localDirectory(cfg: Config): LocalDirectory {
  if (cfg.DIRECTORY !== 'local') {
    throw new UsageError(
      `DIRECTORY=${cfg.DIRECTORY}: mailboxes, users and groups are managed in SeaTable; edit the base instead`,
    );
  }
  const directory = new LocalDirectory(openDatabase(cfg.DATA_DIR), {
    phoneRegion: cfg.PHONE_REGION as CountryCode,
    pollIntervalMs: 0,
  });
  void directory.start();
  return directory;
}

/** Whether an entry receives reports, and if not, who decided: the admin (pause) or the bot (what it saw). */
function describeState(entry: { active: boolean; pausedByAdmin?: true; chatGone?: ChatGone }): string {
  const seen = entry.chatGone
    ? `off (bot: ${CHAT_GONE_WORDS[entry.chatGone.reason]}, since ${entry.chatGone.since.slice(0, 16).replace('T', ' ')})`
    : null;
  if (entry.pausedByAdmin) return seen ? `paused (admin); ${seen}` : 'paused (admin)';
  return seen ?? (entry.active ? 'active' : 'off');
}

const CHAT_GONE_WORDS: Record<ChatGone['reason'], string> = {
  blocked: 'the user blocked the bot',
  removed: 'the bot was removed from the group',
  refused: 'Telegram refused delivery (403)',
};

/** `--telegram-id` or `--unlink`/`--unlock` of an edit command: a number, null (clear) or nothing. */
function idChange(
  id: number | undefined,
  clear: boolean | undefined,
  clearFlag: string,
): number | null | undefined {
  if (id !== undefined && clear) throw new UsageError(`give --telegram-id or ${clearFlag}, not both`);
  return clear ? null : id;
}

function printTable(rows: Array<Record<string, string>>): void {
  if (rows.length === 0) {
    console.log('(none)');
    return;
  }
  const columns = Object.keys(rows[0]!);
  const widths = columns.map((column) =>
    Math.max(column.length, ...rows.map((row) => (row[column] ?? '').length)),
  );
  const line = (values: string[]) =>
    values
      .map((value, index) => value.padEnd(widths[index]!))
      .join('  ')
      .trimEnd();
  console.log(line(columns));
  for (const row of rows) console.log(line(columns.map((column) => row[column] ?? '')));
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
  const db = openDatabase(cfg.DATA_DIR);
  try {
    const { createDirectory } = await load.directories();
    const { runHealthCheck } = await load.healthCheck();
    const directory = createDirectory({ config: cfg, db, logger, scrubber, localPollMs: 0 });
    const results = await runHealthCheck({
      config: cfg,
      directory,
      scrubber,
      ...(cfg.DIRECTORY === 'seatable' ? { directoryChecks: () => seatableCheck(cfg) } : {}),
    });
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
    db.close();
  }
}

function reportsCommand(options: { limit: number; json?: boolean }): void {
  const cfg = config();
  const db = openDatabase(cfg.DATA_DIR);
  try {
    const store = new ReportStore(db);
    const outbox = new OutboxStore(db);
    const reports = store.recent(options.limit).map((report) => ({
      id: report.id,
      recordedAt: report.recordedAt,
      mailbox: report.mailbox,
      status: report.status,
      reason: report.reason,
      subject: report.subject,
      from: report.sender,
      files: report.files.map(({ filename, contentType, size }) => ({ filename, contentType, size })),
      skipped: report.skipped.map(({ filename, contentType, reason }) => ({ filename, contentType, reason })),
      deliveries: outbox.forReport(report.id).map((delivery) => ({
        chatId: delivery.chatId,
        recipient: delivery.recipientName,
        kind: delivery.recipientKind,
        state: delivery.state,
        messagesSent: delivery.stepsDone,
        attempts: delivery.attempts,
        lastError: delivery.lastError,
        finishedAt: delivery.finishedAt,
      })),
    }));
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
    db.close();
  }
}

async function resendCommand(reportId: number, options: { chat?: number }): Promise<void> {
  const cfg = config();
  const db = openDatabase(cfg.DATA_DIR);
  try {
    const store = new ReportStore(db);
    const outbox = new OutboxStore(db);
    const report = store.report(reportId);
    if (!report) throw new UsageError(`no report #${reportId} (see: superset-telegram-bot reports)`);
    if (report.status !== 'forward')
      throw new UsageError(`report #${reportId} was not forwarded (${report.status}): nothing to resend`);
    if (report.files.length > 0 && report.files.some((file) => !existsSync(file.path))) {
      throw new UsageError(
        `the files of report #${reportId} were already removed from the spool (SPOOL_RETENTION_HOURS)`,
      );
    }
    // the directory of now decides: not the chats of the first delivery, which may have left since
    const { createDirectory } = await load.directories();
    const logger = createLogger({ level: 'silent', scrubber });
    const directory = createDirectory({ config: cfg, db, logger, scrubber, localPollMs: 0 });
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
    const languages = new ChatLanguages(db);
    const targets = recipients
      .filter((recipient) => options.chat === undefined || recipient.chatId === options.chat)
      .map((recipient) => ({
        chatId: recipient.chatId,
        recipientKind: recipient.kind as Delivery['recipientKind'],
        recipientKey: recipient.key,
        recipientName: recipient.name,
        language: languages.get(recipient.chatId) as string,
        mediaMode: recipient.mediaMode as string,
        tallImageMode: recipient.tallImageMode as string,
        threadId: recipient.threadId,
      }));
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
        language: languages.get(options.chat),
        mediaMode: cfg.MEDIA_MODE,
        tallImageMode: cfg.TALL_IMAGE_MODE as string,
        threadId: null,
      });
    }
    if (targets.length === 0)
      throw new UsageError(
        `report #${reportId}: ${report.mailbox} has no active recipients in the directory now; name a chat with --chat`,
      );
    for (const target of targets) outbox.requeue(reportId, target);
    console.log(
      `report #${reportId} queued again for ${targets.length} chat(s); the running bot sends it within seconds`,
    );
  } finally {
    db.close();
  }
}

async function startCommand(): Promise<void> {
  const cfg = config();
  if (!cfg.TELEGRAM_BOT_TOKEN) {
    throw new ConfigError(['TELEGRAM_BOT_TOKEN: required by start (the token from @BotFather)']);
  }
  const logger = createLogger({ level: cfg.LOG_LEVEL, scrubber });
  const { App } = await load.app();
  let stopping = false;
  const app = await App.start({
    config: cfg,
    logger,
    scrubber,
    // another bot took DATA_DIR: the app has stopped sending and stopped; say why, as for a failed start
    onFatal: (error) => {
      stopping = true;
      console.error(`error: ${scrubber.scrub(error.message)}`);
      process.exit(1);
    },
  });
  const shutdown = (signal: string) => {
    if (stopping) {
      // a second signal must not kill the bot mid-send: the first one is already being handled
      logger.info({ signal }, 'already stopping');
      return;
    }
    stopping = true;
    logger.info({ signal }, 'stopping');
    app.stop().then(
      () => process.exit(0),
      (error: unknown) => {
        logger.error({ err: scrubber.describe(error) }, 'error while stopping');
        process.exit(1);
      },
    );
  };
  process.on('SIGTERM', () => shutdown('SIGTERM'));
  process.on('SIGINT', () => shutdown('SIGINT'));
}

// ---- SeaTable directory: `seatable init`, and the schema part of `check` ----------------------------

function requireSeaTableSettings(cfg: Config): void {
  if (!cfg.SEATABLE_SERVER_URL || !cfg.SEATABLE_API_TOKEN) {
    throw new UsageError(
      'set SEATABLE_SERVER_URL and SEATABLE_API_TOKEN (a read-write API token of the base)',
    );
  }
}

/** The SeaTable base against the directory schema, as `check` results: one per problem, or one OK. */
export async function seatableCheck(cfg: Config): Promise<CheckResult[]> {
  requireSeaTableSettings(cfg);
  const { checkSeaTableBase, seaTableNames } = await load.seatableSchema();
  const { createSeaTableClient } = await load.directories();
  const names = seaTableNames(cfg);
  const result = await checkSeaTableBase(createSeaTableClient(cfg), names, (error) =>
    scrubber.describe(error),
  );
  if (result.error !== null) {
    return [
      {
        check: 'SeaTable',
        status: 'FAIL',
        detail: result.error,
        hint: 'check SEATABLE_SERVER_URL, SEATABLE_API_TOKEN (Base → ⋯ → Advanced → API Token) and the network',
      },
    ];
  }
  if (result.problems.length === 0) {
    return [
      {
        check: 'SeaTable schema',
        status: 'OK',
        detail: `base "${result.baseName ?? '?'}": tables ${Object.values(names.tables).join(', ')} complete`,
      },
    ];
  }
  return result.problems.map((problem) => ({
    check: 'SeaTable schema',
    status: 'FAIL' as const,
    detail: problem.message,
    hint: problem.fixableByInit
      ? 'run: superset-telegram-bot seatable init'
      : 'change the column in SeaTable, or name another column in SEATABLE_COLUMN_NAMES',
  }));
}

async function seatableInitCommand(): Promise<void> {
  const cfg = config();
  requireSeaTableSettings(cfg);
  const { describeSchemaProblems, initSchema, seaTableNames } = await load.seatableSchema();
  const { createSeaTableClient } = await load.directories();
  const result = await initSchema(createSeaTableClient(cfg), seaTableNames(cfg));
  if (result.created.length === 0) console.log('nothing to create: the base has every table and column');
  for (const line of result.created) console.log(`created ${line}`);
  if (result.remaining.length > 0) {
    console.log(`\n${describeSchemaProblems(result.remaining)}`);
    process.exitCode = 1;
  }
}

function buildProgram(): Command {
  const program = new Command()
    .name('superset-telegram-bot')
    .description('Delivers Apache Superset e-mail reports (PDF/PNG) from IMAP mailboxes to Telegram.')
    .showHelpAfterError();

  program
    .command('start')
    .description('run the bot: mailbox listeners and delivery (stops gracefully on SIGTERM/SIGINT)')
    .action(startCommand);

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

  const mailbox = program.command('mailbox').description('technical mailboxes (embedded directory)');
  mailbox
    .command('add')
    .description('add a mailbox to listen to')
    .argument('<email>', 'the mailbox address (also the default login)')
    .requiredOption('--host <host>', 'IMAP server')
    .option('--port <port>', 'IMAP port (default 993 with TLS, 143 otherwise)', integer)
    .option('--tls', 'implicit TLS (the default)')
    .option('--starttls', 'plain connection upgraded with STARTTLS (required)')
    .option('--no-tls', 'no encryption at all (only for a server on the same host)')
    .option('--login <login>', 'IMAP login (default: the address)')
    .option('--password <password>', 'IMAP password, stored in the database')
    .option('--password-env <VAR>', 'read the IMAP password from this environment variable instead')
    .option('--folder <folder>', 'folder to watch', 'INBOX')
    .option('--allow-from <pattern>', 'allowed sender: an address or @domain (repeatable)', collect, [])
    .addOption(mediaModeOption())
    .option('--mark-seen', 'mark processed mails \\Seen')
    .option(
      '--sender-auth <rule>',
      'how mail proves its From: off, dkim, authentication-results or authentication-results:<authserv-id> (default: SENDER_AUTH)',
    )
    .action((email: string, options) => {
      const cfg = config();
      scrubber.add(options.password);
      const tls: TlsMode = options.starttls ? 'starttls' : options.tls === false ? 'none' : 'tls';
      const added = localDirectory(cfg).addMailbox({
        email,
        host: options.host,
        port: options.port,
        tls,
        login: options.login,
        password: options.password,
        passwordEnv: options.passwordEnv,
        folder: options.folder,
        allowFrom: options.allowFrom,
        mediaMode: options.mediaMode as MediaMode | undefined,
        markSeen: options.markSeen,
        senderAuth: options.senderAuth,
      });
      console.log(
        `mailbox ${added.email} added (${added.host}:${added.port}, ${added.tls}, folder ${added.folder})`,
      );
      if (typeof options.password === 'string' && options.password.length < SHORT_SECRET_LENGTH) {
        console.log(
          `warning: the IMAP password is shorter than ${SHORT_SECRET_LENGTH} characters: easy to guess, and too short to be masked reliably if some other program logs it`,
        );
      }
      if (added.allowFrom.length === 0) {
        console.log('warning: no --allow-from: mail from any sender will be forwarded');
      }
    });
  mailbox
    .command('list')
    .description('list mailboxes (passwords are never shown)')
    .option('--json', 'JSON output')
    .action((options: { json?: boolean }) => {
      const rows = localDirectory(config())
        .snapshot()
        .mailboxes.map(({ password: _secret, key: _key, ...mailbox }) => mailbox);
      if (options.json) console.log(JSON.stringify(rows, null, 2));
      else
        printTable(
          rows.map((row) => ({
            email: row.email,
            server: `${row.host}:${row.port}`,
            tls: row.tls,
            login: row.login,
            password: row.passwordSource,
            folder: row.folder,
            'allowed senders': row.allowFrom.join(' ') || '(anyone)',
            state: row.active ? 'active' : 'paused (admin)',
          })),
        );
    });
  mailbox
    .command('remove')
    .description('remove a mailbox (its subscriptions go with it)')
    .argument('<email>')
    .action((email: string) => {
      localDirectory(config()).removeMailbox(email);
      console.log(`mailbox ${email} removed`);
    });
  for (const paused of [true, false]) {
    mailbox
      .command(paused ? 'pause' : 'resume')
      .description(
        paused
          ? 'stop reading a mailbox (mail that arrives meanwhile waits on the server)'
          : 'read a paused mailbox again',
      )
      .argument('<email>')
      .action((email: string) => {
        const entry = localDirectory(config()).setMailboxPaused(email, paused);
        console.log(`mailbox ${entry.email} ${paused ? 'paused' : 'resumed'}`);
      });
  }
  mailbox
    .command('edit')
    .description('change a mailbox in place (what is not given stays)')
    .argument('<email>')
    .option('--host <host>', 'IMAP server')
    .option('--port <port>', 'IMAP port', integer)
    .addOption(new Option('--tls-mode <mode>', 'tls, starttls or none').choices(['tls', 'starttls', 'none']))
    .option('--login <login>', 'IMAP login')
    .option('--password <password>', 'IMAP password, stored in the database')
    .option('--password-env <VAR>', 'read the IMAP password from this environment variable instead')
    .option('--folder <folder>', 'folder to watch')
    .option('--allow-from <pattern>', 'allowed sender, replaces the list (repeatable)', collect)
    .option('--allow-anyone', 'clear the allowed senders: mail from anyone is forwarded')
    .addOption(mediaModeOption())
    .option('--default-media-mode', 'go back to MEDIA_MODE')
    .option('--mark-seen', 'mark processed mails \\Seen')
    .option('--no-mark-seen', 'leave processed mails unseen')
    .action((email: string, options) => {
      scrubber.add(options.password);
      if (options.allowFrom && options.allowAnyone)
        throw new UsageError('give --allow-from or --allow-anyone, not both');
      const entry = localDirectory(config()).editMailbox(email, {
        host: options.host,
        port: options.port,
        tls: options.tlsMode as TlsMode | undefined,
        login: options.login,
        password: options.password,
        passwordEnv: options.passwordEnv,
        folder: options.folder,
        allowFrom: options.allowAnyone ? [] : options.allowFrom,
        mediaMode: options.defaultMediaMode ? null : (options.mediaMode as MediaMode | undefined),
        markSeen: options.markSeen,
      });
      console.log(
        `mailbox ${entry.email} changed (${entry.host}:${entry.port}, ${entry.tls}, folder ${entry.folder})`,
      );
    });

  const user = program.command('user').description('people who receive reports in a private chat');
  user
    .command('add')
    .description('add a user; they subscribe by sharing this phone number with the bot')
    .requiredOption('--name <name>', 'display name')
    .requiredOption('--phone <phone>', 'phone number (any common format)')
    .requiredOption('--mailbox <email>', 'mailbox whose reports they receive (repeatable)', collect, [])
    .option('--telegram-id <id>', 'Telegram user id, if already known', integer)
    .action((options: { name: string; phone: string; mailbox: string[]; telegramId?: number }) => {
      const added = localDirectory(config()).addUser({
        name: options.name,
        phone: options.phone,
        mailboxes: options.mailbox,
        telegramId: options.telegramId,
      });
      console.log(`user ${added.name} (${added.phone}) added, subscribed to ${added.mailboxes.join(', ')}`);
    });
  user
    .command('list')
    .description('list users')
    .option('--json', 'JSON output')
    .action((options: { json?: boolean }) => {
      const rows = localDirectory(config())
        .snapshot()
        .users.map(({ key: _key, ...entry }) => entry);
      if (options.json) console.log(JSON.stringify(rows, null, 2));
      else
        printTable(
          rows.map((row) => ({
            name: row.name,
            phone: row.phone,
            'telegram id': row.telegramId === null ? '(not registered)' : String(row.telegramId),
            mailboxes: row.mailboxes.join(' '),
            state: describeState(row),
          })),
        );
    });
  user
    .command('remove')
    .description('remove a user')
    .argument('<phone-or-telegram-id>')
    .action((who: string) => {
      localDirectory(config()).removeUser(who);
      console.log(`user ${who} removed`);
    });
  for (const paused of [true, false]) {
    user
      .command(paused ? 'pause' : 'resume')
      .description(
        paused
          ? 'pause a user: no reports, and nothing they do in Telegram (/start, sharing the phone) resumes it'
          : 'resume a user the admin paused',
      )
      .argument('<phone-or-telegram-id>')
      .action((who: string) => {
        const entry = localDirectory(config()).setUserPaused(who, paused);
        console.log(
          `user ${entry.name} (${entry.phone}) ${paused ? 'paused' : 'resumed'}: ${describeState(entry)}`,
        );
      });
  }
  user
    .command('edit')
    .description('change a user in place (what is not given stays)')
    .argument('<phone-or-telegram-id>')
    .option('--name <name>', 'display name')
    .option('--phone <phone>', 'phone number')
    .option(
      '--mailbox <email>',
      'mailbox whose reports they receive, replaces the list (repeatable)',
      collect,
    )
    .option('--telegram-id <id>', 'Telegram user id', integer)
    .option('--unlink', 'forget the Telegram account (they register again with /start)')
    .action(
      (
        who: string,
        options: { name?: string; phone?: string; mailbox?: string[]; telegramId?: number; unlink?: boolean },
      ) => {
        const entry = localDirectory(config()).editUser(who, {
          name: options.name,
          phone: options.phone,
          mailboxes: options.mailbox,
          telegramId: idChange(options.telegramId, options.unlink, '--unlink'),
        });
        console.log(
          `user ${entry.name} (${entry.phone}) changed, subscribed to ${entry.mailboxes.join(', ')}`,
        );
      },
    );

  const group = program.command('group').description('Telegram groups that receive reports');
  group
    .command('add')
    .description('add a group; it registers when the bot is made administrator in a group with this title')
    .requiredOption('--title <title>', 'the Telegram group title')
    .requiredOption('--mailbox <email>', 'mailbox whose reports it receives (repeatable)', collect, [])
    .option('--topic <id>', 'forum topic (message_thread_id) for the reports', integer)
    .option('--telegram-id <id>', 'Telegram chat id, if already known (locks the group to it)', integer)
    .addOption(mediaModeOption())
    .action(
      (options: {
        title: string;
        mailbox: string[];
        topic?: number;
        telegramId?: number;
        mediaMode?: MediaMode;
      }) => {
        const added = localDirectory(config()).addGroup({
          title: options.title,
          mailboxes: options.mailbox,
          topicId: options.topic,
          telegramId: options.telegramId,
          mediaMode: options.mediaMode,
        });
        console.log(`group "${added.title}" added, subscribed to ${added.mailboxes.join(', ')}`);
      },
    );
  group
    .command('list')
    .description('list groups')
    .option('--json', 'JSON output')
    .action((options: { json?: boolean }) => {
      const rows = localDirectory(config())
        .snapshot()
        .groups.map(({ key: _key, ...entry }) => entry);
      if (options.json) console.log(JSON.stringify(rows, null, 2));
      else
        printTable(
          rows.map((row) => ({
            title: row.title,
            'telegram id': row.telegramId === null ? '(not registered)' : String(row.telegramId),
            locked: row.locked ? 'yes' : 'no',
            topic: row.topicId === null ? '' : String(row.topicId),
            mailboxes: row.mailboxes.join(' '),
            state: describeState(row),
          })),
        );
    });
  group
    .command('remove')
    .description('remove a group')
    .argument('<title>')
    .action((title: string) => {
      localDirectory(config()).removeGroup(title);
      console.log(`group "${title}" removed`);
    });
  for (const paused of [true, false]) {
    group
      .command(paused ? 'pause' : 'resume')
      .description(
        paused
          ? 'pause a group: no reports, and nothing done in Telegram (promoting the bot again) resumes it'
          : 'resume a group the admin paused',
      )
      .argument('<title>')
      .action((title: string) => {
        const entry = localDirectory(config()).setGroupPaused(title, paused);
        console.log(`group "${entry.title}" ${paused ? 'paused' : 'resumed'}: ${describeState(entry)}`);
      });
  }
  group
    .command('edit')
    .description('change a group in place (what is not given stays)')
    .argument('<title>')
    .option('--title <title>', 'new title (a registered group is known by its id, so this changes no chat)')
    .option('--mailbox <email>', 'mailbox whose reports it receives, replaces the list (repeatable)', collect)
    .option('--topic <id>', 'forum topic (message_thread_id) for the reports', integer)
    .option('--no-topic', 'the whole group, no topic')
    .option('--telegram-id <id>', 'Telegram chat id (locks the group to it)', integer)
    .option('--unlock', 'forget the chat id and the lock: the group registers again')
    .addOption(mediaModeOption())
    .option('--default-media-mode', 'go back to the mailbox’s or MEDIA_MODE')
    .action(
      (
        title: string,
        options: {
          title?: string;
          mailbox?: string[];
          topic?: number | false;
          telegramId?: number;
          unlock?: boolean;
          mediaMode?: MediaMode;
          defaultMediaMode?: boolean;
        },
      ) => {
        const entry = localDirectory(config()).editGroup(title, {
          title: options.title,
          mailboxes: options.mailbox,
          topicId: options.topic === false ? null : options.topic,
          telegramId: idChange(options.telegramId, options.unlock, '--unlock'),
          mediaMode: options.defaultMediaMode ? null : options.mediaMode,
        });
        console.log(`group "${entry.title}" changed, subscribed to ${entry.mailboxes.join(', ')}`);
      },
    );

  program
    .command('seatable')
    .description('the SeaTable directory (DIRECTORY=seatable)')
    .command('init')
    .description('create the missing tables and columns in the SeaTable base (never changes existing ones)')
    .action(seatableInitCommand);

  return program;
}

async function main(): Promise<void> {
  if (existsSync('.env')) process.loadEnvFile('.env');
  try {
    await buildProgram().parseAsync(process.argv);
  } catch (error) {
    if (error instanceof ConfigError) {
      console.error(error.message);
    } else if (error instanceof UsageError || error instanceof DirectoryInputError) {
      console.error(`error: ${scrubber.scrub(error.message)}`);
    } else {
      console.error(`error: ${scrubber.describe(error)}`);
    }
    process.exitCode = 1;
  }
}

await main();
