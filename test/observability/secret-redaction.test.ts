/**
 * No secret in any line the bot writes, even when things fail in the ways that tend to quote them: a
 * refused IMAP login, a bot token Telegram refuses, `check` reporting on both. Runs the built CLI as a
 * real process at LOG_LEVEL=trace and searches everything it printed.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { LocalDirectory } from '../../src/directory/local/local-directory.js';
import { openDatabase } from '../../src/store/database.js';
import { SqliteDatabase } from '../../src/store/sqlite-database.js';
import { DovecotServer } from '../dovecot/dovecot.js';
import { FakeTelegram } from '../fakes/telegram/fake-telegram.js';
import { removeDir, tempDataDir } from '../support/bot-harness.js';
import { BotProcess, runCli } from '../support/bot-process.js';

const WRONG_IMAP_PASSWORD = 'Wr0ng-IMAP-pa55word-4242';
const ENV_IMAP_PASSWORD = 'Env-IMAP-secret-value-777';

let dovecot: DovecotServer;
let telegram: FakeTelegram;
let dataDir: string;

beforeAll(async () => {
  dovecot = await DovecotServer.start({ users: 2 });
  telegram = await FakeTelegram.start();
  dataDir = tempDataDir();
  const db = openDatabase(dataDir);
  const directory = new LocalDirectory(new SqliteDatabase(db), { phoneRegion: 'RU', pollIntervalMs: 0 });
  await directory.addMailbox({
    email: dovecot.address('user1'),
    host: dovecot.host,
    port: dovecot.port,
    tls: 'none',
    login: 'user1',
    password: WRONG_IMAP_PASSWORD,
  });
  await directory.addMailbox({
    email: dovecot.address('user2'),
    host: dovecot.host,
    port: dovecot.port,
    tls: 'none',
    login: 'user2',
    passwordEnv: 'REPORTS_IMAP_PASSWORD',
  });
  db.close();
});

afterAll(async () => {
  await telegram?.stop();
  await dovecot?.stop();
  if (dataDir) removeDir(dataDir);
});

function expectNoSecrets(output: string, secrets: string[]): void {
  expect(output.length).toBeGreaterThan(0);
  for (const secret of secrets) {
    expect(output).not.toContain(secret);
    expect(output).not.toContain(encodeURIComponent(secret));
  }
}

async function cli(args: string[], env: Record<string, string>) {
  const result = await runCli(args, env);
  return { code: result.code, output: result.stdout + result.stderr };
}

describe('secrets stay out of the output', () => {
  it('while a mailbox login is refused and another uses a password from the environment', async () => {
    const env = {
      DATA_DIR: dataDir,
      LOG_LEVEL: 'trace',
      TELEGRAM_BOT_TOKEN: telegram.token,
      TELEGRAM_API_ROOT: telegram.apiRoot,
      // wrong for user2 as well: the point is the refused login quoting whatever it was given
      REPORTS_IMAP_PASSWORD: ENV_IMAP_PASSWORD,
    };
    const bot = await BotProcess.start(env);
    try {
      await bot.waitForLine('rejected the login', 20_000);
      // both mailboxes, each at least once
      const deadline = Date.now() + 20_000;
      while (
        bot.lines.filter((line) => line.includes('rejected the login')).length < 2 &&
        Date.now() < deadline
      ) {
        await new Promise((resolve) => setTimeout(resolve, 50));
      }
    } finally {
      await bot.stop();
    }
    const output = bot.lines.join('\n');
    expect(output).toContain('rejected the login');
    expectNoSecrets(output, [WRONG_IMAP_PASSWORD, ENV_IMAP_PASSWORD, telegram.token]);
  });

  it('when Telegram refuses the bot token, in start and in check', async () => {
    const refusedToken = `${telegram.botInfo.id}:AAH-refused-token-abcdefghijklmnopqrst`;
    const env = {
      DATA_DIR: dataDir,
      LOG_LEVEL: 'trace',
      TELEGRAM_BOT_TOKEN: refusedToken,
      TELEGRAM_API_ROOT: telegram.apiRoot,
      HTTP_PORT: '0',
    };
    const started = await cli(['start'], env);
    expect(started.code).not.toBe(0);
    expect(started.output).toContain('Telegram refused TELEGRAM_BOT_TOKEN');
    expectNoSecrets(started.output, [refusedToken, WRONG_IMAP_PASSWORD]);

    const checked = await cli(['check'], { ...env, REPORTS_IMAP_PASSWORD: ENV_IMAP_PASSWORD });
    expect(checked.code).toBe(1);
    expect(checked.output).toMatch(/FAIL\s+telegram bot/);
    expect(checked.output).toMatch(/FAIL\s+mailbox user1@example.com/);
    expectNoSecrets(checked.output, [refusedToken, WRONG_IMAP_PASSWORD, ENV_IMAP_PASSWORD]);
  });

  it('a 3-character IMAP password: warned about, and never printed, through add, check and a refused login at trace', async () => {
    // too short for the scrubber to mask: it must stay out of every line by construction
    const shortPassword = 'z|~';
    const shortDir = tempDataDir();
    const env = {
      DATA_DIR: shortDir,
      LOG_LEVEL: 'trace',
      TELEGRAM_BOT_TOKEN: telegram.token,
      TELEGRAM_API_ROOT: telegram.apiRoot,
      HTTP_PORT: '0',
    };
    const secrets = [shortPassword, Buffer.from(`\u0000user1\u0000${shortPassword}`).toString('base64')];
    try {
      const added = await cli(
        [
          'mailbox',
          'add',
          'short@example.com',
          '--host',
          dovecot.host,
          '--port',
          String(dovecot.port),
          '--no-tls',
          '--login',
          'user1',
          '--password',
          shortPassword,
        ],
        env,
      );
      expect(added.code).toBe(0);
      expect(added.output).toContain('warning: the IMAP password is shorter than 8 characters');
      expectNoSecrets(added.output, secrets);

      const checked = await cli(['check'], env);
      expect(checked.output).toMatch(
        /WARN\s+mailbox short@example.com\s+the IMAP password is shorter than 8/,
      );
      expect(checked.output).toMatch(/FAIL\s+mailbox short@example.com/);
      expect(checked.output).toMatch(/WARN\s+SUPERSET_URL\s+not set/);
      expectNoSecrets(checked.output, secrets);

      const bot = await BotProcess.start(env);
      try {
        await bot.waitForLine('rejected the login', 20_000);
      } finally {
        await bot.stop();
      }
      const output = bot.lines.join('\n');
      // trace level: the connection attempts are there in detail
      expect(bot.lines.length).toBeGreaterThan(5);
      expectNoSecrets(output, secrets);
    } finally {
      removeDir(shortDir);
    }
  });
});
