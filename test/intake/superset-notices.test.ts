/**
 * Superset's own notices at intake, with a real SQLite store and the real mail parser: what the admin
 * chat hears under each SUPERSET_NOTICES, what the mailbox's recipients get queued, a retry run ended
 * by a later success (across a restart), and forged or hostile notices.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { Readable } from 'node:stream';
import { afterAll, describe, expect, it } from 'vitest';
import { LocalDirectory } from '../../src/directory/local/local-directory.js';
import { ReportIntake, type ReportIntakeOptions } from '../../src/intake/report-intake.js';
import { parseMail } from '../../src/mail/mail-parser.js';
import { createLogger } from '../../src/observability/logger.js';
import { SecretScrubber } from '../../src/observability/secret-scrubber.js';
import { type Database, openDatabase } from '../../src/store/database.js';
import { OutboxStore } from '../../src/store/outbox-store.js';
import { ReportStore } from '../../src/store/report-store.js';
import { SqliteDatabase } from '../../src/store/sqlite-database.js';
import { blankPng } from '../support/dashboard-images.js';
import { pngReportMail, reportMail } from '../support/simple-mail.js';
import { errorHtml, finalHtml, noticeMail, retryHtml } from '../support/superset-notice-mail.js';

const root = mkdtempSync(path.join(tmpdir(), 'stb-notices-'));
afterAll(() => rmSync(root, { recursive: true, force: true }));
let world = 0;

interface World {
  db: Database;
  store: ReportStore;
  outbox: OutboxStore;
  alerts: string[];
  take(raw: string): ReturnType<ReportIntake['recordParsed']>;
  /** A new intake on the same database, as after a restart. */
  restart(): void;
}

async function setUp(options: Partial<ReportIntakeOptions> = {}, mailboxSenderAuth = 'off'): Promise<World> {
  const dir = path.join(root, String(++world));
  const db = openDatabase(dir);
  const directory = new LocalDirectory(new SqliteDatabase(db), { phoneRegion: 'RU', pollIntervalMs: 0 });
  const mailbox = await directory.addMailbox({
    email: 'reports@example.com',
    host: '127.0.0.1',
    password: 'not-used-here',
    allowFrom: ['@bi.example.com'],
    senderAuth: mailboxSenderAuth,
  });
  for (const [index, telegramId] of [94_100_001, 94_100_002].entries()) {
    await directory.addUser({
      name: `Reader ${index}`,
      phone: `+7999445000${index}`,
      mailboxes: [mailbox.email],
      telegramId,
    });
  }
  const store = new ReportStore(new SqliteDatabase(db));
  const alerts: string[] = [];
  const make = () =>
    new ReportIntake({
      store,
      directory,
      logger: createLogger({ level: 'silent', scrubber: new SecretScrubber() }),
      defaultMediaMode: 'photo',
      languageOf: () => 'ru',
      alerts: { raise: (_key, text) => alerts.push(text), clear: () => undefined },
      ...options,
    });
  let intake = make();
  let uid = 0;
  return {
    db,
    store,
    outbox: new OutboxStore(new SqliteDatabase(db)),
    alerts,
    restart: async () => {
      intake = make();
    },
    take: async (raw) => {
      const spoolDir = path.join(dir, 'spool', String(++uid));
      const parsed = await parseMail(Readable.from([Buffer.from(raw)]), {
        spoolDir,
        maxFileBytes: 1024 * 1024,
        dkim: intake.dkimFor(mailbox),
      });
      const position = { mailbox: mailbox.email, uidValidity: '1', uid, internalDate: null };
      // the image work the listener does before recording (only with `images` set)
      const mail = options.images ? await intake.prepareImages(mailbox, position, parsed, spoolDir) : parsed;
      return await intake.recordParsed(mailbox, position, mail, spoolDir);
    },
  };
}

describe('SUPERSET_NOTICES=admin (the default)', () => {
  it('records the error notice as a notice and tells the admin chat in one line with the report name and mailbox', async () => {
    const { take, alerts, outbox } = await setUp();
    const result = await take(noticeMail('[Report]  Weekly sales', errorHtml()));
    expect(result).toMatchObject({ status: 'superset_notice', deliveries: 0 });
    expect(await outbox.forReport(result.reportId)).toEqual([]);
    expect(alerts).toEqual(['Superset could not produce report "Weekly sales" in reports@example.com.']);
  });

  it('tells the admin chat of each retry and of the final failure; nothing goes to the recipients', async () => {
    const { take, alerts, outbox } = await setUp();
    const ids = [
      await take(noticeMail('Report Retry [1 of 2]: Weekly sales: Board', retryHtml(1, 2))),
      await take(noticeMail('Report Failed - All Retries Exhausted: Weekly sales: Board', finalHtml)),
    ].map((result) => result.reportId);
    expect(alerts).toEqual([
      'Superset is retrying report "Weekly sales: Board" (attempt 1 of 2) in reports@example.com.',
      'Superset gave up on report "Weekly sales: Board" (all retries exhausted) in reports@example.com.',
    ]);
    for (const id of ids) expect(await outbox.forReport(id)).toEqual([]);
  });

  it('mentions a report delivered after retries, once, also after a restart between them', async () => {
    const { take, alerts, restart } = await setUp();
    await take(noticeMail('Report Retry [1 of 3]: Weekly sales: Board', retryHtml(1, 3)));
    await take(noticeMail('Report Retry [2 of 3]: Weekly sales: Board', retryHtml(2, 3)));
    restart();
    // another report of the mailbox is no end of this run
    const other = await take(reportMail({ subject: '[Report]  Daily stock: Board' }).raw);
    expect(other.status).toBe('forward');
    expect(alerts.filter((text) => text.includes('delivered after'))).toEqual([]);

    const delivered = await take(reportMail({ subject: '[Report]  Weekly sales: Board' }).raw);
    expect(delivered).toMatchObject({ status: 'forward', deliveries: 2 });
    expect(alerts.at(-1)).toBe(
      'Report "Weekly sales: Board" in reports@example.com delivered after 2 retries.',
    );
    await take(reportMail({ subject: '[Report]  Weekly sales: Board' }).raw);
    expect(alerts.filter((text) => text.includes('delivered after'))).toHaveLength(1);
  });

  it('does not call a report held as a blank screenshot delivered after the retries', async () => {
    const { take, alerts, outbox } = await setUp({
      images: {
        tileLimits: { photoMaxRatio: 3, photoMaxDimensionSum: 10_000 },
        blankScreenshots: 'hold',
        blankShare: 0.97,
      },
    });
    await take(noticeMail('Report Retry [1 of 3]: Weekly sales: Board', retryHtml(1, 3)));
    const blank = pngReportMail({
      subject: '[Report]  Weekly sales: Board',
      images: [await blankPng(1600, 1200)],
    });
    const held = await take(blank.raw);
    expect(held).toMatchObject({ status: 'forward', deliveries: 0 });
    expect(await outbox.forReport(held.reportId)).toEqual([]);
    expect(alerts.filter((text) => text.includes('delivered'))).toEqual([
      'Report "Weekly sales: Board" in reports@example.com came after 1 retry, but is held as a blank screenshot, not delivered (report ' +
        `${held.reportId}).`,
    ]);
  });

  it('does not call a success after the final failure a recovery of that run', async () => {
    const { take, alerts } = await setUp();
    await take(noticeMail('Report Retry [1 of 1]: Weekly sales', retryHtml(1, 1)));
    await take(noticeMail('Report Failed - All Retries Exhausted: Weekly sales', finalHtml));
    await take(reportMail({ subject: '[Report]  Weekly sales: Board' }).raw);
    expect(alerts.filter((text) => text.includes('delivered after'))).toEqual([]);
  });
});

describe('SUPERSET_NOTICES=subscribers', () => {
  it('queues "not produced" for every current recipient, once for the error notice and the final failure of one report', async () => {
    const { take, alerts, outbox, store } = await setUp({ supersetNotices: 'subscribers' });
    const error = await take(noticeMail('[Report]  Weekly sales', errorHtml()));
    expect(error).toMatchObject({ status: 'superset_notice', deliveries: 2 });
    expect((await outbox.forReport(error.reportId)).map((delivery) => delivery.chatId).sort()).toEqual([
      94_100_001, 94_100_002,
    ]);
    expect((await store.report(error.reportId))?.notice).toEqual({
      kind: 'error',
      reportName: 'Weekly sales',
    });
    expect(alerts.at(-1)).toBe(
      'Superset could not produce report "Weekly sales" in reports@example.com; 2 recipient chats told it was not produced.',
    );

    const final = await take(
      noticeMail('Report Failed - All Retries Exhausted: Weekly sales: Board', finalHtml),
    );
    expect(final).toMatchObject({ status: 'superset_notice', deliveries: 0 });
    // another report's failure is told
    const other = await take(noticeMail('[Report]  Daily stock', errorHtml()));
    expect(other.deliveries).toBe(2);
  });

  it('sends retry notices and the editors-only error mail to the admin chat only', async () => {
    const { take, alerts } = await setUp({ supersetNotices: 'subscribers' });
    expect((await take(noticeMail('Report Retry [1 of 3]: Weekly sales', retryHtml(1, 3)))).deliveries).toBe(
      0,
    );
    expect(
      (await take(noticeMail('[Report]  Error occurred for Report: Weekly sales', errorHtml('Timeout'))))
        .deliveries,
    ).toBe(0);
    expect(alerts).toHaveLength(2);
  });
});

describe('SUPERSET_NOTICES=off', () => {
  it('records notices without telling anyone', async () => {
    const { take, alerts } = await setUp({ supersetNotices: 'off' });
    await take(noticeMail('Report Retry [1 of 3]: Weekly sales', retryHtml(1, 3)));
    const error = await take(noticeMail('[Report]  Weekly sales', errorHtml()));
    await take(reportMail({ subject: '[Report]  Weekly sales: Board' }).raw);
    expect(error).toMatchObject({ status: 'superset_notice', deliveries: 0 });
    expect(alerts).toEqual([]);
  });
});

describe('enemy input', () => {
  it('a notice from a sender that is not allowed is a rejected mail, not a notice', async () => {
    const { take, alerts, outbox } = await setUp({ supersetNotices: 'subscribers' });
    const forged = await take(noticeMail('[Report]  Weekly sales', errorHtml(), 'mallory@evil.example'));
    expect(forged).toMatchObject({ status: 'rejected_sender', deliveries: 0 });
    expect(await outbox.forReport(forged.reportId)).toEqual([]);
    expect(alerts.filter((text) => text.startsWith('Superset'))).toEqual([]);
  });

  it('a notice failing sender authentication is rejected and reported as forged, never routed', async () => {
    const { take, alerts } = await setUp(
      { supersetNotices: 'subscribers', dnsResolver: async () => [] },
      'dkim',
    );
    // unsigned: whoever can mail the technical mailbox could have written it
    const forged = await take(noticeMail('Report Retry [1 of 3]: Weekly sales', retryHtml(1, 3)));
    expect(forged).toMatchObject({ status: 'rejected_sender', deliveries: 0 });
    expect(alerts).toHaveLength(1);
    expect(alerts[0]).toContain('claiming to be from superset@bi.example.com was not forwarded');
  });

  it('makes a hostile report name one clean line in the admin chat', async () => {
    const { take, alerts } = await setUp();
    await take(
      noticeMail(
        '=?utf-8?b?' +
          Buffer.from('[Report]  Sales\u202e\u0007 \u200bboard\u2028second line').toString('base64') +
          '?=',
        errorHtml(),
      ),
    );
    expect(alerts).toHaveLength(1);
    expect(alerts[0]).toBe(
      'Superset could not produce report "Sales board second line" in reports@example.com.',
    );
  });
});
