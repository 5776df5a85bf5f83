/**
 * The TELEGRAM_PROXY goes down for minutes (issue 12 part 1): for FAULT_PROXY_OUTAGE_MINUTES
 * (default 3) the real proxy (tinyproxy for http://, danted for socks5h://) is stopped while three
 * reports arrive; the Bot API fake is reachable only through it. Sending pauses without spending an
 * attempt, and after the proxy is back every delivery completes, none twice; the admin chat heard
 * once that Telegram is unreachable because of the proxy, and once that it is reachable again.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { LocalDirectory } from '../../../src/directory/local/local-directory.js';
import { DovecotServer } from '../../dovecot/dovecot.js';
import { FakeTelegram } from '../../fakes/telegram/fake-telegram.js';
import {
  FAKE_TELEGRAM_HOST,
  PROXY_OUTGOING_ADDRESS,
  type ProxyProgram,
  ProxyServer,
} from '../../proxy/proxy-server.js';
import { eventually, removeDir, startBot } from '../../support/bot-harness.js';
import { subscribeReaders } from '../../support/readers.js';
import { reportMail } from '../../support/simple-mail.js';

const OUTAGE_MS = Number(process.env.FAULT_PROXY_OUTAGE_MINUTES ?? 3) * 60_000;
const REPORTS = 3;
const READERS = 3;
/** getMe probes back off to one a minute: the bot notices the end of an outage within about that. */
const RECOVERY_MS = 150_000;

let dovecot: DovecotServer;

beforeAll(async () => {
  dovecot = await DovecotServer.start({ users: 2 });
});

afterAll(async () => {
  await dovecot?.stop();
});

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

async function survives(
  program: ProxyProgram,
  scheme: 'http' | 'socks5h',
  dovecotUser: string,
  firstChatId: number,
): Promise<void> {
  const proxy = await ProxyServer.start(program);
  const telegram = await FakeTelegram.start({ rateLimits: false, acceptFrom: PROXY_OUTGOING_ADDRESS });
  const adminChat = telegram.addGroup({ title: 'Bot admins', botStatus: 'administrator' });
  const bot = await startBot({
    env: {
      TELEGRAM_BOT_TOKEN: telegram.token,
      TELEGRAM_API_ROOT: telegram.apiRoot.replace('127.0.0.1', FAKE_TELEGRAM_HOST),
      TELEGRAM_PROXY: proxy.url(scheme),
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
    // the path works before the outage
    await eventually(() => bot.app.polling?.isPolling, 20_000, 'polling through the proxy');

    const outageStart = Date.now();
    await proxy.pause();
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
    expect(await bot.app.outbox.countByState()).toMatchObject({
      pending: REPORTS * READERS,
      failed: 0,
      sent: 0,
    });
    for (const report of await bot.app.store.recent(REPORTS)) {
      for (const delivery of await bot.app.outbox.forReport(report.id)) expect(delivery.attempts).toBe(0);
    }
    expect(telegram.cutConnections).toBe(0);
    await proxy.resume();

    await eventually(
      () => readers.every((chatId) => telegram.messagesIn(chatId).length >= REPORTS),
      RECOVERY_MS,
      `every report in every chat after the ${program} proxy is back`,
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
    const down = adminTexts.filter((text) => text.includes('Telegram unreachable since'));
    expect(down).toHaveLength(1);
    expect(down[0]).toContain(`the proxy is not reachable: 127.0.0.1:${proxy.port}`);
    expect(down[0]).toContain('The proxy is the cause');
    expect(down[0]).not.toContain(proxy.password);
    expect(adminTexts.filter((text) => text.includes('Telegram is reachable again'))).toHaveLength(1);
    expect(bot.logs.text()).not.toContain(proxy.password);
    expect(telegram.cutConnections).toBe(0);
    console.log(
      `${program} proxy down for ${OUTAGE_MS / 60_000} min: ${bot.app.dispatcher!.reachability.probeCount} getMe probes; ${REPORTS * READERS} deliveries completed after it, admin chat: ${adminTexts.length} messages`,
    );
  } finally {
    await bot.stop();
    await telegram.stop();
    await proxy.stop();
    removeDir(bot.dataDir);
  }
}

describe('the Telegram proxy down for minutes', () => {
  const timeout = OUTAGE_MS + RECOVERY_MS + 120_000;
  it.concurrent(
    `http:// (tinyproxy) down for ${OUTAGE_MS / 60_000} min: every report delivered after it, none twice`,
    () => survives('tinyproxy', 'http', 'user1', 9_600_000),
    timeout,
  );
  it.concurrent(
    `socks5h:// (danted) down for ${OUTAGE_MS / 60_000} min: every report delivered after it, none twice`,
    () => survives('danted', 'socks5h', 'user2', 9_700_000),
    timeout,
  );
});
