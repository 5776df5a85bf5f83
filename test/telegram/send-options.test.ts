/**
 * The options every message of a report is sent with, end to end (real Dovecot, the real grammY
 * client, the fake Bot API with its flood limits): paid broadcasts (TELEGRAM_PAID_BROADCAST) and what
 * happens when the bot's Stars balance runs out, and QUIET_HOURS (disable_notification).
 */
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import type { LocalDirectory } from '../../src/directory/local/local-directory.js';
import { DovecotServer } from '../dovecot/dovecot.js';
import { FakeTelegram } from '../fakes/telegram/fake-telegram.js';
import { eventually, type RunningBot, removeDir, startBot } from '../support/bot-harness.js';
import { subscribeReaders } from '../support/readers.js';
import { pngReportMail, reportMail } from '../support/simple-mail.js';

const SEND_METHODS = new Set(['sendMessage', 'sendDocument', 'sendPhoto', 'sendMediaGroup']);

let dovecot: DovecotServer;
let telegram: FakeTelegram;
let bot: RunningBot | null = null;
let nextUser = 0;
let nextChat = 7_300_000;

beforeAll(async () => {
  dovecot = await DovecotServer.start({ users: 6 });
  telegram = await FakeTelegram.start();
});

afterAll(async () => {
  await telegram?.stop();
  await dovecot?.stop();
});

afterEach(async () => {
  if (bot) {
    await bot.stop();
    removeDir(bot.dataDir);
    bot = null;
  }
  telegram.clearFaults();
  telegram.setRateLimits({});
  telegram.setStarsBalance(null);
});

async function world(env: Record<string, string>) {
  bot = await startBot({
    env: { TELEGRAM_BOT_TOKEN: telegram.token, TELEGRAM_API_ROOT: telegram.apiRoot, ...env },
  });
  nextUser++;
  const user = `user${nextUser}`;
  const email = dovecot.address(user);
  const directory = bot.app.directory as LocalDirectory;
  await directory.addMailbox(dovecot.mailbox(user));
  await eventually(
    () => bot!.app.listeners.listener(email)?.status().lastSyncAt,
    10_000,
    'mailbox connected',
  );
  const readers = async (count: number) => {
    const ids = await subscribeReaders(telegram, directory, email, count, { firstChatId: nextChat });
    nextChat += count;
    return ids;
  };
  return { user, readers };
}

/** "HH:MM" of `at` in UTC. */
function utcClock(at: Date): string {
  return at.toISOString().slice(11, 16);
}

describe('paid broadcasts', () => {
  it('sends every message with allow_paid_broadcast above 30/s, where the fake refuses unpaid sends', async () => {
    const { user, readers } = await world({ TELEGRAM_PAID_BROADCAST: 'true', TELEGRAM_PARALLEL_SENDS: '8' });
    const chats = await readers(120);
    telegram.reset();
    await dovecot.append(user, reportMail().raw);
    await eventually(
      () => chats.every((chatId) => telegram.messagesIn(chatId).length === 1),
      30_000,
      'fan-out',
    );
    const sends = telegram.calls.filter((call) => SEND_METHODS.has(call.method));
    expect(sends.length).toBeGreaterThanOrEqual(chats.length);
    expect(sends.every((call) => call.params.allow_paid_broadcast === true)).toBe(true);
    for (const chatId of chats) expect(telegram.messagesIn(chatId)[0]!.allow_paid_broadcast).toBe(true);
    const accepted = sends.filter((call) => call.status === 200);
    const first = Math.min(...accepted.map((call) => call.at));
    const last = Math.max(...accepted.map((call) => call.at));
    // 120 messages at 30/s take at least three seconds; paid, they go at once (the bot's own pace)
    expect(last - first).toBeLessThan(3000);
    expect(sends.filter((call) => call.status === 429)).toHaveLength(0);
    // billed: the messages beyond the free 30 in a second, 0.1 Star each
    expect(telegram.starsSpent).toBeGreaterThan(0);
    expect(telegram.starsSpent).toBeLessThanOrEqual(12);
  });

  it('falls back to the free rate when the Stars run out, tells the admin chat once, and loses nothing', async () => {
    const admin = nextChat++;
    telegram.addPrivateChat({ id: admin, first_name: 'Admins' });
    const { user, readers } = await world({
      TELEGRAM_PAID_BROADCAST: 'true',
      TELEGRAM_PARALLEL_SENDS: '8',
      ADMIN_CHAT_ID: String(admin),
    });
    const chats = await readers(90);
    telegram.reset();
    // enough for 20 paid messages beyond the free amount
    telegram.setStarsBalance(2);
    await dovecot.append(user, reportMail().raw);
    await dovecot.append(user, reportMail().raw);
    await eventually(
      () => chats.every((chatId) => telegram.messagesIn(chatId).length >= 2),
      60_000,
      'both reports in every chat',
    );
    await eventually(() => bot!.app.dispatcher!.depth === 0, 10_000, 'an empty outbox');
    for (const chatId of chats) expect(telegram.messagesIn(chatId)).toHaveLength(2);
    const refused = telegram.calls.filter(
      (call) => call.status === 400 && call.errorDescription === 'Bad Request: BALANCE_TOO_LOW',
    );
    expect(refused.length).toBeGreaterThan(0);
    // after the refusal, the sends go without the flag
    const lastRefusal = Math.max(...refused.map((call) => call.seq));
    const later = telegram.calls.filter(
      (call) => SEND_METHODS.has(call.method) && call.seq > lastRefusal + 10 && Number(call.chatId) !== admin,
    );
    expect(later.length).toBeGreaterThan(0);
    expect(later.every((call) => call.params.allow_paid_broadcast === undefined)).toBe(true);
    expect(telegram.starsSpent).toBe(2);
    const alerts = await eventually(
      () => {
        const found = telegram.messagesIn(admin).filter((message) => message.text?.includes('Stars'));
        return found.length > 0 ? found : null;
      },
      15_000,
      'the admin alert',
    );
    expect(alerts).toHaveLength(1);
    expect(alerts[0]!.text).toContain('Paid broadcasts stopped');
    const states = await bot!.app.outbox.countByState();
    expect(states.failed).toBe(0);
    expect(states.pending).toBe(0);
  });
});

describe('quiet hours', () => {
  it('sends every message of a report recorded inside QUIET_HOURS without sound, album and document alike', async () => {
    const now = new Date();
    const window = `${utcClock(new Date(now.getTime() - 30 * 60_000))}-${utcClock(new Date(now.getTime() + 30 * 60_000))}`;
    const { user, readers } = await world({ QUIET_HOURS: window, TZ: 'UTC' });
    const [reader] = await readers(1);
    await dovecot.append(
      user,
      pngReportMail({
        screenshots: [
          { width: 1000, height: 700 },
          { width: 1000, height: 800 },
        ],
        withPdf: true,
      }).raw,
    );
    const messages = await telegram.waitForMessages(reader!, 3, 15_000);
    expect(messages.map((message) => message.type).sort()).toEqual(['document', 'photo', 'photo']);
    expect(messages.every((message) => message.disable_notification === true)).toBe(true);
  });

  it('rings for a report asked for again with /last inside QUIET_HOURS, and sends it as no paid broadcast', async () => {
    const now = new Date();
    const window = `${utcClock(new Date(now.getTime() - 30 * 60_000))}-${utcClock(new Date(now.getTime() + 30 * 60_000))}`;
    const { user, readers } = await world({
      QUIET_HOURS: window,
      TZ: 'UTC',
      TELEGRAM_PAID_BROADCAST: 'true',
      LAST_COMMAND_INTERVAL_SECONDS: '0',
    });
    const [reader] = await readers(1);
    await dovecot.append(user, reportMail().raw);
    const [broadcast] = await telegram.waitForMessages(reader!, 1, 15_000);
    // the report's own delivery: recorded inside the window, a paid broadcast
    expect(broadcast!.disable_notification).toBe(true);
    expect(broadcast!.allow_paid_broadcast).toBe(true);
    await eventually(() => bot!.app.dispatcher!.depth === 0, 15_000, 'the broadcast recorded');
    const asked = telegram.injectTextMessage({ id: reader!, first_name: 'Reader' }, '/last');
    await telegram.waitForConfirmation(asked, 10_000);
    const again = await eventually(
      () => telegram.messagesIn(reader!).filter((message) => message.type === 'document')[1],
      15_000,
      'the report again',
    );
    expect(again.disable_notification).toBeUndefined();
    expect(again.allow_paid_broadcast).toBeUndefined();
  });

  it('sends with sound outside QUIET_HOURS', async () => {
    const now = new Date();
    const window = `${utcClock(new Date(now.getTime() + 60 * 60_000))}-${utcClock(new Date(now.getTime() + 120 * 60_000))}`;
    const { user, readers } = await world({ QUIET_HOURS: window, TZ: 'UTC' });
    const [reader] = await readers(1);
    await dovecot.append(user, reportMail().raw);
    const [message] = await telegram.waitForMessages(reader!, 1, 15_000);
    expect(message!.disable_notification).toBeUndefined();
  });
});
