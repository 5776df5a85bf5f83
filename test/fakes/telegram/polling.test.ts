import { Api, Bot, type Context, GrammyError, Keyboard } from 'grammy';
import type { Update } from 'grammy/types';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { FakeTelegram } from './fake-telegram.js';

let telegram: FakeTelegram;
let api: Api;

beforeEach(async () => {
  telegram = await FakeTelegram.start({ rateLimits: false });
  api = new Api(telegram.token, { apiRoot: telegram.apiRoot });
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

/**
 * Starts long polling and waits for grammY's setup (getMe, deleteWebhook). Returns the promise of
 * `bot.start()` wrapped, so awaiting this function does not wait for polling to end.
 */
async function startPolling(bot: Bot): Promise<{ done: Promise<void> }> {
  let started!: () => void;
  const setUp = new Promise<void>((resolve) => {
    started = resolve;
  });
  const done = bot.start({ onStart: () => started() });
  done.catch(() => {}); // observed by the tests that expect a failure
  await Promise.race([setUp, done]);
  return { done };
}

describe('getUpdates', () => {
  it('numbers updates from 1 and confirms every id below the offset', async () => {
    const user = { id: 10 };
    const first = telegram.injectTextMessage(user, 'one');
    const second = telegram.injectTextMessage(user, 'two');
    telegram.injectTextMessage(user, 'three');
    expect([first.update_id, second.update_id]).toEqual([1, 2]);

    expect((await api.getUpdates({ timeout: 0 })).map((update) => update.update_id)).toEqual([1, 2, 3]);
    // without an offset nothing is confirmed
    expect((await api.getUpdates({ timeout: 0, limit: 2 })).map((update) => update.update_id)).toEqual([
      1, 2,
    ]);
    expect((await api.getUpdates({ offset: 3, timeout: 0 })).map((update) => update.update_id)).toEqual([3]);
    expect(telegram.unconfirmedUpdates().map((update) => update.update_id)).toEqual([3]);
    expect((await api.getUpdates({ offset: 4, timeout: 0 })).map((update) => update.update_id)).toEqual([]);
  });

  it('keeps only the last |offset| updates for a negative offset', async () => {
    for (const text of ['a', 'b', 'c', 'd']) telegram.injectTextMessage({ id: 10 }, text);
    const updates = await api.getUpdates({ offset: -2, timeout: 0 });
    expect(updates.map((update) => update.message?.text)).toEqual(['c', 'd']);
    expect(telegram.unconfirmedUpdates()).toHaveLength(2);
  });

  it('holds a long poll until an update arrives', async () => {
    const poll = api.getUpdates({ timeout: 30 });
    await telegram.waitForHeldPoll();
    expect(telegram.callsTo('getUpdates')).toEqual([]); // held, not answered
    const injected = telegram.injectTextMessage({ id: 10 }, 'wake up');
    const updates = await poll;
    expect(updates.map((update) => update.update_id)).toEqual([injected.update_id]);
  });

  it('answers an empty list when the timeout expires', async () => {
    expect(await api.getUpdates({ timeout: 1 })).toEqual([]);
    expect(telegram.callsTo('getUpdates')[0]).toMatchObject({ status: 200, params: { timeout: 1 } });
  });

  it('terminates a held poll with 409 when another getUpdates arrives', async () => {
    const held = api.getUpdates({ timeout: 30 }).catch((error: unknown) => error);
    await telegram.waitForHeldPoll();
    expect(await api.getUpdates({ timeout: 0 })).toEqual([]);
    const error = (await held) as GrammyError;
    expect(error).toBeInstanceOf(GrammyError);
    expect(error.error_code).toBe(409);
    expect(error.description).toBe(
      'Conflict: terminated by other getUpdates request; make sure that only one bot instance is running',
    );
  });

  it('refuses getUpdates while a webhook is set', async () => {
    await api.setWebhook('https://example.com/hook');
    const error = await grammyError(api.getUpdates({ timeout: 0 }));
    expect(error.error_code).toBe(409);
    expect(error.description).toBe(
      "Conflict: can't use getUpdates method while webhook is active; use deleteWebhook to delete the webhook first",
    );
    expect((await api.getWebhookInfo()).url).toBe('https://example.com/hook');
    await api.deleteWebhook();
    expect(await api.getUpdates({ timeout: 0 })).toEqual([]);
  });

  it('remembers allowed_updates and filters by it; the default excludes chat_member', async () => {
    telegram.injectUpdate({
      chat_member: {
        chat: { id: -1, type: 'group', title: 'g' },
        from: { id: 10, is_bot: false, first_name: 'U' },
        date: 0,
        old_chat_member: { status: 'left', user: { id: 11, is_bot: false, first_name: 'V' } },
        new_chat_member: { status: 'member', user: { id: 11, is_bot: false, first_name: 'V' } },
      },
    });
    telegram.injectTextMessage({ id: 10 }, 'text');
    telegram.injectMyChatMember({
      chat: { title: 'Team' },
      from: { id: 10 },
      oldStatus: 'left',
      newStatus: 'member',
    });

    const typesOf = (updates: Update[]) =>
      updates.map((update) => Object.keys(update).find((key) => key !== 'update_id'));
    expect(typesOf(await api.getUpdates({ timeout: 0, allowed_updates: [] }))).toEqual([
      'message',
      'my_chat_member',
    ]);
    expect(telegram.allowedUpdates).toEqual([]);

    telegram.injectTextMessage({ id: 10 }, 'later');
    expect(typesOf(await api.getUpdates({ timeout: 0, allowed_updates: ['my_chat_member'] }))).toEqual([
      'my_chat_member',
    ]);
    // omitted: the previous setting stays
    telegram.injectTextMessage({ id: 10 }, 'filtered');
    expect(typesOf(await api.getUpdates({ timeout: 0 }))).toEqual(['my_chat_member']);
    expect(telegram.allowedUpdates).toEqual(['my_chat_member']);
  });
});

describe('a grammY bot polling the fake', () => {
  let bot: Bot;
  let running: Promise<void> | undefined;

  beforeEach(() => {
    bot = new Bot(telegram.token, { client: { apiRoot: telegram.apiRoot } });
    running = undefined;
  });

  afterEach(async () => {
    if (bot.isRunning()) await bot.stop();
    await running;
  });

  it('starts with getMe, deleteWebhook, getUpdates {offset 1, timeout 30, allowed_updates []}', async () => {
    running = (await startPolling(bot)).done;
    expect(bot.botInfo).toEqual(telegram.botInfo);
    expect(telegram.calls.slice(0, 2).map((call) => call.method)).toEqual(['getMe', 'deleteWebhook']);
    await telegram.waitForHeldPoll();
    await bot.stop();
    // the held poll is logged once the server sees the client go away
    await telegram.waitForCall((call) => call.method === 'getUpdates' && call.params.timeout === 30);
    const polls = telegram.callsTo('getUpdates').map((call) => call.params);
    // the first poll (aborted by bot.stop()), then the call confirming the offset
    expect(polls).toEqual(
      expect.arrayContaining([
        { offset: 1, timeout: 30, allowed_updates: [] },
        { offset: 1, limit: 1 },
      ]),
    );
    expect(polls).toHaveLength(2);
  });

  it('hands commands with the user language to the handlers and replies', async () => {
    const seen: string[] = [];
    bot.command('start', async (ctx: Context) => {
      seen.push(`${ctx.from?.language_code}:${ctx.match}`);
      await ctx.reply('Привет');
    });
    running = (await startPolling(bot)).done;

    const update = telegram.injectTextMessage(
      { id: 77, first_name: 'Иван', language_code: 'ru' },
      '/start promo',
    );
    await telegram.waitForConfirmation(update);

    expect(seen).toEqual(['ru:promo']);
    expect(telegram.chat(77)).toMatchObject({ type: 'private', state: 'active' });
    expect(telegram.messagesIn(77).map((message) => message.text)).toEqual(['Привет']);
  });

  it('runs a share-phone conversation: keyboard, contact, keyboard removed', async () => {
    bot.command('start', (ctx) =>
      ctx.reply('Поделитесь номером', {
        reply_markup: new Keyboard().requestContact('Отправить номер').oneTime(),
      }),
    );
    bot.on('message:contact', (ctx) =>
      ctx.reply(`Номер ${ctx.msg.contact.phone_number} сохранён`, {
        reply_markup: { remove_keyboard: true },
      }),
    );
    running = (await startPolling(bot)).done;
    const user = { id: 31, first_name: 'Мария', language_code: 'ru' };

    telegram.injectTextMessage(user, '/start');
    await telegram.waitForMessages(31, 1);
    telegram.injectContact(user, { phone_number: '79001234567' });
    const [ask, done] = await telegram.waitForMessages(31, 2);

    expect(ask?.reply_markup).toEqual({
      keyboard: [[{ text: 'Отправить номер', request_contact: true }]],
      one_time_keyboard: true,
    });
    expect(done).toMatchObject({
      text: 'Номер 79001234567 сохранён',
      reply_markup: { remove_keyboard: true },
    });
    await expect(telegram.waitForMessages(31, 3, 50)).rejects.toThrow(/timed out after 50 ms/);
  });

  it('delivers own, foreign and forwarded contacts', async () => {
    const contacts: Array<{ own: boolean; forwarded: boolean; phone: string }> = [];
    bot.on('message:contact', (ctx) => {
      contacts.push({
        own: ctx.msg.contact.user_id === ctx.from?.id,
        forwarded: ctx.msg.forward_origin !== undefined,
        phone: ctx.msg.contact.phone_number,
      });
    });
    running = (await startPolling(bot)).done;

    const sender = { id: 5, first_name: 'Олег' };
    telegram.injectContact(sender, { phone_number: '+7 900 000-00-05' });
    telegram.injectContact(sender, { phone_number: '79000000006', owner: { id: 6 } });
    telegram.injectContact(sender, { phone_number: '79000000007', owner: 'unknown' });
    const last = telegram.injectContact(sender, { phone_number: '79000000005', forwardedFrom: { id: 8 } });
    await telegram.waitForConfirmation(last);

    expect(contacts).toEqual([
      { own: true, forwarded: false, phone: '+7 900 000-00-05' },
      { own: false, forwarded: false, phone: '79000000006' },
      { own: false, forwarded: false, phone: '79000000007' },
      { own: true, forwarded: true, phone: '79000000005' },
    ]);
  });

  it('delivers my_chat_member transitions and keeps the group registry in step', async () => {
    const transitions: string[] = [];
    bot.on('my_chat_member', (ctx) => {
      const update = ctx.myChatMember;
      transitions.push(
        `${update.chat.type}:${update.old_chat_member.status}->${update.new_chat_member.status} by ${update.from.id}`,
      );
    });
    running = (await startPolling(bot)).done;

    const admin = { id: 900, first_name: 'Admin' };
    const added = telegram.injectMyChatMember({
      chat: { id: -4001, title: 'Отчёты продаж' },
      from: admin,
      oldStatus: 'left',
      newStatus: 'member',
    });
    telegram.injectMyChatMember({
      chat: -4001,
      from: admin,
      oldStatus: 'member',
      newStatus: 'administrator',
    });
    telegram.injectMyChatMember({
      chat: { id: -1_004_002, type: 'supergroup', title: 'Ops' },
      from: admin,
      oldStatus: 'left',
      newStatus: 'administrator',
    });
    const kicked = telegram.injectMyChatMember({
      chat: -1_004_002,
      from: admin,
      oldStatus: 'administrator',
      newStatus: 'kicked',
    });
    await telegram.waitForConfirmation(kicked);

    expect(added.my_chat_member?.chat).toEqual({ id: -4001, type: 'group', title: 'Отчёты продаж' });
    expect(transitions).toEqual([
      'group:left->member by 900',
      'group:member->administrator by 900',
      'supergroup:left->administrator by 900',
      'supergroup:administrator->kicked by 900',
    ]);
    expect(telegram.chat(-4001)).toMatchObject({ botStatus: 'administrator', title: 'Отчёты продаж' });
    expect(telegram.chat(-1_004_002)).toMatchObject({ botStatus: 'kicked' });
    const error = await grammyError(bot.api.sendMessage(-1_004_002, 'x'));
    expect(error.description).toBe('Forbidden: bot was kicked from the supergroup chat');
  });

  it('delivers the migration service messages and the title change', async () => {
    const events: string[] = [];
    bot.on('message:migrate_to_chat_id', (ctx) => {
      events.push(`to ${ctx.msg.migrate_to_chat_id} in ${ctx.chat.id}`);
    });
    bot.on('message:migrate_from_chat_id', (ctx) => {
      events.push(`from ${ctx.msg.migrate_from_chat_id} in ${ctx.chat.id} by ${ctx.from?.username}`);
    });
    bot.on('message:new_chat_title', (ctx) => {
      events.push(`title ${ctx.msg.new_chat_title}`);
    });
    bot.on('my_chat_member', (ctx) => {
      events.push(`member ${ctx.myChatMember.new_chat_member.status} in ${ctx.chat.id}`);
    });
    running = (await startPolling(bot)).done;

    const group = telegram.addGroup({ id: -4100, title: 'Board', botStatus: 'administrator' });
    const { supergroupId, updates } = telegram.injectMigration(group, { supergroupId: -1_004_100 });
    const renamed = telegram.injectNewChatTitle(supergroupId, 'Board 2025', { id: 900 });
    await telegram.waitForConfirmation(renamed);

    expect(updates).toHaveLength(3);
    expect(events).toEqual([
      'to -1004100 in -4100',
      'from -4100 in -1004100 by GroupAnonymousBot',
      'member administrator in -1004100',
      'title Board 2025',
    ]);
    expect(telegram.chat(group)).toMatchObject({ migratedTo: -1_004_100 });
    expect(telegram.chat(supergroupId)).toMatchObject({ type: 'supergroup', title: 'Board 2025' });
  });

  it('stops with 409 when another instance polls the same token', async () => {
    running = (await startPolling(bot)).done;
    await telegram.waitForHeldPoll();
    await api.getUpdates({ timeout: 0 });
    const error = await running.catch((caught: unknown) => caught);
    expect(error).toBeInstanceOf(GrammyError);
    expect((error as GrammyError).error_code).toBe(409);
    running = undefined;
  });
});
