/**
 * Group registrations waiting for the admin chat (GROUP_REGISTRATION=approval), kept in the bot's
 * file so that an Approve pressed after a restart still finds its request. One request per chat;
 * the Approve / Reject buttons carry the request's id, which stays when a group moves to a supergroup.
 */
import type { User } from 'grammy/types';
import { DEFAULT_LANGUAGE, type Language, languageFor } from '../texts/index.js';
import { nowIso, type SqlDatabase } from './sql-database.js';

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
  constructor(private readonly db: SqlDatabase) {}

  /** Records a request; a newer request of the same chat replaces the older one (and gets a new id). */
  async add(request: NewGroupApprovalRequest): Promise<GroupApprovalRequest> {
    const id = await this.db.transaction(async () => {
      await this.db.run('DELETE FROM group_approvals WHERE chat_id = ?', [request.chatId]);
      const row = await this.db.get<{ id: number }>(
        `INSERT INTO group_approvals (chat_id, title, chat_type, member_count, promoted_by, language, requested_at)
         VALUES (?, ?, ?, ?, ?, ?, ?) RETURNING id`,
        [
          request.chatId,
          request.title,
          request.chatType,
          request.memberCount,
          JSON.stringify(request.promotedBy),
          request.language,
          nowIso(),
        ],
      );
      return Number(row!.id);
    });
    return (await this.byId(id))!;
  }

  /** The admin-chat message that carries the request's buttons. */
  async setAdminMessage(id: number, adminChatId: number, messageId: number): Promise<void> {
    await this.db.run('UPDATE group_approvals SET admin_chat_id = ?, admin_message_id = ? WHERE id = ?', [
      adminChatId,
      messageId,
      id,
    ]);
  }

  async byId(id: number): Promise<GroupApprovalRequest | undefined> {
    const row = await this.db.get<Row>('SELECT * FROM group_approvals WHERE id = ?', [id]);
    return row ? fromRow(row) : undefined;
  }

  async forChat(chatId: number): Promise<GroupApprovalRequest | undefined> {
    const row = await this.db.get<Row>('SELECT * FROM group_approvals WHERE chat_id = ?', [chatId]);
    return row ? fromRow(row) : undefined;
  }

  async all(): Promise<GroupApprovalRequest[]> {
    return (await this.db.all<Row>('SELECT * FROM group_approvals ORDER BY id')).map(fromRow);
  }

  /** Decided or withdrawn. Whether there was such a request. */
  async remove(id: number): Promise<boolean> {
    return (await this.db.run('DELETE FROM group_approvals WHERE id = ?', [id])).changes > 0;
  }

  /** The group became a supergroup while waiting (the moving request replaces one the new id had). */
  async moveChat(oldChatId: number, newChatId: number): Promise<void> {
    await this.db.transaction(async () => {
      const moving = await this.db.get<{ id: number }>('SELECT id FROM group_approvals WHERE chat_id = ?', [
        oldChatId,
      ]);
      if (!moving) return;
      await this.db.run('DELETE FROM group_approvals WHERE chat_id = ?', [newChatId]);
      await this.db.run('UPDATE group_approvals SET chat_id = ? WHERE chat_id = ?', [newChatId, oldChatId]);
    });
  }
}

function fromRow(row: Row): GroupApprovalRequest {
  return {
    id: Number(row.id),
    chatId: Number(row.chat_id),
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
