/**
 * The outbox: one row per (report, chat). A delivery may take several Telegram messages (a document,
 * an album, a notice); `steps_done` counts those already sent, and is committed after each one, so a
 * restart resumes at the first unsent message and at most the message in flight at a crash repeats.
 */

import type BetterSqlite3 from 'better-sqlite3';
import type { PlannedMessage } from '../core/message-plan.js';
import { type Database, nowIso } from './database.js';

export type DeliveryState = 'pending' | 'sent' | 'failed' | 'cancelled';

export interface Delivery {
  id: number;
  reportId: number;
  chatId: number;
  recipientKind: 'user' | 'group' | 'admin';
  recipientKey: string;
  recipientName: string;
  language: string;
  mediaMode: string;
  /** TALL_IMAGE_MODE for this chat, fixed when queued; null on rows queued before tiles existed (`document`). */
  tallImageMode?: string | null;
  threadId: number | null;
  state: DeliveryState;
  stepsDone: number;
  attempts: number;
  nextAttemptAt: number;
  lastError: string | null;
  createdAt: string;
  finishedAt: string | null;
  /** 0 for the report's own delivery to this chat; 1, 2, … for each time it was queued again (/last, `resend`). */
  round?: number;
  /**
   * The messages this delivery sends, fixed when its first message went out and more were to follow:
   * a restart with other settings (PHOTO_MAX_ASPECT_RATIO, MAX_FILE_MB, a media mode) neither skips
   * nor repeats a file. Null until then (the plan is worked out from the settings of now).
   */
  plan: PlannedMessage[] | null;
}

interface DeliveryRow {
  id: number;
  report_id: number;
  chat_id: number;
  recipient_kind: Delivery['recipientKind'];
  recipient_key: string;
  recipient_name: string;
  language: string;
  media_mode: string;
  tall_image_mode?: string | null;
  thread_id: number | null;
  state: DeliveryState;
  steps_done: number;
  attempts: number;
  next_attempt_at: number;
  last_error: string | null;
  created_at: string;
  finished_at: string | null;
  round?: number;
  plan: string | null;
}

function toDelivery(row: DeliveryRow): Delivery {
  return {
    id: row.id,
    reportId: row.report_id,
    chatId: row.chat_id,
    recipientKind: row.recipient_kind,
    recipientKey: row.recipient_key,
    recipientName: row.recipient_name,
    language: row.language,
    mediaMode: row.media_mode,
    tallImageMode: row.tall_image_mode ?? null,
    threadId: row.thread_id,
    state: row.state,
    stepsDone: row.steps_done,
    attempts: row.attempts,
    nextAttemptAt: row.next_attempt_at,
    lastError: row.last_error,
    createdAt: row.created_at,
    finishedAt: row.finished_at,
    round: row.round ?? 0,
    plan: row.plan === null || row.plan === undefined ? null : (JSON.parse(row.plan) as PlannedMessage[]),
  };
}

export type FileSentAs = 'photo' | 'document';

export class OutboxStore {
  /** Prepared statements by their SQL: preparing one costs more than running it (one per message sent). */
  private readonly statements = new Map<string, BetterSqlite3.Statement>();

  constructor(private readonly db: Database) {}

  private statement(sql: string): BetterSqlite3.Statement {
    let statement = this.statements.get(sql);
    if (!statement) {
      statement = this.db.prepare(sql);
      this.statements.set(sql, statement);
    }
    return statement;
  }

  /** Every pending delivery, oldest first. */
  pending(): Delivery[] {
    return (
      this.statement("SELECT * FROM deliveries WHERE state = 'pending' ORDER BY id").all() as DeliveryRow[]
    ).map(toDelivery);
  }

  /** Pending deliveries created after `afterId`, oldest first. */
  pendingAfter(afterId: number): Delivery[] {
    // after the first load, read the rows added since by id (the dispatcher asks every 2 s: the cost
    // must not be that of the whole queue); the first load takes the pending ones by their index
    const sql =
      afterId > 0
        ? "SELECT * FROM deliveries WHERE id > ? AND +state = 'pending' ORDER BY id"
        : "SELECT * FROM deliveries WHERE state = 'pending' AND id > ? ORDER BY id";
    return (this.statement(sql).all(afterId) as DeliveryRow[]).map(toDelivery);
  }

  /** The highest delivery id there is (0 for none), whatever its state. */
  maxId(): number {
    const row = this.statement('SELECT max(id) AS id FROM deliveries').get() as { id: number | null };
    return row.id ?? 0;
  }

  delivery(id: number): Delivery | null {
    const row = this.statement('SELECT * FROM deliveries WHERE id = ?').get(id) as DeliveryRow | undefined;
    return row ? toDelivery(row) : null;
  }

  forReport(reportId: number): Delivery[] {
    return (
      this.statement('SELECT * FROM deliveries WHERE report_id = ? ORDER BY id').all(
        reportId,
      ) as DeliveryRow[]
    ).map(toDelivery);
  }

  /**
   * Records one more message sent; the delivery is done when `finished`. File ids learnt go in the same
   * commit, and so does `plan` when given (the first of several messages: see {@link Delivery.plan}).
   */
  stepSent(
    id: number,
    finished: boolean,
    fileIds: Array<{ sha256: string; sentAs: FileSentAs; fileId: string }>,
    plan?: readonly PlannedMessage[],
  ): void {
    this.stepsSent([{ id, finished, fileIds, ...(plan ? { plan } : {}) }]);
  }

  /**
   * Records several sent messages in one transaction (one disk sync): the messages that requests in
   * flight at once brought back together (TELEGRAM_PARALLEL_SENDS).
   */
  stepsSent(
    steps: ReadonlyArray<{
      id: number;
      finished: boolean;
      fileIds: Array<{ sha256: string; sentAs: FileSentAs; fileId: string }>;
      plan?: readonly PlannedMessage[];
    }>,
  ): void {
    this.db.transaction(() => {
      for (const step of steps) this.recordStep(step.id, step.finished, step.fileIds, step.plan);
    })();
  }

  private recordStep(
    id: number,
    finished: boolean,
    fileIds: Array<{ sha256: string; sentAs: FileSentAs; fileId: string }>,
    plan?: readonly PlannedMessage[],
  ): void {
    const now = nowIso();
    this.statement(
      `UPDATE deliveries SET steps_done = steps_done + 1, attempts = 0, last_error = NULL,
             state = CASE WHEN ? THEN 'sent' ELSE state END, finished_at = CASE WHEN ? THEN ? ELSE finished_at END,
             plan = coalesce(?, plan)
           WHERE id = ?`,
    ).run(finished ? 1 : 0, finished ? 1 : 0, now, plan ? JSON.stringify(plan) : null, id);
    const upsert = this.statement(
      `INSERT INTO telegram_files (sha256, sent_as, file_id, updated_at) VALUES (?, ?, ?, ?)
         ON CONFLICT (sha256, sent_as) DO UPDATE SET file_id = excluded.file_id, updated_at = excluded.updated_at`,
    );
    for (const file of fileIds) upsert.run(file.sha256, file.sentAs, file.fileId, now);
  }

  /** A delivery with nothing (left) to send. */
  markSent(id: number): void {
    this.statement("UPDATE deliveries SET state = 'sent', finished_at = ? WHERE id = ?").run(nowIso(), id);
  }

  /** Tries again later; `countAttempt` is false for rate limits, which are not failures. */
  reschedule(id: number, at: number, error: string, countAttempt: boolean): void {
    this.statement(
      'UPDATE deliveries SET next_attempt_at = ?, last_error = ?, attempts = attempts + ? WHERE id = ?',
    ).run(at, error, countAttempt ? 1 : 0, id);
  }

  /** Gives up on a delivery; `attempts` is the final count when the caller knows it. */
  fail(id: number, error: string, attempts?: number): void {
    this.statement(
      `UPDATE deliveries SET state = 'failed', last_error = ?, finished_at = ?, attempts = coalesce(?, attempts)
         WHERE id = ? AND state = 'pending'`,
    ).run(error, nowIso(), attempts ?? null, id);
  }

  /** Ends one pending delivery that must not be sent (any more), with the reason. False when it was not pending. */
  cancel(id: number, reason: string): boolean {
    return (
      this.statement(
        "UPDATE deliveries SET state = 'cancelled', last_error = ?, finished_at = ? WHERE id = ? AND state = 'pending'",
      ).run(reason, nowIso(), id).changes > 0
    );
  }

  /** Ends every pending delivery to a chat that can no longer receive (blocked, kicked). Returns their ids. */
  cancelChat(chatId: number, reason: string): number[] {
    return this.db.transaction(() => {
      const ids = (
        this.statement("SELECT id FROM deliveries WHERE chat_id = ? AND state = 'pending'").all(
          chatId,
        ) as Array<{ id: number }>
      ).map((row) => row.id);
      this.statement(
        "UPDATE deliveries SET state = 'cancelled', last_error = ?, finished_at = ? WHERE chat_id = ? AND state = 'pending'",
      ).run(reason, nowIso(), chatId);
      return ids;
    })();
  }

  /**
   * A group moved to a new chat id (supergroup migration): pending deliveries follow it. Where the new
   * chat already has the same report pending or sent, the old one is cancelled instead (a failed or
   * cancelled one there does not count: the report would never arrive). The move is
   * remembered ({@link migratedFrom}), for while the directory still has the old id.
   */
  moveChat(oldChatId: number, newChatId: number): void {
    this.db.transaction(() => {
      this.statement(
        'INSERT OR REPLACE INTO chat_migrations (old_chat_id, new_chat_id, migrated_at) VALUES (?, ?, ?)',
      ).run(oldChatId, newChatId, nowIso());
      this.statement(
        `UPDATE deliveries SET state = 'cancelled', last_error = 'the group moved to a supergroup that already has this report', finished_at = ?
           WHERE chat_id = ? AND state = 'pending'
             AND report_id IN (SELECT report_id FROM deliveries WHERE chat_id = ? AND state IN ('pending', 'sent'))`,
      ).run(nowIso(), oldChatId, newChatId);
      // one row at a time, each taking the next free round in the new chat (an earlier failed or
      // cancelled delivery of the report there holds its round)
      const moving = this.statement(
        "SELECT id FROM deliveries WHERE chat_id = ? AND state = 'pending' ORDER BY id",
      ).all(oldChatId) as Array<{ id: number }>;
      const move = this.statement(
        `UPDATE deliveries SET chat_id = ?, next_attempt_at = 0,
           round = (SELECT coalesce(max(other.round), -1) + 1 FROM deliveries other
                    WHERE other.report_id = deliveries.report_id AND other.chat_id = ?)
         WHERE id = ?`,
      );
      for (const { id } of moving) move.run(newChatId, newChatId, id);
    })();
  }

  /** The chat a group had before it became the supergroup `chatId`, if it moved. */
  migratedFrom(chatId: number): number | undefined {
    const row = this.statement(
      'SELECT old_chat_id FROM chat_migrations WHERE new_chat_id = ? ORDER BY migrated_at DESC LIMIT 1',
    ).get(chatId) as { old_chat_id: number } | undefined;
    return row?.old_chat_id;
  }

  fileId(sha256: string, sentAs: FileSentAs): string | null {
    const row = this.statement('SELECT file_id FROM telegram_files WHERE sha256 = ? AND sent_as = ?').get(
      sha256,
      sentAs,
    ) as { file_id: string } | undefined;
    return row?.file_id ?? null;
  }

  forgetFileId(sha256: string, sentAs: FileSentAs): void {
    this.statement('DELETE FROM telegram_files WHERE sha256 = ? AND sent_as = ?').run(sha256, sentAs);
  }

  /** Whether the report has a delivery to this chat still pending (any round). */
  hasPending(reportId: number, chatId: number): boolean {
    return (
      this.statement(
        "SELECT 1 FROM deliveries WHERE report_id = ? AND chat_id = ? AND state = 'pending' LIMIT 1",
      ).get(reportId, chatId) !== undefined
    );
  }

  /** Queues a report again for one chat (the `resend` command, /last), as a new delivery row. */
  requeue(
    reportId: number,
    template: Omit<
      Delivery,
      | 'id'
      | 'state'
      | 'stepsDone'
      | 'attempts'
      | 'nextAttemptAt'
      | 'lastError'
      | 'createdAt'
      | 'finishedAt'
      | 'reportId'
      | 'plan'
    >,
  ): number {
    return this.db.transaction(() => {
      const result = this.statement(
        `INSERT INTO deliveries (report_id, chat_id, recipient_kind, recipient_key, recipient_name, language, media_mode, tall_image_mode, thread_id, created_at, round)
           VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, (SELECT coalesce(max(round), -1) + 1 FROM deliveries WHERE report_id = ? AND chat_id = ?))`,
      ).run(
        reportId,
        template.chatId,
        template.recipientKind,
        template.recipientKey,
        template.recipientName,
        template.language,
        template.mediaMode,
        template.tallImageMode ?? null,
        template.threadId,
        nowIso(),
        reportId,
        template.chatId,
      );
      return Number(result.lastInsertRowid);
    })();
  }

  /** Count of deliveries per state, for metrics. */
  countByState(): Record<DeliveryState, number> {
    const counts: Record<DeliveryState, number> = { pending: 0, sent: 0, failed: 0, cancelled: 0 };
    for (const row of this.statement(
      'SELECT state, count(*) AS n FROM deliveries GROUP BY state',
    ).all() as Array<{
      state: DeliveryState;
      n: number;
    }>) {
      counts[row.state] = row.n;
    }
    return counts;
  }
}
