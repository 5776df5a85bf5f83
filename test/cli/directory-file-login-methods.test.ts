/**
 * `mailbox import|export` and `mailbox|group list` through the built CLI with the mailboxes that log
 * in otherwise than with a password: a webhook-only one (blank Host) and an OAuth2 one. An export
 * reads back; an export from before the OAuth2 columns keeps the OAuth2 settings, and the dry run
 * says so; a literal secret in an OAuth2 cell is a bad row and never printed.
 */
import { writeFileSync } from 'node:fs';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { LocalDirectory } from '../../src/directory/local/local-directory.js';
import { openDatabase } from '../../src/store/database.js';
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

async function setUp(): Promise<void> {
  const db = openDatabase(dataDir);
  const directory = new LocalDirectory(new SqliteDatabase(db), { phoneRegion: 'RU', pollIntervalMs: 0 });
  await directory.start();
  await directory.addMailbox({ email: 'hook@example.com', webhookOnly: true, tallImageMode: 'tiles' });
  await directory.addMailbox({
    email: 'm365@example.com',
    host: 'outlook.office365.com',
    oauth2: {
      tokenUrl: 'https://login.microsoftonline.com/tenant-1/oauth2/v2.0/token',
      clientId: 'app-1',
      clientSecretEnv: 'M365_SECRET',
    },
  });
  await directory.addGroup({
    title: 'Ops',
    mailboxes: ['hook@example.com'],
    tallImageMode: 'tiles+document',
  });
  db.close();
}

describe('webhook-only and OAuth2 mailboxes in the CSV files', () => {
  it('export reads back; an older file keeps OAuth2 and says so; lists show the tall image mode', async () => {
    await setUp();
    const exported = await cli('mailbox', 'export');
    expect(exported.code).toBe(0);
    // no "stored password" note: neither mailbox has a password
    expect(exported.stderr).toBe('2 mailboxes exported\n');
    const again = await cli('mailbox', 'import', file('same.csv', exported.stdout));
    expect(again.stdout).toContain('nothing to change: the directory already matches the file');

    const old = file(
      'old.csv',
      [
        'Email;Host;Port;TLS;Login;Password;Folder;Allowed senders;Active;Media mode;Mark seen',
        'hook@example.com;;;;;;;;yes;;',
        'm365@example.com;outlook.office365.com;993;tls;m365@example.com;;INBOX;;no;;',
      ].join('\r\n'),
    );
    const applied = await cli('mailbox', 'import', old, '--apply');
    expect(applied.code).toBe(0);
    expect(applied.stdout).toContain(
      'not in the file: Sender auth, OAuth2 token URL, OAuth2 client ID, OAuth2 client secret, OAuth2 scope, OAuth2 refresh token, Tall image mode (kept as they are; new rows get the default)',
    );
    expect(applied.stdout).toContain(
      'the file has no OAuth2 columns: m365@example.com keeps its OAuth2 settings',
    );
    expect(applied.stdout).toContain('~ line 3: m365@example.com: Active "yes" → "no"');
    expect(applied.stdout).toContain('done: 0 added, 1 changed, 0 removed');
    const list = JSON.parse((await cli('mailbox', 'list', '--json')).stdout) as Array<{
      email: string;
      active: boolean;
      oauth2?: { clientId: string; clientSecretSource: string };
      tallImageMode?: string;
    }>;
    expect(list.map((m) => [m.email, m.active, m.oauth2?.clientSecretSource, m.tallImageMode])).toEqual([
      ['hook@example.com', true, undefined, 'tiles'],
      ['m365@example.com', false, 'env:M365_SECRET', undefined],
    ]);

    const table = (await cli('mailbox', 'list')).stdout.split('\n');
    expect(table[0]).toMatch(/\stall images\s+state$/);
    expect(table[1]).toMatch(/^hook@example\.com\s+\(webhook only\)\s+tiles\s+active$/);
    expect(table[2]).toMatch(
      /^m365@example\.com\s+outlook\.office365\.com:993\s.*oauth2 client credentials \(env:M365_SECRET\).*\(setting\)\s+paused \(admin\)$/,
    );
    const groups = (await cli('group', 'list')).stdout.split('\n');
    expect(groups[0]).toMatch(/\stall images\s/);
    expect(groups[1]).toMatch(/^Ops\s.*\stiles\+document\s/);
  });

  it('a literal OAuth2 secret or IMAP columns of a webhook-only row: bad rows, exit 1, the secret never printed', async () => {
    const bad = file(
      'bad.csv',
      [
        'Email,Host,Port,OAuth2 token URL,OAuth2 client ID,OAuth2 client secret',
        'hook@example.com,,143,,,',
        'm365@example.com,outlook.office365.com,,https://login.example.com/token,app-1,Literal-Secret-999',
      ].join('\n'),
    );
    const result = await cli('mailbox', 'import', bad, '--apply');
    expect(result.code).toBe(1);
    expect(result.stdout).toContain(
      "line 2: Port: not for a webhook-only mailbox (the Host is empty: no IMAP; the webhook URL's token proves the sender)",
    );
    expect(result.stdout).toContain('line 3: OAuth2 client secret: must be env:VARIABLE');
    expect(result.stdout).toContain('nothing was changed');
    expect(`${result.stdout}${result.stderr}`).not.toContain('Literal-Secret-999');
  });
});
