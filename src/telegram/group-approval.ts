/**
 * GROUP_REGISTRATION=approval: a group title is not a password. When the bot is promoted in a group
 * whose title matches a row not yet registered, nothing is written; the admin chat gets the group's
 * title, id, member count and who promoted the bot, with Approve / Reject buttons. Only a press by a
 * member of the admin chat, on the message in the admin chat, decides: Approve writes and locks the
 * id (the same claim as the `title` flow), Reject makes the bot leave. Requests are kept in SQLite
 * (group-approvals.ts), so a press after a restart still finds its request.
 */
import { type Api, Composer, type Context, type Filter, GrammyError, InlineKeyboard } from 'grammy';
import type { ChatMember, User } from 'grammy/types';
import { DirectoryUnavailableError, type GroupClaim } from '../directory/directory.js';
import type { GroupApprovalRequest } from '../store/group-approvals.js';
import { type Language, texts } from '../texts/index.js';
import type { ChatHandlerDependencies } from './chat-handlers.js';
import { describeUser } from './registration-notices.js';
import { listedMailboxes } from './subscribers.js';

type MemberUpdateContext = Filter<Context, 'my_chat_member'>;

/** `group-approval:<approve|reject>:<request id>`; well under the 64 bytes callback_data may carry. */
const CALLBACK_PATTERN = /^group-approval:(approve|reject):(\d{1,15})$/;

export function approvalCallbackData(decision: 'approve' | 'reject', requestId: number): string {
  return `group-approval:${decision}:${requestId}`;
}

/** Whether a member record means "in the chat" (restricted members count while they are members). */
export function isChatMember(member: ChatMember): boolean {
  if (member.status === 'restricted') return member.is_member;
  return member.status !== 'left' && member.status !== 'kicked';
}

export interface GroupApprovalFlow {
  /** Handles the Approve / Reject presses (callback queries). */
  readonly composer: Composer<Context>;
  /** Asks the admin chat to approve the group that just promoted the bot, and tells the group to wait. */
  request(ctx: MemberUpdateContext, title: string, language: Language): Promise<void>;
  /** The bot left the group or was removed while the request waited: the request is withdrawn. */
  withdraw(api: Api, chatId: number, why: string): Promise<void>;
  /** The group became a supergroup while waiting. */
  moveChat(oldChatId: number, newChatId: number): Promise<void>;
}

export function createGroupApproval(deps: ChatHandlerDependencies): GroupApprovalFlow {
  const { directory, languages, approvals, config } = deps;
  const log = deps.logger.child({ component: 'group-approval' });
  const adminChatId = config.ADMIN_CHAT_ID === undefined ? null : Number(config.ADMIN_CHAT_ID);
  const composer = new Composer<Context>();

  composer.on('callback_query:data', async (ctx, next) => {
    const match = CALLBACK_PATTERN.exec(ctx.callbackQuery.data);
    if (!match) return next();
    const decision = match[1] as 'approve' | 'reject';
    const request = await approvals.byId(Number(match[2]));
    const from = ctx.callbackQuery.from;
    const pressedIn = ctx.callbackQuery.message?.chat.id;
    if (adminChatId === null || pressedIn !== adminChatId) {
      log.warn(
        { userId: from.id, chatId: pressedIn },
        'a group approval button was pressed outside the admin chat',
      );
      await ctx.answerCallbackQuery({ text: 'This button works only in the admin chat.', show_alert: true });
      return;
    }
    if (!(await isAdminChatMember(ctx.api, adminChatId, from.id))) {
      log.warn({ userId: from.id }, 'a group approval button was pressed by someone outside the admin chat');
      await ctx.answerCallbackQuery({ text: 'Only members of the admin chat can decide.', show_alert: true });
      return;
    }
    if (!request) {
      await ctx.answerCallbackQuery({ text: 'This request was already decided or withdrawn.' });
      return;
    }
    const original = ctx.callbackQuery.message?.text ?? requestSummary(request);
    const outcome =
      decision === 'approve' ? await approve(ctx.api, request, from) : await reject(ctx.api, request, from);
    if (outcome === null) {
      await ctx.answerCallbackQuery({
        text: 'The directory cannot be reached right now; nothing was changed. Press Approve again in a few minutes.',
        show_alert: true,
      });
      return;
    }
    await editQuietly(ctx.api, request, `${original}\n\n${outcome}`);
    await ctx.answerCallbackQuery({ text: decision === 'approve' ? 'Approved' : 'Rejected' });
  });

  /** Registers the group; null when the directory is unreachable (the request and buttons stay). */
  async function approve(api: Api, request: GroupApprovalRequest, by: User): Promise<string | null> {
    let claim: GroupClaim;
    try {
      claim = await directory.claimGroup(request.title, request.chatId);
    } catch (error) {
      if (!(error instanceof DirectoryUnavailableError)) throw error;
      log.warn({ chatId: request.chatId, err: deps.scrubber.describe(error) }, 'group approval postponed');
      return null;
    }
    await approvals.remove(request.id);
    const t = texts(request.language);
    const when = new Date().toISOString();
    log.info(
      { chatId: request.chatId, title: request.title, outcome: claim.outcome, approvedBy: by.id },
      'group approved',
    );
    switch (claim.outcome) {
      case 'registered':
      case 'already-registered':
        await languages.set(request.chatId, request.language);
        await replyQuietly(
          api,
          request.chatId,
          t.groupRegistered(listedMailboxes(directory.snapshot(), claim.group.mailboxes)),
        );
        return `✅ Approved by ${describeUser(by)} at ${when}: the group is registered and receives reports.`;
      case 'locked-to-another-chat':
        await replyQuietly(api, request.chatId, t.groupTitleTaken(request.title));
        await leaveQuietly(api, request.chatId);
        return `⚠️ Approved by ${describeUser(by)} at ${when}, but "${request.title}" was registered to chat ${claim.group.telegramId} meanwhile; the bot left the group.`;
      case 'unknown-title':
        await replyQuietly(api, request.chatId, t.groupTitleUnknown(request.title));
        await leaveQuietly(api, request.chatId);
        return `⚠️ Approved by ${describeUser(by)} at ${when}, but "${request.title}" is no longer in the groups table; the bot left the group.`;
    }
  }

  async function reject(api: Api, request: GroupApprovalRequest, by: User): Promise<string> {
    await approvals.remove(request.id);
    log.info({ chatId: request.chatId, title: request.title, rejectedBy: by.id }, 'group rejected');
    await replyQuietly(api, request.chatId, texts(request.language).groupRejected);
    await leaveQuietly(api, request.chatId);
    return `❌ Rejected by ${describeUser(by)} at ${new Date().toISOString()}; nothing was written and the bot left the group.`;
  }

  async function request(ctx: MemberUpdateContext, title: string, language: Language): Promise<void> {
    const { chat, from } = ctx.myChatMember;
    const t = texts(language);
    const waiting = await approvals.forChat(chat.id);
    if (waiting?.adminMessageId != null && waiting.title === title) {
      // promoted again while the admin chat decides: one request is enough
      await replyQuietly(ctx.api, chat.id, t.groupAwaitingApproval);
      return;
    }
    let memberCount: number | null = null;
    try {
      memberCount = await ctx.api.getChatMemberCount(chat.id);
    } catch (error) {
      log.warn(
        { chatId: chat.id, err: deps.scrubber.describe(error) },
        'could not count the group’s members',
      );
    }
    if (waiting) {
      // the chat asks again under another title: the older buttons must not decide anything
      await editQuietly(
        ctx.api,
        waiting,
        `${requestSummary(waiting)}\n\nReplaced by a newer request of the same chat.`,
      );
    }
    const saved = await approvals.add({
      chatId: chat.id,
      title,
      chatType: chat.type,
      memberCount,
      promotedBy: from,
      language,
    });
    try {
      if (adminChatId === null) throw new Error('ADMIN_CHAT_ID is not set');
      const keyboard = new InlineKeyboard()
        .text('Approve', approvalCallbackData('approve', saved.id))
        .text('Reject', approvalCallbackData('reject', saved.id));
      const sent = await ctx.api.sendMessage(adminChatId, requestSummary(saved), {
        reply_markup: keyboard,
        link_preview_options: { is_disabled: true },
      });
      await approvals.setAdminMessage(saved.id, adminChatId, sent.message_id);
    } catch (error) {
      await approvals.remove(saved.id);
      log.warn(
        { chatId: chat.id, err: deps.scrubber.describe(error) },
        'could not ask the admin chat to approve a group',
      );
      await replyQuietly(ctx.api, chat.id, t.groupTryLater);
      return;
    }
    log.info(
      { chatId: chat.id, title, promotedBy: from.id, requestId: saved.id },
      'group registration waits for approval',
    );
    await replyQuietly(ctx.api, chat.id, t.groupAwaitingApproval);
  }

  async function withdraw(api: Api, chatId: number, why: string): Promise<void> {
    const waiting = await approvals.forChat(chatId);
    if (!waiting) return;
    await approvals.remove(waiting.id);
    log.info({ chatId, requestId: waiting.id }, 'group approval request withdrawn');
    await editQuietly(api, waiting, `${requestSummary(waiting)}\n\nWithdrawn: ${why}.`);
  }

  /** What the admin chat reads: enough to tell the real group from one that only borrowed its title. */
  function requestSummary(request: GroupApprovalRequest): string {
    const members = request.memberCount === null ? 'member count unknown' : `${request.memberCount} members`;
    const rows = directory.snapshot().groups.filter((group) => group.title === request.title);
    const mailboxes = [...new Set(rows.flatMap((group) => group.mailboxes))];
    return [
      'Group registration waits for approval (GROUP_REGISTRATION=approval).',
      `Group: "${request.title}" (${request.chatType}, id ${request.chatId}, ${members})`,
      `Made the bot an administrator: ${describeUser(request.promotedBy)}`,
      `It would receive the reports of: ${mailboxes.join(', ') || '(no mailbox)'}`,
      'Approve only if this is the real group: the row is then locked to this chat id.',
    ].join('\n');
  }

  async function editQuietly(api: Api, request: GroupApprovalRequest, text: string): Promise<void> {
    if (request.adminChatId === null || request.adminMessageId === null) return;
    try {
      // without reply_markup the buttons go: the decision is made
      await api.editMessageText(request.adminChatId, request.adminMessageId, text, {
        link_preview_options: { is_disabled: true },
      });
    } catch (error) {
      log.warn(
        { requestId: request.id, err: deps.scrubber.describe(error) },
        'could not update the approval message',
      );
    }
  }

  async function replyQuietly(api: Api, chatId: number, text: string): Promise<void> {
    try {
      await api.sendMessage(chatId, text);
    } catch (error) {
      log.warn({ chatId, err: deps.scrubber.describe(error) }, 'could not post in the group');
    }
  }

  async function leaveQuietly(api: Api, chatId: number): Promise<void> {
    try {
      await api.leaveChat(chatId);
    } catch (error) {
      log.warn({ chatId, err: deps.scrubber.describe(error) }, 'could not leave the group');
    }
  }

  return {
    composer,
    request,
    withdraw,
    moveChat: (oldChatId, newChatId) => approvals.moveChat(oldChatId, newChatId),
  };
}

/**
 * Whether this user may decide for the admin chat: its member (a group admin chat), or the person
 * themselves (a private admin chat). Telegram refusing to say counts as no.
 */
async function isAdminChatMember(api: Api, adminChatId: number, userId: number): Promise<boolean> {
  if (adminChatId > 0) return userId === adminChatId;
  try {
    return isChatMember(await api.getChatMember(adminChatId, userId));
  } catch (error) {
    if (error instanceof GrammyError) return false;
    throw error;
  }
}
