/**
 * The admin's pause and in-place edits of the embedded directory through the built CLI: `pause` /
 * `resume` and `edit` for mailboxes, users and groups, and `list` showing who stopped an entry
 * (the admin, or the bot and what it saw).
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { LocalDirectory } from '../../src/directory/local/local-directory.js';
import { openDatabase } from '../../src/store/database.js';
import { SqliteDatabase } from '../../src/store/sqlite-database.js';
import { removeDir, tempDataDir } from '../support/bot-harness.js';
import { runCli } from '../support/bot-process.js';

const dataDir = tempDataDir();
afterAll(() => removeDir(dataDir));

function cli(...args: string[]) {
  return runCli(args, { DATA_DIR: dataDir, SALES_PW: 'x' });
}

async function ok(...args: string[]): Promise<string> {
  const result = await cli(...args);
  expect(result.stderr).toBe('');
  expect(result.code).toBe(0);
  return result.stdout;
}

async function listed(kind: 'mailbox' | 'user' | 'group'): Promise<Array<Record<string, unknown>>> {
  return JSON.parse(await ok(kind, 'list', '--json')) as Array<Record<string, unknown>>;
}

beforeAll(async () => {
  await ok(
    'mailbox',
    'add',
    'reports@example.com',
    '--host',
    'imap.example.com',
    '--password',
    'Imap-Secret-1',
  );
  await ok('mailbox', 'add', 'sales@example.com', '--host', 'imap.example.com', '--password-env', 'SALES_PW');
  await ok(
    'user',
    'add',
    '--name',
    'Ann',
    '--phone',
    '+79991234567',
    '--mailbox',
    'reports@example.com',
    '--telegram-id',
    '501',
  );
  await ok('group', 'add', '--title', 'Finance', '--mailbox', 'reports@example.com');
});

describe('pause and resume', () => {
  it('pauses and resumes a user by phone or Telegram id, and list says the admin did it', async () => {
    expect(await ok('user', 'pause', '8 999 123-45-67')).toContain(
      'user Ann (+79991234567) paused: paused (admin)',
    );
    expect((await listed('user'))[0]).toMatchObject({ name: 'Ann', active: false, pausedByAdmin: true });
    expect(await ok('user', 'list')).toMatch(/state\s*\n.*paused \(admin\)/);
    expect(await ok('user', 'resume', '501')).toContain('resumed: active');
    expect((await listed('user'))[0]).toMatchObject({ active: true });
    expect((await listed('user'))[0]!.pausedByAdmin).toBeUndefined();

    const unknown = await cli('user', 'pause', '+79990000000');
    expect(unknown.code).toBe(1);
    expect(unknown.stderr.trim()).toBe('error: no user with phone or Telegram id +79990000000');
  });

  it('shows what the bot saw apart from the admin’s pause', async () => {
    // the running bot records a block in the same file; here the directory does it directly
    const db = openDatabase(dataDir);
    try {
      const directory = new LocalDirectory(new SqliteDatabase(db), { phoneRegion: 'RU', pollIntervalMs: 0 });
      await directory.start();
      await directory.deactivateChat(501, 'blocked');
    } finally {
      db.close();
    }
    expect(await ok('user', 'list')).toMatch(
      /off \(bot: the user blocked the bot, since \d{4}-\d\d-\d\d \d\d:\d\d\)/,
    );
    // the admin's resume does not undo what the bot saw: the user must /start again
    await ok('user', 'pause', '501');
    expect(await ok('user', 'list')).toContain('paused (admin); off (bot: the user blocked the bot');
    await ok('user', 'resume', '501');
    expect((await listed('user'))[0]).toMatchObject({ active: false, chatGone: { reason: 'blocked' } });
  });

  it('pauses and resumes groups and mailboxes', async () => {
    expect(await ok('group', 'pause', 'Finance')).toContain('group "Finance" paused: paused (admin)');
    expect(await ok('group', 'list')).toContain('paused (admin)');
    await ok('group', 'resume', 'Finance');
    expect((await listed('group'))[0]).toMatchObject({ title: 'Finance', active: true });

    expect(await ok('mailbox', 'pause', 'Sales@Example.com')).toContain('mailbox sales@example.com paused');
    expect(await ok('mailbox', 'list')).toMatch(/sales@example\.com.*paused \(admin\)/);
    await ok('mailbox', 'resume', 'sales@example.com');
    expect((await listed('mailbox')).find((m) => m.email === 'sales@example.com')).toMatchObject({
      active: true,
    });
    expect((await cli('group', 'pause', 'Nobody')).stderr.trim()).toBe('error: no group titled "Nobody"');
    expect((await cli('mailbox', 'resume', 'x@example.com')).stderr.trim()).toBe(
      'error: no mailbox x@example.com',
    );
  });
});

describe('edit', () => {
  it('changes a user in place: name, phone, subscriptions, Telegram id', async () => {
    await ok(
      'user',
      'edit',
      '501',
      '--name',
      'Anna',
      '--phone',
      '+7 999 765-43-21',
      '--mailbox',
      'sales@example.com',
      '--mailbox',
      'reports@example.com',
    );
    expect((await listed('user'))[0]).toMatchObject({
      name: 'Anna',
      phone: '+79997654321',
      mailboxes: ['reports@example.com', 'sales@example.com'],
      telegramId: 501,
    });
    await ok('user', 'edit', '+79997654321', '--unlink');
    expect((await listed('user'))[0]).toMatchObject({ telegramId: null });
    expect((await cli('user', 'edit', '+79997654321', '--telegram-id', '7', '--unlink')).stderr).toContain(
      'give --telegram-id or --unlink, not both',
    );
    expect((await cli('user', 'edit', '+79997654321', '--mailbox', 'nobody@example.com')).stderr).toContain(
      'unknown mailbox nobody@example.com',
    );
  });

  it('changes a group in place: title, topic, lock', async () => {
    await ok(
      'group',
      'edit',
      'Finance',
      '--title',
      'Finance team',
      '--topic',
      '12',
      '--telegram-id',
      '-100500',
    );
    expect((await listed('group'))[0]).toMatchObject({
      title: 'Finance team',
      topicId: 12,
      telegramId: -100500,
      locked: true,
    });
    await ok('group', 'edit', 'Finance team', '--no-topic', '--unlock', '--media-mode', 'document');
    expect((await listed('group'))[0]).toMatchObject({
      topicId: null,
      telegramId: null,
      locked: false,
      mediaMode: 'document',
    });
  });

  it('changes a mailbox in place, keeping what is not given', async () => {
    const out = await ok(
      'mailbox',
      'edit',
      'reports@example.com',
      '--host',
      'mail.example.com',
      '--tls-mode',
      'starttls',
      '--port',
      '143',
      '--allow-from',
      '@bi.example.com',
      '--mark-seen',
    );
    expect(out).toContain(
      'mailbox reports@example.com changed (mail.example.com:143, starttls, folder INBOX)',
    );
    expect((await listed('mailbox')).find((m) => m.email === 'reports@example.com')).toMatchObject({
      host: 'mail.example.com',
      port: 143,
      tls: 'starttls',
      login: 'reports@example.com',
      passwordSource: 'directory',
      allowFrom: ['@bi.example.com'],
      markSeen: true,
    });
    await ok(
      'mailbox',
      'edit',
      'reports@example.com',
      '--password-env',
      'SALES_PW',
      '--allow-anyone',
      '--no-mark-seen',
    );
    expect((await listed('mailbox')).find((m) => m.email === 'reports@example.com')).toMatchObject({
      passwordSource: 'env:SALES_PW',
      allowFrom: [],
      markSeen: false,
    });
    // the old password is gone from the file, not only unused
    const db = openDatabase(dataDir);
    try {
      expect(db.prepare('SELECT password FROM mailboxes WHERE email = ?').get('reports@example.com')).toEqual(
        {
          password: null,
        },
      );
    } finally {
      db.close();
    }
  });
});
