/**
 * The embedded directory's commands through the built CLI: add, list (text and JSON), remove, and the
 * errors an admin makes (duplicates, unknown mailboxes, bad phone numbers, both password options).
 */
import { afterAll, describe, expect, it } from 'vitest';
import { removeDir, tempDataDir } from '../support/bot-harness.js';
import { runCli } from '../support/bot-process.js';

const dataDir = tempDataDir();
afterAll(() => removeDir(dataDir));

function cli(...args: string[]) {
  return runCli(args, { DATA_DIR: dataDir });
}

describe('directory commands', () => {
  it('add, list and remove mailboxes, users and groups, with clear errors', async () => {
    const added = await cli(
      'mailbox',
      'add',
      'Reports@Example.com',
      '--host',
      'imap.example.com',
      '--password',
      'Imap-Secret-1',
      '--allow-from',
      '@bi.example.com',
    );
    expect(added.code).toBe(0);
    expect(added.stdout).toContain(
      'mailbox reports@example.com added (imap.example.com:993, tls, folder INBOX)',
    );

    const duplicate = await cli(
      'mailbox',
      'add',
      'reports@example.com',
      '--host',
      'imap.example.com',
      '--password',
      'x',
    );
    expect(duplicate.code).toBe(1);
    expect(duplicate.stderr.trim()).toBe(
      'error: mailbox reports@example.com already exists (change it with: mailbox edit)',
    );

    const bothPasswords = await cli(
      'mailbox',
      'add',
      'b@example.com',
      '--host',
      'h',
      '--password',
      'x',
      '--password-env',
      'VAR',
    );
    expect(bothPasswords.stderr).toContain('give exactly one of --password or --password-env');
    const badPattern = await cli(
      'mailbox',
      'add',
      'b@example.com',
      '--host',
      'h',
      '--password',
      'x',
      '--allow-from',
      'bi example',
    );
    expect(badPattern.stderr).toContain('--allow-from: "bi example" is neither an address nor @domain');

    const starttls = await cli(
      'mailbox',
      'add',
      'ops@example.com',
      '--host',
      'mail.example.com',
      '--starttls',
      '--password-env',
      'OPS_IMAP_PASSWORD',
      '--folder',
      'Reports',
    );
    expect(starttls.stdout).toContain('(mail.example.com:143, starttls, folder Reports)');
    expect(starttls.stdout).toContain('warning: no --allow-from');

    const mailboxes = JSON.parse((await cli('mailbox', 'list', '--json')).stdout) as Array<
      Record<string, unknown>
    >;
    expect(mailboxes.map((mailbox) => mailbox.email)).toEqual(['reports@example.com', 'ops@example.com']);
    expect(mailboxes[0]).toMatchObject({
      passwordSource: 'directory',
      allowFrom: ['@bi.example.com'],
      active: true,
    });
    expect(mailboxes[1]).toMatchObject({ passwordSource: 'env:OPS_IMAP_PASSWORD', tls: 'starttls' });
    const listed = await cli('mailbox', 'list');
    expect(listed.stdout + JSON.stringify(mailboxes)).not.toContain('Imap-Secret-1');

    const user = await cli(
      'user',
      'add',
      '--name',
      'Anna Petrova',
      '--phone',
      '8 (999) 123-45-67',
      '--mailbox',
      'reports@example.com',
      '--mailbox',
      'ops@example.com',
    );
    expect(user.stdout).toContain(
      'user Anna Petrova (+79991234567) added, subscribed to ops@example.com, reports@example.com',
    );
    expect(
      (
        await cli(
          'user',
          'add',
          '--name',
          'Copy',
          '--phone',
          '+7 999 1234567',
          '--mailbox',
          'ops@example.com',
        )
      ).stderr,
    ).toContain('a user with phone +79991234567 already exists');
    expect(
      (await cli('user', 'add', '--name', 'X', '--phone', '12', '--mailbox', 'ops@example.com')).stderr,
    ).toContain('is not a valid phone number');
    expect(
      (await cli('user', 'add', '--name', 'X', '--phone', '+79990000000', '--mailbox', 'nobody@example.com'))
        .stderr,
    ).toContain('unknown mailbox nobody@example.com');
    await cli(
      'user',
      'add',
      '--name',
      'Known',
      '--phone',
      '+79990000001',
      '--mailbox',
      'ops@example.com',
      '--telegram-id',
      '4242',
    );
    const users = JSON.parse((await cli('user', 'list', '--json')).stdout) as Array<Record<string, unknown>>;
    expect(users).toEqual([
      expect.objectContaining({
        name: 'Anna Petrova',
        phone: '+79991234567',
        telegramId: null,
        mailboxes: ['ops@example.com', 'reports@example.com'],
      }),
      expect.objectContaining({ name: 'Known', telegramId: 4242 }),
    ]);

    const group = await cli(
      'group',
      'add',
      '--title',
      'Sales daily',
      '--mailbox',
      'reports@example.com',
      '--topic',
      '12',
      '--media-mode',
      'document',
    );
    expect(group.code).toBe(0);
    expect(
      (await cli('group', 'add', '--title', 'Sales daily', '--mailbox', 'reports@example.com')).stderr,
    ).toContain('a group titled "Sales daily" already exists');
    expect(
      (await cli('group', 'add', '--title', 'X', '--mailbox', 'ops@example.com', '--media-mode', 'fax'))
        .stderr,
    ).toContain("argument 'fax' is invalid");
    const groups = JSON.parse((await cli('group', 'list', '--json')).stdout) as Array<
      Record<string, unknown>
    >;
    expect(groups).toEqual([
      expect.objectContaining({
        title: 'Sales daily',
        topicId: 12,
        mediaMode: 'document',
        telegramId: null,
        locked: false,
      }),
    ]);

    expect((await cli('user', 'remove', '4242')).code).toBe(0);
    expect((await cli('group', 'remove', 'Sales daily')).code).toBe(0);
    expect((await cli('mailbox', 'remove', 'ops@example.com')).code).toBe(0);
    expect((await cli('mailbox', 'remove', 'ops@example.com')).stderr.trim()).toBe(
      'error: no mailbox ops@example.com',
    );
    const remaining = JSON.parse((await cli('user', 'list', '--json')).stdout) as Array<{
      mailboxes: string[];
    }>;
    expect(remaining).toEqual([expect.objectContaining({ mailboxes: ['reports@example.com'] })]);
  });

  it('refuses directory commands when SeaTable is the directory', async () => {
    const result = await runCli(['user', 'list'], {
      DATA_DIR: dataDir,
      DIRECTORY: 'seatable',
      SEATABLE_SERVER_URL: 'https://cloud.example.com',
      SEATABLE_API_TOKEN: 'a'.repeat(40),
    });
    expect(result.code).toBe(1);
    expect(result.stderr).toContain('managed in SeaTable');
  });
});
