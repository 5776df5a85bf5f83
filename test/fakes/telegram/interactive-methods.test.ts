/**
 * The fake's inline buttons and member checks, through the real grammY client: a press arrives as a
 * callback_query, is answered once, the message is edited (keyboard gone without reply_markup), and
 * getChatMember / getChatMemberCount report who is in a group.
 */
import { Bot, GrammyError, InlineKeyboard } from 'grammy';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { FakeTelegram } from './fake-telegram.js';

let telegram: FakeTelegram;
let bot: Bot;

beforeEach(async () => {
  telegram = await FakeTelegram.start({ rateLimits: false });
  bot = new Bot(telegram.token, { client: { apiRoot: telegram.apiRoot } });
});

afterEach(async () => {
  await telegram.stop();
});

async function grammyError(promise: Promise<unknown>): Promise<GrammyError> {
  try {
    await promise;
  } catch (error) {
    expect(error).toBeInstanceOf(GrammyError);
    return error as GrammyError;
  }
  throw new Error('expected the call to fail');
}

describe('callback queries', () => {
  it('delivers a press of a button with the message, takes one answer, and refuses a second', async () => {
    const admins = telegram.addGroup({ type: 'supergroup', title: 'Admins', botStatus: 'administrator' });
    const sent = await bot.api.sendMessage(admins, 'Approve?', {
      reply_markup: new InlineKeyboard().text('Approve', 'yes').text('Reject', 'no'),
    });
    expect(() =>
      telegram.injectCallbackQuery({ id: 5, first_name: 'Eve' }, admins, sent.message_id, 'maybe'),
    ).toThrow(/no button/);
    const update = telegram.injectCallbackQuery({ id: 5, first_name: 'Ann' }, admins, sent.message_id, 'yes');
    const [received] = await bot.api.getUpdates({ offset: update.update_id, timeout: 0 });
    const query = received!.callback_query!;
    expect(query).toMatchObject({ from: { id: 5 }, data: 'yes', message: { message_id: sent.message_id } });
    expect(query.message && 'text' in query.message && query.message.text).toBe('Approve?');

    expect(await bot.api.answerCallbackQuery(query.id, { text: 'Done' })).toBe(true);
    expect(telegram.callbackAnswer(query.id)).toEqual({ text: 'Done' });
    const again = await grammyError(bot.api.answerCallbackQuery(query.id));
    expect(again.description).toBe(
      'Bad Request: query is too old and response timeout expired or query ID is invalid',
    );
    expect((await grammyError(bot.api.answerCallbackQuery('123'))).error_code).toBe(400);
  });
});

describe('editMessageText', () => {
  it('edits the bot’s message, drops the keyboard when reply_markup is left out, and refuses a no-op', async () => {
    telegram.addPrivateChat({ id: 9, first_name: 'Admin' });
    const sent = await bot.api.sendMessage(9, 'Approve?', {
      reply_markup: new InlineKeyboard().text('Approve', 'yes'),
    });
    const edited = await bot.api.editMessageText(9, sent.message_id, 'Approved by Ann');
    expect(edited).toMatchObject({ message_id: sent.message_id, text: 'Approved by Ann' });
    expect(edited !== true && 'edit_date' in edited && typeof edited.edit_date).toBe('number');
    const [message] = telegram.messagesIn(9);
    expect(message).toMatchObject({ text: 'Approved by Ann', edited: true });
    expect(message!.reply_markup).toBeUndefined();
    expect((message!.message as { reply_markup?: unknown }).reply_markup).toBeUndefined();

    const same = await grammyError(bot.api.editMessageText(9, sent.message_id, 'Approved by Ann'));
    expect(same.description).toMatch(/^Bad Request: message is not modified/);
    const missing = await grammyError(bot.api.editMessageText(9, 999, 'x'));
    expect(missing.description).toBe('Bad Request: message to edit not found');
  });
});

describe('chat members', () => {
  it('tells who is in a group, counts the members with the bot, and refuses when the bot is out', async () => {
    const group = telegram.addGroup({ type: 'supergroup', title: 'Admins', botStatus: 'administrator' });
    telegram.addPrivateChat({ id: 30, first_name: 'Outsider' });
    telegram.setMember(group, { id: 10, first_name: 'Owner' }, 'creator');
    telegram.setMember(group, { id: 11, first_name: 'Ann' });
    telegram.setMember(group, { id: 12, first_name: 'Gone' }, 'left');

    expect((await bot.api.getChatMember(group, 10)).status).toBe('creator');
    expect(await bot.api.getChatMember(group, 11)).toMatchObject({ status: 'member', user: { id: 11 } });
    expect((await bot.api.getChatMember(group, 12)).status).toBe('left');
    expect((await bot.api.getChatMember(group, 30)).status).toBe('left');
    expect((await bot.api.getChatMember(group, telegram.botInfo.id)).status).toBe('administrator');
    expect((await grammyError(bot.api.getChatMember(group, 424242))).description).toBe(
      'Bad Request: user not found',
    );
    expect(await bot.api.getChatMemberCount(group)).toBe(3);
    telegram.setMemberCount(group, 57);
    expect(await bot.api.getChatMemberCount(group)).toBe(57);

    telegram.setBotStatus(group, 'left');
    const out = await grammyError(bot.api.getChatMember(group, 11));
    expect(out).toMatchObject({
      error_code: 403,
      description: 'Forbidden: bot is not a member of the supergroup chat',
    });
  });
});
