/**
 * TELEGRAM_PROXY against real proxy servers (tinyproxy: HTTP CONNECT with BasicAuth; danted: SOCKS5
 * with a user and password), with a Bot API fake that only the proxy can reach (test/proxy/): polling,
 * a report's sends, a 45 MB upload, and `check` telling a refused password from an unreachable Telegram
 * without printing the password.
 */
import { execFile } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { Api, InputFile } from 'grammy';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadConfig, secretValues } from '../../src/config.js';
import type { LocalDirectory } from '../../src/directory/local/local-directory.js';
import { SecretScrubber } from '../../src/observability/secret-scrubber.js';
import {
  createTelegramProxy,
  describeProxyError,
  proxyClientOptions,
} from '../../src/telegram/telegram-proxy.js';
import { DovecotServer } from '../dovecot/dovecot.js';
import { FakeTelegram } from '../fakes/telegram/fake-telegram.js';
import {
  FAKE_TELEGRAM_HOST,
  PROXY_OUTGOING_ADDRESS,
  type ProxyProgram,
  ProxyServer,
} from '../proxy/proxy-server.js';
import { TlsFront } from '../proxy/tls-front.js';
import { eventually, freePort, removeDir, startBot } from '../support/bot-harness.js';
import { CLI } from '../support/bot-process.js';
import { subscribeReaders } from '../support/readers.js';
import { reportMail } from '../support/simple-mail.js';

const run = promisify(execFile);
const MB = 1024 * 1024;

interface Variant {
  name: string;
  program: ProxyProgram;
  scheme: 'http' | 'socks5' | 'socks5h';
  /** The proxy resolves the fake's name (http, socks5h); with socks5 the bot resolves, so an IP. */
  byName: boolean;
  dovecotUser: string;
  firstChatId: number;
}

const VARIANTS: Variant[] = [
  {
    name: 'http:// (tinyproxy)',
    program: 'tinyproxy',
    scheme: 'http',
    byName: true,
    dovecotUser: 'user1',
    firstChatId: 8_100_000,
  },
  {
    name: 'socks5h:// (danted)',
    program: 'danted',
    scheme: 'socks5h',
    byName: true,
    dovecotUser: 'user2',
    firstChatId: 8_200_000,
  },
  {
    name: 'socks5:// (danted)',
    program: 'danted',
    scheme: 'socks5',
    byName: false,
    dovecotUser: 'user3',
    firstChatId: 8_300_000,
  },
];

let dovecot: DovecotServer;
const proxies = new Map<ProxyProgram, ProxyServer>();
let bigFile: string;

beforeAll(async () => {
  dovecot = await DovecotServer.start({ users: 3 });
  proxies.set('tinyproxy', await ProxyServer.start('tinyproxy'));
  proxies.set('danted', await ProxyServer.start('danted'));
  bigFile = path.join(mkdtempSync(path.join(tmpdir(), 'proxy-upload-')), 'big-report.pdf');
  writeFileSync(bigFile, Buffer.concat([Buffer.from('%PDF-1.4\n'), Buffer.alloc(45 * MB, 0x20)]));
}, 60_000);

afterAll(async () => {
  for (const proxy of proxies.values()) await proxy.stop();
  await dovecot?.stop();
  if (bigFile) rmSync(path.dirname(bigFile), { recursive: true, force: true });
});

/** `superset-telegram-bot check` (the built CLI) with `env`; its exit code and everything it printed. */
function runCheck(env: Record<string, string>): Promise<{ code: number; output: string }> {
  return run(process.execPath, [CLI, 'check'], {
    env: { PATH: process.env.PATH ?? '', ...env },
    cwd: env.DATA_DIR,
  }).then(
    ({ stdout, stderr }) => ({ code: 0, output: stdout + stderr }),
    (error: { code: number; stdout: string; stderr: string }) => ({
      code: error.code,
      output: error.stdout + error.stderr,
    }),
  );
}

/** A Bot API fake that accepts connections from the proxies' outgoing address only. */
async function fakeBehindProxy(variant: Variant): Promise<{ telegram: FakeTelegram; apiRoot: string }> {
  const telegram = await FakeTelegram.start({ rateLimits: false, acceptFrom: PROXY_OUTGOING_ADDRESS });
  const apiRoot = variant.byName
    ? telegram.apiRoot.replace('127.0.0.1', FAKE_TELEGRAM_HOST)
    : telegram.apiRoot;
  return { telegram, apiRoot };
}

describe.each(VARIANTS)('Telegram through a $name proxy', (variant) => {
  it('polls, delivers a report and uploads 45 MB through the proxy; a request around it fails', async () => {
    const proxy = proxies.get(variant.program)!;
    const { telegram, apiRoot } = await fakeBehindProxy(variant);
    // around the proxy: the name does not resolve here, and the fake cuts a connection not from the proxy
    await expect(new Api(telegram.token, { apiRoot, timeoutSeconds: 5 }).getMe()).rejects.toThrow();
    const direct = await new Api(telegram.token, { apiRoot: telegram.apiRoot, timeoutSeconds: 5 })
      .getMe()
      .then(
        () => 'answered',
        () => 'failed',
      );
    expect(direct).toBe('failed');
    expect(telegram.cutConnections).toBeGreaterThan(0);
    expect(telegram.calls).toHaveLength(0);

    const bot = await startBot({
      env: {
        TELEGRAM_BOT_TOKEN: telegram.token,
        TELEGRAM_API_ROOT: apiRoot,
        TELEGRAM_PROXY: proxy.url(variant.scheme),
      },
    });
    try {
      // long polling: an update reaches the bot and is confirmed by its next getUpdates
      const update = telegram.injectUpdate({
        message: {
          message_id: 1,
          date: Math.floor(Date.now() / 1000),
          chat: { id: variant.firstChatId + 50, type: 'private', first_name: 'Ivan' },
          from: { id: variant.firstChatId + 50, is_bot: false, first_name: 'Ivan' },
          text: '/help',
        },
      });
      await telegram.waitForConfirmation(update, 20_000);

      // a report's sends
      const directory = bot.app.directory as LocalDirectory;
      const email = dovecot.address(variant.dovecotUser);
      await directory.addMailbox(dovecot.mailbox(variant.dovecotUser));
      const readers = await subscribeReaders(telegram, directory, email, 2, {
        firstChatId: variant.firstChatId,
      });
      await eventually(
        () => bot.app.listeners.listener(email)?.status().lastSyncAt,
        10_000,
        'mailbox connected',
      );
      const mail = reportMail();
      await dovecot.append(variant.dovecotUser, mail.raw);
      for (const chatId of readers) {
        const [message] = await telegram.waitForMessages(chatId, 1, 30_000);
        expect(message!.caption).toContain(mail.subject);
      }
    } finally {
      await bot.stop();
      removeDir(bot.dataDir);
    }

    // a 45 MB upload with the same client options as the bot's
    const api = new Api(telegram.token, {
      apiRoot,
      timeoutSeconds: 120,
      ...proxyClientOptions(createTelegramProxy(proxy.url(variant.scheme))),
    });
    const sent = await api.sendDocument(variant.firstChatId, new InputFile(bigFile));
    expect(sent.document?.file_size).toBe(45 * MB + 9);
    // nothing reached the fake except through the proxy
    const cut = telegram.cutConnections;
    expect(telegram.calls.length).toBeGreaterThan(3);
    expect(telegram.cutConnections).toBe(cut);
    await telegram.stop();
  }, 120_000);

  it('check: names the proxy as host:port, says "proxy authentication failed" for a wrong password, and never prints it', async () => {
    const proxy = proxies.get(variant.program)!;
    const { telegram, apiRoot } = await fakeBehindProxy(variant);
    const dataDir = mkdtempSync(path.join(tmpdir(), 'stb-check-'));
    const check = (proxyUrl: string) =>
      runCheck({
        DATA_DIR: dataDir,
        TELEGRAM_BOT_TOKEN: telegram.token,
        TELEGRAM_API_ROOT: apiRoot,
        TELEGRAM_PROXY: proxyUrl,
      });
    try {
      const address = `127.0.0.1:${proxy.port}`;
      const good = await check(proxy.url(variant.scheme));
      expect(good.output).toMatch(
        new RegExp(`telegram bot.*@superset_reports_bot.*through the proxy ${address}`),
      );
      expect(good.output).not.toContain(proxy.password);

      const wrongPassword = 'Wrong-Proxy-Pass-93';
      const refused = await check(proxy.url(variant.scheme, wrongPassword));
      expect(refused.code).toBe(1);
      expect(refused.output).toContain(
        `proxy authentication failed: the proxy ${address} refused the user and password`,
      );
      expect(refused.output).not.toContain(wrongPassword);
      expect(refused.output).not.toContain(encodeURIComponent(wrongPassword));
      expect(refused.output).not.toContain(Buffer.from(`${proxy.user}:${wrongPassword}`).toString('base64'));

      // the proxy answers, Telegram behind it does not
      await telegram.stop();
      const unreachable = await check(proxy.url(variant.scheme));
      expect(unreachable.code).toBe(1);
      expect(unreachable.output).toContain(`Telegram not reachable through the proxy ${address}`);
      expect(unreachable.output).not.toContain('proxy authentication failed');
      expect(unreachable.output).not.toContain(proxy.password);
    } finally {
      await telegram.stop().catch(() => undefined);
      removeDir(dataDir);
    }
  }, 60_000);
});

describe('TELEGRAM_PROXY as a secret', () => {
  it('registers the URL, its password (as written and decoded) and user:password with the scrubber', () => {
    const config = loadConfig({ TELEGRAM_PROXY: 'socks5h://bot:p%40ss-word-1@proxy.example.com:1080' });
    const scrubber = new SecretScrubber();
    scrubber.add(...secretValues(config));
    const text = scrubber.scrub(
      'socks5h://bot:p%40ss-word-1@proxy.example.com:1080 p@ss-word-1 bot:p%40ss-word-1 Ym90OnBAc3Mtd29yZC0x',
    );
    expect(text).not.toMatch(/ss-word|Ym90OnBAc3Mtd29yZC0x/);
  });

  it('refuses a URL of another scheme or without a host', () => {
    expect(() => loadConfig({ TELEGRAM_PROXY: 'ftp://proxy:21' })).toThrow(/TELEGRAM_PROXY/);
    expect(() => loadConfig({ TELEGRAM_PROXY: 'proxy.example.com:3128' })).toThrow(/TELEGRAM_PROXY/);
    expect(() => loadConfig({ TELEGRAM_PROXY: 'http://bot:50%zz@proxy.example.com:3128' })).toThrow(
      /TELEGRAM_PROXY/,
    );
    // the refusal names the setting, never its value
    expect(() => loadConfig({ TELEGRAM_PROXY: 'ftp://bot:Refused-Secret-1@proxy:21' })).toThrow(
      /TELEGRAM_PROXY/,
    );
    expect(() => loadConfig({ TELEGRAM_PROXY: 'ftp://bot:Refused-Secret-1@proxy:21' })).not.toThrow(
      /Refused-Secret-1/,
    );
    expect(loadConfig({ TELEGRAM_PROXY: 'http://proxy.example.com:3128' }).TELEGRAM_PROXY).toBe(
      'http://proxy.example.com:3128',
    );
  });
});

describe('Telegram through an https:// proxy (TLS to the proxy, tinyproxy behind it)', () => {
  it('check goes through it and tells a refused password apart', async () => {
    const proxy = proxies.get('tinyproxy')!;
    const front = await TlsFront.start(proxy.port);
    const telegram = await FakeTelegram.start({ rateLimits: false, acceptFrom: PROXY_OUTGOING_ADDRESS });
    const dataDir = mkdtempSync(path.join(tmpdir(), 'stb-check-'));
    const url = (password: string) =>
      `https://${proxy.user}:${encodeURIComponent(password)}@127.0.0.1:${front.port}`;
    const check = (password: string) =>
      runCheck({
        DATA_DIR: dataDir,
        NODE_EXTRA_CA_CERTS: front.certFile,
        TELEGRAM_BOT_TOKEN: telegram.token,
        TELEGRAM_API_ROOT: telegram.apiRoot.replace('127.0.0.1', FAKE_TELEGRAM_HOST),
        TELEGRAM_PROXY: url(password),
      });
    try {
      const good = await check(proxy.password);
      expect(good.output).toMatch(
        new RegExp(`telegram bot.*through the proxy 127.0.0.1:${front.port} \\(https\\)`),
      );
      expect(telegram.callsTo('getMe')).toHaveLength(1);
      const refused = await check('Wrong-Tls-Proxy-Pass');
      expect(refused.code).toBe(1);
      expect(refused.output).toContain(`proxy authentication failed: the proxy 127.0.0.1:${front.port}`);
      expect(refused.output).not.toContain('Wrong-Tls-Proxy-Pass');
    } finally {
      await telegram.stop();
      await front.stop();
      removeDir(dataDir);
    }
  }, 60_000);
});

describe('proxy URLs', () => {
  it('names the proxy as host:port, with the default port of its scheme', () => {
    expect(createTelegramProxy('http://u:p@proxy.example.com').address).toBe('proxy.example.com:80');
    expect(createTelegramProxy('https://proxy.example.com').address).toBe('proxy.example.com:443');
    expect(createTelegramProxy('socks5h://u:p@10.0.0.1').address).toBe('10.0.0.1:1080');
    expect(createTelegramProxy('socks5://[::1]:1081').address).toBe('[::1]:1081');
  });

  it.each(['http', 'socks5h'])(
    'reaches an IPv6 %s proxy (brackets are not part of its host)',
    async (scheme) => {
      const port = await freePort();
      const proxy = createTelegramProxy(`${scheme}://u:Ipv6-Proxy-Pass@[::1]:${port}`);
      const api = new Api('123:abc', {
        apiRoot: 'http://127.0.0.1:1',
        timeoutSeconds: 5,
        ...proxyClientOptions(proxy),
      });
      const error = await api.getMe().then(
        () => null,
        (failure: unknown) => failure,
      );
      expect(describeProxyError(error)).toBe(`the proxy is not reachable: [::1]:${port} (ECONNREFUSED)`);
      proxy.agent.destroy();
    },
  );
});
