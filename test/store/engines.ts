/**
 * Runs a store's tests against both engines of {@link SqlDatabase}: a fresh SQLite file (the schema of
 * `openDatabase`) and a fresh PostgreSQL schema (migrated by `openPostgresDatabase`) in a throwaway
 * cluster of this test file (test/support/postgres-cluster.ts), started on first use and destroyed
 * after the file's last PostgreSQL test.
 *
 *   forEachEngine('report store', (db) => {
 *     it('records a report once', async () => {
 *       const store = new ReportStore(db.current());
 *       …
 *     });
 *   });
 *
 * Each test gets an empty database (`beforeEach`: a new SQLite file; on PostgreSQL the describe block's
 * migrated schema with every table emptied) and a new engine, closed after it.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, afterEach, beforeEach, describe } from 'vitest';
import { openDatabase } from '../../src/store/database.js';
import { PostgresDatabase } from '../../src/store/postgres-database.js';
import { openPostgresDatabase } from '../../src/store/postgres-schema.js';
import type { SqlDatabase, SqlEngine } from '../../src/store/sql-database.js';
import { SqliteDatabase } from '../../src/store/sqlite-database.js';
import { PostgresCluster } from '../support/postgres-cluster.js';

/** The database of the running test, and engine-specific handles for inspecting rows. */
export interface EngineUnderTest {
  readonly engine: SqlEngine;
  /** The running test's database (throws outside a test). */
  current(): SqlDatabase;
  /** The SQLite engine of the running test (its `.connection` is the raw better-sqlite3 handle), or undefined. */
  sqlite(): SqliteDatabase | undefined;
  /** The PostgreSQL engine of the running test, or undefined. */
  postgres(): PostgresDatabase | undefined;
  /** The SQLite test's DATA_DIR (undefined on PostgreSQL). */
  dataDir(): string | undefined;
}

let cluster: Promise<PostgresCluster> | undefined;
let clusterUsers = 0;
let databaseUrl: Promise<string> | undefined;

/** This test file's PostgreSQL cluster (started on first use) and its database for the engine tests. */
export async function testPostgresCluster(): Promise<PostgresCluster> {
  cluster ??= PostgresCluster.start();
  return await cluster;
}

/** Stops this file's cluster (for files that used {@link freshPostgresDatabase} outside forEachEngine). */
export async function releaseTestPostgresCluster(): Promise<void> {
  const started = cluster;
  cluster = undefined;
  databaseUrl = undefined;
  if (started) await (await started).destroy();
}

let schemaCount = 0;

/** Empties every table of the current schema but the migrations' (ids start at 1 again). */
const EMPTY_SCHEMA = `DO $$
DECLARE tables text;
BEGIN
  SELECT string_agg(format('%I', tablename), ', ') INTO tables FROM pg_tables
    WHERE schemaname = current_schema() AND tablename <> 'schema_migrations';
  IF tables IS NOT NULL THEN EXECUTE 'TRUNCATE ' || tables || ' RESTART IDENTITY CASCADE'; END IF;
END $$`;

/** A freshly migrated PostgreSQL engine in a new schema of this file's test database. */
export async function freshPostgresDatabase(
  options: { idleInTransactionTimeoutMs?: number; statementTimeoutMs?: number } = {},
): Promise<PostgresDatabase> {
  const started = await testPostgresCluster();
  databaseUrl ??= started.createDatabase();
  const url = await databaseUrl;
  schemaCount += 1;
  return await openPostgresDatabase({ url, schema: `test_${schemaCount}`, ...options });
}

/** Runs `body` as a describe block once per engine (`<name> [sqlite]`, `<name> [postgres]`). */
export function forEachEngine(name: string, body: (db: EngineUnderTest) => void): void {
  for (const engine of ['sqlite', 'postgres'] as const) {
    describe(`${name} [${engine}]`, () => {
      let sqlite: SqliteDatabase | undefined;
      let postgres: PostgresDatabase | undefined;
      let dataDir: string | undefined;
      /** The describe block's migrated schema: emptied before each test rather than migrated again. */
      let schema: string | undefined;

      if (engine === 'postgres') {
        clusterUsers += 1;
        afterAll(async () => {
          clusterUsers -= 1;
          if (clusterUsers === 0) await releaseTestPostgresCluster();
        });
      }

      beforeEach(async () => {
        if (engine === 'sqlite') {
          dataDir = mkdtempSync(path.join(tmpdir(), 'engine-'));
          sqlite = new SqliteDatabase(openDatabase(dataDir));
        } else {
          if (!schema || !databaseUrl) {
            postgres = await freshPostgresDatabase();
            schema = postgres.schema;
          } else {
            postgres = new PostgresDatabase({ url: await databaseUrl, schema });
            await postgres.exec(EMPTY_SCHEMA);
          }
        }
      });

      afterEach(async () => {
        await sqlite?.close();
        await postgres?.close();
        if (dataDir) rmSync(dataDir, { recursive: true, force: true });
        sqlite = undefined;
        postgres = undefined;
        dataDir = undefined;
      });

      body({
        engine,
        current() {
          const db = sqlite ?? postgres;
          if (!db) throw new Error('no database outside a test');
          return db;
        },
        sqlite: () => sqlite,
        postgres: () => postgres,
        dataDir: () => dataDir,
      });
    });
  }
}
