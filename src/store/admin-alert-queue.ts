/**
 * The admin chat's messages not sent yet, kept across restarts: a Telegram outage may outlast the
 * process (an operator restarting the bot because Telegram seems down), and what was raised meanwhile
 * must still reach the admin chat. The queue is short (ChatAlerts folds a storm), so it is stored whole.
 */
import { type Database, nowIso } from './database.js';

export class StoredAlertQueue {
  constructor(private readonly db: Database) {}

  /** The messages left by the previous run, oldest first. */
  load(): string[] {
    const row = this.db.prepare('SELECT messages FROM admin_alert_queue WHERE id = 1').get() as
      | { messages: string }
      | undefined;
    return row ? (JSON.parse(row.messages) as string[]) : [];
  }

  /** Replaces the stored queue with `messages`. */
  save(messages: readonly string[]): void {
    if (messages.length === 0) {
      this.db.prepare('DELETE FROM admin_alert_queue WHERE id = 1').run();
      return;
    }
    this.db
      .prepare('INSERT OR REPLACE INTO admin_alert_queue (id, messages, updated_at) VALUES (1, ?, ?)')
      .run(JSON.stringify(messages), nowIso());
  }
}
