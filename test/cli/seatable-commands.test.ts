/** `seatable init` through the built CLI against the SeaTable fake: required columns first, optional on request. */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DIRECTORY_SCHEMA, DIRECTORY_TABLES } from '../../src/directory/seatable/seatable-schema.js';
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
    // every optional column of the model, in its order (tables: Mailboxes, Users, Groups)
    const optional = DIRECTORY_TABLES.flatMap((table) =>
      DIRECTORY_SCHEMA[table].filter((column) => column.optional).map((column) => ({ table, column })),
    );
    expect(optional.map(({ table, column }) => `${table}.${column.name}`)).toEqual(
      expect.arrayContaining([
        'Mailboxes.Media mode',
        'Mailboxes.Mark seen',
        'Mailboxes.Sender auth',
        'Groups.Media mode',
      ]),
    );
    expect(first.stdout).toContain(
      `optional columns not created (the global settings apply; add them with --with-optional): ${optional.map(({ table, column }) => `${table}.${column.name}`).join(', ')}\n`,
    );
    const withOptional = await cli('seatable', 'init', '--with-optional');
    expect(withOptional.code).toBe(0);
    expect(withOptional.stdout.trim().split('\n')).toEqual(
      optional.map(
        ({ table, column }) => `created column "${column.name}" in table "${table}" (${column.create.type})`,
      ),
    );
    const again = await cli('seatable', 'init', '--with-optional');
    expect(again.stdout.trim()).toBe('nothing to create: the base has every table and required column');
    // the CSV commands belong to the embedded directory
    const imported = await cli('user', 'import', 'users.csv');
    expect(imported.code).toBe(1);
    expect(imported.stderr).toContain('managed in SeaTable');
  });
});
