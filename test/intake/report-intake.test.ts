/**
 * The intake's sender-authentication and link rules with a real SQLite store: what is recorded, what
 * the admin chat hears (once per sender and hour), which link a report keeps under SUPERSET_URL.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { Readable } from 'node:stream';
import { afterAll, describe, expect, it } from 'vitest';
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
import { fakeResolver, makeDkimKey, signMail } from '../support/dkim.js';
import { reportMail } from '../support/simple-mail.js';

const root = mkdtempSync(path.join(tmpdir(), 'stb-intake-'));
afterAll(() => rmSync(root, { recursive: true, force: true }));
const biKey = makeDkimKey('bi.example.com');
let world = 0;

function setUp(options: Partial<ReportIntakeOptions> = {}, senderAuth = 'dkim') {
  const dir = path.join(root, String(++world));
  const db = openDatabase(dir);
  const directory = new LocalDirectory(db, { phoneRegion: 'RU', pollIntervalMs: 0 });
  const mailbox = directory.addMailbox({
    email: 'reports@example.com',
    host: '127.0.0.1',
    password: 'not-used-here',
    allowFrom: ['@bi.example.com'],
    senderAuth,
  });
  directory.addUser({
    name: 'Reader',
    phone: '+79994440001',
    mailboxes: [mailbox.email],
    telegramId: 94_000_001,
  });
  const store = new ReportStore(db);
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
  const take = async (raw: Buffer | string) => {
    const spoolDir = path.join(dir, 'spool', String(++uid));
    const mail = await parseMail(Readable.from([Buffer.from(raw)]), {
      spoolDir,
      maxFileBytes: 1024 * 1024,
      dkim: intake.dkimFor(mailbox),
    });
    return intake.recordParsed(
      mailbox,
      { mailbox: mailbox.email, uidValidity: '1', uid, internalDate: null },
      mail,
      spoolDir,
    );
  };
  return { intake, store, alerts, take, advance: (ms: number) => (now += ms) };
}

describe('sender authentication at intake', () => {
  it('records forged mail as rejected with the reason, and tells the admin chat once per sender and hour', async () => {
    const { store, alerts, take, advance } = setUp();
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
    const reasons = store.recent(10).map((report) => report.reason);
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
    const { store, take } = setUp({ dnsResolver: failing });
    await expect(take(await signMail(reportMail().raw, biKey))).rejects.toBeInstanceOf(
      SenderCheckUnavailableError,
    );
    expect(store.recent(10)).toEqual([]);
  });

  it('keeps a mailbox without a rule of its own on SENDER_AUTH', async () => {
    const { take } = setUp({ senderAuth: 'off' }, 'off');
    expect(await take(reportMail().raw)).toMatchObject({ status: 'forward' });
  });
});

describe('SUPERSET_URL', () => {
  it('keeps the first link under it, whatever came first in the mail', async () => {
    const { store, take } = setUp({ supersetUrl: 'https://bi.example.com/superset' }, 'off');
    const mail = reportMail();
    const raw = mail.raw.replace(
      '<div>Daily',
      '<div><a href="https://evil.example.net/">Explore in Superset</a> Daily',
    );
    await take(raw);
    expect(store.recent(1)[0]?.link).toBe('https://bi.example.com/superset/dashboard/1/');
    const other = reportMail();
    await take(
      other.raw.replace('https://bi.example.com/superset/dashboard/1/', 'https://evil.example.net/x'),
    );
    expect(store.recent(1)[0]?.subject).toBe(other.subject);
    expect(store.recent(1)[0]?.link).toBeNull();
  });
});
