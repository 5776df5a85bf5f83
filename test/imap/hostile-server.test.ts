/**
 * A hostile IMAP server chooses the words of its NO and BYE answers. They reach `lastError`,
 * /readyz, the logs and the admin chat only made safe: the password the server echoes is masked,
 * no line break, terminal escape or bidi override survives, and the length is bounded.
 */
import { createServer, type Server, type Socket } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import type { LocalDirectory } from '../../src/directory/local/local-directory.js';
import { FakeTelegram } from '../fakes/telegram/fake-telegram.js';
import { eventually, removeDir, startBot } from '../support/bot-harness.js';

const PASSWORD = 'imap-pass-7431-secret';
const ADMIN_CHAT = 94_000_001;
/** Everything a server could try: the password, an escape, a bidi override, a fake log line, length. */
const HOSTILE = `denied for ${PASSWORD}\r{"level":50,"msg":"INJECTED"}\u001b[2J\u202eevil\u202c\u200b\u2028${'A'.repeat(5000)}`;
const UNSAFE = /[\u0000-\u001f\u007f-\u009f\u061c\u200b-\u200f\u2028\u2029\u202a-\u202e\u2060-\u2069\ufeff]/;

type Mode = 'login-no' | 'select-no' | 'bye';

/** A minimal IMAP server that answers with hostile text at one chosen step. */
async function hostileServer(mode: Mode): Promise<{ server: Server; port: number }> {
  const server = createServer((socket: Socket) => {
    socket.write('* OK [CAPABILITY IMAP4rev1] hostile server ready\r\n');
    let buffer = '';
    socket.on('data', (chunk) => {
      buffer += chunk.toString('latin1');
      for (let end = buffer.indexOf('\r\n'); end >= 0; end = buffer.indexOf('\r\n')) {
        const line = buffer.slice(0, end);
        buffer = buffer.slice(end + 2);
        const [tag, command = ''] = line.split(' ');
        const verb = command.toUpperCase();
        const text = Buffer.from(HOSTILE, 'utf8').toString('latin1');
        if (verb === 'CAPABILITY') socket.write(`* CAPABILITY IMAP4rev1\r\n${tag} OK done\r\n`);
        else if (verb === 'LOGIN' && mode === 'login-no')
          socket.write(`${tag} NO [AUTHENTICATIONFAILED] ${text}\r\n`);
        else if (verb === 'LOGIN') socket.write(`${tag} OK [CAPABILITY IMAP4rev1] logged in\r\n`);
        else if ((verb === 'SELECT' || verb === 'EXAMINE') && mode === 'select-no')
          socket.write(`${tag} NO [NONEXISTENT] ${text}\r\n`);
        else if (verb === 'SELECT' || verb === 'EXAMINE') {
          socket.write(`* BYE ${text}\r\n`);
          socket.end();
        } else if (verb === 'LIST') socket.write(`* LIST () "/" INBOX\r\n${tag} OK done\r\n`);
        else if (verb === 'LOGOUT') socket.end(`* BYE bye\r\n${tag} OK done\r\n`);
        else socket.write(`${tag} OK done\r\n`);
      }
    });
    socket.on('error', () => undefined);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return { server, port: (server.address() as { port: number }).port };
}

const cleanups: Array<() => Promise<void> | void> = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

/** Safe, and bounded: the server's part is cut at 300 characters, the bot's own words come around it. */
function expectSafe(text: string | null | undefined, maxLength = 400): void {
  expect(text).toBeTruthy();
  expect(text).not.toMatch(UNSAFE);
  expect(text).not.toContain(PASSWORD);
  expect(text!.length).toBeLessThan(maxLength);
}

describe('IMAP server words', () => {
  for (const mode of ['login-no', 'select-no', 'bye'] as const) {
    it(`are made safe before lastError, /readyz and the logs (${mode})`, async () => {
      const { server, port } = await hostileServer(mode);
      cleanups.push(() => new Promise<void>((resolve) => server.close(() => resolve())));
      const bot = await startBot();
      cleanups.push(async () => {
        await bot.stop();
        removeDir(bot.dataDir);
      });
      await (bot.app.directory as LocalDirectory).addMailbox({
        email: 'victim@example.com',
        host: '127.0.0.1',
        port,
        tls: 'none',
        login: 'victim',
        password: PASSWORD,
      });
      const status = await eventually(() => {
        const current = bot.app.listeners.listener('victim@example.com')?.status();
        return current && current.failures >= 2 && current.lastError?.includes('evil') ? current : null;
      }, 15_000);
      expectSafe(status.lastError);
      expect(status.lastError).toContain('[REDACTED]');
      expect(status.state).not.toBe('connected');
      const entry = (bot.app.readiness().mailboxes as Array<{ mailbox: string; lastError: string }>).find(
        (mailbox) => mailbox.mailbox === 'victim@example.com',
      );
      expectSafe(entry?.lastError);
      // every log line is one JSON object; none carries the password or an unsafe character
      for (const line of bot.logs.raw) {
        expect(line.trimEnd().split('\n')).toHaveLength(1);
        expect(line).not.toContain(PASSWORD);
        expect(line).not.toMatch(/[\u001b\u202a-\u202e\u2028\u2029\u200b]/);
      }
      expect(bot.logs.lines.some((line) => line.msg === 'INJECTED')).toBe(false);
    });
  }

  it('reach the admin chat only made safe', async () => {
    const { server, port } = await hostileServer('login-no');
    cleanups.push(() => new Promise<void>((resolve) => server.close(() => resolve())));
    const telegram = await FakeTelegram.start({ rateLimits: false });
    cleanups.push(() => telegram.stop());
    telegram.addPrivateChat({ id: ADMIN_CHAT, first_name: 'Admins' });
    const bot = await startBot({
      env: {
        TELEGRAM_BOT_TOKEN: telegram.token,
        TELEGRAM_API_ROOT: telegram.apiRoot,
        ADMIN_CHAT_ID: String(ADMIN_CHAT),
      },
    });
    cleanups.push(async () => {
      await bot.stop();
      removeDir(bot.dataDir);
    });
    await (bot.app.directory as LocalDirectory).addMailbox({
      email: 'victim@example.com',
      host: '127.0.0.1',
      port,
      tls: 'none',
      login: 'victim',
      password: PASSWORD,
    });
    // the health watch looks every 15 s and reports a login refused three times in a row
    const [alert] = await telegram.waitForMessages(ADMIN_CHAT, 1, 40_000);
    expect(alert!.text).toContain('victim@example.com');
    expect(alert!.text).toContain('evil');
    expectSafe(alert!.text, 600);
  }, 60_000);
});
