/**
 * Users register themselves: /start shows a button that shares their phone number; a shared contact
 * that is their own is looked up in the users table and their Telegram id written there. Only private
 * chats; a user blocking the bot (my_chat_member "kicked" in the private chat) ends their deliveries.
 */

import { Composer, type Context, Keyboard } from 'grammy';
import type { Message, User } from 'grammy/types';
import type { CountryCode } from 'libphonenumber-js';
import { normalizePhone } from '../core/phone.js';
import { DirectoryUnavailableError } from '../directory/directory.js';
import { languageFor, type Texts, texts } from '../texts/index.js';
import type { ChatHandlerDependencies } from './chat-handlers.js';
import { registrationNotices } from './registration-notices.js';
import {
  linkTelegramId,
  listedMailboxes,
  mailboxesOf,
  usersWithTelegramId,
  userWithPhone,
} from './subscribers.js';

/** The one-button keyboard that shares the user's own phone (Telegram only offers it in private chats). */
export function sharePhoneKeyboard(t: Texts): Keyboard {
  return new Keyboard().requestContact(t.sharePhoneButton).resized().oneTime();
}

/** Takes the reply keyboard away once it has done its job (one_time_keyboard only hides it). */
export const REMOVE_KEYBOARD = { remove_keyboard: true } as const;

export function createUserRegistration(deps: ChatHandlerDependencies): Composer<Context> {
  const { directory, languages, outbox, alerts, config } = deps;
  const log = deps.logger.child({ component: 'registration' });
  const region = config.PHONE_REGION as CountryCode;
  const composer = new Composer<Context>();
  const privateChats = composer.chatType('private');

  privateChats.command('start', async (ctx) => {
    const language = languageFor(ctx.from.language_code);
    const t = texts(language);
    const snapshot = directory.snapshot();
    const linked = usersWithTelegramId(snapshot, ctx.from.id);
    // an entry whose chat the bot saw go (blocked) goes through the phone again: sharing it lifts that;
    // the admin's pause is lifted by the admin only
    const seenGone = linked.filter((user) => user.chatGone !== undefined && !user.pausedByAdmin);
    if (linked.length > 0 && seenGone.length === 0) {
      const active = linked.filter((user) => user.active);
      if (active.length === 0) {
        log.info({ userId: ctx.from.id }, 'a user paused by the admin sent /start; nothing changed');
        await ctx.reply(t.pausedByAdmin, { reply_markup: REMOVE_KEYBOARD });
        return;
      }
      await languages.set(ctx.chat.id, language);
      await ctx.reply(t.alreadySubscribed(listedMailboxes(snapshot, mailboxesOf(active))), {
        reply_markup: REMOVE_KEYBOARD,
      });
      return;
    }
    await ctx.reply(t.startGreeting, { reply_markup: sharePhoneKeyboard(t) });
  });

  privateChats.on('message:contact', async (ctx) => {
    const t = texts(languageFor(ctx.from.language_code));
    if (!isOwnContact(ctx.msg, ctx.from)) {
      log.info({ userId: ctx.from.id }, 'refused a contact that is not the sender’s own');
      await ctx.reply(t.contactNotOwn, { reply_markup: sharePhoneKeyboard(t) });
      return;
    }
    try {
      await registerByPhone(ctx.from, ctx.msg.contact.phone_number, ctx);
    } catch (error) {
      if (!(error instanceof DirectoryUnavailableError)) throw error;
      log.warn({ userId: ctx.from.id, err: deps.scrubber.describe(error) }, 'registration postponed');
      // the keyboard stays, so trying again is one tap
      await ctx.reply(t.tryLater, { reply_markup: sharePhoneKeyboard(t) });
    }
  });

  /**
   * Looks the phone up in the directory copy and links the account at once (the directory carries
   * the change to its source, however long that takes). DirectoryUnavailableError only when the
   * phone is not in the copy and the source cannot be asked; everything stays as it was then.
   */
  async function registerByPhone(from: User, sharedPhone: string, ctx: Context): Promise<void> {
    const language = languageFor(from.language_code);
    const t = texts(language);
    const phone = normalizePhone(sharedPhone, region);
    let entry = phone ? userWithPhone(directory.snapshot(), phone, region) : undefined;
    if (phone && !entry) {
      // the number may have been added a moment ago: look at the source (at most once per refresh
      // interval for all strangers together, so they cannot spend the directory's request quota)
      await directory.refreshAfterMiss();
      entry = userWithPhone(directory.snapshot(), phone, region);
    }
    if (!phone || !entry) {
      const notice = registrationNotices.unknownPhone(from, phone ?? sharedPhone, phone !== null);
      alerts.raise(notice.key, notice.text);
      await ctx.reply(t.phoneNotFound, { reply_markup: REMOVE_KEYBOARD });
      return;
    }

    if (entry.pausedByAdmin) {
      // the admin's decision wins over anything done in Telegram: nothing is written
      log.info(
        { userId: from.id, userKey: entry.key },
        'a user paused by the admin shared their phone; nothing changed',
      );
      await ctx.reply(t.pausedByAdmin, { reply_markup: REMOVE_KEYBOARD });
      return;
    }

    const alreadyDone = entry.telegramId === from.id && entry.active;
    if (!alreadyDone) {
      // the latest verified owner of the phone wins: a new Telegram account replaces the old one
      await linkTelegramId(deps, entry, from.id);
      await unlinkEntriesOfAnotherPhone(from.id, entry.key);
    }
    await languages.set(from.id, language);
    for (const notice of [
      registrationNotices.userSubscribed(from),
      registrationNotices.unknownPhoneResolved(from),
    ]) {
      alerts.clear(notice.key, notice.text);
    }
    log.info({ userId: from.id, userKey: entry.key, relinked: !alreadyDone }, 'user registered by phone');
    const snapshot = directory.snapshot();
    const mailboxes = listedMailboxes(snapshot, mailboxesOf(usersWithTelegramId(snapshot, from.id)));
    await ctx.reply(t.subscribed(mailboxes), { reply_markup: REMOVE_KEYBOARD });
  }

  /**
   * The account now belongs to this phone: entries of another phone that still carry its id (the
   * account changed its number) lose it. Some directories do this themselves; doing it here keeps
   * the rule whatever the directory. A failure here does not undo the registration.
   */
  async function unlinkEntriesOfAnotherPhone(telegramId: number, keep: string): Promise<void> {
    const stale = usersWithTelegramId(directory.snapshot(), telegramId).filter((user) => user.key !== keep);
    for (const user of stale) {
      try {
        await directory.setUserTelegramId(user.key, null);
      } catch (error) {
        log.warn(
          { userKey: user.key, err: deps.scrubber.describe(error) },
          'could not unlink an entry of the user’s previous phone',
        );
      }
    }
  }

  // A user who blocks the bot gets nothing more; unblocking is followed by /start (Telegram's "Restart").
  privateChats.on('my_chat_member', async (ctx) => {
    if (ctx.myChatMember.new_chat_member.status !== 'kicked') return;
    const user = ctx.myChatMember.from;
    const cancelled = await outbox.cancelChat(ctx.chat.id, 'the user blocked the bot');
    // paused by the admin or not: the block is what the bot saw, and is kept apart
    const subscribed = usersWithTelegramId(directory.snapshot(), ctx.chat.id).some(
      (entry) => !entry.chatGone,
    );
    log.info({ userId: user.id, cancelled: cancelled.length }, 'the user blocked the bot');
    if (!subscribed) return;
    try {
      await directory.deactivateChat(ctx.chat.id, 'blocked');
    } catch (error) {
      // delivery marks the user inactive on its next 403 anyway
      log.warn({ userId: user.id, err: deps.scrubber.describe(error) }, 'could not mark the user inactive');
      return;
    }
    const notice = registrationNotices.userBlocked(user);
    alerts.raise(notice.key, notice.text);
  });

  return composer;
}

/**
 * Whether a contact message carries the sender's own number: Telegram sets `contact.user_id` itself
 * (clients cannot forge it), and it is the sender's id only for their own card. Forwards are refused
 * even then: the number was shared by someone else first.
 */
export function isOwnContact(message: Message, from: User): boolean {
  const contact = message.contact;
  return (
    contact !== undefined &&
    contact.user_id !== undefined &&
    contact.user_id === from.id &&
    message.forward_origin === undefined
  );
}
