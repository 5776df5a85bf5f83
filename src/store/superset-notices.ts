/**
 * Superset's notices as recorded (migration 9): one row per notice report, so that a report delivered
 * after retries can say how many there were, and subscribers hear of a failed report once, across
 * restarts. Rows go with their report (ON DELETE CASCADE) when REPORT_RETENTION_DAYS forgets it.
 */
import { isSameReport, type SupersetNotice } from '../core/superset-notice.js';
import { nowIso, type SqlDatabase } from './sql-database.js';

/** What a delivered report settled: the retry notices of its run before it. */
export interface SettledRetries {
  /** Retry notices received for this report before it was delivered. */
  retries: number;
  /** The highest "n of m" attempt they named, when any did. */
  lastAttempt: number | null;
}

/** How far back a retry notice still belongs to the run a delivered report ends (Superset retries within minutes). */
const RETRY_RUN_MS = 24 * 3600_000;

export class SupersetNotices {
  constructor(private readonly db: SqlDatabase) {}

  /** Records `notice` as report `reportId` of `mailbox`; call inside the report's transaction. */
  async insert(
    reportId: number,
    mailbox: string,
    notice: SupersetNotice,
    toldSubscribers: boolean,
  ): Promise<void> {
    await this.db.run(
      `INSERT INTO superset_notices (report_id, mailbox, kind, report_name, attempt, max_attempts, told_subscribers, recorded_at)
       VALUES (?, ?, ?, ?, ?, ?, ?, ?)`,
      [
        reportId,
        mailbox,
        notice.kind,
        notice.reportName,
        notice.attempt ?? null,
        notice.maxAttempts ?? null,
        toldSubscribers ? 1 : 0,
        nowIso(),
      ],
    );
  }

  /**
   * Whether the recipients of `mailbox` were already told, within the last `windowMs`, that the report called
   * `reportName` was not produced (Superset may send the error notice and the final failure both).
   */
  async subscribersToldWithin(mailbox: string, reportName: string, windowMs: number): Promise<boolean> {
    const rows = await this.db.all<{ report_name: string }>(
      'SELECT report_name FROM superset_notices WHERE mailbox = ? AND told_subscribers = 1 AND recorded_at >= ?',
      [mailbox, new Date(Date.now() - windowMs).toISOString()],
    );
    return rows.some(
      (row) => isSameReport(row.report_name, reportName) || isSameReport(reportName, row.report_name),
    );
  }

  /**
   * Ends the open retry run of the report called `reportName` in `mailbox` (a delivered report, or its
   * final failure), returning what it had. Call inside the transaction that records the ending report.
   */
  async settleRetries(mailbox: string, reportName: string): Promise<SettledRetries> {
    const open = await this.db.all<{ report_id: number; report_name: string; attempt: number | null }>(
      `SELECT report_id, report_name, attempt FROM superset_notices
       WHERE mailbox = ? AND kind = 'retry' AND settled_at IS NULL AND recorded_at >= ?`,
      [mailbox, new Date(Date.now() - RETRY_RUN_MS).toISOString()],
    );
    const run = open.filter((row) => isSameReport(row.report_name, reportName));
    if (run.length === 0) return { retries: 0, lastAttempt: null };
    const at = nowIso();
    for (const row of run) {
      await this.db.run('UPDATE superset_notices SET settled_at = ? WHERE report_id = ?', [
        at,
        row.report_id,
      ]);
    }
    const attempts = run
      .map((row) => (row.attempt === null ? null : Number(row.attempt)))
      .filter((attempt): attempt is number => attempt !== null);
    return { retries: run.length, lastAttempt: attempts.length > 0 ? Math.max(...attempts) : null };
  }
}
