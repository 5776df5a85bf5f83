/**
 * Group registrations waiting for the admin chat (GROUP_REGISTRATION=approval), kept in the bot's
 * file so that an Approve pressed after a restart still finds its request. One request per chat;
 * the Approve / Reject buttons carry the request's id, which stays when a group moves to a supergroup.
 */
import type { User } from 'grammy/types';
import { DEFAULT_LANGUAGE, type Language, languageFor } from '../texts/index.js';
import { type Database, nowIso } from './database.js';

export interface GroupApprovalRequest {
  /** Carried by the buttons. */
  id: number;
  chatId: number;
  /** The title the group had when it promoted the bot: the groups-table row it asks for. */
  title: string;
  chatType: string;
  /** Members when the request was made; null when Telegram did not say. */
  memberCount: number | null;
  promotedBy: User;
  /** The language to tell the group the decision in. */
  language: Language;
  /** The admin-chat message with the buttons, once sent. */
  adminChatId: number | null;
  adminMessageId: number | null;
  requestedAt: string;
}

export type NewGroupApprovalRequest = Omit<
  GroupApprovalRequest,
  'id' | 'adminChatId' | 'adminMessageId' | 'requestedAt'
>;

interface Row {
  id: number;
  chat_id: number;
  title: string;
  chat_type: string;
  member_count: number | null;
  promoted_by: string;
  language: string;
  admin_chat_id: number | null;
  admin_message_id: number | null;
  requested_at: string;
}

export class GroupApprovals {
  constructor(private readonly db: Database) {}

  /** Records a request; a newer request of the same chat replaces the older one (and gets a new id). */
  add(request: NewGroupApprovalRequest): GroupApprovalRequest {
    const result = this.db
      .prepare(
        `INSERT OR REPLACE INTO group_approvals (chat_id, title, chat_type, member_count, promoted_by, language, requested_at)
         VALUES (?, ?, ?, ?, ?, ?, ?)`,
      )
      .run(
        request.chatId,
        request.title,
        request.chatType,
        request.memberCount,
        JSON.stringify(request.promotedBy),
        request.language,
        nowIso(),
      );
    return this.byId(Number(result.lastInsertRowid))!;
  }

  /** The admin-chat message that carries the request's buttons. */
  setAdminMessage(id: number, adminChatId: number, messageId: number): void {
    this.db
      .prepare('UPDATE group_approvals SET admin_chat_id = ?, admin_message_id = ? WHERE id = ?')
      .run(adminChatId, messageId, id);
  }

  byId(id: number): GroupApprovalRequest | undefined {
    const row = this.db.prepare('SELECT * FROM group_approvals WHERE id = ?').get(id) as Row | undefined;
    return row ? fromRow(row) : undefined;
  }

  forChat(chatId: number): GroupApprovalRequest | undefined {
    const row = this.db.prepare('SELECT * FROM group_approvals WHERE chat_id = ?').get(chatId) as
      | Row
      | undefined;
    return row ? fromRow(row) : undefined;
  }

  all(): GroupApprovalRequest[] {
    return (this.db.prepare('SELECT * FROM group_approvals ORDER BY id').all() as Row[]).map(fromRow);
  }

  /** Decided or withdrawn. Whether there was such a request. */
  remove(id: number): boolean {
    return this.db.prepare('DELETE FROM group_approvals WHERE id = ?').run(id).changes > 0;
  }

  /** The group became a supergroup while waiting. */
  moveChat(oldChatId: number, newChatId: number): void {
    this.db
      .prepare('UPDATE OR REPLACE group_approvals SET chat_id = ? WHERE chat_id = ?')
      .run(newChatId, oldChatId);
  }
}

function fromRow(row: Row): GroupApprovalRequest {
  return {
    id: row.id,
    chatId: row.chat_id,
    title: row.title,
    chatType: row.chat_type,
    memberCount: row.member_count,
    promotedBy: JSON.parse(row.promoted_by) as User,
    language: row.language ? languageFor(row.language) : DEFAULT_LANGUAGE,
    adminChatId: row.admin_chat_id,
    adminMessageId: row.admin_message_id,
    requestedAt: row.requested_at,
  };
}
