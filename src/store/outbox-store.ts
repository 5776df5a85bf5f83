/**
 * The outbox: one row per (report, chat). A delivery may take several Telegram messages (a document,
 * an album, a notice); `steps_done` counts those already sent, and is committed after each one, so a
 * restart resumes at the first unsent message and at most the message in flight at a crash repeats.
 */

import type { PlannedMessage } from '../core/message-plan.js';
import { nowIso, type SqlDatabase } from './sql-database.js';

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
  constructor(private readonly db: SqlDatabase) {}

  /** Every pending delivery, oldest first. */
  async pending(): Promise<Delivery[]> {
    return (
      await this.db.all<DeliveryRow>("SELECT * FROM deliveries WHERE state = 'pending' ORDER BY id")
    ).map(toDelivery);
  }

  /** Pending deliveries created after `afterId`, oldest first. */
  async pendingAfter(afterId: number): Promise<Delivery[]> {
    // after the first load, read the rows added since by id (the dispatcher asks every 2 s: the cost
    // must not be that of the whole queue); the first load takes the pending ones by their index.
    // `state || ''` keeps SQLite off the state index for the first (both engines accept it)
    const sql =
      afterId > 0
        ? "SELECT * FROM deliveries WHERE id > ? AND state || '' = 'pending' ORDER BY id"
        : "SELECT * FROM deliveries WHERE state = 'pending' AND id > ? ORDER BY id";
    return (await this.db.all<DeliveryRow>(sql, [afterId])).map(toDelivery);
  }

  /** The highest delivery id there is (0 for none), whatever its state. */
  async maxId(): Promise<number> {
    const row = await this.db.get<{ id: number | string | null }>('SELECT max(id) AS id FROM deliveries');
    return Number(row?.id ?? 0);
  }

  async delivery(id: number): Promise<Delivery | null> {
    const row = await this.db.get<DeliveryRow>('SELECT * FROM deliveries WHERE id = ?', [id]);
    return row ? toDelivery(row) : null;
  }

  async forReport(reportId: number): Promise<Delivery[]> {
    return (
      await this.db.all<DeliveryRow>('SELECT * FROM deliveries WHERE report_id = ? ORDER BY id', [reportId])
    ).map(toDelivery);
  }

  /**
   * Records one more message sent; the delivery is done when `finished`. File ids learnt go in the same
   * commit, and so does `plan` when given (the first of several messages: see {@link Delivery.plan}).
   */
  async stepSent(
    id: number,
    stepsDone: number,
    finished: boolean,
    fileIds: Array<{ sha256: string; sentAs: FileSentAs; fileId: string }>,
    plan?: readonly PlannedMessage[],
  ): Promise<void> {
    await this.stepsSent([{ id, stepsDone, finished, fileIds, ...(plan ? { plan } : {}) }]);
  }

  /**
   * Records several sent messages in one transaction (one disk sync): the messages that requests in
   * flight at once brought back together (TELEGRAM_PARALLEL_SENDS).
   */
  async stepsSent(
    steps: ReadonlyArray<{
      id: number;
      /** Messages sent of this delivery, this one included (idempotent: a record repeated changes nothing). */
      stepsDone: number;
      finished: boolean;
      fileIds: Array<{ sha256: string; sentAs: FileSentAs; fileId: string }>;
      plan?: readonly PlannedMessage[];
    }>,
  ): Promise<void> {
    await this.db.transaction(async () => {
      for (const step of steps)
        await this.recordStep(step.id, step.stepsDone, step.finished, step.fileIds, step.plan);
    });
  }

  private async recordStep(
    id: number,
    stepsDone: number,
    finished: boolean,
    fileIds: Array<{ sha256: string; sentAs: FileSentAs; fileId: string }>,
    plan?: readonly PlannedMessage[],
  ): Promise<void> {
    const now = nowIso();
    await this.db.run(
      `UPDATE deliveries SET steps_done = ?, attempts = 0, last_error = NULL,
             state = CASE WHEN ? = 1 THEN 'sent' ELSE state END, finished_at = CASE WHEN ? = 1 THEN ? ELSE finished_at END,
             plan = coalesce(?, plan)
           WHERE id = ? AND steps_done < ?`,
      [stepsDone, finished ? 1 : 0, finished ? 1 : 0, now, plan ? JSON.stringify(plan) : null, id, stepsDone],
    );
    for (const file of fileIds) {
      await this.db.run(
        `INSERT INTO telegram_files (sha256, sent_as, file_id, updated_at) VALUES (?, ?, ?, ?)
           ON CONFLICT (sha256, sent_as) DO UPDATE SET file_id = excluded.file_id, updated_at = excluded.updated_at`,
        [file.sha256, file.sentAs, file.fileId, now],
      );
    }
  }

  /** A delivery with nothing (left) to send. */
  async markSent(id: number): Promise<void> {
    await this.db.run("UPDATE deliveries SET state = 'sent', finished_at = ? WHERE id = ?", [nowIso(), id]);
  }

  /** Tries again later; `countAttempt` is false for rate limits, which are not failures. */
  async reschedule(id: number, at: number, error: string, countAttempt: boolean): Promise<void> {
    // whole milliseconds: PostgreSQL's bigint refuses a fraction (a server's "retry_after: 1.5")
    at = Math.ceil(at);
    await this.db.run(
      'UPDATE deliveries SET next_attempt_at = ?, last_error = ?, attempts = attempts + ? WHERE id = ?',
      [at, error, countAttempt ? 1 : 0, id],
    );
  }

  /** Gives up on a delivery; `attempts` is the final count when the caller knows it. */
  async fail(id: number, error: string, attempts?: number): Promise<void> {
    await this.db.run(
      `UPDATE deliveries SET state = 'failed', last_error = ?, finished_at = ?, attempts = coalesce(?, attempts)
         WHERE id = ? AND state = 'pending'`,
      [error, nowIso(), attempts ?? null, id],
    );
  }

  /** Ends one pending delivery that must not be sent (any more), with the reason. False when it was not pending. */
  async cancel(id: number, reason: string): Promise<boolean> {
    const result = await this.db.run(
      "UPDATE deliveries SET state = 'cancelled', last_error = ?, finished_at = ? WHERE id = ? AND state = 'pending'",
      [reason, nowIso(), id],
    );
    return result.changes > 0;
  }

  /** Ends every pending delivery to a chat that can no longer receive (blocked, kicked). Returns their ids. */
  async cancelChat(chatId: number, reason: string): Promise<number[]> {
    return this.db.transaction(async () => {
      const ids = (
        await this.db.all<{ id: number }>(
          "SELECT id FROM deliveries WHERE chat_id = ? AND state = 'pending'",
          [chatId],
        )
      ).map((row) => Number(row.id));
      await this.db.run(
        "UPDATE deliveries SET state = 'cancelled', last_error = ?, finished_at = ? WHERE chat_id = ? AND state = 'pending'",
        [reason, nowIso(), chatId],
      );
      return ids;
    });
  }

  /**
   * A group moved to a new chat id (supergroup migration): pending deliveries follow it. Where the new
   * chat already has the same report pending or sent, the old one is cancelled instead (a failed or
   * cancelled one there does not count: the report would never arrive). The move is
   * remembered ({@link migratedFrom}), for while the directory still has the old id.
   */
  async moveChat(oldChatId: number, newChatId: number): Promise<void> {
    await this.db.transaction(async () => {
      await this.db.run(
        `INSERT INTO chat_migrations (old_chat_id, new_chat_id, migrated_at) VALUES (?, ?, ?)
           ON CONFLICT (old_chat_id) DO UPDATE SET new_chat_id = excluded.new_chat_id, migrated_at = excluded.migrated_at`,
        [oldChatId, newChatId, nowIso()],
      );
      await this.db.run(
        `UPDATE deliveries SET state = 'cancelled', last_error = 'the group moved to a supergroup that already has this report', finished_at = ?
           WHERE chat_id = ? AND state = 'pending'
             AND report_id IN (SELECT report_id FROM deliveries WHERE chat_id = ? AND state IN ('pending', 'sent'))`,
        [nowIso(), oldChatId, newChatId],
      );
      // one row at a time, each taking the next free round in the new chat (an earlier failed or
      // cancelled delivery of the report there holds its round)
      const moving = await this.db.all<{ id: number }>(
        "SELECT id FROM deliveries WHERE chat_id = ? AND state = 'pending' ORDER BY id",
        [oldChatId],
      );
      for (const { id } of moving) {
        await this.db.run(
          `UPDATE deliveries SET chat_id = ?, next_attempt_at = 0,
             round = (SELECT coalesce(max(other.round), -1) + 1 FROM deliveries other
                      WHERE other.report_id = deliveries.report_id AND other.chat_id = ?)
           WHERE id = ?`,
          [newChatId, newChatId, Number(id)],
        );
      }
    });
  }

  /** The chat a group had before it became the supergroup `chatId`, if it moved. */
  async migratedFrom(chatId: number): Promise<number | undefined> {
    const row = await this.db.get<{ old_chat_id: number }>(
      'SELECT old_chat_id FROM chat_migrations WHERE new_chat_id = ? ORDER BY migrated_at DESC LIMIT 1',
      [chatId],
    );
    return row ? Number(row.old_chat_id) : undefined;
  }

  async fileId(sha256: string, sentAs: FileSentAs): Promise<string | null> {
    const row = await this.db.get<{ file_id: string }>(
      'SELECT file_id FROM telegram_files WHERE sha256 = ? AND sent_as = ?',
      [sha256, sentAs],
    );
    return row?.file_id ?? null;
  }

  async forgetFileId(sha256: string, sentAs: FileSentAs): Promise<void> {
    await this.db.run('DELETE FROM telegram_files WHERE sha256 = ? AND sent_as = ?', [sha256, sentAs]);
  }

  /** Whether the report has a delivery to this chat still pending (any round). */
  async hasPending(reportId: number, chatId: number): Promise<boolean> {
    const row = await this.db.get<{ one: number }>(
      "SELECT 1 AS one FROM deliveries WHERE report_id = ? AND chat_id = ? AND state = 'pending' LIMIT 1",
      [reportId, chatId],
    );
    return row !== undefined;
  }

  /** Queues a report again for one chat (the `resend` command, /last), as a new delivery row. */
  async requeue(
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
  ): Promise<number> {
    return this.db.transaction(async () => {
      const row = await this.db.get<{ id: number }>(
        `INSERT INTO deliveries (report_id, chat_id, recipient_kind, recipient_key, recipient_name, language, media_mode, tall_image_mode, thread_id, created_at, round)
           VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, (SELECT coalesce(max(round), -1) + 1 FROM deliveries WHERE report_id = ? AND chat_id = ?))
           RETURNING id`,
        [
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
        ],
      );
      return Number(row!.id);
    });
  }

  /** Count of deliveries per state, for metrics. */
  async countByState(): Promise<Record<DeliveryState, number>> {
    const counts: Record<DeliveryState, number> = { pending: 0, sent: 0, failed: 0, cancelled: 0 };
    const rows = await this.db.all<{ state: DeliveryState; n: number | string }>(
      'SELECT state, count(*) AS n FROM deliveries GROUP BY state',
    );
    for (const row of rows) counts[row.state] = Number(row.n);
    return counts;
  }
}
