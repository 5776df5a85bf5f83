/**
 * The same directory contents, built in each directory implementation, for the shared contract
 * suite: the embedded SQLite directory (managed like the CLI does) and the SeaTable directory
 * (rows in a FakeSeaTable base, read over real HTTP, last good copy in a real SQLite file).
 */

import type { CountryCode } from 'libphonenumber-js';
import type { TallImageMode } from '../../src/core/message-plan.js';
import type { Directory, TlsMode } from '../../src/directory/directory.js';
import { LocalDirectory } from '../../src/directory/local/local-directory.js';
import { ObservedDirectory } from '../../src/directory/observed-directory.js';
import { SeaTableClient } from '../../src/directory/seatable/seatable-client.js';
import { SeaTableDirectory } from '../../src/directory/seatable/seatable-directory.js';
import { defaultSeaTableNames, type SeaTableNames } from '../../src/directory/seatable/seatable-schema.js';
import type { AdminAlerts } from '../../src/observability/admin-alerts.js';
import { createLogger, type Logger } from '../../src/observability/logger.js';
import { SecretScrubber } from '../../src/observability/secret-scrubber.js';
import { type Database, openDatabase } from '../../src/store/database.js';
import { GoneChats } from '../../src/store/gone-chats.js';
import type { SqlDatabase } from '../../src/store/sql-database.js';
import { SqliteDatabase } from '../../src/store/sqlite-database.js';
import type { FakeBaseSeed, FakeColumnSeed, FakeRowSeed } from '../fakes/seatable/fake-seatable.js';
import { FakeSeaTable, type FakeSeaTableOptions } from '../fakes/seatable/fake-seatable.js';
import type { EngineUnderTest } from '../store/engines.js';
import { CapturedLogs, removeDir, tempDataDir } from '../support/bot-harness.js';

export const PHONE_REGION: CountryCode = 'RU';

export interface MailboxSpec {
  email: string;
  host: string;
  port: number;
  tls: TlsMode;
  login: string;
  password?: string;
  passwordEnv?: string;
  allowFrom?: string[];
  tallImageMode?: TallImageMode;
}

export interface UserSpec {
  name: string;
  /** As the admin wrote it. */
  phone: string;
  mailboxes: string[];
  telegramId?: number;
}

export interface GroupSpec {
  title: string;
  mailboxes: string[];
  topicId?: number;
  /** A group with a known id is locked to it. */
  telegramId?: number;
  tallImageMode?: TallImageMode;
}

export interface DirectorySpec {
  mailboxes: MailboxSpec[];
  users: UserSpec[];
  groups: GroupSpec[];
}

export interface DirectoryWorld {
  directory: Directory;
  /** Adds a mailbox in the source, the way its admin would (CLI, SeaTable grid). */
  addMailboxInSource(mailbox: MailboxSpec): Promise<void>;
  /** A second directory on the same source, started, to see what the source really holds. */
  reopen(): Promise<Directory>;
  close(): Promise<void>;
}

export interface WorldOptions {
  env?: Record<string, string | undefined>;
}

export interface DirectoryImplementation {
  name: 'local' | 'seatable';
  build(spec: DirectorySpec, options?: WorldOptions): Promise<DirectoryWorld>;
}

export function silentLogger(): { logger: Logger; logs: CapturedLogs; scrubber: SecretScrubber } {
  const logs = new CapturedLogs();
  const scrubber = new SecretScrubber();
  return { logger: createLogger({ level: 'debug', scrubber, destination: logs }), logs, scrubber };
}

// ---- local ---------------------------------------------------------------------------------------

async function addLocalMailbox(directory: LocalDirectory, mailbox: MailboxSpec): Promise<void> {
  await directory.addMailbox({
    email: mailbox.email,
    host: mailbox.host,
    port: mailbox.port,
    tls: mailbox.tls,
    login: mailbox.login,
    password: mailbox.password,
    passwordEnv: mailbox.passwordEnv,
    allowFrom: mailbox.allowFrom,
    tallImageMode: mailbox.tallImageMode,
  });
}

/**
 * The embedded directory on the engine of the running test (forEachEngine): the directory the bot
 * reads, and `reopen` as another process sees it (on SQLite a connection of its own to the file).
 */
export function localImplementationOn(engine: EngineUnderTest): DirectoryImplementation {
  return {
    name: 'local',
    async build(spec, options = {}) {
      const db = engine.current();
      if (db.engine === 'postgres') await ensureDirectoryVersion(db);
      const connections: Database[] = [];
      const open = async (sql: SqlDatabase) => {
        const directory = new LocalDirectory(sql, {
          phoneRegion: PHONE_REGION,
          env: options.env,
          pollIntervalMs: 0,
        });
        await directory.start();
        return directory;
      };
      const directory = await open(db);
      for (const mailbox of spec.mailboxes) await addLocalMailbox(directory, mailbox);
      for (const user of spec.users) await directory.addUser(user);
      for (const group of spec.groups) await directory.addGroup(group);
      return {
        directory,
        async addMailboxInSource(mailbox) {
          await addLocalMailbox(directory, mailbox);
        },
        async reopen() {
          const dataDir = engine.dataDir();
          if (!dataDir) return open(db);
          const other = openDatabase(dataDir);
          connections.push(other);
          return open(new SqliteDatabase(other));
        },
        async close() {
          await directory.stop();
          for (const other of connections) other.close();
        },
      };
    },
  };
}

/**
 * The embedded directory's change counter on PostgreSQL. The SQLite schema has it (migration 14);
 * until the PostgreSQL schema has it too, the tests add it (the same table, idempotent).
 */
export async function ensureDirectoryVersion(db: SqlDatabase): Promise<void> {
  await db.exec(`
    CREATE TABLE IF NOT EXISTS directory_version (id bigint PRIMARY KEY CHECK (id = 1), version bigint NOT NULL);
    INSERT INTO directory_version (id, version) VALUES (1, 0) ON CONFLICT (id) DO NOTHING;
  `);
}

export const localImplementation: DirectoryImplementation = {
  name: 'local',
  async build(spec, options = {}) {
    const dataDir = tempDataDir();
    const databases: Database[] = [];
    const open = async () => {
      const db = openDatabase(dataDir);
      databases.push(db);
      const directory = new LocalDirectory(new SqliteDatabase(db), {
        phoneRegion: PHONE_REGION,
        env: options.env,
        pollIntervalMs: 0,
      });
      await directory.start();
      return directory;
    };
    const directory = await open();
    for (const mailbox of spec.mailboxes) await addLocalMailbox(directory, mailbox);
    for (const user of spec.users) await directory.addUser(user);
    for (const group of spec.groups) await directory.addGroup(group);
    return {
      directory,
      async addMailboxInSource(mailbox) {
        await addLocalMailbox(directory, mailbox);
      },
      reopen: open,
      async close() {
        for (const db of databases) db.close();
        removeDir(dataDir);
      },
    };
  },
};

// ---- SeaTable ------------------------------------------------------------------------------------

/** Which form the Mailboxes columns of Users and Groups take. */
export type SubscriptionForm = 'link' | 'multiple-select' | 'text';

/** The directory's three tables with the default names, the Mailboxes columns in the given form. */
export function directoryTables(
  form: SubscriptionForm = 'link',
  mailboxOptions: string[] = [],
): FakeColumnSeed[][] {
  const subscriptions: FakeColumnSeed =
    form === 'link'
      ? { name: 'Mailboxes', type: 'link', linkTo: 'Mailboxes' }
      : form === 'multiple-select'
        ? { name: 'Mailboxes', type: 'multiple-select', options: mailboxOptions }
        : { name: 'Mailboxes', type: 'long-text' };
  return [
    [
      { name: 'Email', type: 'text' },
      { name: 'Host', type: 'text' },
      { name: 'Port', type: 'number' },
      { name: 'TLS', type: 'single-select', options: ['tls', 'starttls', 'none'] },
      { name: 'Login', type: 'text' },
      { name: 'Password', type: 'text' },
      { name: 'Folder', type: 'text' },
      { name: 'Allowed senders', type: 'text' },
      { name: 'Active', type: 'checkbox' },
      { name: 'Tall image mode', type: 'single-select', options: ['tiles+document', 'tiles', 'document'] },
    ],
    [
      { name: 'Name', type: 'text' },
      { name: 'Phone', type: 'text' },
      subscriptions,
      { name: 'Telegram ID', type: 'text' },
      { name: 'Active', type: 'checkbox' },
    ],
    [
      { name: 'Name', type: 'text' },
      subscriptions,
      { name: 'Telegram ID', type: 'text' },
      { name: 'Locked', type: 'checkbox' },
      { name: 'Topic ID', type: 'number' },
      { name: 'Active', type: 'checkbox' },
      { name: 'Tall image mode', type: 'single-select', options: ['tiles+document', 'tiles', 'document'] },
    ],
  ];
}

export function mailboxRow(mailbox: MailboxSpec): FakeRowSeed {
  return {
    $key: mailbox.email.toLowerCase(),
    Email: mailbox.email,
    Host: mailbox.host,
    Port: mailbox.port,
    TLS: mailbox.tls,
    Login: mailbox.login,
    Password: mailbox.passwordEnv ? `env:${mailbox.passwordEnv}` : (mailbox.password ?? null),
    Folder: 'INBOX',
    'Allowed senders': (mailbox.allowFrom ?? []).join(', '),
    Active: true,
    'Tall image mode': mailbox.tallImageMode ?? null,
  };
}

function subscriptionCell(mailboxes: string[], form: SubscriptionForm): unknown {
  if (form === 'link') return mailboxes.map((email) => email.toLowerCase());
  if (form === 'multiple-select') return mailboxes;
  return mailboxes.join(',\n');
}

/** A seed for FakeSeaTable holding `spec`. */
export function directorySeed(spec: DirectorySpec, form: SubscriptionForm = 'link'): FakeBaseSeed {
  const [mailboxColumns, userColumns, groupColumns] = directoryTables(
    form,
    spec.mailboxes.map((m) => m.email),
  );
  return {
    tables: [
      { name: 'Mailboxes', columns: mailboxColumns!, rows: spec.mailboxes.map(mailboxRow) },
      {
        name: 'Users',
        columns: userColumns!,
        rows: spec.users.map((user) => ({
          Name: user.name,
          Phone: user.phone,
          Mailboxes: subscriptionCell(user.mailboxes, form),
          'Telegram ID': user.telegramId === undefined ? null : String(user.telegramId),
          Active: true,
        })),
      },
      {
        name: 'Groups',
        columns: groupColumns!,
        rows: spec.groups.map((group) => ({
          Name: group.title,
          Mailboxes: subscriptionCell(group.mailboxes, form),
          'Telegram ID': group.telegramId === undefined ? null : String(group.telegramId),
          Locked: group.telegramId !== undefined,
          'Topic ID': group.topicId ?? null,
          Active: true,
          'Tall image mode': group.tallImageMode ?? null,
        })),
      },
    ],
  };
}

/** A client for the fake with short retry waits, so outage tests take milliseconds. */
export function fastClient(fake: FakeSeaTable, apiToken = fake.apiToken): SeaTableClient {
  return new SeaTableClient({
    serverUrl: fake.url,
    apiToken,
    timeoutMs: 5000,
    maxAttempts: 2,
    retryBaseDelayMs: 10,
  });
}

export interface SeaTableDirectoryHarness {
  fake: FakeSeaTable;
  /** The raw connection, to inspect rows. */
  db: Database;
  /** The same database through the store seam, as the bot uses it. */
  sql: SqliteDatabase;
  dataDir: string;
  logs: CapturedLogs;
  scrubber: SecretScrubber;
  /** A SeaTableDirectory on this fake and database (not started). */
  directory(options?: {
    env?: Record<string, string | undefined>;
    alerts?: AdminAlerts;
    names?: SeaTableNames;
    refreshIntervalMs?: number;
    startTimeoutMs?: number;
    client?: SeaTableClient;
    claimWaitMs?: number;
    missRefreshIntervalMs?: number;
    writeRetryBaseMs?: number;
    writeRetryMaxMs?: number;
  }): SeaTableDirectory;
  close(): Promise<void>;
}

/** A fake SeaTable plus a fresh SQLite file, for SeaTableDirectory tests. */
export async function seaTableHarness(options: FakeSeaTableOptions = {}): Promise<SeaTableDirectoryHarness> {
  const fake = await FakeSeaTable.start(options);
  const dataDir = tempDataDir();
  const db = openDatabase(dataDir);
  const sql = new SqliteDatabase(db);
  const { logger, logs, scrubber } = silentLogger();
  const made: SeaTableDirectory[] = [];
  return {
    fake,
    db,
    sql,
    dataDir,
    logs,
    scrubber,
    directory(overrides = {}) {
      const directory = new SeaTableDirectory({
        client: overrides.client ?? fastClient(fake),
        names: overrides.names ?? defaultSeaTableNames(),
        phoneRegion: PHONE_REGION,
        refreshIntervalMs: overrides.refreshIntervalMs ?? 0,
        db: sql,
        logger,
        scrubber,
        alerts: overrides.alerts,
        env: overrides.env ?? {},
        serverUrl: fake.url,
        startTimeoutMs: overrides.startTimeoutMs,
        claimWaitMs: overrides.claimWaitMs,
        missRefreshIntervalMs: overrides.missRefreshIntervalMs,
        // short waits, so a test sees a queued change land in milliseconds once SeaTable is back
        writeRetryBaseMs: overrides.writeRetryBaseMs ?? 50,
        writeRetryMaxMs: overrides.writeRetryMaxMs ?? 200,
      });
      made.push(directory);
      return directory;
    },
    async close() {
      for (const directory of made) await directory.stop();
      await fake.stop();
      db.close();
      removeDir(dataDir);
    },
  };
}

export const seaTableImplementation: DirectoryImplementation = {
  name: 'seatable',
  async build(spec, options = {}) {
    const harness = await seaTableHarness({ seed: directorySeed(spec) });
    const reopened: Array<{ directory: SeaTableDirectory; db: Database; dataDir: string }> = [];
    const open = async () => {
      // as the bot uses it: what the admin decided, with the bot's observations laid over it
      const directory = new ObservedDirectory(
        harness.directory({ env: options.env }),
        new GoneChats(harness.sql),
      );
      await directory.start();
      return directory;
    };
    const directory = await open();
    return {
      directory,
      async addMailboxInSource(mailbox) {
        harness.fake.seedRows('Mailboxes', [mailboxRow(mailbox)]);
      },
      async reopen() {
        // every change made so far has reached SeaTable; a directory on a database of its own (no
        // saved copy, no queue) shows what SeaTable holds
        await directory.writesSettled();
        const dataDir = tempDataDir();
        const db = openDatabase(dataDir);
        const other = new SeaTableDirectory({
          client: fastClient(harness.fake),
          names: defaultSeaTableNames(),
          phoneRegion: PHONE_REGION,
          refreshIntervalMs: 0,
          db: new SqliteDatabase(db),
          logger: silentLogger().logger,
          scrubber: harness.scrubber,
          env: options.env ?? {},
        });
        // what SeaTable holds, with what the bot observed (kept in the bot's own file) laid over it
        const observed = new ObservedDirectory(other, new GoneChats(harness.sql));
        await observed.start();
        reopened.push({ directory: other, db, dataDir });
        return observed;
      },
      async close() {
        for (const { directory: other, db, dataDir } of reopened) {
          await other.stop();
          db.close();
          removeDir(dataDir);
        }
        await harness.close();
      },
    };
  },
};
