/**
 * What the bot observed about registered chats: the user blocked the bot, the bot was removed from
 * the group, Telegram refused a delivery for good. Kept here, in the bot's own state, apart from the
 * admin's Active (in SeaTable or the embedded directory), so that a new /start or promotion lifts what
 * the bot saw and never what the admin decided. Keyed by chat id: it is a fact about the chat.
 */
import type { ChatGone, ChatGoneReason } from '../directory/directory.js';
import { nowIso, type SqlDatabase } from './sql-database.js';

export class GoneChats {
  constructor(private readonly db: SqlDatabase) {}

  /** Every gone chat, by chat id. */
  async all(): Promise<Map<number, ChatGone>> {
    const rows = await this.db.all<{ chat_id: number | string; reason: ChatGoneReason; since: string }>(
      'SELECT chat_id, reason, since FROM gone_chats',
    );
    // Number(): a BIGINT column may come back as a string from PostgreSQL
    return new Map(rows.map((row) => [Number(row.chat_id), { reason: row.reason, since: row.since }]));
  }

  async get(chatId: number): Promise<ChatGone | undefined> {
    const row = await this.db.get<ChatGone>('SELECT reason, since FROM gone_chats WHERE chat_id = ?', [
      chatId,
    ]);
    return row ? { reason: row.reason, since: row.since } : undefined;
  }

  /** Records that the chat is gone; the first observation's time is kept. Whether anything changed. */
  async record(chatId: number, reason: ChatGoneReason): Promise<boolean> {
    const result = await this.db.run(
      `INSERT INTO gone_chats (chat_id, reason, since) VALUES (?, ?, ?)
       ON CONFLICT (chat_id) DO UPDATE SET reason = excluded.reason WHERE gone_chats.reason != excluded.reason`,
      [chatId, reason, nowIso()],
    );
    return result.changes > 0;
  }

  /** The chat is back (a new /start, a promotion). Whether anything changed. */
  async clear(chatId: number): Promise<boolean> {
    return (await this.db.run('DELETE FROM gone_chats WHERE chat_id = ?', [chatId])).changes > 0;
  }

  /** A group moved to a supergroup id: what was seen about it moves along (replacing what was seen of the new id). */
  async move(oldChatId: number, newChatId: number): Promise<boolean> {
    if (oldChatId === newChatId) return false;
    return this.db.transaction(async () => {
      const moving = await this.db.get('SELECT 1 AS found FROM gone_chats WHERE chat_id = ?', [oldChatId]);
      if (!moving) return false;
      await this.db.run('DELETE FROM gone_chats WHERE chat_id = ?', [newChatId]);
      const result = await this.db.run('UPDATE gone_chats SET chat_id = ? WHERE chat_id = ?', [
        newChatId,
        oldChatId,
      ]);
      return result.changes > 0;
    });
  }
}
