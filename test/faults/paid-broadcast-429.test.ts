/**
 * Paid broadcasts under a run of 429s: with TELEGRAM_PAID_BROADCAST=true and several requests in
 * flight, the fake Bot API answers every send with `429 Too Many Requests` (retry_after in parameters)
 * for ten seconds (FAULT_PAID_429_SECONDS) in the middle of a fan-out. Every chat still gets the whole
 * report exactly once, every message with allow_paid_broadcast.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { LocalDirectory } from '../../src/directory/local/local-directory.js';
import { DovecotServer } from '../dovecot/dovecot.js';
import { FakeTelegram, faults } from '../fakes/telegram/fake-telegram.js';
import { eventually, removeDir, startBot } from '../support/bot-harness.js';
import { subscribeReaders } from '../support/readers.js';
import { pngReportMail } from '../support/simple-mail.js';

const TOO_MANY_SECONDS = Number(process.env.FAULT_PAID_429_SECONDS ?? 10);
const CHATS = 300;
const SEND_METHODS = ['sendDocument', 'sendPhoto', 'sendMediaGroup', 'sendMessage'];

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

describe('paid broadcasts through a run of 429s', () => {
  it(`delivers a report to ${CHATS} chats once each after ${TOO_MANY_SECONDS} s of 429 answers`, async () => {
    const bot = await startBot({
      env: {
        TELEGRAM_BOT_TOKEN: telegram.token,
        TELEGRAM_API_ROOT: telegram.apiRoot,
        TELEGRAM_PAID_BROADCAST: 'true',
        TELEGRAM_PARALLEL_SENDS: '8',
      },
    });
    try {
      const directory = bot.app.directory as LocalDirectory;
      const email = dovecot.address('user1');
      await directory.addMailbox(dovecot.mailbox('user1'));
      const chats = await subscribeReaders(telegram, directory, email, CHATS, { firstChatId: 8_900_000 });
      await eventually(() => bot.app.listeners.listener(email)?.status().lastSyncAt, 10_000);
      const mail = pngReportMail({
        screenshots: [
          { width: 1000, height: 700 },
          { width: 1000, height: 800 },
        ],
        withPdf: true,
      });
      // an album of two photos and the PDF
      const perChat = 3;
      await dovecot.append('user1', mail.raw);
      // the run of 429s begins once the fan-out is under way (the files uploaded, part of the chats served)
      await eventually(
        () => chats.filter((chatId) => telegram.messagesIn(chatId).length > 0).length >= 20,
        30_000,
        'the fan-out under way',
      );
      const faultStart = Date.now();
      telegram.failNext(Number.POSITIVE_INFINITY, faults.tooManyRequests(2), { method: SEND_METHODS });
      await new Promise((resolve) => setTimeout(resolve, TOO_MANY_SECONDS * 1000));
      telegram.clearFaults();
      const refusedDuringRun = telegram.calls.filter((call) => call.status === 429 && call.at >= faultStart);
      await eventually(
        () => chats.every((chatId) => telegram.messagesIn(chatId).length >= perChat),
        120_000,
        'the whole report in every chat',
      );
      await eventually(() => bot.app.dispatcher!.depth === 0, 30_000, 'an empty outbox');
      console.log(
        `paid broadcast, ${TOO_MANY_SECONDS} s of 429s: ${refusedDuringRun.length} sends refused during the run, ${telegram.calls.length} calls in all`,
      );
      expect(refusedDuringRun.length).toBeGreaterThan(10);
      const incomplete = chats.filter((chatId) => {
        const messages = telegram.messagesIn(chatId);
        return (
          messages.length !== perChat ||
          messages.filter((message) => message.type === 'photo').length !== 2 ||
          messages.filter((message) => message.type === 'document').length !== 1
        );
      });
      expect(incomplete).toEqual([]);
      for (const chatId of chats) {
        expect(telegram.messagesIn(chatId).every((message) => message.allow_paid_broadcast === true)).toBe(
          true,
        );
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
