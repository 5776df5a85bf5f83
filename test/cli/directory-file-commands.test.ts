/**
 * `mailbox|user|group import` and `export` through the built CLI: what the dry run says (also about
 * queued deliveries an import cancels), that only --apply changes anything, exit codes, and that no
 * password reaches the output.
 */
import { readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { LocalDirectory } from '../../src/directory/local/local-directory.js';
import { openDatabase } from '../../src/store/database.js';
import { OutboxStore } from '../../src/store/outbox-store.js';
import { ReportStore } from '../../src/store/report-store.js';
import { SqliteDatabase } from '../../src/store/sqlite-database.js';
import { removeDir, tempDataDir } from '../support/bot-harness.js';
import { runCli } from '../support/bot-process.js';

const dataDir = tempDataDir();
afterAll(() => removeDir(dataDir));

function cli(...args: string[]) {
  return runCli(args, { DATA_DIR: dataDir, PHONE_REGION: 'RU' });
}

function file(name: string, text: string): string {
  const target = path.join(dataDir, name);
  writeFileSync(target, text);
  return target;
}

/** Two mailboxes, two readers of the first; a report of it still queued for both. */
async function setUp(): Promise<void> {
  const db = openDatabase(dataDir);
  const directory = new LocalDirectory(new SqliteDatabase(db), { phoneRegion: 'RU', pollIntervalMs: 0 });
  await directory.start();
  await directory.addMailbox({
    email: 'daily@example.com',
    host: 'imap.example.com',
    password: 'Stored-Secret-777',
  });
  await directory.addMailbox({
    email: 'weekly@example.com',
    host: 'imap.example.com',
    passwordEnv: 'WEEKLY_PW',
  });
  await directory.addUser({
    name: 'Anna',
    phone: '+79990000001',
    mailboxes: ['daily@example.com'],
    telegramId: 9_500_001,
  });
  await directory.addUser({
    name: 'Boris',
    phone: '+79990000002',
    mailboxes: ['daily@example.com'],
    telegramId: 9_500_002,
  });
  await new ReportStore(new SqliteDatabase(db)).record(
    {
      position: { mailbox: 'daily@example.com', uidValidity: '1', uid: 1, internalDate: null },
      mail: {
        subject: 'Daily',
        from: 'superset@example.com',
        date: null,
        messageId: null,
        link: null,
        description: '',
        files: [],
        skipped: [],
        rawSize: 10,
        rawSha256: 'raw-1',
      },
      status: 'forward',
      reason: null,
      spoolDir: null,
    },
    [9_500_001, 9_500_002].map((chatId, index) => ({
      chatId,
      recipientKind: 'user' as const,
      recipientKey: String(index + 1),
      recipientName: index === 0 ? 'Anna' : 'Boris',
      language: 'ru',
      mediaMode: 'document',
      threadId: null,
    })),
  );
  db.close();
}

describe('import and export commands', () => {
  it('dry run by default, --apply to do it; says which queued deliveries an import cancels', async () => {
    await setUp();
    const exported = await cli('mailbox', 'export');
    expect(exported.code).toBe(0);
    expect(exported.stdout).not.toContain('Stored-Secret-777');
    expect(exported.stdout).toContain('env:WEEKLY_PW');
    expect(exported.stderr).toContain(
      '1 mailbox password(s) are stored in the database and were not written',
    );

    // the admin drops daily@ from the file, and sets a new password for weekly@
    const edited = exported.stdout
      .split('\r\n')
      .filter((line) => !line.startsWith('daily@'))
      .join('\r\n')
      .replace('env:WEEKLY_PW', 'New-Secret-888');
    const mailboxes = file('mailboxes.csv', edited);
    const dry = await cli('mailbox', 'import', mailboxes);
    expect(dry.code).toBe(0);
    expect(dry.stdout).toContain(
      'would change mailboxes: 1\n  ~ line 2: weekly@example.com: Password changed',
    );
    expect(dry.stdout).toContain(
      'would remove mailboxes (not in the file): 1\n  - daily@example.com — its subscriptions go with it: 2 user(s), 0 group(s)',
    );
    expect(dry.stdout).toContain(
      "2 queued deliveries (of daily@example.com) would be cancelled, not sent: their chats no longer receive those mailboxes' reports",
    );
    expect(dry.stdout).toContain('dry run: nothing was changed; run again with --apply to do it');
    expect(`${dry.stdout}${dry.stderr}`).not.toContain('New-Secret-888');
    expect((await cli('mailbox', 'list', '--json')).stdout).toContain('daily@example.com');

    const applied = await cli('mailbox', 'import', mailboxes, '--apply');
    expect(applied.code).toBe(0);
    expect(applied.stdout).toContain('done: 0 added, 1 changed, 1 removed');
    expect(applied.stdout).toContain('2 queued deliveries (of daily@example.com) are cancelled');
    expect(`${applied.stdout}${applied.stderr}`).not.toContain('New-Secret-888');
    const list = JSON.parse((await cli('mailbox', 'list', '--json')).stdout) as Array<{
      email: string;
      passwordSource: string;
    }>;
    expect(list.map((entry) => [entry.email, entry.passwordSource])).toEqual([
      ['weekly@example.com', 'directory'],
    ]);
    // the running bot cancels them when it comes to them: the directory no longer sends daily@ there
    const db = openDatabase(dataDir);
    expect(await new OutboxStore(new SqliteDatabase(db)).pending()).toHaveLength(2);
    db.close();
  });

  it('a bad file: every bad row with its line, exit 1, nothing changed', async () => {
    const users = file('users.csv', '\uFEFFИмя;Phone;Mailboxes\r\n');
    const header = await cli('user', 'import', users);
    expect(header.code).toBe(1);
    expect(header.stderr).toContain(
      'unknown column "Имя" in the header; the Users columns are: Name, Phone, Mailboxes',
    );

    const before = (await cli('user', 'list', '--json')).stdout;
    const bad = file(
      'bad-users.csv',
      'Name;Phone;Mailboxes\r\nCarl;+7 999 000-00-03;weekly@example.com\r\nDora;8 999 000 00 03;weekly@example.com\r\nEve;+79990000004;daily@example.com\r\n',
    );
    const result = await cli('user', 'import', bad, '--apply');
    expect(result.code).toBe(1);
    expect(result.stdout).toContain(
      [
        '2 problem(s) in 2 row(s):',
        '  line 3: Phone +79990000003 is also on line 2; each may appear once',
        '  line 4: Mailboxes: daily@example.com: no such mailbox (import or add the mailboxes first)',
        'nothing was changed: correct the rows above and import again',
      ].join('\n'),
    );
    expect((await cli('user', 'list', '--json')).stdout).toBe(before);
    const exported = path.join(dataDir, 'users-export.csv');
    expect((await cli('user', 'export', exported, '--separator', ',')).code).toBe(0);
    // their only mailbox was removed: the users stay, subscribed to nothing, and the export reads back
    expect(readFileSync(exported, 'utf8')).toBe(
      '\uFEFFName,Phone,Mailboxes,Telegram ID,Active\r\nAnna,+79990000001,,9500001,yes\r\nBoris,+79990000002,,9500002,yes\r\n',
    );
    const again = await cli('user', 'import', exported);
    expect(again.stdout).toContain('nothing to change: the directory already matches the file');
  });
});
