/**
 * SeaTable down for several refresh periods: reports keep flowing to the recipients already known,
 * a registration the cached copy can decide is confirmed at once and written to SeaTable once it is
 * back; the admin chat hears about the outage once and about the recovery once.
 * (The long version, with rate limits and a restart: seatable-writes.test.ts.)
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { directorySeed } from '../directory/directory-worlds.js';
import { DovecotServer } from '../dovecot/dovecot.js';
import { FakeSeaTable } from '../fakes/seatable/fake-seatable.js';
import { FakeTelegram } from '../fakes/telegram/fake-telegram.js';
import { eventually, removeDir, startBot } from '../support/bot-harness.js';
import { reportMail } from '../support/simple-mail.js';

const REFRESH_MS = 500;
const ADMIN_CHAT = 91_000_001;
const KNOWN = 91_000_002;
const NEWCOMER = { id: 91_000_003, first_name: 'Boris', language_code: 'en' };

let dovecot: DovecotServer;
let telegram: FakeTelegram;
let seatable: FakeSeaTable;

beforeAll(async () => {
  dovecot = await DovecotServer.start({ users: 1 });
  telegram = await FakeTelegram.start({ rateLimits: false });
  telegram.addPrivateChat({ id: ADMIN_CHAT, first_name: 'Admins' });
  telegram.addPrivateChat({ id: KNOWN, first_name: 'Anna' });
  const email = dovecot.address('user1');
  seatable = await FakeSeaTable.start({
    seed: directorySeed({
      mailboxes: [dovecot.mailbox('user1')],
      users: [
        { name: 'Anna', phone: '+79991110001', mailboxes: [email], telegramId: KNOWN },
        { name: 'Boris', phone: '+79991110002', mailboxes: [email] },
      ],
      groups: [],
    }),
  });
});

afterAll(async () => {
  await seatable?.stop();
  await telegram?.stop();
  await dovecot?.stop();
});

describe('SeaTable outage', () => {
  it('keeps delivering from the cached directory, registers from it, and recovers', async () => {
    const bot = await startBot({
      env: {
        DIRECTORY: 'seatable',
        SEATABLE_SERVER_URL: seatable.url,
        SEATABLE_API_TOKEN: seatable.apiToken,
        TELEGRAM_BOT_TOKEN: telegram.token,
        TELEGRAM_API_ROOT: telegram.apiRoot,
        ADMIN_CHAT_ID: String(ADMIN_CHAT),
        TELEGRAM_CHAT_INTERVAL_MS: '0',
      },
      deps: { seatableRefreshMs: REFRESH_MS },
    });
    try {
      const email = dovecot.address('user1');
      await eventually(
        () => bot.app.listeners.listener(email)?.status().lastSyncAt,
        10_000,
        'mailbox connected',
      );
      await dovecot.append('user1', reportMail().raw);
      await telegram.waitForMessages(KNOWN, 1, 15_000);

      await seatable.goOffline('refuse');
      // several refresh periods pass with SeaTable unreachable
      await new Promise((resolve) => setTimeout(resolve, REFRESH_MS * 8));
      for (let index = 0; index < 2; index++) await dovecot.append('user1', reportMail().raw);
      await telegram.waitForMessages(KNOWN, 3, 15_000);

      telegram.addPrivateChat(NEWCOMER);
      const contact = telegram.injectContact(NEWCOMER, { phone_number: '+79991110002' });
      await telegram.waitForConfirmation(contact, 10_000);
      await eventually(
        () => telegram.messagesIn(NEWCOMER.id).some((message) => message.text?.includes('subscribed')),
        10_000,
        'subscribed',
      );
      expect(bot.app.directory.snapshot().users.find((user) => user.name === 'Boris')?.telegramId).toBe(
        NEWCOMER.id,
      );
      await eventually(
        () => telegram.messagesIn(ADMIN_CHAT).some((message) => /SeaTable/i.test(message.text ?? '')),
        10_000,
        'the outage alert',
      );

      await seatable.goOnline();
      await eventually(
        () => telegram.messagesIn(ADMIN_CHAT).some((message) => message.text?.startsWith('✅')),
        15_000,
        'the recovery message',
      );
      await eventually(
        () =>
          seatable.rows('Users').find((row) => row.Name === 'Boris')?.['Telegram ID'] === String(NEWCOMER.id),
        90_000,
        'the Telegram id written to SeaTable',
      );
      await dovecot.append('user1', reportMail().raw);
      await telegram.waitForMessages(KNOWN, 4, 15_000);
      await eventually(
        () => telegram.messagesIn(NEWCOMER.id).some((message) => message.type === 'document'),
        15_000,
        'newcomer report',
      );

      const outageAlerts = telegram
        .messagesIn(ADMIN_CHAT)
        .filter((message) => /SeaTable/i.test(message.text ?? ''));
      console.log(
        `SeaTable outage: admin chat got ${outageAlerts.length} messages about it: ${outageAlerts.map((message) => message.text?.slice(0, 60)).join(' | ')}`,
      );
      expect(outageAlerts.length).toBeLessThanOrEqual(2);
    } finally {
      await bot.stop();
      removeDir(bot.dataDir);
    }
  });
});
