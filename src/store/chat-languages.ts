/**
 * The language each chat is spoken to in, remembered from the Telegram user's `language_code` (for a
 * group: from the admin who registered it). Kept by the bot, whatever the directory.
 */
import { DEFAULT_LANGUAGE, type Language, languageFor } from '../texts/index.js';
import { type Database, nowIso } from './database.js';

export class ChatLanguages {
  constructor(private readonly db: Database) {}

  get(chatId: number): Language {
    const row = this.db.prepare('SELECT language FROM chat_languages WHERE chat_id = ?').get(chatId) as
      | { language: string }
      | undefined;
    return row ? languageFor(row.language) : DEFAULT_LANGUAGE;
  }

  set(chatId: number, language: Language): void {
    this.db
      .prepare(
        `INSERT INTO chat_languages (chat_id, language, updated_at) VALUES (?, ?, ?)
         ON CONFLICT (chat_id) DO UPDATE SET language = excluded.language, updated_at = excluded.updated_at`,
      )
      .run(chatId, language, nowIso());
  }

  /** A group moved to a new id (supergroup migration). */
  move(oldChatId: number, newChatId: number): void {
    this.db
      .prepare('UPDATE OR REPLACE chat_languages SET chat_id = ? WHERE chat_id = ?')
      .run(newChatId, oldChatId);
  }
}
