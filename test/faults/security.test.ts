/**
 * The obvious tricks: someone else's contact card, a forwarded card, a group that copies a registered
 * group's title, a group nobody registered, mail from a sender that is not allowed. None of them gets a
 * report, and no secret shows up in any log line along the way.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { LocalDirectory } from '../../src/directory/local/local-directory.js';
import { DovecotServer } from '../dovecot/dovecot.js';
import { FakeTelegram } from '../fakes/telegram/fake-telegram.js';
import { eventually, type RunningBot, removeDir, startBot } from '../support/bot-harness.js';
import { reportMail } from '../support/simple-mail.js';

let dovecot: DovecotServer;
let telegram: FakeTelegram;

beforeAll(async () => {
  dovecot = await DovecotServer.start({ users: 3 });
  telegram = await FakeTelegram.start({ rateLimits: false });
});

afterAll(async () => {
  await telegram?.stop();
  await dovecot?.stop();
});

describe('security', () => {
  it('gives nothing to a foreign contact, a title hijack, an unknown group or a stranger\u2019s mail', async () => {
    const bot = await startBot({
      env: { TELEGRAM_BOT_TOKEN: telegram.token, TELEGRAM_API_ROOT: telegram.apiRoot },
    });
    try {
      const directory = bot.app.directory as LocalDirectory;
      const email = dovecot.address('user1');
      directory.addMailbox(dovecot.mailbox('user1', { allowFrom: ['@bi.example.com'] }));
      directory.addUser({ name: 'Anna', phone: '+79992220001', mailboxes: [email] });
      directory.addGroup({ title: 'BI team', mailboxes: [email] });
      await eventually(
        () => bot.app.listeners.listener(email)?.status().lastSyncAt,
        10_000,
        'mailbox connected',
      );

      const anna = { id: 92_000_001, first_name: 'Anna' };
      const mallory = { id: 92_000_666, first_name: 'Mallory' };
      const admin = { id: 92_000_002, first_name: 'Group admin' };
      // Mallory sends Anna's contact card, then forwards Anna's own card
      await telegram.waitForConfirmation(
        telegram.injectContact(mallory, { phone_number: '79992220001', owner: anna }),
        10_000,
      );
      await telegram.waitForConfirmation(
        telegram.injectContact(mallory, { phone_number: '79992220001', owner: anna, forwardedFrom: anna }),
        10_000,
      );
      expect(directory.snapshot().users.find((user) => user.name === 'Anna')?.telegramId).toBeNull();

      // the real group registers; a copy with the same title and a group nobody registered try too
      const real = telegram.addGroup({ title: 'BI team', botStatus: 'member' });
      await telegram.waitForConfirmation(
        telegram.injectMyChatMember({
          chat: real,
          from: admin,
          oldStatus: 'member',
          newStatus: 'administrator',
        }),
        10_000,
      );
      await eventually(
        () => directory.snapshot().groups.find((group) => group.title === 'BI team')?.telegramId === real,
        10_000,
        'registration',
      );
      const copycat = telegram.addGroup({ title: 'BI team', botStatus: 'member' });
      await telegram.waitForConfirmation(
        telegram.injectMyChatMember({
          chat: copycat,
          from: mallory,
          oldStatus: 'member',
          newStatus: 'administrator',
        }),
        10_000,
      );
      const stranger = telegram.addGroup({ title: 'Random chat', botStatus: 'member' });
      await telegram.waitForConfirmation(
        telegram.injectMyChatMember({
          chat: stranger,
          from: mallory,
          oldStatus: 'member',
          newStatus: 'administrator',
        }),
        10_000,
      );
      await eventually(() => telegram.callsTo('leaveChat').length >= 2, 10_000, 'the bot leaving both');
      expect(directory.snapshot().groups.find((group) => group.title === 'BI team')?.telegramId).toBe(real);

      // a stranger's mail, then a real report
      await dovecot.append('user1', reportMail({ from: 'mallory@evil.example' }).raw);
      await eventually(
        () => bot.app.store.recent(1)[0]?.status === 'rejected_sender',
        10_000,
        'the rejected mail',
      );
      const real1 = reportMail({ from: 'superset@bi.example.com' });
      await dovecot.append('user1', real1.raw);
      const [delivered] = await telegram
        .waitForMessages(real, 2, 15_000)
        .then((messages) => messages.filter((message) => message.type === 'document'));
      expect(delivered?.caption).toContain(real1.subject);
      await new Promise((resolve) => setTimeout(resolve, 500));
      for (const chat of [mallory.id, anna.id, copycat, stranger]) {
        expect(telegram.messagesIn(chat).filter((message) => message.type !== 'text')).toEqual([]);
      }
      expect(telegram.messagesIn(real).filter((message) => message.type === 'document')).toHaveLength(1);

      const logs = bot.logs.text();
      expect(logs.length).toBeGreaterThan(0);
      for (const secret of [telegram.token, telegram.token.split(':')[1]!, dovecot.password]) {
        expect(logs).not.toContain(secret);
      }
    } finally {
      await bot.stop();
      removeDir(bot.dataDir);
    }
  });
  /** A bot with a mailbox of its own (user2, user3: the first test reads user1), connected. */
  async function botWithMailbox(user: 'user2' | 'user3', env: Record<string, string> = {}) {
    const bot = await startBot({
      env: { TELEGRAM_BOT_TOKEN: telegram.token, TELEGRAM_API_ROOT: telegram.apiRoot, ...env },
    });
    const directory = bot.app.directory as LocalDirectory;
    const email = dovecot.address(user);
    directory.addMailbox(dovecot.mailbox(user, { allowFrom: ['@bi.example.com'] }));
    await eventually(
      () => bot.app.listeners.listener(email)?.status().lastSyncAt,
      10_000,
      'mailbox connected',
    );
    return { bot, directory, email };
  }

  async function stop(bot: RunningBot): Promise<void> {
    await bot.stop();
    removeDir(bot.dataDir);
  }

  it('keeps an admin\u2019s pause through /start, a shared phone, a block and a re-promotion: no report', async () => {
    const { bot, directory, email } = await botWithMailbox('user2');
    try {
      const paula = { id: 92_100_001, first_name: 'Paula' };
      const colleague = { id: 92_100_002, first_name: 'Colleague' };
      const admin = { id: 92_100_003, first_name: 'Group admin' };
      telegram.addPrivateChat(paula);
      directory.addUser({ name: 'Paula', phone: '+79992220011', mailboxes: [email], telegramId: paula.id });
      directory.addUser({
        name: 'Colleague',
        phone: '+79992220012',
        mailboxes: [email],
        telegramId: colleague.id,
      });
      telegram.addPrivateChat(colleague);
      directory.addGroup({ title: 'Paused team', mailboxes: [email] });
      const group = telegram.addGroup({ title: 'Paused team', botStatus: 'member' });
      const confirm = (update: Parameters<typeof telegram.waitForConfirmation>[0]) =>
        telegram.waitForConfirmation(update, 10_000);
      await confirm(
        telegram.injectMyChatMember({
          chat: group,
          from: admin,
          oldStatus: 'member',
          newStatus: 'administrator',
        }),
      );
      expect(directory.snapshot().groups[0]).toMatchObject({ telegramId: group, active: true });

      // the admin pauses Paula (she is leaving) and the group (under review)
      directory.setUserPaused('+79992220011', true);
      directory.setGroupPaused('Paused team', true);
      // Paula blocks and unblocks the bot, sends /start and her phone; the group demotes and re-promotes the bot
      await confirm(
        telegram.injectMyChatMember({
          chat: paula.id,
          from: paula,
          oldStatus: 'member',
          newStatus: 'kicked',
        }),
      );
      await confirm(
        telegram.injectMyChatMember({
          chat: paula.id,
          from: paula,
          oldStatus: 'kicked',
          newStatus: 'member',
        }),
      );
      await confirm(telegram.injectTextMessage(paula, '/start'));
      await confirm(telegram.injectContact(paula, { phone_number: '79992220011' }));
      await confirm(
        telegram.injectMyChatMember({
          chat: group,
          from: admin,
          oldStatus: 'administrator',
          newStatus: 'member',
        }),
      );
      await confirm(
        telegram.injectMyChatMember({
          chat: group,
          from: admin,
          oldStatus: 'member',
          newStatus: 'administrator',
        }),
      );
      expect(telegram.messagesIn(paula.id).at(-1)?.text).toContain('приостановлена администратором');
      expect(directory.snapshot().users.find((user) => user.name === 'Paula')).toMatchObject({
        active: false,
        pausedByAdmin: true,
      });

      const report = reportMail({ from: 'superset@bi.example.com' });
      await dovecot.append('user2', report.raw);
      const [delivered] = await telegram.waitForMessages(colleague.id, 1, 15_000);
      expect(delivered).toMatchObject({ type: 'document' });
      await new Promise((resolve) => setTimeout(resolve, 500));
      for (const chat of [paula.id, group]) {
        expect(telegram.messagesIn(chat).filter((message) => message.type !== 'text')).toEqual([]);
      }
    } finally {
      await stop(bot);
    }
  });

  it('does not give a squatter the reports of a group title (GROUP_REGISTRATION=approval)', async () => {
    const adminChat = telegram.addGroup({
      type: 'supergroup',
      title: 'Bot admins',
      botStatus: 'administrator',
    });
    const { bot, directory, email } = await botWithMailbox('user3', {
      GROUP_REGISTRATION: 'approval',
      ADMIN_CHAT_ID: String(adminChat),
    });
    try {
      const reviewer = { id: 92_200_001, first_name: 'Reviewer' };
      const mallory = { id: 92_200_666, first_name: 'Mallory' };
      const owner = { id: 92_200_002, first_name: 'Finance lead' };
      telegram.setMember(adminChat, reviewer, 'member');
      directory.addGroup({ title: 'Finance', mailboxes: [email] });
      const confirm = (update: Parameters<typeof telegram.waitForConfirmation>[0]) =>
        telegram.waitForConfirmation(update, 10_000);
      const requestFor = (chatId: number) =>
        eventually(
          () => telegram.messagesIn(adminChat).find((message) => message.text?.includes(`id ${chatId},`)),
          10_000,
          `the approval request for ${chatId}`,
        );
      const press = async (
        by: { id: number; first_name: string },
        messageId: number,
        label: 'Approve' | 'Reject',
      ) => {
        const message = telegram.messagesIn(adminChat).find((entry) => entry.message_id === messageId)!;
        const markup = (
          message.message as {
            reply_markup?: { inline_keyboard: Array<Array<{ text: string; callback_data: string }>> };
          }
        ).reply_markup!;
        const data = markup.inline_keyboard.flat().find((button) => button.text === label)!.callback_data;
        const update = telegram.injectCallbackQuery(by, adminChat, messageId, data);
        await confirm(update);
        return telegram.callbackAnswer(update.callback_query!.id);
      };

      // Mallory learns the title "Finance" and gets there first
      const squat = telegram.addGroup({ type: 'supergroup', title: 'Finance', botStatus: 'member' });
      await confirm(
        telegram.injectMyChatMember({
          chat: squat,
          from: mallory,
          oldStatus: 'member',
          newStatus: 'administrator',
        }),
      );
      const squatRequest = await requestFor(squat);
      expect(squatRequest.text).toContain('"Mallory" (id 92200666)');
      expect(directory.snapshot().groups[0]).toMatchObject({ telegramId: null, locked: false });
      // pressing Approve herself (outside the admin chat) decides nothing
      expect(await press(mallory, squatRequest.message_id, 'Approve')).toMatchObject({ show_alert: true });
      expect(directory.snapshot().groups[0]!.telegramId).toBeNull();
      // the reviewer does not know this chat and rejects it: the bot leaves, nothing written
      expect(await press(reviewer, squatRequest.message_id, 'Reject')).toEqual({ text: 'Rejected' });
      expect(telegram.chat(squat)).toMatchObject({ botStatus: 'left' });

      // the real group asks next and is approved
      const real = telegram.addGroup({ type: 'supergroup', title: 'Finance', botStatus: 'member' });
      await confirm(
        telegram.injectMyChatMember({
          chat: real,
          from: owner,
          oldStatus: 'member',
          newStatus: 'administrator',
        }),
      );
      const realRequest = await requestFor(real);
      expect(await press(reviewer, realRequest.message_id, 'Approve')).toEqual({ text: 'Approved' });
      expect(directory.snapshot().groups[0]).toMatchObject({ telegramId: real, locked: true, active: true });

      const report = reportMail({ from: 'superset@bi.example.com' });
      await dovecot.append('user3', report.raw);
      const delivered = await eventually(
        () => telegram.messagesIn(real).find((message) => message.type === 'document'),
        15_000,
        'the report in the real group',
      );
      expect(delivered.caption).toContain(report.subject);
      await new Promise((resolve) => setTimeout(resolve, 500));
      expect(telegram.messagesIn(squat).filter((message) => message.type !== 'text')).toEqual([]);
    } finally {
      await stop(bot);
    }
  });
});
