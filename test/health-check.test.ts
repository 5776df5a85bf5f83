/** `check` on the directory: the warning that a group title is not a password. */
import { afterEach, describe, expect, it } from 'vitest';
import { LocalDirectory } from '../src/directory/local/local-directory.js';
import { runHealthCheck } from '../src/health-check.js';
import { SecretScrubber } from '../src/observability/secret-scrubber.js';
import { type Database, openDatabase } from '../src/store/database.js';
import { SqliteDatabase } from '../src/store/sqlite-database.js';
import { removeDir, tempDataDir, testConfig } from './support/bot-harness.js';

let dataDir: string;
let db: Database;

afterEach(() => {
  db.close();
  removeDir(dataDir);
});

async function checkWith(env: Record<string, string>) {
  dataDir = tempDataDir();
  db = openDatabase(dataDir);
  const directory = new LocalDirectory(new SqliteDatabase(db), { phoneRegion: 'RU', pollIntervalMs: 0 });
  await directory.addMailbox({
    email: 'reports@example.com',
    host: '127.0.0.1',
    port: 1,
    tls: 'none',
    password: 'x',
  });
  await directory.addGroup({ title: 'Finance', mailboxes: ['reports@example.com'] });
  await directory.addGroup({ title: 'Ops', mailboxes: ['reports@example.com'], telegramId: -100500 });
  const results = await runHealthCheck({
    config: testConfig(dataDir, env),
    directory,
    scrubber: new SecretScrubber(),
    timeoutMs: 500,
  });
  return results.filter(
    (result) => result.check === 'group registration' || result.check === 'configuration',
  );
}

describe('check: group registration', () => {
  it('warns that unregistered titles can be taken with GROUP_REGISTRATION=title, naming them', async () => {
    const results = await checkWith({});
    expect(results).toContainEqual({
      check: 'group registration',
      status: 'WARN',
      detail:
        'GROUP_REGISTRATION=title and 1 group(s) not registered yet ("Finance"): whoever creates a Telegram group with such a title and makes the bot its administrator receives its reports',
      hint: 'set GROUP_REGISTRATION=approval (with ADMIN_CHAT_ID), or register these groups now',
    });
  });

  it('is quiet with approval, and warns about the deprecated switch', async () => {
    expect(
      (await checkWith({ GROUP_REGISTRATION: 'approval', ADMIN_CHAT_ID: '42' })).map((r) => r.status),
    ).toEqual(['OK']);
    removeDir(dataDir);
    db.close();
    const old = await checkWith({ GROUP_REGISTRATION_REQUIRES_USER: 'true' });
    expect(old.map((r) => [r.check, r.status])).toEqual([
      ['configuration', 'OK'],
      ['configuration', 'WARN'],
    ]);
    expect(old[1]!.detail).toContain('GROUP_REGISTRATION_REQUIRES_USER is deprecated');
  });
});

describe('check: webhook-only mailboxes', () => {
  async function checkWebhookOnly(env: Record<string, string>) {
    dataDir = tempDataDir();
    db = openDatabase(dataDir);
    const directory = new LocalDirectory(new SqliteDatabase(db), { phoneRegion: 'RU', pollIntervalMs: 0 });
    await directory.addMailbox({ email: 'hook@example.com', webhookOnly: true });
    const results = await runHealthCheck({
      config: testConfig(dataDir, env),
      directory,
      scrubber: new SecretScrubber(),
      timeoutMs: 500,
    });
    return results.filter((result) => result.check === 'mailbox hook@example.com');
  }

  it('does not log in, and says where its reports arrive', async () => {
    const secret = 'w'.repeat(40);
    const results = await checkWebhookOnly({
      WEBHOOK_PORT: '8443',
      WEBHOOK_SECRET: secret,
      WEBHOOK_PUBLIC_URL: 'https://bot.example.com',
    });
    expect(results).toEqual([
      {
        check: 'mailbox hook@example.com',
        status: 'OK',
        detail:
          'webhook-only (no IMAP): reports arrive at http://0.0.0.0:8443, published as https://bot.example.com (URL: `webhook url hook@example.com`)',
      },
    ]);
  });

  it('fails when the webhook receiver is off', async () => {
    const [result] = await checkWebhookOnly({});
    expect(result).toMatchObject({ status: 'FAIL', hint: expect.stringContaining('WEBHOOK_PORT') });
  });
});
