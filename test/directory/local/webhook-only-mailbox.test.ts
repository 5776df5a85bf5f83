/** `mailbox add --webhook-only` in the embedded directory: no IMAP settings, and none accepted. */
import { afterEach, describe, expect, it } from 'vitest';
import { isWebhookOnly } from '../../../src/directory/directory.js';
import { DirectoryInputError, LocalDirectory } from '../../../src/directory/local/local-directory.js';
import { type Database, openDatabase } from '../../../src/store/database.js';
import { SqliteDatabase } from '../../../src/store/sqlite-database.js';
import { removeDir, tempDataDir } from '../../support/bot-harness.js';

let dataDir: string;
let db: Database;

afterEach(() => {
  db.close();
  removeDir(dataDir);
});

function directory(): LocalDirectory {
  dataDir = tempDataDir();
  db = openDatabase(dataDir);
  return new LocalDirectory(new SqliteDatabase(db), { phoneRegion: 'RU', pollIntervalMs: 0 });
}

describe('webhook-only mailboxes (local directory)', () => {
  it('adds one without host or password, active, and tells it apart from an IMAP mailbox', async () => {
    const local = directory();
    const hook = await local.addMailbox({ email: 'Hook@Example.com', webhookOnly: true });
    const imap = await local.addMailbox({
      email: 'imap@example.com',
      host: 'imap.example.com',
      password: 'pw',
    });
    expect(hook).toMatchObject({ email: 'hook@example.com', host: '', password: null, active: true });
    expect(isWebhookOnly(hook)).toBe(true);
    expect(isWebhookOnly(imap)).toBe(false);
    await local.addUser({ name: 'Ann', phone: '+79990000001', mailboxes: ['hook@example.com'] });
    expect(local.snapshot().users[0]!.mailboxes).toEqual(['hook@example.com']);
  });

  it('refuses IMAP options on a webhook-only mailbox, and an IMAP mailbox without a host', async () => {
    const local = directory();
    await expect(
      local.addMailbox({
        email: 'a@example.com',
        webhookOnly: true,
        host: 'imap.example.com',
        allowFrom: ['@x.example'],
      }),
    ).rejects.toThrow(
      new DirectoryInputError(
        "--host, --allow-from: not for a --webhook-only mailbox (no IMAP; the webhook URL's token proves the sender)",
      ),
    );
    await expect(local.addMailbox({ email: 'b@example.com', password: 'pw' })).rejects.toThrow(
      /--host is required/,
    );
  });
});
