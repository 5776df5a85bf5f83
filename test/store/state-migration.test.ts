/**
 * migrate-state against a real SQLite file and a real PostgreSQL (a throwaway cluster): a populated
 * installation copied with every table equal, ids continued, files byte-identical; idempotent; an
 * interrupted run (its PostgreSQL session killed mid-copy) then a full run; the refusals.
 */
import { readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { openDatabase } from '../../src/store/database.js';
import { InstanceLock } from '../../src/store/instance-lock.js';
import type { PostgresDatabase } from '../../src/store/postgres-database.js';
import { openPostgresDatabase } from '../../src/store/postgres-schema.js';
import { DatabaseSpoolFiles } from '../../src/store/spool-files.js';
import {
  INSTALLATION_ID_FILE,
  migrateState,
  StateMigrationRefusedError,
} from '../../src/store/state-migration.js';
import { PostgresCluster } from '../support/postgres-cluster.js';
import {
  addReport,
  createSqliteInstallation,
  expectSameRows,
  prepareSchema,
  type SqliteInstallation,
} from './sqlite-installation.js';

let cluster: PostgresCluster;
let url: string;
let schemaCount = 0;
const cleanups: Array<() => Promise<void> | void> = [];

beforeAll(async () => {
  cluster = await PostgresCluster.start();
  url = await cluster.createDatabase();
}, 120_000);

afterAll(async () => {
  await cluster?.destroy();
});

afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

async function newSchema(): Promise<string> {
  schemaCount += 1;
  const schema = `migrated_${schemaCount}`;
  await prepareSchema(url, schema);
  return schema;
}

function installation(options: { deliveries?: number } = {}): SqliteInstallation {
  const made = createSqliteInstallation(options);
  cleanups.push(() => rmSync(made.dataDir, { recursive: true, force: true }));
  return made;
}

async function postgres(schema: string): Promise<PostgresDatabase> {
  const db = await openPostgresDatabase({ url, schema });
  cleanups.push(() => db.close());
  return db;
}

/** Every data table of the installation has the same rows on both sides. */
async function expectEqualTables(dataDir: string, schema: string): Promise<void> {
  await expectSameRows(dataDir, await postgres(schema));
}

async function count(pg: PostgresDatabase, table: string): Promise<number> {
  return Number((await pg.get<{ n: number }>(`SELECT count(*) AS n FROM "${table}"`))?.n);
}

describe('migrate-state', () => {
  it('copies every table with its ids, moves the sequences past them and copies the kept files byte for byte', async () => {
    const source = installation({ deliveries: 30 });
    const schema = await newSchema();
    const result = await migrateState({ dataDir: source.dataDir, url, schema, batchRows: 7 });

    expect(result.repeated).toBe(false);
    const deliveries = result.tables.find((table) => table.table === 'deliveries');
    expect(deliveries).toEqual({ table: 'deliveries', rows: 32, copied: 32, present: 0 });
    // parents first: a report before its files and deliveries, a mailbox before its links
    const order = result.tables.map((table) => table.table);
    expect(order.indexOf('reports')).toBeLessThan(order.indexOf('deliveries'));
    expect(order.indexOf('reports')).toBeLessThan(order.indexOf('report_files'));
    expect(order.indexOf('mailboxes')).toBeLessThan(order.indexOf('user_mailboxes'));
    expect(order.indexOf('users')).toBeLessThan(order.indexOf('user_mailboxes'));
    await expectEqualTables(source.dataDir, schema);

    // files: four kept (PDF of 4 chunks, PNG, two tiles), the removed spool's one skipped
    expect(result.files).toMatchObject({ copied: 4, present: 0, removed: source.removedFiles, missing: 0 });
    const pg = await postgres(schema);
    expect(await count(pg, 'spool_chunks')).toBe(4 + 1 + 1 + 1);
    // read back by another instance (an empty spool root of its own): the same bytes
    const otherRoot = path.join(tmpdir(), `other-instance-${process.pid}-${Date.now()}`, 'spool');
    cleanups.push(() => rmSync(path.dirname(otherRoot), { recursive: true, force: true }));
    const reader = new DatabaseSpoolFiles(pg, { spoolRoot: otherRoot });
    for (const file of source.keptFiles) {
      const fetched = await reader.localPath({
        path: file.path,
        size: file.bytes.length,
        sha256: file.sha256,
      });
      expect(fetched.startsWith(otherRoot)).toBe(true);
      expect(readFileSync(fetched).equals(file.bytes)).toBe(true);
    }

    // ids continue after the highest: a new report, delivery, mailbox get new ids
    expect(result.nextIds).toMatchObject({ reports: 13, deliveries: 130, mailboxes: 8, users: 6, groups: 5 });
    const report = await pg.get<{ id: number }>(
      `INSERT INTO reports (mailbox, raw_sha256, raw_size, subject, status, recorded_at)
       VALUES ('reports@example.com', ?, 1, 'new', 'forward', '2026-12-04T00:00:00.000Z') RETURNING id`,
      ['e'.repeat(64)],
    );
    expect(report?.id).toBe(13);
    const delivery = await pg.get<{ id: number }>(
      `INSERT INTO deliveries (report_id, chat_id, recipient_kind, recipient_key, media_mode, created_at)
       VALUES (13, 1, 'user', 'user:1', 'photo', '2026-12-04T00:00:00.000Z') RETURNING id`,
    );
    expect(delivery?.id).toBe(130);

    // the source's identity, recorded on both sides
    const id = readFileSync(path.join(source.dataDir, INSTALLATION_ID_FILE), 'utf8').trim();
    expect(result.sourceId).toBe(id);
    const recorded = await pg.get<{ source_id: string; data_dir: string }>(
      'SELECT source_id, data_dir FROM state_source',
    );
    expect(recorded).toEqual({ source_id: id, data_dir: path.resolve(source.dataDir) });
  });

  it('copies nothing on a second run, then only what was added; refuses rows that changed on one side', async () => {
    const source = installation();
    const schema = await newSchema();
    const first = await migrateState({ dataDir: source.dataDir, url, schema });
    const second = await migrateState({ dataDir: source.dataDir, url, schema });
    expect(second.repeated).toBe(true);
    for (const table of second.tables) {
      const before = first.tables.find((t) => t.table === table.table);
      expect(table).toEqual({ table: table.table, rows: before?.rows, copied: 0, present: before?.rows });
    }
    expect(second.files).toMatchObject({ copied: 0, present: 4 });
    expect(second.nextIds).toEqual(first.nextIds);

    addReport(source.dataDir, 15);
    const third = await migrateState({ dataDir: source.dataDir, url, schema });
    expect(third.tables.find((t) => t.table === 'reports')).toMatchObject({ copied: 1, present: 2 });
    expect(third.tables.find((t) => t.table === 'deliveries')).toMatchObject({ copied: 1, present: 2 });
    expect(third.nextIds.reports).toBe(16);
    await expectEqualTables(source.dataDir, schema);

    // the pending delivery was sent meanwhile on SQLite: PostgreSQL's pending copy would send it again
    const sqlite = openDatabase(source.dataDir);
    sqlite.prepare("UPDATE deliveries SET state = 'sent' WHERE id = 21").run();
    sqlite.close();
    const refused = migrateState({ dataDir: source.dataDir, url, schema });
    await expect(refused).rejects.toBeInstanceOf(StateMigrationRefusedError);
    await expect(refused).rejects.toThrow(/1 row\(s\) that differ.*deliveries id=21/);
    const pg = await postgres(schema);
    expect((await pg.get<{ state: string }>('SELECT state FROM deliveries WHERE id = 21'))?.state).toBe(
      'pending',
    );
  });

  it('an interrupted run (its session killed mid-copy) leaves nothing; the next run copies everything', async () => {
    const source = installation({ deliveries: 50 });
    const schema = await newSchema();
    let batches = 0;
    const interrupted = migrateState({
      dataDir: source.dataDir,
      url,
      schema,
      batchRows: 5,
      onBatch: async ({ table }) => {
        batches += 1;
        if (table !== 'deliveries' || batches < 3) return;
        // as if the process died: the server sees the connection go, mid-transaction
        await cluster.query(
          `SELECT pg_terminate_backend(pid) FROM pg_stat_activity
           WHERE application_name = 'superset-telegram-bot' AND state = 'idle in transaction'`,
        );
      },
    });
    await expect(interrupted).rejects.toThrow();
    const pg = await postgres(schema);
    expect(await count(pg, 'reports')).toBe(0);
    expect(await count(pg, 'spool_files')).toBe(0);
    expect(await pg.get("SELECT to_regclass('state_source')::text AS found")).toEqual({ found: null });

    // the instance lock went with the failed run: the next run takes it
    const full = await migrateState({ dataDir: source.dataDir, url, schema });
    expect(full.repeated).toBe(false);
    expect(full.tables.find((t) => t.table === 'deliveries')).toMatchObject({ copied: 52 });
    await expectEqualTables(source.dataDir, schema);
  });

  it('counts and names a kept file missing on disk, and copies the others', async () => {
    const source = installation();
    const schema = await newSchema();
    const [, , tile0] = source.keptFiles;
    rmSync(tile0?.path as string);
    const result = await migrateState({ dataDir: source.dataDir, url, schema });
    expect(result.files).toEqual({
      copied: 3,
      bytes: 3 * 1024 * 1024 + 1 + 200_000 + 60_000,
      present: 0,
      removed: 1,
      missing: 1,
      missingKeys: ['mail-1/tiles/0/0.png'],
    });
    const pg = await postgres(schema);
    expect(await count(pg, 'spool_files')).toBe(3);
  });

  it('refuses while a bot holds DATA_DIR', async () => {
    const source = installation();
    const schema = await newSchema();
    const lock = InstanceLock.acquire(source.dataDir, { checkIntervalMs: 0 });
    try {
      await expect(migrateState({ dataDir: source.dataDir, url, schema })).rejects.toThrow(
        /a bot is running on the SQLite side: DATA_DIR .* is in use by another running bot: process \d+/,
      );
    } finally {
      lock.release();
    }
    const pg = await postgres(schema);
    expect(await count(pg, 'reports')).toBe(0);
    await migrateState({ dataDir: source.dataDir, url, schema });
    expect(await count(pg, 'reports')).toBe(2);
  });

  it('refuses while a bot holds the PostgreSQL lease, and after a bot worked on the migrated state', async () => {
    const source = installation();
    const schema = await newSchema();
    const pg = await postgres(schema);
    await pg.run(
      "INSERT INTO leader_lease (name, holder, generation, expires_at, renewed_at) VALUES ('leader', 'bot-a:4242', 3, now() + interval '30 seconds', now())",
    );
    await expect(migrateState({ dataDir: source.dataDir, url, schema })).rejects.toThrow(
      /a bot is running on the PostgreSQL side: bot-a:4242 holds the leader lease until/,
    );
    expect(await count(pg, 'reports')).toBe(0);

    // the lease expired (that bot stopped) before anything was written: the schema is empty, go ahead
    await pg.run(
      "UPDATE leader_lease SET expires_at = now() - interval '1 minute', renewed_at = now() - interval '2 minutes'",
    );
    await migrateState({ dataDir: source.dataDir, url, schema });
    expect(await count(pg, 'reports')).toBe(2);

    // a bot then led on PostgreSQL (and stopped): a new run could bring back what it sent or removed
    await pg.run('UPDATE leader_lease SET renewed_at = clock_timestamp(), expires_at = clock_timestamp()');
    await expect(migrateState({ dataDir: source.dataDir, url, schema })).rejects.toThrow(
      /a bot \(bot-a:4242\) has worked on this PostgreSQL state since the last migration/,
    );
  });

  it('refuses a schema holding other state: rows of its own, or another installation', async () => {
    const first = installation();
    const second = installation();
    const schema = await newSchema();
    const pg = await postgres(schema);
    await pg.run(
      "INSERT INTO chat_languages (chat_id, language, updated_at) VALUES (1, 'en', '2026-12-01T00:00:00.000Z')",
    );
    await expect(migrateState({ dataDir: first.dataDir, url, schema })).rejects.toThrow(
      /already holds state that did not come from this DATA_DIR \(rows in chat_languages;/,
    );
    expect(await count(pg, 'reports')).toBe(0);
    await pg.run('DELETE FROM chat_languages');

    const copied = await migrateState({ dataDir: first.dataDir, url, schema });
    const refused = migrateState({ dataDir: second.dataDir, url, schema });
    await expect(refused).rejects.toBeInstanceOf(StateMigrationRefusedError);
    await expect(refused).rejects.toThrow(
      new RegExp(
        `holds the state of another installation \\(id ${copied.sourceId}, DATA_DIR ${first.dataDir}`,
      ),
    );
  });

  it('names a table or column that one side lacks, and copies nothing', async () => {
    const source = installation();
    const schema = await newSchema();
    const sqlite = openDatabase(source.dataDir);
    sqlite.exec('ALTER TABLE users ADD COLUMN nickname TEXT; CREATE TABLE notes (id INTEGER PRIMARY KEY)');
    sqlite.close();
    await expect(migrateState({ dataDir: source.dataDir, url, schema })).rejects.toThrow(
      /schemas differ \(table notes exists in SQLite but not in PostgreSQL; column users\.nickname is missing in PostgreSQL\)/,
    );
    const pg = await postgres(schema);
    expect(await count(pg, 'mailboxes')).toBe(0);
  });

  it('names the table of a row PostgreSQL refuses (an orphan SQLite kept), and copies nothing', async () => {
    const source = installation();
    const schema = await newSchema();
    const sqlite = openDatabase(source.dataDir);
    sqlite.pragma('foreign_keys = OFF');
    sqlite
      .prepare(
        `INSERT INTO deliveries (id, report_id, chat_id, recipient_kind, recipient_key, media_mode, created_at)
         VALUES (50, 999, 1, 'user', 'user:1', 'photo', '2026-12-01T00:00:00.000Z')`,
      )
      .run();
    sqlite.close();
    await expect(migrateState({ dataDir: source.dataDir, url, schema })).rejects.toThrow(
      /^copying deliveries \(SQLite rowids up to \d+\): .*foreign key constraint/,
    );
    const pg = await postgres(schema);
    expect(await count(pg, 'reports')).toBe(0);
  });

  it('refuses a DATA_DIR without an installation', async () => {
    const schema = await newSchema();
    const empty = path.join(tmpdir(), `no-installation-${process.pid}`);
    await expect(migrateState({ dataDir: empty, url, schema })).rejects.toThrow(
      /no SQLite installation in .*bot\.sqlite is missing/,
    );
  });
});
