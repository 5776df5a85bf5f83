/**
 * The chats the fake bot knows, with the states that decide what a send to them returns: private
 * chats of users who started the bot (active, blocked the bot, deactivated account), groups,
 * supergroups (optionally forums with topics) and channels with the bot's member status, groups
 * migrated to supergroups and deleted groups. Error wording per tdlib/telegram-bot-api
 * `Client::check_chat` and the research notes (§2, §3).
 */
import type { Chat, ChatFullInfo, ChatPermissions, User } from 'grammy/types';
import { badRequest, Descriptions, forbidden } from './bot-api-error.js';

/** The bot's own status in a group, supergroup or channel (`ChatMember.status`). */
export type BotMemberStatus = 'creator' | 'administrator' | 'member' | 'restricted' | 'left' | 'kicked';

/** A user's relation to the bot in their private chat. */
export type PrivateChatState = 'active' | 'blocked' | 'deactivated';

/** A private chat: a user who pressed Start. */
export interface PrivateChatRecord {
  type: 'private';
  id: number;
  user: User;
  state: PrivateChatState;
}

/** A group, supergroup or channel the bot is (or was) in. */
export interface GroupChatRecord {
  type: 'group' | 'supergroup' | 'channel';
  id: number;
  title: string;
  /** Public @username (supergroups and channels). */
  username?: string;
  /** Supergroup with topics enabled. */
  isForum: boolean;
  /** Existing forum topic ids (`message_thread_id`); General (1) is never among them. */
  topicIds: Set<number>;
  botStatus: BotMemberStatus;
  /** Set once a basic group was upgraded: sends to it fail with `migrate_to_chat_id`. */
  migratedTo?: number;
  /** The chat was deleted. */
  deleted: boolean;
  /**
   * What members may send (the group's default permissions, setChatPermissions); they bind a bot
   * that is a plain member, not an administrator. A permission left out is allowed.
   */
  permissions: ChatPermissions;
  /** People in the chat the fake was told about (for getChatMember / getChatMemberCount). */
  members: Map<number, { user: User; status: 'creator' | 'administrator' | 'member' | 'left' | 'kicked' }>;
  /** What getChatMemberCount answers when set; otherwise the members known plus the bot. */
  memberCount?: number;
}

export type ChatRecord = PrivateChatRecord | GroupChatRecord;

/** What a send does for the given content, for the "not enough rights to send …" wording. */
export type SendContent = 'text messages' | 'documents' | 'photos' | 'videos' | 'audio files';

/** The member permission each kind of content needs (Bot API `ChatPermissions`). */
const PERMISSION_FOR: Record<SendContent, keyof ChatPermissions> = {
  'text messages': 'can_send_messages',
  documents: 'can_send_documents',
  photos: 'can_send_photos',
  videos: 'can_send_videos',
  'audio files': 'can_send_audios',
};

export class ChatRegistry {
  private readonly chats = new Map<number, ChatRecord>();

  get(chatId: number): ChatRecord | undefined {
    return this.chats.get(chatId);
  }

  all(): ChatRecord[] {
    return [...this.chats.values()];
  }

  /** Registers (or returns) the private chat of `user`; a new chat starts `active`. */
  upsertPrivate(user: User): PrivateChatRecord {
    const existing = this.chats.get(user.id);
    if (existing?.type === 'private') {
      existing.user = { ...existing.user, ...user };
      return existing;
    }
    const record: PrivateChatRecord = { type: 'private', id: user.id, user, state: 'active' };
    this.chats.set(user.id, record);
    return record;
  }

  /** Registers or updates a group/supergroup/channel. */
  upsertGroup(spec: {
    id: number;
    type: GroupChatRecord['type'];
    title: string;
    botStatus: BotMemberStatus;
    username?: string;
    isForum?: boolean;
    topicIds?: Iterable<number>;
  }): GroupChatRecord {
    const existing = this.chats.get(spec.id);
    if (existing !== undefined && existing.type !== 'private') {
      existing.title = spec.title;
      existing.botStatus = spec.botStatus;
      if (spec.username !== undefined) existing.username = spec.username;
      if (spec.isForum !== undefined) existing.isForum = spec.isForum;
      for (const topicId of spec.topicIds ?? []) existing.topicIds.add(topicId);
      return existing;
    }
    const record: GroupChatRecord = {
      type: spec.type,
      id: spec.id,
      title: spec.title,
      isForum: spec.isForum ?? false,
      topicIds: new Set(spec.topicIds ?? []),
      botStatus: spec.botStatus,
      deleted: false,
      permissions: {},
      members: new Map(),
      ...(spec.username === undefined ? {} : { username: spec.username }),
    };
    this.chats.set(spec.id, record);
    return record;
  }

  /**
   * Turns a `chat_id` parameter (number, numeric string or `@username`) into a known chat id.
   * Unknown chats give `400 Bad Request: chat not found`.
   */
  resolveChatId(raw: unknown): number {
    if (raw === undefined || raw === null || raw === '') throw badRequest('chat_id is empty');
    if (typeof raw === 'string' && raw.startsWith('@')) {
      const username = raw.slice(1).toLowerCase();
      const chat = this.all().find(
        (candidate) =>
          (candidate.type === 'private' ? candidate.user.username : candidate.username)?.toLowerCase() ===
          username,
      );
      if (chat === undefined) throw badRequest(Descriptions.chatNotFound);
      return chat.id;
    }
    const chatId = typeof raw === 'number' ? raw : Number(raw);
    if (!Number.isSafeInteger(chatId)) throw badRequest(Descriptions.chatNotFound);
    if (!this.chats.has(chatId)) throw badRequest(Descriptions.chatNotFound);
    return chatId;
  }

  /** The known chat, or `400 chat not found`. */
  require(chatId: number): ChatRecord {
    const chat = this.chats.get(chatId);
    if (chat === undefined) throw badRequest(Descriptions.chatNotFound);
    return chat;
  }

  /**
   * Checks, before anything is sent, that the bot can post to the chat: migration, deletion and
   * membership. Blocked and deactivated users are only found out when the message is sent
   * ({@link checkRecipientAccepts}), as on the real server.
   */
  checkCanPost(chat: ChatRecord, content: SendContent): void {
    if (chat.type === 'private') return;
    const kind = chat.type; // "group" | "supergroup" | "channel" in the wording
    if (chat.migratedTo !== undefined) {
      throw badRequest(Descriptions.groupUpgraded, { migrate_to_chat_id: chat.migratedTo });
    }
    if (chat.deleted) {
      if (chat.type === 'group') throw forbidden('the group chat was deleted');
      throw badRequest(Descriptions.chatNotFound);
    }
    switch (chat.botStatus) {
      case 'kicked':
        throw forbidden(`bot was kicked from the ${kind} chat`);
      case 'left':
        throw forbidden(`bot is not a member of the ${kind} chat`);
      case 'restricted':
        throw badRequest(`not enough rights to send ${content} to the chat`);
      case 'member':
        if (chat.type === 'channel') throw badRequest('need administrator rights in the channel chat');
        if (chat.permissions[PERMISSION_FOR[content]] === false) {
          throw badRequest(`not enough rights to send ${content} to the chat`);
        }
        return;
      default:
        return;
    }
  }

  /** Checks `message_thread_id`: must be an existing topic of a forum; ignored in other chats. */
  checkThread(chat: ChatRecord, threadId: unknown): number | undefined {
    if (threadId === undefined || threadId === null) return undefined;
    if (chat.type !== 'supergroup' || !chat.isForum) return undefined; // Bot API 10.0 drops it silently
    if (typeof threadId !== 'number' || !chat.topicIds.has(threadId)) {
      throw badRequest(Descriptions.threadNotFound);
    }
    return threadId;
  }

  /** The errors the servers return when the message itself is sent to a private chat. */
  checkRecipientAccepts(chat: ChatRecord): void {
    if (chat.type !== 'private') return;
    if (chat.state === 'blocked') throw forbidden('bot was blocked by the user');
    if (chat.state === 'deactivated') throw forbidden('user is deactivated');
  }

  /** The `Chat` object messages carry. */
  chatObject(chat: ChatRecord): Chat {
    if (chat.type === 'private') {
      return {
        id: chat.id,
        type: 'private',
        first_name: chat.user.first_name,
        ...(chat.user.last_name === undefined ? {} : { last_name: chat.user.last_name }),
        ...(chat.user.username === undefined ? {} : { username: chat.user.username }),
      };
    }
    if (chat.type === 'group') return { id: chat.id, type: 'group', title: chat.title };
    if (chat.type === 'supergroup') {
      return {
        id: chat.id,
        type: 'supergroup',
        title: chat.title,
        ...(chat.username === undefined ? {} : { username: chat.username }),
        ...(chat.isForum ? { is_forum: true } : {}),
      };
    }
    return {
      id: chat.id,
      type: 'channel',
      title: chat.title,
      ...(chat.username === undefined ? {} : { username: chat.username }),
    };
  }

  /** A basic `ChatFullInfo` for getChat. */
  fullInfo(chat: ChatRecord): ChatFullInfo {
    const common = {
      accent_color_id: 0,
      max_reaction_count: 11,
      accepted_gift_types: {
        unlimited_gifts: false,
        limited_gifts: false,
        unique_gifts: false,
        premium_subscription: false,
        gifts_from_channels: false,
      },
    };
    return { ...this.chatObject(chat), ...common } as ChatFullInfo;
  }
}
