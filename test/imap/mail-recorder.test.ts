/**
 * One mail from a real Dovecot to a recorded report: a failure after the report is committed must not
 * take the report's spooled files away (reading the mail again finds a duplicate, the files stay).
 */
import { existsSync, mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { LocalDirectory } from '../../src/directory/local/local-directory.js';
import { MailNotReadError } from '../../src/imap/imap-errors.js';
import { MailRecorder } from '../../src/imap/mail-recorder.js';
import { type IntakeResult, ReportIntake } from '../../src/intake/report-intake.js';
import { createLogger } from '../../src/observability/logger.js';
import { SecretScrubber } from '../../src/observability/secret-scrubber.js';
import { openDatabase } from '../../src/store/database.js';
import { ReportStore } from '../../src/store/report-store.js';
import { SqliteDatabase } from '../../src/store/sqlite-database.js';
import { DovecotServer } from '../dovecot/dovecot.js';
import { reportMail } from '../support/simple-mail.js';

let dovecot: DovecotServer;
const root = mkdtempSync(path.join(tmpdir(), 'stb-recorder-'));

beforeAll(async () => {
  dovecot = await DovecotServer.start({ users: 1 });
});

afterAll(async () => {
  await dovecot?.stop();
  rmSync(root, { recursive: true, force: true });
});

/** An intake whose work after the commit fails (a broken wake-up, metrics, a log sink, ...). */
class FailingAfterCommit extends ReportIntake {
  override async recordParsed(...args: Parameters<ReportIntake['recordParsed']>): Promise<IntakeResult> {
    await super.recordParsed(...args);
    throw new Error('failed after the report was committed');
  }
}

describe('mail recorder', () => {
  it('keeps the spool of a report that was recorded when something fails afterwards', async () => {
    const db = openDatabase(path.join(root, 'data'));
    const directory = new LocalDirectory(new SqliteDatabase(db), { phoneRegion: 'RU', pollIntervalMs: 0 });
    const mailbox = await directory.addMailbox(dovecot.mailbox('user1'));
    await directory.addUser({
      name: 'Reader',
      phone: '+79994440002',
      mailboxes: [mailbox.email],
      telegramId: 94_000_002,
    });
    const store = new ReportStore(new SqliteDatabase(db));
    const logger = createLogger({ level: 'silent', scrubber: new SecretScrubber() });
    const intakeOptions = {
      store,
      directory,
      logger,
      defaultMediaMode: 'photo' as const,
      languageOf: () => 'ru',
    };
    const spoolRoot = path.join(root, 'spool');
    const recorderWith = (intake: ReportIntake) =>
      new MailRecorder({
        mailbox,
        store,
        intake,
        scrubber: new SecretScrubber(),
        spoolRoot,
        maxMailBytes: 10 * 1024 * 1024,
        maxFileBytes: 10 * 1024 * 1024,
      });

    await dovecot.append('user1', reportMail().raw);
    const client = dovecot.client('user1');
    await client.connect();
    try {
      const opened = await client.mailboxOpen('INBOX');
      const message = await client.fetchOne(
        '*',
        { uid: true, envelope: true, internalDate: true, size: true },
        { uid: true },
      );
      if (!message) throw new Error('the appended mail is not there');
      const uidValidity = String(opened.uidValidity);

      await expect(
        recorderWith(new FailingAfterCommit(intakeOptions)).record(client, uidValidity, message),
      ).rejects.toBeInstanceOf(MailNotReadError);
      const [report] = await store.recent(10);
      expect(report).toMatchObject({ status: 'forward' });
      expect(report!.files).toHaveLength(1);
      expect(existsSync(report!.files[0]!.path)).toBe(true);

      // read again: a duplicate, and the first report's files are still there to be sent
      const again = await recorderWith(new ReportIntake(intakeOptions)).record(client, uidValidity, message);
      expect(again).toMatchObject({ status: 'duplicate', reportId: report!.id });
      expect(existsSync(report!.files[0]!.path)).toBe(true);
      // the second read's own spool directory is gone
      expect(readdirSync(spoolRoot)).toHaveLength(1);
    } finally {
      await client.logout().catch(() => undefined);
    }
  });
});
