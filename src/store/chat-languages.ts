/**
 * The language each chat is spoken to in, remembered from the Telegram user's `language_code` (for a
 * group: from the admin who registered it). Kept by the bot, whatever the directory.
 */
import { DEFAULT_LANGUAGE, type Language, languageFor } from '../texts/index.js';
import { nowIso, type SqlDatabase } from './sql-database.js';

export class ChatLanguages {
  constructor(private readonly db: SqlDatabase) {}

  async get(chatId: number): Promise<Language> {
    const row = await this.db.get<{ language: string }>(
      'SELECT language FROM chat_languages WHERE chat_id = ?',
      [chatId],
    );
    return row ? languageFor(row.language) : DEFAULT_LANGUAGE;
  }

  async set(chatId: number, language: Language): Promise<void> {
    await this.db.run(
      `INSERT INTO chat_languages (chat_id, language, updated_at) VALUES (?, ?, ?)
         ON CONFLICT (chat_id) DO UPDATE SET language = excluded.language, updated_at = excluded.updated_at`,
      [chatId, language, nowIso()],
    );
  }

  /** A group moved to a new id (supergroup migration): the old chat's language wins, as before. */
  async move(oldChatId: number, newChatId: number): Promise<void> {
    await this.db.transaction(async () => {
      const old = await this.db.get<{ chat_id: number }>(
        'SELECT chat_id FROM chat_languages WHERE chat_id = ?',
        [oldChatId],
      );
      if (!old) return;
      await this.db.run('DELETE FROM chat_languages WHERE chat_id = ?', [newChatId]);
      await this.db.run('UPDATE chat_languages SET chat_id = ? WHERE chat_id = ?', [newChatId, oldChatId]);
    });
  }
}
