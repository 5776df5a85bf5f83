/**
 * The obvious tricks: someone else's contact card, a forwarded card, a group that copies a registered
 * group's title, a group nobody registered, mail from a sender that is not allowed. None of them gets a
 * report, and no secret shows up in any log line along the way.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { LocalDirectory } from '../../src/directory/local/local-directory.js';
import { DovecotServer } from '../dovecot/dovecot.js';
import { FakeTelegram } from '../fakes/telegram/fake-telegram.js';
import { eventually, removeDir, startBot } from '../support/bot-harness.js';
import { reportMail } from '../support/simple-mail.js';

let dovecot: DovecotServer;
let telegram: FakeTelegram;

beforeAll(async () => {
  dovecot = await DovecotServer.start({ users: 1 });
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
});
