/**
 * The proxy refuses the bot's credentials (a wrong password in TELEGRAM_PROXY), with real proxies
 * (tinyproxy: HTTP 407/401 to CONNECT; danted: SOCKS5 authentication failure). Reports that arrive
 * meanwhile wait without spending an attempt; the log says "proxy authentication failed" and never the
 * password; restarted with the right password, the bot delivers each once, and the admin chat hears
 * (late, since it too is behind the proxy) that the proxy refused the user and password.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { LocalDirectory } from '../../src/directory/local/local-directory.js';
import { DovecotServer } from '../dovecot/dovecot.js';
import { FakeTelegram } from '../fakes/telegram/fake-telegram.js';
import {
  FAKE_TELEGRAM_HOST,
  PROXY_OUTGOING_ADDRESS,
  type ProxyProgram,
  ProxyServer,
} from '../proxy/proxy-server.js';
import { eventually, removeDir, startBot } from '../support/bot-harness.js';
import { subscribeReaders } from '../support/readers.js';
import { reportMail } from '../support/simple-mail.js';

const READERS = 2;
const WRONG_PASSWORD = 'Wrong-Proxy-Secret-5150';

let dovecot: DovecotServer;

beforeAll(async () => {
  dovecot = await DovecotServer.start({ users: 2 });
});

afterAll(async () => {
  await dovecot?.stop();
});

async function waitsForTheRightPassword(
  program: ProxyProgram,
  scheme: 'http' | 'socks5',
  dovecotUser: string,
  firstChatId: number,
): Promise<void> {
  const proxy = await ProxyServer.start(program);
  const telegram = await FakeTelegram.start({ rateLimits: false, acceptFrom: PROXY_OUTGOING_ADDRESS });
  const adminChat = telegram.addGroup({ title: 'Bot admins', botStatus: 'administrator' });
  const env = (password: string) => ({
    TELEGRAM_BOT_TOKEN: telegram.token,
    // socks5:// resolves names in the bot: the fake's IP; otherwise a name only the proxy knows
    TELEGRAM_API_ROOT:
      scheme === 'socks5' ? telegram.apiRoot : telegram.apiRoot.replace('127.0.0.1', FAKE_TELEGRAM_HOST),
    TELEGRAM_PROXY: proxy.url(scheme, password),
    ADMIN_CHAT_ID: String(adminChat),
  });
  const first = await startBot({ env: env(WRONG_PASSWORD) });
  let second: Awaited<ReturnType<typeof startBot>> | null = null;
  try {
    const directory = first.app.directory as LocalDirectory;
    const email = dovecot.address(dovecotUser);
    await directory.addMailbox(dovecot.mailbox(dovecotUser));
    const readers = await subscribeReaders(telegram, directory, email, READERS, { firstChatId });
    await eventually(
      () => first.app.listeners.listener(email)?.status().lastSyncAt,
      10_000,
      'mailbox connected',
    );
    const mail = reportMail();
    await dovecot.append(dovecotUser, mail.raw);
    await eventually(() => first.app.dispatcher!.reachability.paused, 30_000, 'sending paused');
    const paused = first.logs.matching('Telegram is unreachable: sending paused');
    expect(String(paused[0]?.reason)).toContain(
      `proxy authentication failed: the proxy 127.0.0.1:${proxy.port} refused the user and password`,
    );
    expect(await first.app.outbox.countByState()).toMatchObject({ pending: READERS, failed: 0, sent: 0 });
    for (const report of await first.app.store.recent(1)) {
      for (const delivery of await first.app.outbox.forReport(report.id)) expect(delivery.attempts).toBe(0);
    }
    expect(telegram.calls).toHaveLength(0);
    await first.stop();
    expect(first.logs.text()).not.toContain(WRONG_PASSWORD);
    expect(first.logs.text()).not.toContain(
      Buffer.from(`${proxy.user}:${WRONG_PASSWORD}`).toString('base64'),
    );

    second = await startBot({ dataDir: first.dataDir, env: env(proxy.password) });
    for (const chatId of readers) {
      const [message] = await telegram.waitForMessages(chatId, 1, 30_000);
      expect(message!.caption).toContain(mail.subject);
    }
    const [alert] = await telegram.waitForMessages(adminChat, 1, 30_000);
    expect(alert!.text).toContain('proxy authentication failed');
    expect(alert!.text).toContain(
      'The proxy is the cause: it refuses the user and password in TELEGRAM_PROXY',
    );
    expect(alert!.text).not.toContain(WRONG_PASSWORD);
    await new Promise((resolve) => setTimeout(resolve, 2000));
    for (const chatId of readers) expect(telegram.messagesIn(chatId)).toHaveLength(1);
    expect(await second.app.outbox.countByState()).toMatchObject({ sent: READERS, failed: 0, pending: 0 });
  } finally {
    await first.stop().catch(() => undefined);
    await second?.stop();
    await telegram.stop();
    await proxy.stop();
    removeDir(first.dataDir);
  }
}

describe('a proxy that refuses the bot’s password', () => {
  it.concurrent('http:// (tinyproxy): reports wait, then go once with the right password', () =>
    waitsForTheRightPassword('tinyproxy', 'http', 'user1', 9_810_000));
  it.concurrent('socks5:// (danted): reports wait, then go once with the right password', () =>
    waitsForTheRightPassword('danted', 'socks5', 'user2', 9_820_000));
});
