/**
 * TALL_IMAGE_MODE per mailbox and per group through the built CLI: set on add, changed and reset on
 * edit, a bad value refused; stored where the bot reads it.
 */
import path from 'node:path';
import BetterSqlite3 from 'better-sqlite3';
import { afterAll, describe, expect, it } from 'vitest';
import { DATABASE_FILE } from '../../src/store/database.js';
import { removeDir, tempDataDir } from '../support/bot-harness.js';
import { runCli } from '../support/bot-process.js';

const dataDir = tempDataDir();
afterAll(() => removeDir(dataDir));

function cli(...args: string[]) {
  return runCli(args, { DATA_DIR: dataDir });
}

function stored(table: 'mailboxes' | 'groups'): unknown[] {
  const db = new BetterSqlite3(path.join(dataDir, DATABASE_FILE), { readonly: true });
  try {
    return db.prepare(`SELECT tall_image_mode FROM ${table} ORDER BY id`).all();
  } finally {
    db.close();
  }
}

describe('--tall-image-mode', () => {
  it('is set, changed and reset for mailboxes and groups; a bad value is refused', async () => {
    const mailbox = ['--host', 'imap.example.com', '--password', 'x'];
    expect(
      (await cli('mailbox', 'add', 'a@example.com', ...mailbox, '--tall-image-mode', 'tiles')).code,
    ).toBe(0);
    expect((await cli('mailbox', 'add', 'b@example.com', ...mailbox)).code).toBe(0);
    expect(stored('mailboxes')).toEqual([{ tall_image_mode: 'tiles' }, { tall_image_mode: null }]);
    expect((await cli('mailbox', 'edit', 'b@example.com', '--tall-image-mode', 'document')).code).toBe(0);
    expect((await cli('mailbox', 'edit', 'a@example.com', '--default-tall-image-mode')).code).toBe(0);
    expect(stored('mailboxes')).toEqual([{ tall_image_mode: null }, { tall_image_mode: 'document' }]);

    const group = ['--mailbox', 'a@example.com'];
    expect(
      (await cli('group', 'add', '--title', 'Ops', ...group, '--tall-image-mode', 'tiles+document')).code,
    ).toBe(0);
    expect(stored('groups')).toEqual([{ tall_image_mode: 'tiles+document' }]);
    expect((await cli('group', 'edit', 'Ops', '--default-tall-image-mode')).code).toBe(0);
    expect(stored('groups')).toEqual([{ tall_image_mode: null }]);

    const bad = await cli('group', 'add', '--title', 'X', ...group, '--tall-image-mode', 'slices');
    expect(bad.code).not.toBe(0);
    expect(bad.stderr).toContain('tiles+document, tiles, document');
  });
});
