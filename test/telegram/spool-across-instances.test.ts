/**
 * State in PostgreSQL (DATABASE_URL): a report recorded by one instance is delivered by another whose
 * spool is empty, the files (a PDF, a tall PNG and its tiles) streamed from the database, byte for byte
 * what the mail carried. In process: the real intake and mail parser on instance A's DATA_DIR, the real
 * dispatcher and grammY client on instance B's, both on one PostgreSQL state, and the fake Bot API.
 */
import { createHash } from 'node:crypto';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { Readable } from 'node:stream';
import { Api } from 'grammy';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DEFAULT_PLAN_LIMITS } from '../../src/core/message-plan.js';
import { LocalDirectory } from '../../src/directory/local/local-directory.js';
import { ReportIntake } from '../../src/intake/report-intake.js';
import { parseMail } from '../../src/mail/mail-parser.js';
import { LoggedAlerts } from '../../src/observability/admin-alerts.js';
import { createLogger } from '../../src/observability/logger.js';
import { SecretScrubber } from '../../src/observability/secret-scrubber.js';
import { OutboxStore } from '../../src/store/outbox-store.js';
import type { PostgresDatabase } from '../../src/store/postgres-database.js';
import { ReportStore } from '../../src/store/report-store.js';
import { spoolRoot } from '../../src/store/spool.js';
import { spoolFilesFor } from '../../src/store/spool-files.js';
import { OutboxDispatcher } from '../../src/telegram/outbox-dispatcher.js';
import { FakeTelegram } from '../fakes/telegram/fake-telegram.js';
import { freshPostgresDatabase, releaseTestPostgresCluster } from '../store/engines.js';
import { CapturedLogs, eventually } from '../support/bot-harness.js';
import { stripedPng } from '../support/dashboard-images.js';
import { pngReportMail } from '../support/simple-mail.js';

const root = mkdtempSync(path.join(tmpdir(), 'stb-spool-instances-'));
let telegram: FakeTelegram;
let state: PostgresDatabase;

beforeAll(async () => {
  telegram = await FakeTelegram.start();
  state = await freshPostgresDatabase();
}, 120_000);

afterAll(async () => {
  await state?.close();
  await telegram?.stop();
  await releaseTestPostgresCluster();
  rmSync(root, { recursive: true, force: true });
});

const sha256 = (bytes: Buffer) => createHash('sha256').update(bytes).digest('hex');

describe('spooled files in PostgreSQL', () => {
  it('delivers from an instance with an empty spool the files another recorded, byte-identical, tiles too', async () => {
    const logger = createLogger({
      level: 'silent',
      scrubber: new SecretScrubber(),
      destination: new CapturedLogs(),
    });
    const chatId = 95_000_001;
    telegram.addPrivateChat({ id: chatId, first_name: 'Reader' });
    const directory = new LocalDirectory(state, { phoneRegion: 'RU', pollIntervalMs: 0 });
    const mailbox = await directory.addMailbox({
      email: 'reports@example.com',
      host: '127.0.0.1',
      password: 'not-used-here',
    });
    await directory.addUser({
      name: 'Reader',
      phone: '+79994440001',
      mailboxes: [mailbox.email],
      telegramId: chatId,
    });

    // instance A: parses the mail into its own spool, cuts the tall PNG into tiles, records the report
    const dataDirA = path.join(root, 'a');
    const intake = new ReportIntake({
      store: new ReportStore(state),
      spoolFiles: spoolFilesFor(state, spoolRoot(dataDirA)),
      directory,
      logger,
      defaultMediaMode: 'photo',
      defaultTallImageMode: 'tiles+document',
      images: {
        tileLimits: { photoMaxRatio: 3, photoMaxDimensionSum: 10_000 },
        blankScreenshots: 'deliver',
        blankShare: 0.995,
      },
      languageOf: () => 'ru',
    });
    const gaps: number[] = [];
    for (let top = 484; top < 4_000; top += 500) gaps.push(top);
    const tall = await stripedPng(400, 4_000, gaps);
    const mail = pngReportMail({ images: [tall], withPdf: true });
    const spoolDir = path.join(spoolRoot(dataDirA), '1');
    const position = { mailbox: mailbox.email, uidValidity: '1', uid: 1, internalDate: null };
    const parsed = await parseMail(Readable.from([Buffer.from(mail.raw)]), {
      spoolDir,
      maxFileBytes: 10 * 1024 * 1024,
      dkim: null,
    });
    const prepared = await intake.prepareImages(mailbox, position, parsed, spoolDir);
    const result = await intake.recordParsed(mailbox, position, prepared, spoolDir);
    expect(result).toMatchObject({ status: 'forward', deliveries: 1 });

    const reports = new ReportStore(state);
    const report = (await reports.recent(1))[0]!;
    const png = report.files.find((file) => file.contentType === 'image/png')!;
    const pdf = report.files.find((file) => file.contentType === 'application/pdf')!;
    expect(png.tiles!.length).toBeGreaterThan(1);
    // what the mail carried, read from A's spool before A goes away
    const expected = new Map<string, number>(
      [pdf, png, ...png.tiles!].map((file) => {
        const bytes = readFileSync(file.path);
        return [sha256(bytes), bytes.length];
      }),
    );
    expect(sha256(tall)).toBe(png.sha256);
    // instance A is gone, with its DATA_DIR
    rmSync(dataDirA, { recursive: true, force: true });

    // instance B: its own empty DATA_DIR, the same state
    const dataDirB = path.join(root, 'b');
    expect(existsSync(spoolRoot(dataDirB))).toBe(false);
    const dispatcher = new OutboxDispatcher({
      api: new Api(telegram.token, { apiRoot: telegram.apiRoot }),
      outbox: new OutboxStore(state),
      reports,
      spoolFiles: spoolFilesFor(state, spoolRoot(dataDirB)),
      directory,
      logger,
      scrubber: new SecretScrubber(),
      alerts: new LoggedAlerts(logger),
      limits: { messagesPerSecond: 1000, chatIntervalMs: 0, groupMessagesPerMinute: 20 },
      // PHOTO_MAX_ASPECT_RATIO as at intake: the PNG is too tall for one photo, its tiles go
      planLimits: { ...DEFAULT_PLAN_LIMITS, photoMaxRatio: 3 },
      maxAttempts: 3,
    });
    dispatcher.start();
    try {
      await eventually(
        async () => (await new OutboxStore(state).countByState()).sent === 1,
        30_000,
        'the delivery sent by instance B',
      );
    } finally {
      await dispatcher.stop();
    }
    const messages = telegram.messagesIn(chatId);
    // the tiles as photos, then the original PNG and the PDF as documents: nothing lost to "file gone"
    expect(messages.filter((message) => message.type === 'photo')).toHaveLength(png.tiles!.length);
    expect(messages.filter((message) => message.type === 'document')).toHaveLength(2);
    const received = new Map<string, number>();
    for (const message of messages) {
      if (!message.file_id) continue;
      const upload = telegram.uploadedFile(message.file_id);
      expect(upload, `the upload of message ${message.message_id}`).toBeDefined();
      received.set(upload!.sha256, upload!.size);
    }
    expect(received).toEqual(expected);
    // B streamed them into its own spool (a cache of the database)
    expect(readdirSync(spoolRoot(dataDirB))).toEqual([path.basename(spoolDir)]);
  }, 120_000);
});
