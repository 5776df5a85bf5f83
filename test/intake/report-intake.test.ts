/**
 * The intake's sender-authentication and link rules with a real SQLite store: what is recorded, what
 * the admin chat hears (once per sender and hour), which link a report keeps under SUPERSET_URL.
 */
import { existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { Readable } from 'node:stream';
import { afterAll, describe, expect, it } from 'vitest';
import type { ParsedMail } from '../../src/core/report.js';
import { LocalDirectory } from '../../src/directory/local/local-directory.js';
import {
  ReportIntake,
  type ReportIntakeOptions,
  SenderCheckUnavailableError,
} from '../../src/intake/report-intake.js';
import { parseMail } from '../../src/mail/mail-parser.js';
import { createLogger } from '../../src/observability/logger.js';
import { SecretScrubber } from '../../src/observability/secret-scrubber.js';
import { openDatabase } from '../../src/store/database.js';
import { ReportStore } from '../../src/store/report-store.js';
import { SqliteDatabase } from '../../src/store/sqlite-database.js';
import { makePdf } from '../fixtures/sample-files.js';
import { fakeResolver, makeDkimKey, signMail } from '../support/dkim.js';
import { reportMail } from '../support/simple-mail.js';

const root = mkdtempSync(path.join(tmpdir(), 'stb-intake-'));
afterAll(() => rmSync(root, { recursive: true, force: true }));
const biKey = makeDkimKey('bi.example.com');
let world = 0;

async function setUp(options: Partial<ReportIntakeOptions> = {}, senderAuth = 'dkim') {
  const dir = path.join(root, String(++world));
  const db = openDatabase(dir);
  const directory = new LocalDirectory(new SqliteDatabase(db), { phoneRegion: 'RU', pollIntervalMs: 0 });
  const mailbox = await directory.addMailbox({
    email: 'reports@example.com',
    host: '127.0.0.1',
    password: 'not-used-here',
    allowFrom: ['@bi.example.com'],
    senderAuth,
  });
  await directory.addUser({
    name: 'Reader',
    phone: '+79994440001',
    mailboxes: [mailbox.email],
    telegramId: 94_000_001,
  });
  const store = new ReportStore(new SqliteDatabase(db));
  const alerts: string[] = [];
  let now = Date.parse('2026-01-05T09:00:00Z');
  const intake = new ReportIntake({
    store,
    directory,
    logger: createLogger({ level: 'silent', scrubber: new SecretScrubber() }),
    defaultMediaMode: 'photo',
    languageOf: () => 'ru',
    alerts: { raise: (_key, text) => alerts.push(text), clear: () => undefined },
    now: () => now,
    dnsResolver: fakeResolver([biKey.record]),
    ...options,
  });
  let uid = 0;
  /** Parses and records `raw` at the next UID, or at `atUid` (the same mail read again). */
  const take = async (raw: Buffer | string, atUid?: number) => {
    const spoolDir = path.join(dir, 'spool', String(++uid));
    const mail = await parseMail(Readable.from([Buffer.from(raw)]), {
      spoolDir,
      maxFileBytes: 1024 * 1024,
      dkim: intake.dkimFor(mailbox),
    });
    return await intake.recordParsed(
      mailbox,
      { mailbox: mailbox.email, uidValidity: '1', uid: atUid ?? uid, internalDate: null },
      mail,
      spoolDir,
    );
  };
  return {
    intake,
    store,
    alerts,
    take,
    mailbox,
    dir,
    advance: (ms: number) => (now += ms),
    spoolOf: (n: number) => path.join(dir, 'spool', String(n)),
  };
}

describe('sender authentication at intake', () => {
  it('records forged mail as rejected with the reason, and tells the admin chat once per sender and hour', async () => {
    const { store, alerts, take, advance } = await setUp();
    const first = await take(reportMail().raw);
    expect(first).toMatchObject({ status: 'rejected_sender', deliveries: 0 });
    advance(30 * 60_000);
    await take(reportMail().raw);
    expect(alerts).toHaveLength(1);
    expect(alerts[0]).toContain('claiming to be from superset@bi.example.com');
    advance(31 * 60_000);
    await take(reportMail().raw);
    expect(alerts).toHaveLength(2);
    // another sender is told about separately
    await take(reportMail({ from: 'alerts@bi.example.com' }).raw);
    expect(alerts).toHaveLength(3);
    const reasons = (await store.recent(10)).map((report) => report.reason);
    expect(reasons.filter((reason) => reason?.includes('failed sender authentication (dkim)'))).toHaveLength(
      4,
    );

    const signed = await take(await signMail(reportMail().raw, biKey));
    expect(signed).toMatchObject({ status: 'forward', deliveries: 1 });
  });

  it('records nothing when DNS fails, so the mail is read again', async () => {
    const failing = async () => {
      throw Object.assign(new Error('queryTxt ETIMEOUT'), { code: 'ETIMEOUT' });
    };
    const { store, take } = await setUp({ dnsResolver: failing });
    await expect(take(await signMail(reportMail().raw, biKey))).rejects.toBeInstanceOf(
      SenderCheckUnavailableError,
    );
    expect(await store.recent(10)).toEqual([]);
  });

  it('records a mail as rejected, and tells the admin chat, when DNS fails for over an hour, so the mailbox moves on', async () => {
    // the forger's own domain answers SERVFAIL for ever; with nothing in the allowed senders, anyone can
    let calls = 0;
    const failing = async () => {
      calls++;
      throw Object.assign(new Error('queryTxt ESERVFAIL'), { code: 'ESERVFAIL' });
    };
    const { store, alerts, take, advance } = await setUp({ dnsResolver: failing });
    const raw = await signMail(reportMail().raw, biKey);
    await expect(take(raw, 1)).rejects.toBeInstanceOf(SenderCheckUnavailableError);
    advance(59 * 60_000);
    await expect(take(raw, 1)).rejects.toBeInstanceOf(SenderCheckUnavailableError);
    expect(await store.recent(10)).toEqual([]);
    advance(60_000);
    const given = await take(raw, 1);
    expect(given).toMatchObject({ status: 'rejected_sender', deliveries: 0 });
    expect(calls).toBeGreaterThanOrEqual(3);
    const [report] = await store.recent(10);
    expect(report!.reason).toContain('not authenticated (dkim): temporary DNS failure for 60 minutes');
    expect(alerts).toHaveLength(1);
    expect(alerts[0]).toContain('temporary DNS failure');
    // another mail failing the same way starts its own hour
    await expect(take(await signMail(reportMail().raw, biKey), 2)).rejects.toBeInstanceOf(
      SenderCheckUnavailableError,
    );
  });

  it('rejects the forged-From attack: an encoded address as display name, signed by the forger', async () => {
    const evilKey = makeDkimKey('evil.example.net');
    const { take } = await setUp({ dnsResolver: fakeResolver([biKey.record, evilKey.record]) });
    const attack = await signMail(
      reportMail({ from: '=?utf-8?q?=3Csuperset=40bi.example.com=3E?= <forger@evil.example.net>' }).raw,
      evilKey,
    );
    expect(await take(attack)).toMatchObject({ status: 'rejected_sender', deliveries: 0 });
  });

  it('keeps a mailbox without a rule of its own on SENDER_AUTH', async () => {
    const { take } = await setUp({ senderAuth: 'off' }, 'off');
    expect(await take(reportMail().raw)).toMatchObject({ status: 'forward' });
  });
});

describe('SUPERSET_URL', () => {
  it('keeps the first link under it, whatever came first in the mail', async () => {
    const { store, take } = await setUp({ supersetUrl: 'https://bi.example.com/superset' }, 'off');
    const mail = reportMail();
    const raw = mail.raw.replace(
      '<div>Daily',
      '<div><a href="https://evil.example.net/">Explore in Superset</a> Daily',
    );
    await take(raw);
    expect((await store.recent(1))[0]?.link).toBe('https://bi.example.com/superset/dashboard/1/');
    const other = reportMail();
    await take(
      other.raw.replace('https://bi.example.com/superset/dashboard/1/', 'https://evil.example.net/x'),
    );
    expect((await store.recent(1))[0]?.subject).toBe(other.subject);
    expect((await store.recent(1))[0]?.link).toBeNull();
  });
});

describe('after the report is recorded', () => {
  it('keeps the report and its spooled files when announcing or observing it fails', async () => {
    const { take, store, spoolOf } = await setUp(
      {
        onRecorded: () => {
          throw new Error('the dispatcher could not be woken');
        },
        onResult: () => {
          throw new Error('metrics broke');
        },
      },
      'off',
    );
    const result = await take(reportMail().raw);
    expect(result).toMatchObject({ status: 'forward', deliveries: 1 });
    const [report] = await store.recent(10);
    expect(report!.files).toHaveLength(1);
    expect(existsSync(report!.files[0]!.path)).toBe(true);
    expect(report!.files[0]!.path.startsWith(spoolOf(1))).toBe(true);
  });
});

describe('reports from the webhook', () => {
  /** A report as the webhook hands it over: one PDF in its own spool directory, no sender. */
  function webhookReport(dir: string, fingerprint: string) {
    const spoolDir = path.join(dir, 'spool', `hook-${Math.random().toString(36).slice(2)}`);
    mkdirSync(spoolDir, { recursive: true });
    const pdf = makePdf();
    const file = path.join(spoolDir, 'report.part');
    writeFileSync(file, pdf);
    const mail: ParsedMail = {
      subject: 'Weekly sales',
      from: null,
      date: null,
      messageId: `webhook:${fingerprint}`,
      link: null,
      description: '',
      files: [
        { filename: 'report.pdf', contentType: 'application/pdf', size: pdf.length, sha256: 'x', path: file },
      ],
      skipped: [],
      rawSize: pdf.length,
      rawSha256: `${fingerprint}${Math.random()}`,
    };
    return { mail, spoolDir };
  }

  it('forwards without a From despite allowed senders and DKIM, moves no watermark, and knows retries for an hour', async () => {
    let offsetMs = 0;
    // the store stamps reports with the real clock: the intake's clock must be the real one too
    const { intake, store, mailbox: entry, dir } = await setUp({ now: () => Date.now() + offsetMs });
    const first = webhookReport(dir, 'f'.repeat(64));
    const recorded = await intake.recordWebhook(entry, first.mail, first.spoolDir, 3600_000);
    expect(recorded).toMatchObject({ status: 'forward', deliveries: 1 });
    expect(await store.watermark('reports@example.com')).toBeNull();
    expect(await store.report(recorded.reportId)).toMatchObject({
      uid: null,
      sender: null,
      internalDate: null,
    });

    const retry = webhookReport(dir, 'f'.repeat(64));
    expect(await intake.recordWebhook(entry, retry.mail, retry.spoolDir, 3600_000)).toEqual({
      reportId: recorded.reportId,
      status: 'duplicate',
      deliveries: 0,
    });
    expect(existsSync(retry.spoolDir)).toBe(false);
    expect(existsSync(first.spoolDir)).toBe(true);

    // the same report an hour and a minute later is a new report (a daily report may repeat itself)
    offsetMs = 61 * 60_000;
    const later = webhookReport(dir, 'f'.repeat(64));
    const again = await intake.recordWebhook(entry, later.mail, later.spoolDir, 3600_000);
    expect(again.status).toBe('forward');
    expect(again.reportId).not.toBe(recorded.reportId);
  });
});
