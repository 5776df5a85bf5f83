/**
 * A long Telegram outage loses nothing (issue 10 part 1): for FAULT_TELEGRAM_OUTAGE_MINUTES (default
 * 10) the fake Bot API answers every call with 502 — and, in bot runs at the same time, refuses
 * connections, or answers nginx's HTML 502 page (a reverse proxy in front of it) — while three reports
 * arrive. Afterwards every delivery completes, none twice, none
 * failed, and the admin chat heard "unreachable since …" once and "reachable again" once.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { LocalDirectory } from '../../../src/directory/local/local-directory.js';
import { DovecotServer } from '../../dovecot/dovecot.js';
import { FakeTelegram, faults } from '../../fakes/telegram/fake-telegram.js';
import { eventually, removeDir, startBot } from '../../support/bot-harness.js';
import { subscribeReaders } from '../../support/readers.js';
import { reportMail } from '../../support/simple-mail.js';

const OUTAGE_MS = Number(process.env.FAULT_TELEGRAM_OUTAGE_MINUTES ?? 10) * 60_000;
const REPORTS = 3;
const READERS = 3;
/** getMe probes back off to one a minute: the bot notices the end of an outage within about that. */
const RECOVERY_MS = 150_000;

let dovecot: DovecotServer;

beforeAll(async () => {
  dovecot = await DovecotServer.start({ users: 3 });
});

afterAll(async () => {
  await dovecot?.stop();
});

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

type Outage = '502 on every call' | 'connections refused' | "nginx's HTML 502 page on every call";

async function survives(outage: Outage, dovecotUser: string, firstChatId: number): Promise<void> {
  const telegram = await FakeTelegram.start({ rateLimits: false });
  const adminChat = telegram.addGroup({ title: 'Bot admins', botStatus: 'administrator' });
  const bot = await startBot({
    env: {
      TELEGRAM_BOT_TOKEN: telegram.token,
      TELEGRAM_API_ROOT: telegram.apiRoot,
      ADMIN_CHAT_ID: String(adminChat),
    },
  });
  try {
    const directory = bot.app.directory as LocalDirectory;
    const email = dovecot.address(dovecotUser);
    await directory.addMailbox(dovecot.mailbox(dovecotUser));
    const readers = await subscribeReaders(telegram, directory, email, READERS, { firstChatId });
    await eventually(
      () => bot.app.listeners.listener(email)?.status().lastSyncAt,
      10_000,
      'mailbox connected',
    );

    const outageStart = Date.now();
    if (outage === '502 on every call')
      telegram.failNext(Number.POSITIVE_INFINITY, faults.badGateway(), { method: '*' });
    else if (outage === "nginx's HTML 502 page on every call")
      telegram.failNext(Number.POSITIVE_INFINITY, faults.gatewayPage(502), { method: '*' });
    else await telegram.refuseConnections();
    const subjects: string[] = [];
    for (let index = 0; index < REPORTS; index++) {
      await sleep(Math.max(0, outageStart + (index * OUTAGE_MS) / REPORTS - Date.now()));
      const mail = reportMail();
      subjects.push(mail.subject);
      await dovecot.append(dovecotUser, mail.raw);
    }
    await eventually(
      async () => (await bot.app.outbox.countByState()).pending === REPORTS * READERS,
      30_000,
      'every report recorded during the outage',
    );
    await sleep(Math.max(0, outageStart + OUTAGE_MS - Date.now()));

    // the end of the outage: nothing was given up, and no attempt was spent on it
    const during = await bot.app.outbox.countByState();
    expect(during).toMatchObject({ pending: REPORTS * READERS, failed: 0, sent: 0 });
    const reportIds = (await bot.app.store.recent(REPORTS)).map((report) => report.id);
    for (const id of reportIds) {
      for (const delivery of await bot.app.outbox.forReport(id)) expect(delivery.attempts).toBe(0);
    }
    const probes = bot.app.dispatcher!.reachability.probeCount;
    if (outage === 'connections refused') await telegram.acceptConnections();
    else telegram.clearFaults();

    await eventually(
      () => readers.every((chatId) => telegram.messagesIn(chatId).length >= REPORTS),
      RECOVERY_MS,
      `every report in every chat after the outage (${outage})`,
    );
    await eventually(() => bot.app.dispatcher!.depth === 0, 30_000, 'an empty outbox');
    await eventually(
      () => telegram.messagesIn(adminChat).some((message) => message.text?.includes('reachable again')),
      RECOVERY_MS,
      'the admin chat told that Telegram is back',
    );
    // anything sent twice would show up by now
    await sleep(3000);
    for (const chatId of readers) {
      const captions = telegram.messagesIn(chatId).map((message) => message.caption?.split('\n')[0]);
      expect(captions.sort()).toEqual([...subjects].sort());
    }
    expect(await bot.app.outbox.countByState()).toMatchObject({
      sent: REPORTS * READERS,
      failed: 0,
      pending: 0,
    });
    const adminTexts = telegram.messagesIn(adminChat).map((message) => message.text ?? '');
    expect(adminTexts.filter((text) => text.includes('Telegram unreachable since'))).toHaveLength(1);
    expect(adminTexts.filter((text) => text.includes('Telegram is reachable again'))).toHaveLength(1);
    expect(adminTexts.findIndex((text) => text.includes('unreachable since'))).toBeLessThan(
      adminTexts.findIndex((text) => text.includes('reachable again')),
    );
    // probing backs off to one a minute: a handful per minute at first, then one
    const outageMinutes = OUTAGE_MS / 60_000;
    expect(probes).toBeGreaterThanOrEqual(2);
    expect(probes).toBeLessThanOrEqual(outageMinutes + 8);
    console.log(
      `Telegram outage (${outage}) of ${outageMinutes} min: ${probes} getMe probes; ${REPORTS * READERS} deliveries completed after it, admin chat: ${adminTexts.length} messages`,
    );
  } finally {
    telegram.clearFaults();
    await bot.stop();
    await telegram.stop();
    removeDir(bot.dataDir);
  }
}

describe('a Telegram outage', () => {
  const timeout = OUTAGE_MS + RECOVERY_MS + 120_000;
  it.concurrent(
    `of ${OUTAGE_MS / 60_000} min with 502 on every call loses nothing and sends nothing twice`,
    () => survives('502 on every call', 'user1', 9_300_000),
    timeout,
  );
  it.concurrent(
    `of ${OUTAGE_MS / 60_000} min with connections refused loses nothing and sends nothing twice`,
    () => survives('connections refused', 'user2', 9_400_000),
    timeout,
  );
  // a reverse proxy in front of TELEGRAM_API_ROOT answers its HTML page while Telegram behind it fails
  it.concurrent(
    `of ${OUTAGE_MS / 60_000} min with nginx's HTML 502 page on every call loses nothing and sends nothing twice`,
    () => survives("nginx's HTML 502 page on every call", 'user3', 9_500_000),
    timeout,
  );
});
