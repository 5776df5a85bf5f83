/**
 * Durable record of mail intake: per-mailbox watermarks, reports with their files and skipped parts,
 * and the outbox rows created with them. A report, its deliveries and the watermark move in one
 * transaction, so a crash leaves either all of them or none.
 */
import type { ParsedMail, ReportFile, SkippedPart, TextTable } from '../core/report.js';
import type { SupersetNoticeKind } from '../core/superset-notice.js';
import { type Database, nowIso } from './database.js';
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
    WHERE r.spool_dir IS NOT NULL AND r.spool_removed_at IS NULL AND r.recorded_at < :before
      AND NOT EXISTS (SELECT 1 FROM deliveries d WHERE d.report_id = r.id AND (d.state = 'pending' OR d.finished_at >= :before))`,
  referencedSpoolDirs:
    'SELECT spool_dir FROM reports WHERE spool_dir IS NOT NULL AND spool_removed_at IS NULL',
  // the newest delivery row stays: a new one must never get a smaller id (the dispatcher loads by id)
  reportsToForget: `SELECT r.id, r.spool_dir FROM reports r
    WHERE r.recorded_at < :before
      AND r.id IS NOT (SELECT report_id FROM deliveries WHERE id = (SELECT max(id) FROM deliveries))
      AND NOT EXISTS (SELECT 1 FROM deliveries d WHERE d.report_id = r.id AND (d.state = 'pending' OR d.finished_at >= :before))
    ORDER BY r.recorded_at LIMIT :limit`,
  // report_files, report_skipped_parts and deliveries go with it (ON DELETE CASCADE)
  forgetReport: `DELETE FROM reports WHERE id = :id
    AND NOT EXISTS (SELECT 1 FROM deliveries d WHERE d.report_id = :id AND d.state = 'pending')`,
  forgetUnusedFileIds: `DELETE FROM telegram_files WHERE updated_at < :before
    AND NOT EXISTS (SELECT 1 FROM report_files f WHERE f.sha256 = telegram_files.sha256)`,
} as const;

export class ReportStore {
  /** Superset's notices, recorded with their reports (in the same transaction, through `record`'s `alongside`). */
  readonly notices: SupersetNotices;

  constructor(private readonly db: Database) {
    this.notices = new SupersetNotices(db);
  }

  watermark(mailbox: string): Watermark | null {
    const row = this.db
      .prepare('SELECT uid_validity, last_uid, mailbox_identity FROM mailbox_watermarks WHERE mailbox = ?')
      .get(mailbox) as
      | { uid_validity: string; last_uid: number; mailbox_identity: string | null }
      | undefined;
    return row
      ? { uidValidity: row.uid_validity, lastUid: row.last_uid, mailboxIdentity: row.mailbox_identity }
      : null;
  }

  /**
   * Sets the watermark outright (first connect, UIDVALIDITY change, a mailbox added again), with the
   * directory row it belongs to when `watermark.mailboxIdentity` is given.
   */
  setWatermark(mailbox: string, watermark: Watermark): void {
    this.db
      .prepare(
        `INSERT INTO mailbox_watermarks (mailbox, uid_validity, last_uid, mailbox_identity, updated_at) VALUES (?, ?, ?, ?, ?)
         ON CONFLICT (mailbox) DO UPDATE SET uid_validity = excluded.uid_validity, last_uid = excluded.last_uid,
           mailbox_identity = coalesce(excluded.mailbox_identity, mailbox_identity), updated_at = excluded.updated_at`,
      )
      .run(mailbox, watermark.uidValidity, watermark.lastUid, watermark.mailboxIdentity ?? null, nowIso());
  }

  /** Binds an existing watermark (written before identities were recorded) to its directory row. */
  setWatermarkIdentity(mailbox: string, identity: string): void {
    this.db
      .prepare('UPDATE mailbox_watermarks SET mailbox_identity = ? WHERE mailbox = ?')
      .run(identity, mailbox);
  }

  /** Moves the watermark forward to `uid` (never backwards), in the caller's transaction if any. */
  advanceWatermark(position: MailPosition): void {
    this.db
      .prepare(
        `INSERT INTO mailbox_watermarks (mailbox, uid_validity, last_uid, updated_at) VALUES (?, ?, ?, ?)
         ON CONFLICT (mailbox) DO UPDATE SET
           last_uid = CASE WHEN uid_validity = excluded.uid_validity THEN max(last_uid, excluded.last_uid) ELSE excluded.last_uid END,
           uid_validity = excluded.uid_validity, updated_at = excluded.updated_at`,
      )
      .run(position.mailbox, position.uidValidity, position.uid, nowIso());
  }

  /** The IMAP arrival time of the newest mail recorded from this mailbox. */
  newestInternalDate(mailbox: string): string | null {
    const row = this.db
      .prepare('SELECT max(internal_date) AS newest FROM reports WHERE mailbox = ?')
      .get(mailbox) as {
      newest: string | null;
    };
    return row.newest;
  }

  /**
   * The report this mail was already recorded as: same raw bytes, or same Message-ID, in this mailbox;
   * with `since` (ISO time), only a report recorded at or after it (the webhook's retry window).
   */
  findRecorded(
    mailbox: string,
    rawSha256: string,
    messageId: string | null,
    since: string | null = null,
  ): number | null {
    const row = this.db
      .prepare(
        'SELECT id FROM reports WHERE mailbox = ? AND (raw_sha256 = ? OR (? IS NOT NULL AND message_id = ?)) AND (? IS NULL OR recorded_at >= ?) ORDER BY id LIMIT 1',
      )
      .get(mailbox, rawSha256, messageId, messageId, since, since) as { id: number } | undefined;
    return row?.id ?? null;
  }

  /**
   * Records a report with its deliveries and advances the watermark, atomically. Returns the report id.
   * `alongside` runs in the same transaction once the report has its id (its notice row, say).
   */
  record(report: NewReport, deliveries: NewDelivery[], alongside?: (reportId: number) => void): number {
    return this.db.transaction(() => {
      const { mail, position } = report;
      const imap = 'uid' in position ? position : null;
      const now = nowIso();
      const result = this.db
        .prepare(
          `INSERT INTO reports (mailbox, uid_validity, uid, raw_sha256, raw_size, message_id, subject, sender, mail_date, link,
             description, status, reason, spool_dir, internal_date, recorded_at, held)
           VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
        )
        .run(
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
        );
      const reportId = Number(result.lastInsertRowid);
      if (mail.textTable) {
        this.db
          .prepare('UPDATE reports SET text_table = ? WHERE id = ?')
          .run(JSON.stringify(mail.textTable), reportId);
      }
      const insertFile = this.db.prepare(
        `INSERT INTO report_files (report_id, position, filename, content_type, size, sha256, path, width, height, tiles, background_share)
         VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
      );
      mail.files.forEach((file, index) => {
        insertFile.run(
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
        );
      });
      const insertSkipped = this.db.prepare(
        'INSERT INTO report_skipped_parts (report_id, position, filename, content_type, reason, too_large_bytes) VALUES (?, ?, ?, ?, ?, ?)',
      );
      mail.skipped.forEach((part, index) => {
        insertSkipped.run(
          reportId,
          index,
          part.filename,
          part.contentType,
          part.reason,
          part.tooLargeBytes ?? null,
        );
      });
      const insertDelivery = this.db.prepare(
        `INSERT OR IGNORE INTO deliveries (report_id, chat_id, recipient_kind, recipient_key, recipient_name, language, media_mode, tall_image_mode, thread_id, created_at)
         VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
      );
      for (const delivery of deliveries) {
        insertDelivery.run(
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
        );
      }
      alongside?.(reportId);
      if (imap) this.advanceWatermark(imap);
      return reportId;
    })();
  }

  report(id: number): StoredReport | null {
    const row = this.db.prepare('SELECT * FROM reports WHERE id = ?').get(id) as ReportRow | undefined;
    return row ? this.toReport(row) : null;
  }

  /**
   * The newest report of `mailbox` that was forwarded to its recipients (status `forward`, not held as a
   * blank screenshot), or null when there is none. A held report counts once a `resend` released it.
   */
  latestForwarded(mailbox: string): StoredReport | null {
    const row = this.db
      .prepare(
        "SELECT * FROM reports WHERE mailbox = ? AND status = 'forward' AND held = 0 ORDER BY id DESC LIMIT 1",
      )
      .get(mailbox) as ReportRow | undefined;
    return row ? this.toReport(row) : null;
  }

  /** Releases a report held as a blank screenshot (a `resend` to its recipients): /last may give it now. */
  release(reportId: number): void {
    this.db.prepare('UPDATE reports SET held = 0 WHERE id = ? AND held = 1').run(reportId);
  }

  /** The most recent reports, newest first. */
  recent(limit: number): StoredReport[] {
    const rows = this.db.prepare('SELECT * FROM reports ORDER BY id DESC LIMIT ?').all(limit) as ReportRow[];
    return rows.map((row) => this.toReport(row));
  }

  /**
   * Reports whose files can go: every delivery is final and the last one finished before `before`
   * (ISO time). Reports with no deliveries count from when they were recorded.
   */
  spoolDirsDone(before: string): Array<{ id: number; spoolDir: string }> {
    return (
      this.db.prepare(JANITOR_QUERIES.spoolDirsDone).all({ before }) as Array<{
        id: number;
        spool_dir: string;
      }>
    ).map((row) => ({ id: row.id, spoolDir: row.spool_dir }));
  }

  /**
   * Up to `limit` reports that may be forgotten: recorded before `before` (ISO time), no delivery
   * pending, none finished since `before`. Oldest first.
   */
  reportsToForget(before: string, limit: number): Array<{ id: number; spoolDir: string | null }> {
    return (
      this.db.prepare(JANITOR_QUERIES.reportsToForget).all({ before, limit }) as Array<{
        id: number;
        spool_dir: string | null;
      }>
    ).map((row) => ({ id: row.id, spoolDir: row.spool_dir }));
  }

  /**
   * Deletes reports with their files, skipped parts and deliveries, in one transaction; a report that
   * gained a pending delivery meanwhile (a `resend`) stays. Returns the ids deleted.
   */
  forgetReports(ids: number[]): number[] {
    const remove = this.db.prepare(JANITOR_QUERIES.forgetReport);
    return this.db.transaction(() => ids.filter((id) => remove.run({ id }).changes > 0))();
  }

  /** Forgets Telegram file ids stored before `before` whose file no remaining report has. Returns how many. */
  forgetUnusedFileIds(before: string): number {
    return this.db.prepare(JANITOR_QUERIES.forgetUnusedFileIds).run({ before }).changes;
  }

  markSpoolRemoved(id: number): void {
    this.db.prepare('UPDATE reports SET spool_removed_at = ? WHERE id = ?').run(nowIso(), id);
  }

  /** Spool directories still referenced by a report. */
  referencedSpoolDirs(): Set<string> {
    const rows = this.db.prepare(JANITOR_QUERIES.referencedSpoolDirs).all() as Array<{ spool_dir: string }>;
    return new Set(rows.map((row) => row.spool_dir));
  }

  countReports(mailbox?: string): number {
    const row = (
      mailbox
        ? this.db.prepare('SELECT count(*) AS n FROM reports WHERE mailbox = ?').get(mailbox)
        : this.db.prepare('SELECT count(*) AS n FROM reports').get()
    ) as { n: number };
    return row.n;
  }

  private toReport(row: ReportRow): StoredReport {
    const files = (
      this.db
        .prepare('SELECT * FROM report_files WHERE report_id = ? ORDER BY position')
        .all(row.id) as FileRow[]
    ).map(
      (file): ReportFile => ({
        filename: file.filename,
        contentType: file.content_type as ReportFile['contentType'],
        size: file.size,
        sha256: file.sha256,
        path: file.path,
        ...(file.width !== null && file.height !== null ? { width: file.width, height: file.height } : {}),
        ...(file.background_share !== null ? { backgroundShare: file.background_share } : {}),
        ...(file.tiles !== null ? { tiles: JSON.parse(file.tiles) as ReportFile[] } : {}),
      }),
    );
    const skipped = (
      this.db
        .prepare(
          'SELECT filename, content_type, reason, too_large_bytes FROM report_skipped_parts WHERE report_id = ? ORDER BY position',
        )
        .all(row.id) as Array<{
        filename: string | null;
        content_type: string;
        reason: string;
        too_large_bytes: number | null;
      }>
    ).map(
      (part): SkippedPart => ({
        filename: part.filename,
        contentType: part.content_type,
        reason: part.reason,
        ...(part.too_large_bytes !== null ? { tooLargeBytes: part.too_large_bytes } : {}),
      }),
    );
    return {
      id: row.id,
      mailbox: row.mailbox,
      uid: row.uid,
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
      held: row.held === 1,
      files,
      skipped,
      ...(row.status === 'superset_notice' ? this.noticeOf(row.id) : {}),
      textTable: row.text_table ? (JSON.parse(row.text_table) as TextTable) : null,
    };
  }

  private noticeOf(reportId: number): Pick<StoredReport, 'notice'> {
    const notice = this.db
      .prepare('SELECT kind, report_name FROM superset_notices WHERE report_id = ?')
      .get(reportId) as { kind: SupersetNoticeKind; report_name: string } | undefined;
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
