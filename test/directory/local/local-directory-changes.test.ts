/**
 * The running bot sees an edit another process made (a CLI command) without a restart: on SQLite by
 * its data_version, on any other engine by the `directory_version` counter every edit bumps in its
 * own transaction. The counter path is run here on SQLite through a plain SqlDatabase (not the
 * SqliteDatabase class), which is how the directory sees PostgreSQL, and on PostgreSQL itself with two
 * instances (the bot and a CLI command) on one schema.
 */
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import type { DirectorySnapshot } from '../../../src/directory/directory.js';
import { LocalDirectory } from '../../../src/directory/local/local-directory.js';
import { type Database, openDatabase } from '../../../src/store/database.js';
import { openPostgresDatabase } from '../../../src/store/postgres-schema.js';
import type { SqlDatabase } from '../../../src/store/sql-database.js';
import { SqliteDatabase } from '../../../src/store/sqlite-database.js';
import { removeDir, tempDataDir } from '../../support/bot-harness.js';
import { PostgresCluster } from '../../support/postgres-cluster.js';
import { ensureDirectoryVersion } from '../directory-worlds.js';

/** The SQLite engine seen only through the SqlDatabase interface, like any engine but SQLite. */
function portable(engine: SqliteDatabase): SqlDatabase {
  return {
    engine: 'postgres',
    all: (sql, params) => engine.all(sql, params),
    get: (sql, params) => engine.get(sql, params),
    run: (sql, params) => engine.run(sql, params),
    exec: (sql) => engine.exec(sql),
    transaction: (work) => engine.transaction(work),
    setFence: (generation) => engine.setFence(generation),
    close: () => engine.close(),
  };
}

const opened: Database[] = [];
let dataDir: string | null = null;
afterEach(() => {
  for (const db of opened.splice(0)) db.close();
  if (dataDir) removeDir(dataDir);
  dataDir = null;
});

/** A connection of its own to the same file: another process, as far as SQLite can tell. */
function connection(): SqliteDatabase {
  const db = openDatabase(dataDir!);
  opened.push(db);
  return new SqliteDatabase(db);
}

async function until(condition: () => boolean, timeoutMs = 5000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error('timed out');
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

describe.each([
  { name: 'SQLite (data_version)', wrap: (engine: SqliteDatabase): SqlDatabase => engine },
  { name: 'any engine (directory_version)', wrap: portable },
])('the local directory on $name', ({ wrap }) => {
  it("sees another process's edits within a poll, and its own at once", async () => {
    dataDir = tempDataDir();
    const bot = new LocalDirectory(wrap(connection()), { phoneRegion: 'RU', pollIntervalMs: 50 });
    const cli = new LocalDirectory(wrap(connection()), { phoneRegion: 'RU', pollIntervalMs: 0 });
    await bot.start();
    await cli.start();
    const seen: DirectorySnapshot[] = [];
    bot.onChange((snapshot) => seen.push(snapshot));

    await cli.addMailbox({ email: 'reports@example.com', host: 'imap.example.com', password: 'pw' });
    await until(() => bot.snapshot().mailboxes.length === 1);
    await cli.addUser({ name: 'Ann', phone: '+79990000001', mailboxes: ['reports@example.com'] });
    await until(() => bot.snapshot().users.length === 1);
    await cli.setUserPaused('+79990000001', true);
    await until(() => bot.snapshot().users[0]?.pausedByAdmin === true);
    expect(seen.length).toBe(3);

    // the bot's own write: read back at once (one change), and the other process reads it too
    await bot.setUserTelegramId(bot.snapshot().users[0]!.key, 501);
    expect(bot.snapshot().users[0]!.telegramId).toBe(501);
    await new Promise((resolve) => setTimeout(resolve, 200));
    expect(seen.length).toBe(4);
    await cli.refresh();
    expect(cli.snapshot().users[0]!.telegramId).toBe(501);
    await bot.stop();
  });

  it('every edit bumps the counter in its own transaction; a refused edit does not', async () => {
    dataDir = tempDataDir();
    const engine = connection();
    const directory = new LocalDirectory(wrap(engine), { phoneRegion: 'RU', pollIntervalMs: 0 });
    await directory.start();
    const version = () =>
      (engine.connection.prepare('SELECT version FROM directory_version').get() as { version: number })
        .version;
    await directory.addMailbox({ email: 'reports@example.com', host: 'imap.example.com', password: 'pw' });
    expect(version()).toBe(1);
    await expect(
      directory.addMailbox({ email: 'Reports@example.com', host: 'imap.example.com', password: 'pw' }),
    ).rejects.toThrow(/already exists/);
    expect(version()).toBe(1);
    await directory.addGroup({ title: 'Ops', mailboxes: ['reports@example.com'] });
    await directory.claimGroup('Ops', -100);
    await directory.moveGroupChat(-100, -1001);
    await directory.deactivateChat(-1001, 'removed');
    expect(version()).toBe(5);
    expect(directory.snapshot().groups[0]).toMatchObject({
      telegramId: -1001,
      chatGone: { reason: 'removed' },
    });
  });
});

describe('the local directory on PostgreSQL', () => {
  let cluster: PostgresCluster | null = null;
  afterAll(async () => {
    await cluster?.destroy();
  });

  it("sees another instance's edits within a poll: the CLI edits the directory in PostgreSQL", async () => {
    cluster = await PostgresCluster.start();
    const url = await cluster.createDatabase();
    const botDb = await openPostgresDatabase({ url, schema: 'directory_changes' });
    const cliDb = await openPostgresDatabase({ url, schema: 'directory_changes' });
    try {
      await ensureDirectoryVersion(botDb);
      const bot = new LocalDirectory(botDb, { phoneRegion: 'RU', pollIntervalMs: 50 });
      const cli = new LocalDirectory(cliDb, { phoneRegion: 'RU', pollIntervalMs: 0 });
      await bot.start();
      await cli.start();
      const seen: DirectorySnapshot[] = [];
      bot.onChange((snapshot) => seen.push(snapshot));

      await cli.addMailbox({ email: 'Reports@Example.com', host: 'imap.example.com', password: 'pw' });
      await until(() => bot.snapshot().mailboxes.length === 1);
      // the e-mail is unique whatever its case, as in SQLite
      await expect(
        cli.addMailbox({ email: 'reports@example.COM', host: 'imap.example.com', password: 'pw' }),
      ).rejects.toThrow(/already exists/);
      await cli.addUser({ name: 'Ann', phone: '+79990000001', mailboxes: ['REPORTS@example.com'] });
      await until(() => bot.snapshot().users.length === 1);
      expect(bot.snapshot().users[0]!.mailboxes).toEqual(['reports@example.com']);
      await cli.editUser('+79990000001', { telegramId: 501 });
      await until(() => bot.snapshot().users[0]?.telegramId === 501);
      await cli.removeMailbox('reports@example.com');
      await until(() => bot.snapshot().mailboxes.length === 0);
      expect(bot.snapshot().users[0]!.mailboxes).toEqual([]);
      expect(seen.length).toBe(4);
      await bot.stop();
    } finally {
      await botDb.close();
      await cliDb.close();
    }
  });
});
