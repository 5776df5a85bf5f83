/**
 * The admin chat's messages not sent yet, kept across restarts: a Telegram outage may outlast the
 * process (an operator restarting the bot because Telegram seems down), and what was raised meanwhile
 * must still reach the admin chat. The queue is short (ChatAlerts folds a storm), so it is stored whole.
 */
import { nowIso, type SqlDatabase } from './sql-database.js';

export class StoredAlertQueue {
  constructor(private readonly db: SqlDatabase) {}

  /** The messages left by the previous run, oldest first. */
  async load(): Promise<string[]> {
    const row = await this.db.get<{ messages: string }>(
      'SELECT messages FROM admin_alert_queue WHERE id = 1',
    );
    return row ? (JSON.parse(row.messages) as string[]) : [];
  }

  /** Replaces the stored queue with `messages`. */
  async save(messages: readonly string[]): Promise<void> {
    if (messages.length === 0) {
      await this.db.run('DELETE FROM admin_alert_queue WHERE id = 1');
      return;
    }
    await this.db.run(
      `INSERT INTO admin_alert_queue (id, messages, updated_at) VALUES (1, ?, ?)
         ON CONFLICT (id) DO UPDATE SET messages = excluded.messages, updated_at = excluded.updated_at`,
      [JSON.stringify(messages), nowIso()],
    );
  }
}
