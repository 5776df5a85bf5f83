/** `seatable init` through the built CLI against the SeaTable fake: required columns first, optional on request. */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { FakeSeaTable } from '../fakes/seatable/fake-seatable.js';
import { removeDir, tempDataDir } from '../support/bot-harness.js';
import { runCli } from '../support/bot-process.js';

let fake: FakeSeaTable;
const dataDir = tempDataDir();

beforeAll(async () => {
  fake = await FakeSeaTable.start();
});

afterAll(async () => {
  await fake?.stop();
  removeDir(dataDir);
});

function cli(...args: string[]) {
  return runCli(args, {
    DATA_DIR: dataDir,
    DIRECTORY: 'seatable',
    SEATABLE_SERVER_URL: fake.url,
    SEATABLE_API_TOKEN: fake.apiToken,
  });
}

describe('seatable init', () => {
  it('creates the required columns, says which optional ones it left out, and adds them with --with-optional', async () => {
    const first = await cli('seatable', 'init');
    expect(first.code).toBe(0);
    expect(first.stdout).toContain(
      'created table "Mailboxes" with columns Email, Host, Port, TLS, Login, Password, Folder, Allowed senders, Active\n',
    );
    expect(first.stdout).toContain(
      'optional columns not created (the global settings apply; add them with --with-optional): Mailboxes.Media mode, Mailboxes.Mark seen, Mailboxes.Sender auth, Mailboxes.OAuth2 token URL, Mailboxes.OAuth2 client ID, Mailboxes.OAuth2 client secret, Mailboxes.OAuth2 scope, Mailboxes.OAuth2 refresh token, Mailboxes.Tall image mode, Groups.Media mode, Groups.Tall image mode',
    );
    const optional = await cli('seatable', 'init', '--with-optional');
    expect(optional.code).toBe(0);
    expect(optional.stdout.trim().split('\n')).toEqual([
      'created column "Media mode" in table "Mailboxes" (single-select)',
      'created column "Mark seen" in table "Mailboxes" (checkbox)',
      'created column "Sender auth" in table "Mailboxes" (text)',
      'created column "OAuth2 token URL" in table "Mailboxes" (text)',
      'created column "OAuth2 client ID" in table "Mailboxes" (text)',
      'created column "OAuth2 client secret" in table "Mailboxes" (text)',
      'created column "OAuth2 scope" in table "Mailboxes" (text)',
      'created column "OAuth2 refresh token" in table "Mailboxes" (text)',
      'created column "Tall image mode" in table "Mailboxes" (single-select)',
      'created column "Media mode" in table "Groups" (single-select)',
      'created column "Tall image mode" in table "Groups" (single-select)',
    ]);
    const again = await cli('seatable', 'init', '--with-optional');
    expect(again.stdout.trim()).toBe('nothing to create: the base has every table and required column');
    // the CSV commands belong to the embedded directory
    const imported = await cli('user', 'import', 'users.csv');
    expect(imported.code).toBe(1);
    expect(imported.stderr).toContain('managed in SeaTable');
  });
});
