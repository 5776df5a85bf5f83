import { Bot, GrammyError, InputFile } from 'grammy';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { encodePng, FakeTelegram } from './fake-telegram.js';

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

const report = () => new InputFile(Buffer.from('%PDF-1.4 report'), 'report.pdf');

describe('private chats', () => {
  it('answers 400 chat not found for a user who never started the bot', async () => {
    const error = await grammyError(bot.api.sendMessage(555, 'hello'));
    expect(error.error_code).toBe(400);
    expect(error.description).toBe('Bad Request: chat not found');
    expect(error.method).toBe('sendMessage');
  });

  it('answers 403 when the user blocked the bot or deleted the account, and delivers nothing', async () => {
    telegram.addPrivateChat({ id: 1 });
    telegram.addPrivateChat({ id: 2 });
    telegram.blockBot(1);
    telegram.deactivateUser(2);

    const blocked = await grammyError(bot.api.sendDocument(1, report()));
    expect(blocked.error_code).toBe(403);
    expect(blocked.description).toBe('Forbidden: bot was blocked by the user');
    const deactivated = await grammyError(bot.api.sendMessage(2, 'hi'));
    expect(deactivated.description).toBe('Forbidden: user is deactivated');
    expect(telegram.messagesIn(1)).toEqual([]);
    expect(telegram.callsTo('sendDocument')[0]).toMatchObject({ chatId: 1, status: 403, delivered: false });

    telegram.setPrivateChatState(1, 'active');
    await bot.api.sendMessage(1, 'welcome back');
    expect(telegram.messagesIn(1)).toHaveLength(1);
  });
});

describe('groups', () => {
  it('uses the group or supergroup wording when the bot was kicked', async () => {
    const group = telegram.addGroup({ title: 'Sales', botStatus: 'kicked' });
    const supergroup = telegram.addGroup({ type: 'supergroup', title: 'Ops', botStatus: 'kicked' });

    const fromGroup = await grammyError(bot.api.sendMessage(group, 'x'));
    expect(fromGroup.error_code).toBe(403);
    expect(fromGroup.description).toBe('Forbidden: bot was kicked from the group chat');
    const fromSupergroup = await grammyError(bot.api.sendMessage(supergroup, 'x'));
    expect(fromSupergroup.description).toBe('Forbidden: bot was kicked from the supergroup chat');
  });

  it('answers "not a member" after leaveChat, and tells the bot with my_chat_member', async () => {
    const group = telegram.addGroup({ title: 'Finance', botStatus: 'administrator' });
    await bot.api.sendMessage(group, 'before');
    expect(await bot.api.leaveChat(group)).toBe(true);

    const error = await grammyError(bot.api.sendMessage(group, 'after'));
    expect(error.description).toBe('Forbidden: bot is not a member of the group chat');
    expect(telegram.chat(group)).toMatchObject({ botStatus: 'left' });
    const [update] = telegram.unconfirmedUpdates();
    expect(update?.my_chat_member).toMatchObject({
      chat: { id: group, type: 'group', title: 'Finance' },
      old_chat_member: { status: 'administrator' },
      new_chat_member: { status: 'left' },
    });
  });

  it('surfaces a migrated group as GrammyError 400 with parameters.migrate_to_chat_id', async () => {
    const group = telegram.addGroup({ id: -555_000_111, title: 'Board' });
    const supergroup = telegram.migrateGroup(group, -1_001_555_000_111);

    const error = await grammyError(bot.api.sendDocument(group, report(), { caption: 'Q2' }));
    expect(error.error_code).toBe(400);
    expect(error.description).toBe('Bad Request: group chat was upgraded to a supergroup chat');
    expect(error.parameters).toEqual({ migrate_to_chat_id: -1_001_555_000_111 });
    expect(error.method).toBe('sendDocument');

    const resent = await bot.api.sendDocument(error.parameters.migrate_to_chat_id!, report(), {
      caption: 'Q2',
    });
    expect(resent.chat).toMatchObject({ id: supergroup, type: 'supergroup', title: 'Board' });
    expect(telegram.messagesIn(supergroup)).toHaveLength(1);
    expect(telegram.messagesIn(group)).toEqual([]);
  });

  it('answers 403 for a deleted group and requires admin rights in channels', async () => {
    const group = telegram.addGroup({ title: 'Old' });
    telegram.deleteChat(group);
    const deleted = await grammyError(bot.api.sendMessage(group, 'x'));
    expect(deleted.description).toBe('Forbidden: the group chat was deleted');

    const channel = telegram.addGroup({ type: 'channel', title: 'News', botStatus: 'member' });
    const notAdmin = await grammyError(bot.api.sendMessage(channel, 'x'));
    expect(notAdmin.description).toBe('Bad Request: need administrator rights in the channel chat');
    telegram.setBotStatus(channel, 'administrator');
    const post = await bot.api.sendMessage(channel, 'x');
    expect(post.sender_chat?.id).toBe(channel);
    expect(post.from).toBeUndefined();
  });

  it('resolves @username chat ids and returns basic getChat info', async () => {
    const supergroup = telegram.addGroup({ type: 'supergroup', title: 'Public', username: 'public_reports' });
    const sent = await bot.api.sendMessage('@public_reports', 'hello');
    expect(sent.chat.id).toBe(supergroup);
    const info = await bot.api.getChat(supergroup);
    expect(info).toMatchObject({
      id: supergroup,
      type: 'supergroup',
      title: 'Public',
      username: 'public_reports',
    });
    expect((await grammyError(bot.api.getChat('@nobody'))).description).toBe('Bad Request: chat not found');
  });

  it('holds a member bot to the group permissions, but not an administrator', async () => {
    const group = telegram.addGroup({ title: 'No files', botStatus: 'member' });
    telegram.setChatPermissions(group, {
      can_send_messages: true,
      can_send_photos: false,
      can_send_documents: false,
    });
    const photo = await grammyError(
      bot.api.sendPhoto(group, new InputFile(encodePng({ width: 40, height: 30 }), 'a.png')),
    );
    expect(photo.description).toBe('Bad Request: not enough rights to send photos to the chat');
    const document = await grammyError(bot.api.sendDocument(group, report()));
    expect(document.description).toBe('Bad Request: not enough rights to send documents to the chat');
    await bot.api.sendMessage(group, 'text is allowed');
    expect(telegram.messagesIn(group).map((message) => message.text)).toEqual(['text is allowed']);
    telegram.setBotStatus(group, 'administrator');
    await bot.api.sendDocument(group, report());
    expect(telegram.messagesIn(group)).toHaveLength(2);
  });
});
