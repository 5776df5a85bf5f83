/** The file spool: files stay while a delivery is pending and for the retention time, then go. */
import { existsSync, mkdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { openDatabase } from '../../src/store/database.js';
import { OutboxStore } from '../../src/store/outbox-store.js';
import { ReportStore } from '../../src/store/report-store.js';
import { removeFinishedSpools, removeOrphanSpoolDirs, spoolRoot } from '../../src/store/spool.js';
import { SqliteDatabase } from '../../src/store/sqlite-database.js';
import { removeDir, tempDataDir } from '../support/bot-harness.js';

const dirs: string[] = [];
afterEach(() => {
  for (const dir of dirs.splice(0)) removeDir(dir);
});

async function recordedReport(dataDir: string) {
  const db = openDatabase(dataDir);
  const store = new ReportStore(new SqliteDatabase(db));
  const spoolDir = path.join(spoolRoot(dataDir), 'mail-1');
  mkdirSync(spoolDir, { recursive: true });
  const file = path.join(spoolDir, 'a.part');
  writeFileSync(file, '%PDF-1.4\n%%EOF\n');
  const reportId = await store.record(
    {
      position: { mailbox: 'reports@example.com', uidValidity: '1', uid: 1, internalDate: null },
      mail: {
        subject: 'Daily',
        from: 'superset@bi.example.com',
        date: null,
        messageId: null,
        link: null,
        description: '',
        files: [{ filename: 'a.pdf', contentType: 'application/pdf', size: 15, sha256: 'x', path: file }],
        skipped: [],
        rawSize: 100,
        rawSha256: 'raw-1',
      },
      status: 'forward',
      reason: null,
      spoolDir,
    },
    [
      {
        chatId: 1,
        recipientKind: 'user',
        recipientKey: '1',
        recipientName: 'A',
        language: 'ru',
        mediaMode: 'photo',
        threadId: null,
      },
    ],
  );
  return { db, store, outbox: new OutboxStore(new SqliteDatabase(db)), spoolDir, reportId };
}

describe('spool', () => {
  it('keeps files while a delivery is pending and for the retention time, then removes them', async () => {
    const dataDir = tempDataDir();
    dirs.push(dataDir);
    const { db, store, outbox, spoolDir, reportId } = await recordedReport(dataDir);
    expect(await removeFinishedSpools(store, 0)).toBe(0);
    expect(existsSync(spoolDir)).toBe(true);

    const [delivery] = await outbox.forReport(reportId);
    await outbox.stepSent(delivery!.id, true, []);
    const now = Date.now();
    expect(await removeFinishedSpools(store, 3600_000, now)).toBe(0);
    expect(existsSync(spoolDir)).toBe(true);
    expect(await removeFinishedSpools(store, 3600_000, now + 3600_001)).toBe(1);
    expect(existsSync(spoolDir)).toBe(false);
    expect((await store.referencedSpoolDirs()).size).toBe(0);
    db.close();
  });

  it('removes directories left by a crash before the mail was recorded, and nothing else', async () => {
    const dataDir = tempDataDir();
    dirs.push(dataDir);
    const { db, store, spoolDir } = await recordedReport(dataDir);
    const orphan = path.join(spoolRoot(dataDir), 'interrupted');
    mkdirSync(orphan, { recursive: true });
    writeFileSync(path.join(orphan, 'x.part'), 'half');
    expect(removeOrphanSpoolDirs(spoolRoot(dataDir), await store.referencedSpoolDirs())).toBe(1);
    expect(existsSync(orphan)).toBe(false);
    expect(existsSync(spoolDir)).toBe(true);
    db.close();
  });
});
