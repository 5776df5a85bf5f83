/**
 * What the bot observed about registered chats: the user blocked the bot, the bot was removed from
 * the group, Telegram refused a delivery for good. Kept here, in the bot's own file, apart from the
 * admin's Active (in SeaTable or the embedded directory), so that a new /start or promotion lifts what
 * the bot saw and never what the admin decided. Keyed by chat id: it is a fact about the chat.
 */
import type { ChatGone, ChatGoneReason } from '../directory/directory.js';
import { type Database, nowIso } from './database.js';

export class GoneChats {
  /** Bumped by every change, so readers can cache what they derive from the table. */
  private changes = 0;

  constructor(private readonly db: Database) {}

  /** A number that changes whenever the table does (in this process). */
  get version(): number {
    return this.changes;
  }

  /** Every gone chat, by chat id. */
  all(): Map<number, ChatGone> {
    const rows = this.db.prepare('SELECT chat_id, reason, since FROM gone_chats').all() as Array<{
      chat_id: number;
      reason: ChatGoneReason;
      since: string;
    }>;
    return new Map(rows.map((row) => [row.chat_id, { reason: row.reason, since: row.since }]));
  }

  get(chatId: number): ChatGone | undefined {
    const row = this.db.prepare('SELECT reason, since FROM gone_chats WHERE chat_id = ?').get(chatId) as
      | ChatGone
      | undefined;
    return row ? { reason: row.reason, since: row.since } : undefined;
  }

  /** Records that the chat is gone; the first observation's time is kept. Whether anything changed. */
  record(chatId: number, reason: ChatGoneReason): boolean {
    const result = this.db
      .prepare(
        `INSERT INTO gone_chats (chat_id, reason, since) VALUES (?, ?, ?)
         ON CONFLICT (chat_id) DO UPDATE SET reason = excluded.reason WHERE reason != excluded.reason`,
      )
      .run(chatId, reason, nowIso());
    return this.changed(result.changes);
  }

  /** The chat is back (a new /start, a promotion). Whether anything changed. */
  clear(chatId: number): boolean {
    return this.changed(this.db.prepare('DELETE FROM gone_chats WHERE chat_id = ?').run(chatId).changes);
  }

  /** A group moved to a supergroup id: what was seen about it moves along. */
  move(oldChatId: number, newChatId: number): boolean {
    return this.changed(
      this.db
        .prepare('UPDATE OR REPLACE gone_chats SET chat_id = ? WHERE chat_id = ?')
        .run(newChatId, oldChatId).changes,
    );
  }

  private changed(count: number): boolean {
    if (count > 0) this.changes++;
    return count > 0;
  }
}
