/**
 * The fake Bot API failing a fifth of the calls (429 with retry_after, 500, 502, dropped connections,
 * slow answers): every delivery completes, and no chat gets a message twice.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { LocalDirectory } from '../../src/directory/local/local-directory.js';
import { DovecotServer } from '../dovecot/dovecot.js';
import { FakeTelegram, faults } from '../fakes/telegram/fake-telegram.js';
import { eventually, removeDir, startBot } from '../support/bot-harness.js';
import { subscribeReaders } from '../support/readers.js';
import { pngReportMail, reportMail } from '../support/simple-mail.js';

const SEED = Number(process.env.FAULT_SEED ?? 99);
const CHATS = 30;
const REPORTS = 6;

let dovecot: DovecotServer;
let telegram: FakeTelegram;

beforeAll(async () => {
  dovecot = await DovecotServer.start({ users: 1 });
  telegram = await FakeTelegram.start();
});

afterAll(async () => {
  await telegram?.stop();
  await dovecot?.stop();
});

describe('Telegram failing a fifth of the calls', () => {
  it(`delivers ${REPORTS} reports to ${CHATS} chats completely, each message once`, async () => {
    const bot = await startBot({
      env: {
        TELEGRAM_BOT_TOKEN: telegram.token,
        TELEGRAM_API_ROOT: telegram.apiRoot,
        DELIVERY_MAX_ATTEMPTS: '20',
      },
      deps: {
        timings: { reconnectBaseMs: 200, reconnectMaxMs: 1000, catchUpMs: 60_000, connectTimeoutMs: 5000 },
      },
    });
    try {
      const directory = bot.app.directory as LocalDirectory;
      const email = dovecot.address('user1');
      await directory.addMailbox(dovecot.mailbox('user1'));
      const chats = await subscribeReaders(telegram, directory, email, CHATS, { firstChatId: 8_600_000 });
      await eventually(() => bot.app.listeners.listener(email)?.status().lastSyncAt, 10_000);
      telegram.failRatio(
        0.2,
        [
          faults.tooManyRequests(1),
          faults.tooManyRequests(2),
          faults.internalServerError(),
          faults.badGateway(),
          faults.dropConnection(),
          faults.delay(1500),
        ],
        SEED,
        { method: ['sendDocument', 'sendPhoto', 'sendMediaGroup', 'sendMessage'] },
      );
      const subjects: string[] = [];
      // messages each report leaves in a chat: a PDF report 1, a report with two screenshots 2
      let expectedPerChat = 0;
      for (let index = 0; index < REPORTS; index++) {
        const mail =
          index % 2 === 0
            ? reportMail()
            : pngReportMail({
                screenshots: [
                  { width: 1000, height: 700 },
                  { width: 1000, height: 800 },
                ],
              });
        expectedPerChat += index % 2 === 0 ? 1 : 2;
        subjects.push(mail.subject);
        await dovecot.append('user1', mail.raw);
      }
      await eventually(
        () => chats.every((chatId) => telegram.messagesIn(chatId).length >= expectedPerChat),
        180_000,
        'every report in every chat',
      );
      await eventually(() => bot.app.dispatcher!.depth === 0, 30_000, 'an empty outbox');
      const failedCalls = telegram.calls.filter((call) => call.status !== 200).length;
      const counts = chats.map((chatId) => telegram.messagesIn(chatId).length);
      console.log(
        `Telegram faults (seed ${SEED}): ${telegram.calls.length} calls, ${failedCalls} failed; messages per chat ${Math.min(...counts)}..${Math.max(...counts)} (expected ${expectedPerChat})`,
      );
      expect(failedCalls).toBeGreaterThan(10);
      for (const chatId of chats) {
        const messages = telegram.messagesIn(chatId);
        expect(messages).toHaveLength(expectedPerChat);
        const captioned = messages.map((message) => message.caption?.split('\n')[0]).filter(Boolean);
        expect(captioned.sort()).toEqual([...subjects].sort());
      }
      const states = await bot.app.outbox.countByState();
      expect(states.failed).toBe(0);
      expect(states.pending).toBe(0);
    } finally {
      telegram.clearFaults();
      await bot.stop();
      removeDir(bot.dataDir);
    }
  });
});
