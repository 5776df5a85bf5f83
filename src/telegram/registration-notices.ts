/**
 * What the admin chat (ADMIN_CHAT_ID) is told about registrations. In English, like every admin
 * alert; phone numbers are masked. Each notice has the key AdminAlerts groups repeats by.
 */
import type { Chat, User } from 'grammy/types';
import { maskPhone } from '../core/phone.js';

/** A problem report for {@link AdminAlerts.raise} (or the matching `clear`). */
export interface AdminNotice {
  key: string;
  text: string;
}

/** A Telegram user for admin messages and logs: `"Anna Petrova" (@anna, id 42)`. */
export function describeUser(user: User): string {
  const name = [user.first_name, user.last_name].filter(Boolean).join(' ');
  return `"${name}" (${user.username ? `@${user.username}, ` : ''}id ${user.id})`;
}

/** A group chat for admin messages: `"BI team" (-100123)`. */
function describeChat(chat: Chat): string {
  return `"${chat.title ?? ''}" (${chat.id})`;
}

export const registrationNotices = {
  /** A user shared their own phone, and it is not in the users table. */
  unknownPhone(user: User, phone: string, valid: boolean): AdminNotice {
    return {
      key: `registration-unknown-phone:${user.id}`,
      text:
        `Registration refused: ${describeUser(user)} shared the phone ${maskPhone(phone)}` +
        `${valid ? '' : ' (not a valid number)'}, which is not in the users table.`,
    };
  },

  /** The user refused for an unknown phone registered after all (their phone was added). */
  unknownPhoneResolved(user: User): AdminNotice {
    return {
      key: `registration-unknown-phone:${user.id}`,
      text: `${describeUser(user)} is registered now: their phone is in the users table.`,
    };
  },

  /** A chat with the title of a group that is locked to another chat. */
  groupTitleTaken(chat: Chat, title: string, lockedTo: number | null, by: User): AdminNotice {
    return {
      key: `group-title-taken:${chat.id}`,
      text:
        `Group registration refused: chat ${describeChat(chat)} has the title "${title}", which is registered to chat ${lockedTo}. ` +
        `${describeUser(by)} made the bot an administrator there; the bot left.`,
    };
  },

  /** A chat whose title is not in the groups table. */
  groupTitleUnknown(chat: Chat, by: User): AdminNotice {
    return {
      key: `group-title-unknown:${chat.id}`,
      text: `Group registration refused: ${describeUser(by)} made the bot an administrator in ${describeChat(chat)}, which is not in the groups table; the bot left.`,
    };
  },

  /** GROUP_REGISTRATION=title+user and the promoting admin is not subscribed to the row's mailboxes (or anonymous). */
  groupPromoterNotRegistered(chat: Chat, by: User, anonymous: boolean): AdminNotice {
    return {
      key: `group-promoter-unregistered:${chat.id}`,
      text: anonymous
        ? `Group registration refused: an anonymous administrator made the bot an administrator in ${describeChat(chat)} (GROUP_REGISTRATION=title+user); the bot left.`
        : `Group registration refused: ${describeUser(by)}, who made the bot an administrator in ${describeChat(chat)}, is not a subscribed user of that group's mailboxes (GROUP_REGISTRATION=title+user); the bot left.`,
    };
  },

  /** A chat asked for a groups-table row the admin paused; nothing was written. */
  groupPaused(chat: Chat, title: string, by: User): AdminNotice {
    return {
      key: `group-paused:${chat.id}`,
      text: `Group registration refused: ${describeUser(by)} made the bot an administrator in ${describeChat(chat)}, but the group "${title}" is paused (Active unticked); nothing was written and the bot left.`,
    };
  },

  /**
   * A group registration confirmed from the directory copy was refused by the directory afterwards:
   * the row is locked to another chat (`lockedTo`), or gone (null).
   */
  groupRegistrationUndone(chatId: number, title: string, lockedTo: number | null): AdminNotice {
    return {
      key: `group-registration-undone:${chatId}`,
      text:
        `Group registration undone: chat ${chatId} was registered as "${title}" from the directory copy before SeaTable could confirm it, ` +
        (lockedTo === null
          ? 'and the groups table no longer has that row. '
          : `but the groups table has that group locked to chat ${lockedTo}. `) +
        'Its pending reports were cancelled, the group was told, and the bot left.',
    };
  },

  /** A registered group removed the bot. Cleared by {@link groupRegisteredAgain}. */
  groupRemoved(chat: Chat, title: string, by: User): AdminNotice {
    return {
      key: `group-removed:${chat.id}`,
      text: `The bot was removed from the group "${title}" (${chat.id}) by ${describeUser(by)}; the group is marked inactive and keeps its registration.`,
    };
  },

  /** The group removed before registered again. */
  groupRegisteredAgain(chat: Chat, title: string): AdminNotice {
    return {
      key: `group-removed:${chat.id}`,
      text: `The group "${title}" (${chat.id}) made the bot an administrator again and receives reports again.`,
    };
  },

  /** A user registered by phone: clears a "blocked the bot" or "chat gone" alert about them. */
  userSubscribed(user: User): AdminNotice {
    return { key: `chat-gone:${user.id}`, text: `User ${describeUser(user)} subscribed again.` };
  },

  /** A subscriber blocked the bot. Same key as the delivery's "chat gone" alert. */
  userBlocked(user: User): AdminNotice {
    return {
      key: `chat-gone:${user.id}`,
      text: `User ${describeUser(user)} blocked the bot and was marked inactive; /start in the bot subscribes them again.`,
    };
  },
};
