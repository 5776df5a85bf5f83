/**
 * REPORT_RETENTION_DAYS: old reports go with their deliveries, files and spool; a report with a pending
 * or recent delivery stays; and the janitor's queries are answered from indexes, not by reading the
 * whole history.
 */
import { existsSync, mkdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { type Database, openDatabase } from '../../src/store/database.js';
import { OutboxStore } from '../../src/store/outbox-store.js';
import { JANITOR_QUERIES, ReportStore } from '../../src/store/report-store.js';
import { forgetOldReports, spoolRoot } from '../../src/store/spool.js';
import { SqliteDatabase } from '../../src/store/sqlite-database.js';
import { removeDir, tempDataDir } from '../support/bot-harness.js';

const DAY = 86_400_000;
const NOW = Date.parse('2026-12-01T12:00:00.000Z');
const RETENTION = 90 * DAY;

const dirs: string[] = [];
const dbs: Database[] = [];
afterEach(() => {
  for (const db of dbs.splice(0)) db.close();
  for (const dir of dirs.splice(0)) removeDir(dir);
});

function world() {
  const dataDir = tempDataDir();
  dirs.push(dataDir);
  const db = openDatabase(dataDir);
  dbs.push(db);
  const state = new SqliteDatabase(db);
  const store = new ReportStore(state);
  const outbox = new OutboxStore(state);
  let uid = 0;
  /** A report recorded `ageDays` ago, with one delivery per chat, its file spooled. */
  const report = async (ageDays: number, chats = [1]) => {
    uid++;
    const spoolDir = path.join(spoolRoot(dataDir), `mail-${uid}`);
    mkdirSync(spoolDir, { recursive: true });
    const file = path.join(spoolDir, 'a.part');
    writeFileSync(file, '%PDF-1.4\n%%EOF\n');
    const id = await store.record(
      {
        position: { mailbox: 'reports@example.com', uidValidity: '1', uid, internalDate: null },
        mail: {
          subject: `Daily ${uid}`,
          from: 'superset@bi.example.com',
          date: null,
          messageId: null,
          link: null,
          description: '',
          files: [
            { filename: 'a.pdf', contentType: 'application/pdf', size: 15, sha256: `sha-${uid}`, path: file },
          ],
          skipped: [{ filename: 'x.csv', contentType: 'text/csv', reason: 'not a PDF or PNG' }],
          rawSize: 100,
          rawSha256: `raw-${uid}`,
        },
        status: 'forward',
        reason: null,
        spoolDir,
      },
      chats.map((chatId) => ({
        chatId,
        recipientKind: 'user' as const,
        recipientKey: String(chatId),
        recipientName: 'A',
        language: 'ru',
        mediaMode: 'document',
        threadId: null,
      })),
    );
    const at = new Date(NOW - ageDays * DAY).toISOString();
    db.prepare('UPDATE reports SET recorded_at = ? WHERE id = ?').run(at, id);
    db.prepare('UPDATE deliveries SET created_at = ? WHERE report_id = ?').run(at, id);
    return { id, spoolDir };
  };
  /** Finishes every delivery of a report, `ageDays` ago. */
  const finish = async (reportId: number, ageDays: number) => {
    for (const delivery of await outbox.forReport(reportId)) await outbox.stepSent(delivery.id, 1, true, []);
    db.prepare('UPDATE deliveries SET finished_at = ? WHERE report_id = ?').run(
      new Date(NOW - ageDays * DAY).toISOString(),
      reportId,
    );
  };
  const count = (table: string, reportId: number) =>
    (db.prepare(`SELECT count(*) AS n FROM ${table} WHERE report_id = ?`).get(reportId) as { n: number }).n;
  return { db, store, outbox, report, finish, count };
}

describe('report retention', () => {
  it('forgets old finished reports with their deliveries, files and spool, and keeps the rest', async () => {
    const { db, store, outbox, report, finish, count } = world();
    const old = await report(120, [1, 2]);
    await finish(old.id, 119);
    const oldPending = await report(100);
    const oldResent = await report(100);
    await finish(oldResent.id, 99);
    await outbox.requeue(oldResent.id, {
      chatId: 3,
      recipientKind: 'user',
      recipientKey: '3',
      recipientName: 'C',
      language: 'ru',
      mediaMode: 'document',
      threadId: null,
    });
    // the resend went out ten days ago: the report was in use within the retention time
    db.prepare(
      "UPDATE deliveries SET state = 'sent', finished_at = ? WHERE report_id = ? AND chat_id = 3",
    ).run(new Date(NOW - 10 * DAY).toISOString(), oldResent.id);
    const recent = await report(10);
    await finish(recent.id, 10);
    // the newest report keeps the newest delivery id, so it is recent here
    const newest = await report(1);
    await finish(newest.id, 1);
    db.prepare('INSERT INTO telegram_files (sha256, sent_as, file_id, updated_at) VALUES (?, ?, ?, ?)').run(
      'sha-1',
      'document',
      'FILE-OLD',
      new Date(NOW - 119 * DAY).toISOString(),
    );
    db.prepare('INSERT INTO telegram_files (sha256, sent_as, file_id, updated_at) VALUES (?, ?, ?, ?)').run(
      'sha-2',
      'document',
      'FILE-PENDING',
      new Date(NOW - 100 * DAY).toISOString(),
    );

    expect(await forgetOldReports(store, RETENTION, NOW)).toBe(1);
    expect(await store.report(old.id)).toBeNull();
    expect(existsSync(old.spoolDir)).toBe(false);
    for (const table of ['deliveries', 'report_files', 'report_skipped_parts']) {
      expect(count(table, old.id)).toBe(0);
    }
    expect(await outbox.fileId('sha-1', 'document')).toBeNull();

    for (const kept of [oldPending, oldResent, recent, newest]) {
      expect(await store.report(kept.id)).not.toBeNull();
      expect(existsSync(kept.spoolDir)).toBe(true);
    }
    expect(await outbox.fileId('sha-2', 'document')).toBe('FILE-PENDING');
    expect((await outbox.forReport(oldPending.id))[0]!.state).toBe('pending');

    // once its delivery ends and the retention time passes, the pending one goes too
    await finish(oldPending.id, 95);
    expect(await forgetOldReports(store, RETENTION, NOW)).toBe(1);
    expect(await store.report(oldPending.id)).toBeNull();
  });

  it('works through a long history in batches', async () => {
    const { store, report, finish } = world();
    const ids: number[] = [];
    for (let index = 0; index < 25; index++) {
      const { id } = await report(200 - index);
      await finish(id, 199 - index);
      ids.push(id);
    }
    await report(1);
    // two batches of 10 in this round, the rest in the next
    expect(await forgetOldReports(store, RETENTION, NOW, 10, 2)).toBe(20);
    expect(await forgetOldReports(store, RETENTION, NOW, 10, 2)).toBe(5);
    for (const id of ids) expect(await store.report(id)).toBeNull();
  });

  it('never forgets the report holding the newest delivery, so delivery ids keep growing', async () => {
    const { store, report, finish, outbox } = world();
    const only = await report(200);
    await finish(only.id, 199);
    const newestDelivery = (await outbox.forReport(only.id))[0]!.id;
    expect(await forgetOldReports(store, RETENTION, NOW)).toBe(0);
    const next = await report(0, [5]);
    expect((await outbox.forReport(next.id))[0]!.id).toBeGreaterThan(newestDelivery);
    expect(await forgetOldReports(store, RETENTION, NOW)).toBe(1);
  });

  it('answers the janitor queries from indexes', () => {
    const { db } = world();
    for (const [name, sql] of Object.entries(JANITOR_QUERIES)) {
      const plan =
        // positional parameters: a placeholder value for each
        (
          db
            .prepare(`EXPLAIN QUERY PLAN ${sql}`)
            .all(...Array.from({ length: sql.split('?').length - 1 }, () => 'x')) as Array<{
            detail: string;
          }>
        ).map((row) => row.detail);
      // a full pass is allowed only over the partial index of reports that still hold spooled files
      const fullPasses = plan.filter((line) => /^SCAN/.test(line) && !line.includes('reports_spool_held'));
      expect(fullPasses, `${name}: ${plan.join(' | ')}`).toEqual([]);
      expect(
        plan.some((line) => line.includes('TEMP B-TREE')),
        `${name}: ${plan.join(' | ')}`,
      ).toBe(false);
    }
  });
});
