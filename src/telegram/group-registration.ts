/**
 * Groups register by promotion: when someone makes the bot an administrator in a group or
 * supergroup, its title is looked up in the groups table and the chat id written (and locked) there.
 * From then on the group is known by its id: title changes do not matter, a move to a supergroup
 * carries the registration over, and removing the bot marks the group inactive (the lock stays).
 * Everything else said in groups is none of the bot's business and is ignored.
 *
 * A registration the directory confirmed from its copy (SeaTable away or slow) and refused later
 * (the row was locked to another chat meanwhile) is undone: the group's pending reports are
 * cancelled, the group and the admin chat are told, and the bot leaves.
 */
import { type Api, Composer, type Context, type Filter, GrammyError } from 'grammy';
import type { ChatMember, User } from 'grammy/types';
import {
  DirectoryUnavailableError,
  type GroupClaim,
  type GroupEntry,
  type WriteRejection,
} from '../directory/directory.js';
import { type Language, languageFor, texts } from '../texts/index.js';
import type { ChatHandlerDependencies } from './chat-handlers.js';
import { createGroupApproval, isChatMember } from './group-approval.js';
import { type AdminNotice, describeUser, registrationNotices } from './registration-notices.js';
import { listedMailboxes, usersWithTelegramId } from './subscribers.js';

/** The `from` of actions by anonymous group administrators (and of migration service messages). */
export const GROUP_ANONYMOUS_BOT_ID = 1087968824;

/** Basic groups have ids above -10^12; supergroups and channels are `-100…` (research §2). */
export function isBasicGroupId(chatId: number): boolean {
  return chatId < 0 && chatId > -1_000_000_000_000;
}

function isAdministrator(member: ChatMember): boolean {
  return member.status === 'administrator' || member.status === 'creator';
}

type MemberUpdateContext = Filter<Context, 'my_chat_member'>;

export function createGroupRegistration(deps: ChatHandlerDependencies): Composer<Context> {
  const { directory, languages, outbox, alerts, config } = deps;
  const log = deps.logger.child({ component: 'group-registration' });
  const composer = new Composer<Context>();
  const groups = composer.chatType(['group', 'supergroup']);
  // supergroups a registered group just moved to: the join Telegram sends for them is not news
  const migratedInto = new Set<number>();
  const approval = createGroupApproval(deps);
  composer.use(approval.composer);

  directory.onWriteRejected((rejection) => {
    undoRegistration(rejection).catch((error: unknown) => {
      log.error(
        { chatId: rejection.chatId, err: deps.scrubber.describe(error) },
        'could not undo a registration',
      );
    });
  });

  async function undoRegistration({ chatId, title, lockedTo }: WriteRejection): Promise<void> {
    migratedInto.delete(chatId);
    const cancelled = await outbox.cancelChat(chatId, 'the group registration was undone');
    log.warn({ chatId, title, lockedTo, cancelled: cancelled.length }, 'group registration undone');
    const notice = registrationNotices.groupRegistrationUndone(chatId, title, lockedTo);
    alerts.raise(notice.key, notice.text);
    const { api } = deps;
    if (!api) return;
    try {
      await api.sendMessage(chatId, texts(await languages.get(chatId)).groupRegistrationUndone(title));
    } catch (error) {
      log.warn({ chatId, err: deps.scrubber.describe(error) }, 'could not tell the group');
    }
    try {
      await api.leaveChat(chatId);
    } catch (error) {
      log.warn({ chatId, err: deps.scrubber.describe(error) }, 'could not leave the group');
    }
  }

  groups.on('my_chat_member', async (ctx) => {
    const { old_chat_member: before, new_chat_member: after } = ctx.myChatMember;
    if (isAdministrator(after) && !isAdministrator(before)) await onPromoted(ctx);
    else if (after.status === 'member' && !isChatMember(before)) await onAddedAsMember(ctx);
    else if (!isChatMember(after) && isChatMember(before)) await onRemoved(ctx);
  });

  groups.on('message:migrate_to_chat_id', async (ctx) => {
    await followMigrationQuietly(ctx.chat.id, ctx.msg.migrate_to_chat_id);
  });
  groups.on('message:migrate_from_chat_id', async (ctx) => {
    await followMigrationQuietly(ctx.msg.migrate_from_chat_id, ctx.chat.id);
  });
  groups.on('message:new_chat_title', (ctx) => {
    // registered groups are known by their id, so a new title changes nothing
    log.info({ chatId: ctx.chat.id, title: ctx.msg.new_chat_title }, 'a group changed its title');
  });

  /** The language to speak in the group: the acting admin's, unless they are anonymous. */
  async function languageOf(chatId: number, from: User): Promise<Language> {
    return isPerson(from) ? languageFor(from.language_code) : await languages.get(chatId);
  }

  async function onPromoted(ctx: MemberUpdateContext): Promise<void> {
    const { chat, from } = ctx.myChatMember;
    const language = await languageOf(chat.id, from);
    const t = texts(language);
    const chatTitle = chat.title ?? '';
    const known = directory.snapshot().groups.find((group) => group.telegramId === chat.id);

    if (known?.pausedByAdmin) {
      // the admin's pause wins over a promotion: nothing is written, and the bot stays for the resume
      log.info(
        { chatId: chat.id, title: known.title },
        'a group paused by the admin promoted the bot; nothing changed',
      );
      await replyQuietly(ctx, t.groupPausedByAdmin(known.title, false));
      return;
    }

    // known by its id from the first registration on, whatever the chat is called now
    const title = known?.title ?? chatTitle;
    let claim: GroupClaim;
    try {
      // a group registered here is already vouched for; a new one passes GROUP_REGISTRATION first
      if (known === undefined && !(await admitNewGroup(ctx, title, language))) return;
      claim = await directory.claimGroup(title, chat.id);
      const lockedTo = claim.outcome === 'locked-to-another-chat' ? claim.group.telegramId : null;
      if (chat.type === 'supergroup' && lockedTo !== null && isBasicGroupId(lockedTo)) {
        // the join of a supergroup can come before the service messages of the move that made it
        if ((await migrationTarget(ctx.api, lockedTo)) === chat.id) {
          await followMigration(lockedTo, chat.id);
          claim = await directory.claimGroup(title, chat.id);
        }
      }
    } catch (error) {
      if (!(error instanceof DirectoryUnavailableError)) throw error;
      log.warn(
        { chatId: chat.id, title, err: deps.scrubber.describe(error) },
        'group registration postponed',
      );
      // a group already registered and active here loses nothing; others are told to try again
      if (known?.active !== true) await replyQuietly(ctx, t.groupTryLater);
      return;
    }

    switch (claim.outcome) {
      case 'registered':
      case 'already-registered': {
        if (isPerson(from)) await languages.set(chat.id, language);
        const notice = registrationNotices.groupRegisteredAgain(chat, claim.group.title);
        alerts.clear(notice.key, notice.text);
        log.info(
          { chatId: chat.id, title: claim.group.title, outcome: claim.outcome, promotedBy: from.id },
          'group registered',
        );
        const moved = claim.outcome === 'already-registered' && migratedInto.delete(chat.id);
        if (!moved) {
          await ctx.reply(t.groupRegistered(listedMailboxes(directory.snapshot(), claim.group.mailboxes)));
        }
        return;
      }
      case 'locked-to-another-chat':
        await refuse(
          ctx,
          t.groupTitleTaken(title),
          registrationNotices.groupTitleTaken(chat, title, claim.group.telegramId, from),
        );
        return;
      case 'unknown-title':
        await refuse(ctx, t.groupTitleUnknown(title), registrationNotices.groupTitleUnknown(chat, from));
        return;
    }
  }

  /**
   * Decides on a chat that is not registered yet and asks for the row titled `title`: true when the
   * claim may go ahead. Otherwise it has answered already: refused (the bot leaves), paused by the
   * admin, or handed to the admin chat for approval. Rows locked to another chat and unknown titles
   * go ahead: the claim refuses them (or follows a supergroup migration) as before.
   */
  async function admitNewGroup(
    ctx: MemberUpdateContext,
    title: string,
    language: Language,
  ): Promise<boolean> {
    const { chat, from } = ctx.myChatMember;
    const t = texts(language);
    const open = await openRowsTitled(title, chat.id);
    if (open.length === 0) return true;
    if (open.every((group) => group.pausedByAdmin)) {
      await refuse(
        ctx,
        t.groupPausedByAdmin(title, true),
        registrationNotices.groupPaused(chat, title, from),
      );
      return false;
    }
    const mode = config.GROUP_REGISTRATION;
    if (mode === 'title+user') {
      const anonymous = from.id === GROUP_ANONYMOUS_BOT_ID;
      const mailboxes = new Set(
        open.filter((group) => !group.pausedByAdmin).flatMap((group) => group.mailboxes),
      );
      const subscribed =
        !anonymous &&
        usersWithTelegramId(directory.snapshot(), from.id).some(
          (user) => user.active && user.mailboxes.some((email) => mailboxes.has(email)),
        );
      if (!subscribed) {
        await refuse(
          ctx,
          anonymous ? t.groupAnonymousAdmin : t.groupNeedsRegisteredUser,
          registrationNotices.groupPromoterNotRegistered(chat, from, anonymous),
        );
        return false;
      }
    }
    if (mode === 'approval') {
      if (isPerson(from)) await languages.set(chat.id, language);
      await approval.request(ctx, title, language);
      return false;
    }
    return true;
  }

  /**
   * The rows titled `title` that this chat could claim (not locked to another chat). Reads the source
   * again when the copy has no such title: the admin may have added it a moment ago.
   */
  async function openRowsTitled(title: string, chatId: number): Promise<GroupEntry[]> {
    const wanted = title.trim();
    const titled = () => directory.snapshot().groups.filter((group) => group.title === wanted);
    // at most once per refresh interval in all: strangers cannot spend the source's request quota
    if (titled().length === 0) await directory.refreshAfterMiss();
    return titled().filter(
      (group) => !(group.locked && group.telegramId !== null && group.telegramId !== chatId),
    );
  }

  async function onAddedAsMember(ctx: MemberUpdateContext): Promise<void> {
    const { chat, from } = ctx.myChatMember;
    log.info({ chatId: chat.id, addedBy: from.id }, 'added to a group as a plain member');
    await ctx.reply(texts(await languageOf(chat.id, from)).groupMakeMeAdmin);
  }

  async function onRemoved(ctx: MemberUpdateContext): Promise<void> {
    const { chat, from } = ctx.myChatMember;
    migratedInto.delete(chat.id);
    await approval.withdraw(ctx.api, chat.id, `the bot was removed from the group by ${describeUser(from)}`);
    const cancelled = await outbox.cancelChat(chat.id, 'the bot was removed from the group');
    // paused by the admin or not: that the bot was removed is what the bot saw, and is kept apart
    const group = directory
      .snapshot()
      .groups.find((entry) => entry.telegramId === chat.id && !entry.chatGone);
    log.info(
      { chatId: chat.id, registered: group !== undefined, cancelled: cancelled.length },
      'left a group',
    );
    if (group === undefined) return;
    try {
      await directory.deactivateChat(chat.id, 'removed');
    } catch (error) {
      if (!(error instanceof DirectoryUnavailableError)) throw error;
      // delivery marks the group inactive on its next 403 anyway
      log.warn({ chatId: chat.id, err: deps.scrubber.describe(error) }, 'could not mark the group inactive');
      return;
    }
    const notice = registrationNotices.groupRemoved(chat, group.title, from);
    alerts.raise(notice.key, notice.text);
  }

  /**
   * A group became a supergroup: its registration (lock included), queued reports and language move to
   * the new id. Idempotent: Telegram announces the move twice (in the old and in the new chat).
   */
  async function followMigration(oldChatId: number, newChatId: number): Promise<void> {
    await outbox.moveChat(oldChatId, newChatId);
    await approval.moveChat(oldChatId, newChatId);
    await languages.move(oldChatId, newChatId);
    if (!directory.snapshot().groups.some((group) => group.telegramId === oldChatId)) return;
    await directory.moveGroupChat(oldChatId, newChatId);
    migratedInto.add(newChatId);
    log.info({ oldChatId, newChatId }, 'a registered group became a supergroup; its registration moved');
  }

  async function followMigrationQuietly(oldChatId: number, newChatId: number): Promise<void> {
    try {
      await followMigration(oldChatId, newChatId);
    } catch (error) {
      if (!(error instanceof DirectoryUnavailableError)) throw error;
      // the next report to the old id gets Telegram's 400 with the new id, and delivery moves it then
      log.warn(
        { oldChatId, newChatId, err: deps.scrubber.describe(error) },
        'could not move the group to its supergroup id in the directory',
      );
    }
  }

  /** Says why in the group, tells the admin chat, and leaves. */
  async function refuse(ctx: MemberUpdateContext, text: string, notice: AdminNotice): Promise<void> {
    alerts.raise(notice.key, notice.text);
    await replyQuietly(ctx, text);
    try {
      await ctx.leaveChat();
    } catch (error) {
      log.warn({ chatId: ctx.chat.id, err: deps.scrubber.describe(error) }, 'could not leave the group');
    }
  }

  /** A message in a group the bot may be about to leave: a failure is logged, not thrown. */
  async function replyQuietly(ctx: MemberUpdateContext, text: string): Promise<void> {
    try {
      await ctx.reply(text);
    } catch (error) {
      log.warn({ chatId: ctx.chat.id, err: deps.scrubber.describe(error) }, 'could not post in the group');
    }
  }

  return composer;
}

/** A person, as opposed to GroupAnonymousBot or another bot acting for someone. */
function isPerson(user: User): boolean {
  return !user.is_bot && user.id !== GROUP_ANONYMOUS_BOT_ID;
}

/**
 * Where a basic group went if it became a supergroup: any send to it is answered with 400 and
 * `migrate_to_chat_id`. A chat action is the lightest send (at worst "typing…" shows for a few
 * seconds in a group that still exists). Null when the group did not move.
 */
async function migrationTarget(api: Api, chatId: number): Promise<number | null> {
  try {
    await api.sendChatAction(chatId, 'typing');
    return null;
  } catch (error) {
    if (!(error instanceof GrammyError)) throw error;
    const target = error.parameters.migrate_to_chat_id;
    return typeof target === 'number' ? target : null;
  }
}
