/**
 * The directory of now decides every send (issue 11 part 1). A recipient's sends answer 429 with a long
 * retry_after; while the delivery waits, the user is removed with the CLI (embedded directory) or
 * unticked in SeaTable → nothing reaches that chat, the others get the report, and `reports` shows why.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { LocalDirectory } from '../../src/directory/local/local-directory.js';
import { directorySeed } from '../directory/directory-worlds.js';
import { DovecotServer } from '../dovecot/dovecot.js';
import { FakeSeaTable } from '../fakes/seatable/fake-seatable.js';
import { FakeTelegram, faults } from '../fakes/telegram/fake-telegram.js';
import { eventually, removeDir, startBot } from '../support/bot-harness.js';
import { runCli } from '../support/bot-process.js';
import { reportMail } from '../support/simple-mail.js';

/** How long Telegram tells the removed recipient's chat to wait. */
const RETRY_AFTER_SECONDS = 15;

let dovecot: DovecotServer;

beforeAll(async () => {
  dovecot = await DovecotServer.start({ users: 2 });
});

afterAll(async () => {
  await dovecot?.stop();
});

const people = (first: number) => [
  { name: 'Anna', phone: '+79994440001', telegramId: first },
  { name: 'Boris', phone: '+79994440002', telegramId: first + 1 },
  { name: 'Leaver', phone: '+79994440003', telegramId: first + 2 },
];

describe('security: a recipient removed while their delivery waits', () => {
  it.concurrent('gets nothing after `user remove` (embedded directory)', async () => {
    const telegram = await FakeTelegram.start({ rateLimits: false });
    const bot = await startBot({
      env: { TELEGRAM_BOT_TOKEN: telegram.token, TELEGRAM_API_ROOT: telegram.apiRoot },
    });
    try {
      const directory = bot.app.directory as LocalDirectory;
      const email = dovecot.address('user1');
      await directory.addMailbox(dovecot.mailbox('user1'));
      const [anna, boris, leaver] = people(93_100_001);
      for (const person of [anna!, boris!, leaver!]) {
        telegram.addPrivateChat({ id: person.telegramId, first_name: person.name });
        await directory.addUser({ ...person, mailboxes: [email] });
      }
      await eventually(
        () => bot.app.listeners.listener(email)?.status().lastSyncAt,
        10_000,
        'mailbox connected',
      );
      telegram.failNext(1, faults.tooManyRequests(RETRY_AFTER_SECONDS), { chatId: leaver!.telegramId });

      const mail = reportMail();
      await dovecot.append('user1', mail.raw);
      await telegram.waitForMessages(anna!.telegramId, 1, 15_000);
      await telegram.waitForMessages(boris!.telegramId, 1, 15_000);
      await eventually(
        () => telegram.calls.some((call) => call.status === 429),
        10_000,
        'the leaver told to wait',
      );
      const removed = await runCli(['user', 'remove', leaver!.phone], { DATA_DIR: bot.dataDir });
      expect(removed.code).toBe(0);

      await eventually(
        () => bot.app.dispatcher!.depth === 0,
        (RETRY_AFTER_SECONDS + 10) * 1000,
        'an empty outbox',
      );
      expect(telegram.messagesIn(leaver!.telegramId)).toEqual([]);
      const listed = JSON.parse(
        (await runCli(['reports', '--json'], { DATA_DIR: bot.dataDir })).stdout,
      ) as Array<{
        deliveries: Array<{ chatId: number; state: string; lastError: string | null }>;
      }>;
      expect(listed[0]!.deliveries).toEqual(
        expect.arrayContaining([
          expect.objectContaining({ chatId: anna!.telegramId, state: 'sent' }),
          expect.objectContaining({ chatId: boris!.telegramId, state: 'sent' }),
          expect.objectContaining({
            chatId: leaver!.telegramId,
            state: 'cancelled',
            lastError: expect.stringContaining('the user was removed'),
          }),
        ]),
      );
    } finally {
      await bot.stop();
      await telegram.stop();
      removeDir(bot.dataDir);
    }
  });

  it.concurrent('gets nothing after being unticked in SeaTable', async () => {
    const telegram = await FakeTelegram.start({ rateLimits: false });
    const email = dovecot.address('user2');
    const [anna, boris, leaver] = people(93_200_001);
    for (const person of [anna!, boris!, leaver!]) {
      telegram.addPrivateChat({ id: person.telegramId, first_name: person.name });
    }
    const seatable = await FakeSeaTable.start({
      seed: directorySeed({
        mailboxes: [dovecot.mailbox('user2')],
        users: [anna!, boris!, leaver!].map((person) => ({ ...person, mailboxes: [email] })),
        groups: [],
      }),
    });
    const bot = await startBot({
      env: {
        DIRECTORY: 'seatable',
        SEATABLE_SERVER_URL: seatable.url,
        SEATABLE_API_TOKEN: seatable.apiToken,
        TELEGRAM_BOT_TOKEN: telegram.token,
        TELEGRAM_API_ROOT: telegram.apiRoot,
      },
      deps: { seatableRefreshMs: 500 },
    });
    try {
      await eventually(
        () => bot.app.listeners.listener(email)?.status().lastSyncAt,
        10_000,
        'mailbox connected',
      );
      telegram.failNext(1, faults.tooManyRequests(RETRY_AFTER_SECONDS), { chatId: leaver!.telegramId });
      await dovecot.append('user2', reportMail().raw);
      await telegram.waitForMessages(anna!.telegramId, 1, 15_000);
      await telegram.waitForMessages(boris!.telegramId, 1, 15_000);
      await eventually(
        () => telegram.calls.some((call) => call.status === 429),
        10_000,
        'the leaver told to wait',
      );
      // the admin unticks Active in the base
      const row = seatable.rows('Users').find((candidate) => candidate.Name === 'Leaver')!;
      seatable.setCells('Users', String(row._id), { Active: false });

      await eventually(
        () => bot.app.dispatcher!.depth === 0,
        (RETRY_AFTER_SECONDS + 10) * 1000,
        'an empty outbox',
      );
      expect(telegram.messagesIn(leaver!.telegramId)).toEqual([]);
      const deliveries = await bot.app.outbox.forReport((await bot.app.store.recent(1))[0]!.id);
      expect(deliveries.find((delivery) => delivery.chatId === leaver!.telegramId)).toMatchObject({
        state: 'cancelled',
        lastError: expect.stringContaining('the user is inactive'),
      });
      expect(deliveries.filter((delivery) => delivery.state === 'sent')).toHaveLength(2);
    } finally {
      await bot.stop();
      await telegram.stop();
      await seatable.stop();
      removeDir(bot.dataDir);
    }
  });
});
