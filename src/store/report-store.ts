/**
 * Durable record of mail intake: per-mailbox watermarks, reports with their files and skipped parts,
 * and the outbox rows created with them. A report, its deliveries and the watermark move in one
 * transaction, so a crash leaves either all of them or none.
 */
import type { ParsedMail, ReportFile, SkippedPart, TextTable } from '../core/report.js';
import type { SupersetNoticeKind } from '../core/superset-notice.js';
import { nowIso, type SqlDatabase } from './sql-database.js';
import { SupersetNotices } from './superset-notices.js';

/** What happened to a mail. Only `forward` reports have deliveries. */
export type ReportStatus =
  /** has PDF/PNG files (or a notice about an oversize one) for its recipients */
  | 'forward'
  /** no PDF or PNG in the mail */
  | 'no_files'
  /** the sender is not in the mailbox's allowed senders */
  | 'rejected_sender'
  /** over MAX_MAIL_MB: not downloaded */
  | 'too_large'
  /** not an e-mail, or it could not be read */
  | 'unreadable'
  /** Superset's own notice (an error, a retry, a final failure): deliveries only with SUPERSET_NOTICES=subscribers */
  | 'superset_notice';

export interface Watermark {
  uidValidity: string;
  lastUid: number;
  /**
   * The directory row this watermark was made for (see `mailboxIdentity`); null for a watermark
   * written before this was recorded.
   */
  mailboxIdentity?: string | null;
}

/** Where a mail sits on the IMAP server. */
export interface MailPosition {
  mailbox: string;
  uidValidity: string;
  uid: number;
  internalDate: string | null;
}

/**
 * A report that came in through the webhook: it has no place on an IMAP server, so it moves no
 * watermark (a mailbox may have both ways in).
 */
export interface WebhookArrival {
  mailbox: string;
  via: 'webhook';
}

export interface NewDelivery {
  chatId: number;
  recipientKind: 'user' | 'group' | 'admin';
  recipientKey: string;
  recipientName: string;
  language: string;
  mediaMode: string;
  /** TALL_IMAGE_MODE for this chat; absent: `document`. */
  tallImageMode?: string;
  threadId: number | null;
}

export interface NewReport {
  position: MailPosition | WebhookArrival;
  mail: Omit<ParsedMail, 'files' | 'skipped'> & { files: ReportFile[]; skipped: SkippedPart[] };
  status: ReportStatus;
  reason: string | null;
  spoolDir: string | null;
  /** Held as a blank screenshot (BLANK_SCREENSHOTS=hold): recorded without deliveries until a `resend`. */
  held?: boolean;
}

export interface StoredReport {
  id: number;
  mailbox: string;
  uid: number | null;
  subject: string;
  sender: string | null;
  mailDate: string | null;
  link: string | null;
  description: string;
  status: ReportStatus;
  reason: string | null;
  recordedAt: string;
  internalDate: string | null;
  spoolDir: string | null;
  /** When the janitor removed the spooled files (null while they are kept). */
  spoolRemovedAt: string | null;
  /** Held as a blank screenshot and not released by a `resend` (see {@link NewReport.held}). */
  held: boolean;
  files: ReportFile[];
  skipped: SkippedPart[];
  /** For a `superset_notice`: which notice, about which report. */
  notice?: { kind: SupersetNoticeKind; reportName: string };
  /** A TEXT report's table, as the parser found it; null for other reports. */
  textTable: TextTable | null;
}

/**
 * The janitor's queries, each answered from an index (migration 2), so their cost follows what they
 * find rather than the length of the history. Exported for the test that checks their query plans.
 */
export const JANITOR_QUERIES = {
  // a delivery finishes after its report was recorded, so "finished before" implies "recorded before"
  spoolDirsDone: `SELECT r.id, r.spool_dir FROM reports r
    WHERE r.spool_dir IS NOT NULL AND r.spool_removed_at IS NULL AND r.recorded_at < ?
      AND NOT EXISTS (SELECT 1 FROM deliveries d WHERE d.report_id = r.id AND (d.state = 'pending' OR d.finished_at >= ?))`,
  referencedSpoolDirs:
    'SELECT spool_dir FROM reports WHERE spool_dir IS NOT NULL AND spool_removed_at IS NULL',
  // the newest delivery row stays: a new one must never get a smaller id (the dispatcher loads by id)
  reportsToForget: `SELECT r.id, r.spool_dir FROM reports r
    WHERE r.recorded_at < ?
      AND r.id IS DISTINCT FROM (SELECT report_id FROM deliveries WHERE id = (SELECT max(id) FROM deliveries))
      AND NOT EXISTS (SELECT 1 FROM deliveries d WHERE d.report_id = r.id AND (d.state = 'pending' OR d.finished_at >= ?))
    ORDER BY r.recorded_at LIMIT ?`,
  // report_files, report_skipped_parts and deliveries go with it (ON DELETE CASCADE)
  forgetReport: `DELETE FROM reports WHERE id = ?
    AND NOT EXISTS (SELECT 1 FROM deliveries d WHERE d.report_id = reports.id AND d.state = 'pending')`,
  forgetUnusedFileIds: `DELETE FROM telegram_files WHERE updated_at < ?
    AND NOT EXISTS (SELECT 1 FROM report_files f WHERE f.sha256 = telegram_files.sha256)`,
} as const;

export class ReportStore {
  /** Superset's notices, recorded with their reports (in the same transaction, through `record`'s `alongside`). */
  readonly notices: SupersetNotices;

  constructor(private readonly db: SqlDatabase) {
    this.notices = new SupersetNotices(db);
  }

  /**
   * Runs `work` in one transaction of this store's database: the store's methods called inside take
   * part in it (`record` becomes a savepoint). Database work only in `work`.
   */
  transaction<T>(work: () => Promise<T>): Promise<T> {
    return this.db.transaction(work);
  }

  async watermark(mailbox: string): Promise<Watermark | null> {
    const row = await this.db.get<{
      uid_validity: string;
      last_uid: number;
      mailbox_identity: string | null;
    }>('SELECT uid_validity, last_uid, mailbox_identity FROM mailbox_watermarks WHERE mailbox = ?', [
      mailbox,
    ]);
    return row
      ? {
          uidValidity: row.uid_validity,
          lastUid: Number(row.last_uid),
          mailboxIdentity: row.mailbox_identity,
        }
      : null;
  }

  /**
   * Sets the watermark outright (first connect, UIDVALIDITY change, a mailbox added again), with the
   * directory row it belongs to when `watermark.mailboxIdentity` is given.
   */
  async setWatermark(mailbox: string, watermark: Watermark): Promise<void> {
    await this.db.run(
      `INSERT INTO mailbox_watermarks (mailbox, uid_validity, last_uid, mailbox_identity, updated_at) VALUES (?, ?, ?, ?, ?)
       ON CONFLICT (mailbox) DO UPDATE SET uid_validity = excluded.uid_validity, last_uid = excluded.last_uid,
         mailbox_identity = coalesce(excluded.mailbox_identity, mailbox_watermarks.mailbox_identity),
         updated_at = excluded.updated_at`,
      [mailbox, watermark.uidValidity, watermark.lastUid, watermark.mailboxIdentity ?? null, nowIso()],
    );
  }

  /** Binds an existing watermark (written before identities were recorded) to its directory row. */
  async setWatermarkIdentity(mailbox: string, identity: string): Promise<void> {
    await this.db.run('UPDATE mailbox_watermarks SET mailbox_identity = ? WHERE mailbox = ?', [
      identity,
      mailbox,
    ]);
  }

  /** Moves the watermark forward to `uid` (never backwards), in the caller's transaction if any. */
  async advanceWatermark(position: MailPosition): Promise<void> {
    // the columns of the row already there are qualified: PostgreSQL finds a bare name ambiguous beside `excluded`
    await this.db.run(
      `INSERT INTO mailbox_watermarks (mailbox, uid_validity, last_uid, updated_at) VALUES (?, ?, ?, ?)
       ON CONFLICT (mailbox) DO UPDATE SET
         last_uid = CASE WHEN mailbox_watermarks.uid_validity = excluded.uid_validity
             AND mailbox_watermarks.last_uid > excluded.last_uid
           THEN mailbox_watermarks.last_uid ELSE excluded.last_uid END,
         uid_validity = excluded.uid_validity, updated_at = excluded.updated_at`,
      [position.mailbox, position.uidValidity, position.uid, nowIso()],
    );
  }

  /** The IMAP arrival time of the newest mail recorded from this mailbox. */
  async newestInternalDate(mailbox: string): Promise<string | null> {
    const row = await this.db.get<{ newest: string | null }>(
      'SELECT max(internal_date) AS newest FROM reports WHERE mailbox = ?',
      [mailbox],
    );
    return row?.newest ?? null;
  }

  /**
   * The report this mail was already recorded as: same raw bytes, or same Message-ID, in this mailbox;
   * with `since` (ISO time), only a report recorded at or after it (the webhook's retry window).
   */
  async findRecorded(
    mailbox: string,
    rawSha256: string,
    messageId: string | null,
    since: string | null = null,
  ): Promise<number | null> {
    // the optional conditions are left out rather than bound as NULL: PostgreSQL cannot type `? IS NULL`
    const conditions = [
      'mailbox = ?',
      messageId === null ? 'raw_sha256 = ?' : '(raw_sha256 = ? OR message_id = ?)',
    ];
    const params: string[] = [mailbox, rawSha256];
    if (messageId !== null) params.push(messageId);
    if (since !== null) {
      conditions.push('recorded_at >= ?');
      params.push(since);
    }
    const row = await this.db.get<{ id: number }>(
      `SELECT id FROM reports WHERE ${conditions.join(' AND ')} ORDER BY id LIMIT 1`,
      params,
    );
    return row ? Number(row.id) : null;
  }

  /**
   * Records a report with its deliveries and advances the watermark, atomically. Returns the report id.
   * `alongside` runs in the same transaction once the report has its id (its notice row, say); it must
   * do database work only (through this store's database), and when it throws nothing is recorded.
   */
  record(
    report: NewReport,
    deliveries: NewDelivery[],
    alongside?: (reportId: number) => Promise<void>,
  ): Promise<number> {
    return this.db.transaction(async () => {
      const { mail, position } = report;
      const imap = 'uid' in position ? position : null;
      const now = nowIso();
      const inserted = await this.db.get<{ id: number }>(
        `INSERT INTO reports (mailbox, uid_validity, uid, raw_sha256, raw_size, message_id, subject, sender, mail_date, link,
           description, status, reason, spool_dir, internal_date, recorded_at, held, text_table)
         VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
         RETURNING id`,
        [
          position.mailbox,
          imap?.uidValidity ?? null,
          imap?.uid ?? null,
          mail.rawSha256,
          mail.rawSize,
          mail.messageId,
          mail.subject,
          mail.from,
          mail.date,
          mail.link,
          mail.description,
          report.status,
          report.reason,
          report.spoolDir,
          // a webhook report has no IMAP arrival time: the rescan after a UIDVALIDITY change goes by these
          imap?.internalDate ?? null,
          now,
          report.held ? 1 : 0,
          mail.textTable ? JSON.stringify(mail.textTable) : null,
        ],
      );
      if (!inserted) throw new Error('INSERT … RETURNING id returned no row');
      const reportId = Number(inserted.id);
      for (const [index, file] of mail.files.entries()) {
        await this.db.run(
          `INSERT INTO report_files (report_id, position, filename, content_type, size, sha256, path, width, height, tiles, background_share)
           VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
          [
            reportId,
            index,
            file.filename,
            file.contentType,
            file.size,
            file.sha256,
            file.path,
            file.width ?? null,
            file.height ?? null,
            file.tiles ? JSON.stringify(file.tiles) : null,
            file.backgroundShare ?? null,
          ],
        );
      }
      for (const [index, part] of mail.skipped.entries()) {
        await this.db.run(
          'INSERT INTO report_skipped_parts (report_id, position, filename, content_type, reason, too_large_bytes) VALUES (?, ?, ?, ?, ?, ?)',
          [reportId, index, part.filename, part.contentType, part.reason, part.tooLargeBytes ?? null],
        );
      }
      for (const delivery of deliveries) {
        // the same chat twice in one report (a user who is also the admin, say) gets one delivery
        await this.db.run(
          `INSERT INTO deliveries (report_id, chat_id, recipient_kind, recipient_key, recipient_name, language, media_mode, tall_image_mode, thread_id, created_at)
           VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
           ON CONFLICT DO NOTHING`,
          [
            reportId,
            delivery.chatId,
            delivery.recipientKind,
            delivery.recipientKey,
            delivery.recipientName,
            delivery.language,
            delivery.mediaMode,
            delivery.tallImageMode ?? null,
            delivery.threadId,
            now,
          ],
        );
      }
      await alongside?.(reportId);
      if (imap) await this.advanceWatermark(imap);
      return reportId;
    });
  }

  async report(id: number): Promise<StoredReport | null> {
    const row = await this.db.get<ReportRow>('SELECT * FROM reports WHERE id = ?', [id]);
    return row ? this.toReport(row) : null;
  }

  /**
   * The newest report of `mailbox` that was forwarded to its recipients (status `forward`, not held as a
   * blank screenshot), or null when there is none. A held report counts once a `resend` released it.
   */
  async latestForwarded(mailbox: string): Promise<StoredReport | null> {
    const row = await this.db.get<ReportRow>(
      "SELECT * FROM reports WHERE mailbox = ? AND status = 'forward' AND held = 0 ORDER BY id DESC LIMIT 1",
      [mailbox],
    );
    return row ? this.toReport(row) : null;
  }

  /** Releases a report held as a blank screenshot (a `resend` to its recipients): /last may give it now. */
  async release(reportId: number): Promise<void> {
    await this.db.run('UPDATE reports SET held = 0 WHERE id = ? AND held = 1', [reportId]);
  }

  /** The most recent reports, newest first. */
  async recent(limit: number): Promise<StoredReport[]> {
    const rows = await this.db.all<ReportRow>('SELECT * FROM reports ORDER BY id DESC LIMIT ?', [limit]);
    const reports: StoredReport[] = [];
    for (const row of rows) reports.push(await this.toReport(row));
    return reports;
  }

  /**
   * Reports whose files can go: every delivery is final and the last one finished before `before`
   * (ISO time). Reports with no deliveries count from when they were recorded.
   */
  async spoolDirsDone(before: string): Promise<Array<{ id: number; spoolDir: string }>> {
    const rows = await this.db.all<{ id: number; spool_dir: string }>(JANITOR_QUERIES.spoolDirsDone, [
      before,
      before,
    ]);
    return rows.map((row) => ({ id: Number(row.id), spoolDir: row.spool_dir }));
  }

  /**
   * Up to `limit` reports that may be forgotten: recorded before `before` (ISO time), no delivery
   * pending, none finished since `before`. Oldest first.
   */
  async reportsToForget(
    before: string,
    limit: number,
  ): Promise<Array<{ id: number; spoolDir: string | null }>> {
    const rows = await this.db.all<{ id: number; spool_dir: string | null }>(
      JANITOR_QUERIES.reportsToForget,
      [before, before, limit],
    );
    return rows.map((row) => ({ id: Number(row.id), spoolDir: row.spool_dir }));
  }

  /**
   * Deletes reports with their files, skipped parts and deliveries, in one transaction; a report that
   * gained a pending delivery meanwhile (a `resend`) stays. `alongside` runs in the transaction for each
   * report deleted. Returns the ids deleted.
   */
  forgetReports(ids: number[], alongside?: (reportId: number) => Promise<void>): Promise<number[]> {
    return this.db.transaction(async () => {
      const deleted: number[] = [];
      for (const id of ids) {
        if ((await this.db.run(JANITOR_QUERIES.forgetReport, [id])).changes > 0) {
          deleted.push(id);
          // database work only (its spooled files' rows, say): in the same transaction
          await alongside?.(id);
        }
      }
      return deleted;
    });
  }

  /** Forgets Telegram file ids stored before `before` whose file no remaining report has. Returns how many. */
  async forgetUnusedFileIds(before: string): Promise<number> {
    return (await this.db.run(JANITOR_QUERIES.forgetUnusedFileIds, [before])).changes;
  }

  async markSpoolRemoved(id: number): Promise<void> {
    await this.db.run('UPDATE reports SET spool_removed_at = ? WHERE id = ?', [nowIso(), id]);
  }

  /** Spool directories still referenced by a report. */
  async referencedSpoolDirs(): Promise<Set<string>> {
    const rows = await this.db.all<{ spool_dir: string }>(JANITOR_QUERIES.referencedSpoolDirs);
    return new Set(rows.map((row) => row.spool_dir));
  }

  async countReports(mailbox?: string): Promise<number> {
    const row = mailbox
      ? await this.db.get<{ n: number | string }>('SELECT count(*) AS n FROM reports WHERE mailbox = ?', [
          mailbox,
        ])
      : await this.db.get<{ n: number | string }>('SELECT count(*) AS n FROM reports');
    // PostgreSQL's count is a bigint, which its driver may hand over as text
    return Number(row?.n ?? 0);
  }

  private async toReport(row: ReportRow): Promise<StoredReport> {
    const id = Number(row.id);
    const files = (
      await this.db.all<FileRow>('SELECT * FROM report_files WHERE report_id = ? ORDER BY position', [id])
    ).map(
      (file): ReportFile => ({
        filename: file.filename,
        contentType: file.content_type as ReportFile['contentType'],
        size: Number(file.size),
        sha256: file.sha256,
        path: file.path,
        ...(file.width !== null && file.height !== null ? { width: file.width, height: file.height } : {}),
        ...(file.background_share !== null ? { backgroundShare: file.background_share } : {}),
        ...(file.tiles !== null ? { tiles: JSON.parse(file.tiles) as ReportFile[] } : {}),
      }),
    );
    const skipped = (
      await this.db.all<{
        filename: string | null;
        content_type: string;
        reason: string;
        too_large_bytes: number | null;
      }>(
        'SELECT filename, content_type, reason, too_large_bytes FROM report_skipped_parts WHERE report_id = ? ORDER BY position',
        [id],
      )
    ).map(
      (part): SkippedPart => ({
        filename: part.filename,
        contentType: part.content_type,
        reason: part.reason,
        ...(part.too_large_bytes !== null ? { tooLargeBytes: Number(part.too_large_bytes) } : {}),
      }),
    );
    return {
      id,
      mailbox: row.mailbox,
      uid: row.uid === null ? null : Number(row.uid),
      subject: row.subject,
      sender: row.sender,
      mailDate: row.mail_date,
      link: row.link,
      description: row.description,
      status: row.status,
      reason: row.reason,
      recordedAt: row.recorded_at,
      internalDate: row.internal_date,
      spoolDir: row.spool_dir,
      spoolRemovedAt: row.spool_removed_at,
      held: Number(row.held) === 1,
      files,
      skipped,
      ...(row.status === 'superset_notice' ? await this.noticeOf(id) : {}),
      textTable: row.text_table ? (JSON.parse(row.text_table) as TextTable) : null,
    };
  }

  private async noticeOf(reportId: number): Promise<Pick<StoredReport, 'notice'>> {
    const notice = await this.db.get<{ kind: SupersetNoticeKind; report_name: string }>(
      'SELECT kind, report_name FROM superset_notices WHERE report_id = ?',
      [reportId],
    );
    return notice ? { notice: { kind: notice.kind, reportName: notice.report_name } } : {};
  }
}

interface ReportRow {
  id: number;
  mailbox: string;
  uid: number | null;
  subject: string;
  sender: string | null;
  mail_date: string | null;
  link: string | null;
  description: string;
  status: ReportStatus;
  reason: string | null;
  recorded_at: string;
  internal_date: string | null;
  spool_dir: string | null;
  held: number;
  spool_removed_at: string | null;
  text_table?: string | null;
}

interface FileRow {
  filename: string;
  content_type: string;
  size: number;
  sha256: string;
  path: string;
  width: number | null;
  height: number | null;
  tiles: string | null;
  background_share: number | null;
}
