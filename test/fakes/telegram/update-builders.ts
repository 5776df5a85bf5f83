/**
 * Builders for the updates the report bot handles, shaped as the Bot API delivers them (research
 * §1, §2): private text/command messages, contacts (own, foreign, forwarded), `my_chat_member`
 * transitions, group→supergroup migration service messages and title changes. Pure functions: the
 * fake server adds ids, dates and the chat registry side effects.
 */
import type { Chat, ChatMember, Contact, Message, MessageEntity, Update, User } from 'grammy/types';
import type { BotMemberStatus } from './chat-registry.js';

/** A user as a test names it; unset fields get defaults (`first_name` = `User <id>`). */
export interface UserSpec {
  /** The user id, which is also their private chat's id. */
  id: number;
  /** Default `User <id>`. */
  first_name?: string;
  last_name?: string;
  /** Without the @. */
  username?: string;
  /** IETF language tag of the user's client, e.g. `ru` or `en`. Default: none. */
  language_code?: string;
  /** Default false. */
  is_bot?: boolean;
}

/** The `from` of messages Telegram sends on behalf of anonymous group admins and migrations. */
export const GROUP_ANONYMOUS_BOT: User = {
  id: 1087968824,
  is_bot: true,
  first_name: 'Group',
  username: 'GroupAnonymousBot',
};

/** An update before the server gives it an `update_id`. */
export type UpdateWithoutId = Omit<Update, 'update_id'>;

export function toUser(spec: UserSpec): User {
  return {
    id: spec.id,
    is_bot: spec.is_bot ?? false,
    first_name: spec.first_name ?? `User ${spec.id}`,
    ...(spec.last_name === undefined ? {} : { last_name: spec.last_name }),
    ...(spec.username === undefined ? {} : { username: spec.username }),
    ...(spec.language_code === undefined ? {} : { language_code: spec.language_code }),
  };
}

/** `bot_command` entities for every `/command` (optionally `@bot`) at the start of a word. */
export function botCommandEntities(text: string): MessageEntity[] {
  const entities: MessageEntity[] = [];
  for (const match of text.matchAll(/(^|\s)(\/[A-Za-z0-9_]{1,64}(?:@[A-Za-z0-9_]{3,64})?)/g)) {
    const offset = (match.index ?? 0) + (match[1] ?? '').length;
    entities.push({ type: 'bot_command', offset, length: (match[2] ?? '').length });
  }
  return entities;
}

interface MessageBase {
  messageId: number;
  date: number;
  chat: Chat;
  from: User;
}

/** A text message; commands get their `bot_command` entities, so grammY's `bot.command()` sees them. */
export function textMessage(base: MessageBase & { text: string; messageThreadId?: number }): Message {
  const entities = botCommandEntities(base.text);
  return {
    message_id: base.messageId,
    date: base.date,
    chat: base.chat,
    from: base.from,
    text: base.text,
    ...(entities.length > 0 ? { entities } : {}),
    ...(base.messageThreadId === undefined
      ? {}
      : { message_thread_id: base.messageThreadId, is_topic_message: true as const }),
  } as Message;
}

/** A contact message; with `forwardedFrom` it is a forward of someone else's contact message. */
export function contactMessage(
  base: MessageBase & { contact: Contact; forwardedFrom?: User; forwardDate?: number },
): Message {
  return {
    message_id: base.messageId,
    date: base.date,
    chat: base.chat,
    from: base.from,
    contact: base.contact,
    ...(base.forwardedFrom === undefined
      ? {}
      : {
          forward_origin: {
            type: 'user',
            sender_user: base.forwardedFrom,
            date: base.forwardDate ?? base.date,
          },
        }),
  } as Message;
}

/** The bot's `ChatMember` object for a status, with full administrator rights when promoted. */
export function botChatMember(bot: User, status: BotMemberStatus, chatType: Chat['type']): ChatMember {
  switch (status) {
    case 'creator':
      return { status: 'creator', user: bot, is_anonymous: false };
    case 'administrator':
      return {
        status: 'administrator',
        user: bot,
        can_be_edited: false,
        is_anonymous: false,
        can_manage_chat: true,
        can_delete_messages: true,
        can_manage_video_chats: true,
        can_restrict_members: true,
        can_promote_members: false,
        can_change_info: true,
        can_invite_users: true,
        can_post_stories: true,
        can_edit_stories: true,
        can_delete_stories: true,
        can_send_welcome_messages: false,
        ...(chatType === 'channel'
          ? { can_post_messages: true, can_edit_messages: true }
          : { can_pin_messages: true, ...(chatType === 'supergroup' ? { can_manage_topics: false } : {}) }),
      };
    case 'member':
      return { status: 'member', user: bot };
    case 'restricted':
      return {
        status: 'restricted',
        user: bot,
        is_member: true,
        can_send_messages: false,
        can_send_audios: false,
        can_send_documents: false,
        can_send_photos: false,
        can_send_videos: false,
        can_send_video_notes: false,
        can_send_voice_notes: false,
        can_send_polls: false,
        can_send_other_messages: false,
        can_add_web_page_previews: false,
        can_react_to_messages: false,
        can_change_info: false,
        can_invite_users: false,
        can_edit_tag: false,
        can_pin_messages: false,
        can_manage_topics: false,
        until_date: 0,
      };
    case 'left':
      return { status: 'left', user: bot };
    case 'kicked':
      return { status: 'kicked', user: bot, until_date: 0 };
  }
}

/** A `my_chat_member` update: the bot's status in `chat` changed by `from`. */
export function myChatMemberUpdate(args: {
  chat: Chat;
  from: User;
  bot: User;
  date: number;
  oldStatus: BotMemberStatus;
  newStatus: BotMemberStatus;
}): UpdateWithoutId {
  return {
    my_chat_member: {
      chat: args.chat,
      from: args.from,
      date: args.date,
      old_chat_member: botChatMember(args.bot, args.oldStatus, args.chat.type),
      new_chat_member: botChatMember(args.bot, args.newStatus, args.chat.type),
    },
  };
}

/** Service message in the old group: `migrate_to_chat_id`. */
export function migrateToMessage(base: MessageBase & { toChatId: number }): Message {
  return {
    message_id: base.messageId,
    date: base.date,
    chat: base.chat,
    from: base.from,
    migrate_to_chat_id: base.toChatId,
  } as Message;
}

/**
 * Service message in the new supergroup: `migrate_from_chat_id`, sent by GroupAnonymousBot on
 * behalf of the supergroup (tdlib/telegram-bot-api#170).
 */
export function migrateFromMessage(base: Omit<MessageBase, 'from'> & { fromChatId: number }): Message {
  return {
    message_id: base.messageId,
    date: base.date,
    chat: base.chat,
    from: GROUP_ANONYMOUS_BOT,
    sender_chat: base.chat,
    migrate_from_chat_id: base.fromChatId,
  } as Message;
}

/** Service message: the chat title changed. */
export function newChatTitleMessage(base: MessageBase & { title: string }): Message {
  return {
    message_id: base.messageId,
    date: base.date,
    chat: base.chat,
    from: base.from,
    new_chat_title: base.title,
  } as Message;
}

/** The update type of an update: its only key besides `update_id`. */
export function updateType(update: Update | UpdateWithoutId): string {
  return Object.keys(update).find((key) => key !== 'update_id') ?? 'unknown';
}
