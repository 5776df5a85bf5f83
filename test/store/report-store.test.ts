/**
 * The report store's contract, run against both engines (test/store/engines.ts): a report, its
 * deliveries, its notice row and the watermark in one transaction (all or none), duplicates
 * recognised, the watermark only ever moving forward, the janitor's queries, and mailbox names
 * compared without regard to case.
 */
import { expect, it } from 'vitest';
import type { SupersetNotice } from '../../src/core/superset-notice.js';
import { type NewDelivery, type NewReport, ReportStore } from '../../src/store/report-store.js';
import { forEachEngine } from './engines.js';

const MAILBOX = 'Reports@Example.com';
let uid = 0;

function newReport(overrides: Partial<NewReport> = {}, mailbox = MAILBOX): NewReport {
  uid++;
  return {
    position: {
      mailbox,
      uidValidity: '7',
      uid,
      internalDate: `2026-12-01T00:00:${String(uid % 60).padStart(2, '0')}.000Z`,
    },
    mail: {
      subject: `Daily ${uid}`,
      from: 'superset@bi.example.com',
      date: null,
      messageId: `m-${uid}@bi.example.com`,
      link: null,
      description: '',
      files: [
        {
          filename: 'a.pdf',
          contentType: 'application/pdf',
          size: 12,
          sha256: `sha-${uid}`,
          path: `/spool/${uid}/a.pdf`,
        },
      ],
      skipped: [{ filename: 'big.png', contentType: 'image/png', reason: 'too large', tooLargeBytes: 99 }],
      rawSize: 100,
      rawSha256: `raw-${uid}`,
    },
    status: 'forward',
    reason: null,
    spoolDir: `/spool/${uid}`,
    ...overrides,
  };
}

function delivery(chatId: number): NewDelivery {
  return {
    chatId,
    recipientKind: 'user',
    recipientKey: `user-${chatId}`,
    recipientName: `User ${chatId}`,
    language: 'en',
    mediaMode: 'document',
    threadId: null,
  };
}

const retry: SupersetNotice = { kind: 'retry', reportName: 'Weekly sales', attempt: 1, maxAttempts: 3 };

forEachEngine('report store', (engine) => {
  const count = async (table: string): Promise<number> => {
    const row = await engine.current().get<{ n: number | string }>(`SELECT count(*) AS n FROM ${table}`);
    return Number(row?.n);
  };

  it('records a report with its files, skipped parts, deliveries (one per chat) and the watermark', async () => {
    const store = new ReportStore(engine.current());
    const report = newReport();
    const id = await store.record(report, [delivery(1), delivery(2), delivery(1)]);
    const stored = await store.report(id);
    expect(stored).toMatchObject({
      id,
      mailbox: MAILBOX,
      status: 'forward',
      held: false,
      files: [{ filename: 'a.pdf', size: 12 }],
      skipped: [{ filename: 'big.png', tooLargeBytes: 99 }],
    });
    expect(await count('deliveries')).toBe(2);
    expect(await store.watermark(MAILBOX)).toMatchObject({ uidValidity: '7', lastUid: uid });
    expect(await store.countReports(MAILBOX)).toBe(1);
    expect((await store.recent(5)).map((r) => r.id)).toEqual([id]);
    expect((await store.latestForwarded(MAILBOX))?.id).toBe(id);
  });

  it('rolls everything back when the work alongside throws: no report, no delivery, no notice, no watermark', async () => {
    const store = new ReportStore(engine.current());
    await expect(
      store.record(newReport({ status: 'superset_notice' }), [delivery(1)], async (reportId) => {
        await store.notices.insert(reportId, MAILBOX, retry, false);
        throw new Error('broken alongside');
      }),
    ).rejects.toThrow('broken alongside');
    expect(await count('reports')).toBe(0);
    expect(await count('deliveries')).toBe(0);
    expect(await count('superset_notices')).toBe(0);
    expect(await count('report_files')).toBe(0);
    expect(await store.watermark(MAILBOX)).toBeNull();
  });

  it('commits the notice row with its report and reads it back with the report', async () => {
    const store = new ReportStore(engine.current());
    const id = await store.record(newReport({ status: 'superset_notice' }), [], (reportId) =>
      store.notices.insert(reportId, MAILBOX, retry, false),
    );
    expect((await store.report(id))?.notice).toEqual({ kind: 'retry', reportName: 'Weekly sales' });
    // the retry run is settled by the delivered report, once
    expect(await store.notices.settleRetries(MAILBOX, 'Weekly sales')).toEqual({
      retries: 1,
      lastAttempt: 1,
    });
    expect(await store.notices.settleRetries(MAILBOX, 'Weekly sales')).toEqual({
      retries: 0,
      lastAttempt: null,
    });
  });

  it('recognises a duplicate by its bytes or its Message-ID, within a time window when asked', async () => {
    const store = new ReportStore(engine.current());
    const report = newReport();
    const id = await store.record(report, []);
    const { rawSha256, messageId } = report.mail;
    expect(await store.findRecorded(MAILBOX, rawSha256, null)).toBe(id);
    expect(await store.findRecorded(MAILBOX, 'other bytes', messageId)).toBe(id);
    expect(await store.findRecorded(MAILBOX, 'other bytes', null)).toBeNull();
    expect(await store.findRecorded(MAILBOX, rawSha256, null, '2999-01-01T00:00:00.000Z')).toBeNull();
    expect(await store.findRecorded(MAILBOX, rawSha256, null, '2000-01-01T00:00:00.000Z')).toBe(id);
    // the same bytes in the same mailbox cannot be recorded twice
    await expect(store.record({ ...newReport(), mail: report.mail }, [])).rejects.toThrow();
    expect(await store.countReports()).toBe(1);
  });

  it('compares mailbox names without regard to case', async () => {
    const store = new ReportStore(engine.current());
    const report = newReport();
    const id = await store.record(report, []);
    const lower = MAILBOX.toLowerCase();
    expect(await store.findRecorded(lower, report.mail.rawSha256, null)).toBe(id);
    expect(await store.watermark(lower)).toMatchObject({ lastUid: uid });
    expect(await store.countReports(lower)).toBe(1);
    expect((await store.latestForwarded(lower))?.id).toBe(id);
    expect(await store.newestInternalDate(lower)).toBe(
      (report.position as { internalDate: string }).internalDate,
    );
  });

  it('moves the watermark only forward within a UIDVALIDITY, and sets it outright when asked', async () => {
    const store = new ReportStore(engine.current());
    await store.advanceWatermark({ mailbox: MAILBOX, uidValidity: '1', uid: 10, internalDate: null });
    await store.advanceWatermark({ mailbox: MAILBOX, uidValidity: '1', uid: 5, internalDate: null });
    expect(await store.watermark(MAILBOX)).toMatchObject({ uidValidity: '1', lastUid: 10 });
    await store.advanceWatermark({ mailbox: MAILBOX, uidValidity: '2', uid: 3, internalDate: null });
    expect(await store.watermark(MAILBOX)).toMatchObject({ uidValidity: '2', lastUid: 3 });
    await store.setWatermark(MAILBOX, { uidValidity: '2', lastUid: 1, mailboxIdentity: 'row-1' });
    expect(await store.watermark(MAILBOX)).toEqual({
      uidValidity: '2',
      lastUid: 1,
      mailboxIdentity: 'row-1',
    });
    // no identity given: the one recorded stays
    await store.setWatermark(MAILBOX, { uidValidity: '3', lastUid: 0 });
    expect(await store.watermark(MAILBOX)).toEqual({
      uidValidity: '3',
      lastUid: 0,
      mailboxIdentity: 'row-1',
    });
    await store.setWatermarkIdentity(MAILBOX, 'row-2');
    expect((await store.watermark(MAILBOX))?.mailboxIdentity).toBe('row-2');
  });

  it("answers the janitor's queries and forgets finished reports, keeping the newest delivery's", async () => {
    const db = engine.current();
    const store = new ReportStore(db);
    const first = await store.record(newReport(), [delivery(1)]);
    const second = await store.record(newReport(), [delivery(2)]);
    const future = '2999-01-01T00:00:00.000Z';
    // pending deliveries hold both
    expect(await store.spoolDirsDone(future)).toEqual([]);
    expect(await store.reportsToForget(future, 10)).toEqual([]);
    await db.run("UPDATE deliveries SET state = 'sent', finished_at = ?", ['2026-12-01T00:00:00.000Z']);
    expect((await store.spoolDirsDone(future)).map((r) => r.id).sort()).toEqual([first, second].sort());
    await store.markSpoolRemoved(first);
    expect((await store.spoolDirsDone(future)).map((r) => r.id)).toEqual([second]);
    expect([...(await store.referencedSpoolDirs())]).toEqual([(await store.report(second))!.spoolDir]);
    // the report of the newest delivery stays, so delivery ids keep growing
    const forgettable = await store.reportsToForget(future, 10);
    expect(forgettable.map((r) => r.id)).toEqual([first]);
    expect(await store.forgetReports([first, second])).toEqual([first, second]);
    expect(await store.report(first)).toBeNull();
    expect(await count('deliveries')).toBe(0);
    await db.run('INSERT INTO telegram_files (sha256, sent_as, file_id, updated_at) VALUES (?, ?, ?, ?)', [
      'gone',
      'document',
      'f1',
      '2026-01-01T00:00:00.000Z',
    ]);
    expect(await store.forgetUnusedFileIds(future)).toBe(1);
  });

  it('keeps a report whose delivery is pending again when forgetting it', async () => {
    const db = engine.current();
    const store = new ReportStore(db);
    const id = await store.record(newReport({ held: true }), [delivery(1)]);
    await store.release(id);
    expect((await store.report(id))?.held).toBe(false);
    expect(await store.forgetReports([id])).toEqual([]);
    expect(await store.countReports()).toBe(1);
  });
});
