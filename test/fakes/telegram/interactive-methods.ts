/**
 * The Bot API methods behind inline buttons and member checks, per core.telegram.org/bots/api:
 * answerCallbackQuery (each query answered once; an unknown or answered id is "query is too old"),
 * editMessageText (the bot's own messages; omitting reply_markup removes the inline keyboard; an
 * identical edit is "message is not modified"), getChatMember and getChatMemberCount.
 */
import type { ChatMember, Message } from 'grammy/types';
import { badRequest, Descriptions, forbidden } from './bot-api-error.js';
import { parseReplyMarkup, register, unixSeconds } from './bot-api-methods.js';
import { formatText } from './text-entities.js';
import { botChatMember } from './update-builders.js';

const QUERY_TOO_OLD = 'query is too old and response timeout expired or query ID is invalid';
const NOT_MODIFIED =
  'message is not modified: specified new message content and reply markup are exactly the same as a current content and reply markup of the message';

register('answerCallbackQuery', (call, state) => {
  const { params } = call.request;
  const id =
    typeof params.callback_query_id === 'string'
      ? params.callback_query_id
      : String(params.callback_query_id ?? '');
  const query = state.callbackQueries.get(id);
  if (query === undefined || query.answer !== undefined) throw badRequest(QUERY_TOO_OLD);
  query.answer = {
    ...(typeof params.text === 'string' ? { text: params.text } : {}),
    ...(params.show_alert === true ? { show_alert: true } : {}),
    ...(typeof params.url === 'string' ? { url: params.url } : {}),
    ...(typeof params.cache_time === 'number' ? { cache_time: params.cache_time } : {}),
  };
  return true;
});

register('editMessageText', (call, state) => {
  const { params } = call.request;
  if (params.inline_message_id !== undefined)
    throw badRequest('inline messages are not supported by the fake');
  const chatId = state.chats.resolveChatId(params.chat_id);
  call.chatId = chatId;
  const messageId = typeof params.message_id === 'number' ? params.message_id : Number(params.message_id);
  const delivered = state.findDelivered(chatId, messageId);
  if (delivered === undefined || delivered.type !== 'text') throw badRequest('message to edit not found');
  const rawText = typeof params.text === 'string' ? params.text : '';
  const formatted = formatText(rawText, params.parse_mode, params.entities);
  if (formatted.text.trim() === '') throw badRequest(Descriptions.messageTextEmpty);
  const markup = parseReplyMarkup(params.reply_markup);
  if (markup !== undefined && !('inline_keyboard' in markup)) {
    throw badRequest("can't parse inline keyboard markup JSON object");
  }
  const before = delivered.message as Message & { reply_markup?: unknown };
  if (formatted.text === delivered.text && JSON.stringify(markup) === JSON.stringify(before.reply_markup)) {
    throw badRequest(NOT_MODIFIED);
  }
  const edited: Record<string, unknown> = {
    ...before,
    text: formatted.text,
    edit_date: unixSeconds(state.now()),
  };
  if (formatted.entities.length > 0) edited.entities = formatted.entities;
  else delete edited.entities;
  if (markup === undefined) delete edited.reply_markup;
  else edited.reply_markup = markup;
  delivered.message = edited as unknown as Message;
  delivered.text = formatted.text;
  if (markup === undefined) delete delivered.reply_markup;
  else delivered.reply_markup = markup;
  delivered.edited = true;
  return edited;
});

register('getChatMember', (call, state) => {
  const { params } = call.request;
  const chatId = state.chats.resolveChatId(params.chat_id);
  call.chatId = chatId;
  const chat = state.chats.require(chatId);
  const userId = typeof params.user_id === 'number' ? params.user_id : Number(params.user_id);
  if (!Number.isSafeInteger(userId)) throw badRequest('user not found');
  if (chat.type === 'private') {
    if (userId === chat.id) return { status: 'member', user: chat.user } satisfies ChatMember;
    if (userId === state.bot.id) return botChatMember(state.bot, 'member', 'private');
    throw badRequest('user not found');
  }
  if (chat.botStatus === 'left' || chat.botStatus === 'kicked') {
    throw forbidden(`bot is not a member of the ${chat.type} chat`);
  }
  if (userId === state.bot.id) return botChatMember(state.bot, chat.botStatus, chat.type);
  const member = chat.members.get(userId);
  if (member === undefined) {
    const known = state.chats.get(userId);
    if (known?.type !== 'private') throw badRequest('user not found');
    return { status: 'left', user: known.user } satisfies ChatMember;
  }
  switch (member.status) {
    case 'creator':
      return { status: 'creator', user: member.user, is_anonymous: false } satisfies ChatMember;
    case 'administrator':
      return {
        ...(botChatMember(member.user, 'administrator', chat.type) as ChatMember & object),
        user: member.user,
      } as ChatMember;
    case 'member':
      return { status: 'member', user: member.user } satisfies ChatMember;
    case 'left':
      return { status: 'left', user: member.user } satisfies ChatMember;
    case 'kicked':
      return { status: 'kicked', user: member.user, until_date: 0 } satisfies ChatMember;
  }
});

register('getChatMemberCount', (call, state) => {
  const chatId = state.chats.resolveChatId(call.request.params.chat_id);
  call.chatId = chatId;
  const chat = state.chats.require(chatId);
  if (chat.type === 'private') return chat.state === 'active' ? 2 : 1;
  if (chat.botStatus === 'left' || chat.botStatus === 'kicked') {
    throw forbidden(`bot is not a member of the ${chat.type} chat`);
  }
  if (chat.memberCount !== undefined) return chat.memberCount;
  const present = [...chat.members.values()].filter(
    (member) => member.status !== 'left' && member.status !== 'kicked',
  ).length;
  return present + 1;
});
