/**
 * `migrate-state`: copies an SQLite installation (DATA_DIR/bot.sqlite and its spooled files) into the
 * PostgreSQL schema of DATABASE_URL, keeping every id.
 *
 * - Generic over tables: the tables and columns come from SQLite (`PRAGMA table_info`) and from the
 *   PostgreSQL catalog; a table or column that one side lacks is an error that names it (nothing is
 *   dropped silently). Tables are copied parents first (PostgreSQL's foreign keys), in batches read by
 *   rowid, `INSERT … ON CONFLICT (primary key) DO NOTHING`; then every identity sequence is moved past
 *   the highest id (never backwards), so a new report gets a new id.
 * - All or nothing: the whole copy, the files and the source's identity commit in ONE PostgreSQL
 *   transaction. A half-copied state would be worse than none: a bot started on it could resume after a
 *   copied watermark whose reports or deliveries were not copied yet (a report lost), and it would look
 *   like "already migrated" to the next run. An interrupted run (kill -9, a lost connection) leaves the
 *   PostgreSQL side as it was, and the next run starts over. The price is one long transaction (it holds
 *   the write lock, so a bot on PostgreSQL waits), acceptable for a one-off move with no bot running.
 * - Idempotent: a second run copies only the rows PostgreSQL lacks and says so. A row present on both
 *   sides with different values is refused (one side changed after the last migration: pending on one,
 *   sent on the other would be a message sent twice), as is a second run after a bot worked on the
 *   PostgreSQL state (it may have removed what the run would bring back).
 * - Refuses while a bot runs on DATA_DIR (its instance lock is taken, then released), while a bot holds
 *   the leader lease on PostgreSQL (the lease table is locked for the run, so none can take it meanwhile),
 *   and into a schema holding state that did not come from this DATA_DIR. The identity of a DATA_DIR is a
 *   random UUID in `DATA_DIR/installation-id`, written by the first `migrate-state`; a copy or a restored
 *   backup of the directory carries it along. The PostgreSQL side records it in `state_source` (created
 *   by the first run, in its transaction; the bot itself never reads it).
 * - The SQLite side is read in one read transaction (a consistent snapshot), after `openDatabase` brought
 *   an older installation to this version's schema.
 * - Files: each report's spooled files (`report_files.path` and the tiles in `report_files.tiles`) go into
 *   the database as {@link DatabaseSpoolFiles} keeps them (chunk by chunk, never a whole file in memory).
 *   Files of reports whose spool the janitor removed (`reports.spool_removed_at`) are skipped; a file
 *   missing on disk although its spool is not marked removed is counted and reported.
 *   File I/O inside the transaction is the exception to the stores' rule, on purpose: the bytes must commit
 *   with the rows that name them.
 */
import { randomUUID } from 'node:crypto';
import { existsSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type BetterSqlite3 from 'better-sqlite3';
import type { ReportFile } from '../core/report.js';
import { DATABASE_FILE, openDatabase } from './database.js';
import { InstanceLock, InstanceLockedError } from './instance-lock.js';
import { LEADER_LEASE_NAME, type PostgresDatabase, quoteIdentifier } from './postgres-database.js';
import { openPostgresDatabase } from './postgres-schema.js';
import { spoolRoot } from './spool.js';
import { DatabaseSpoolFiles } from './spool-files.js';
import {
  advanceSequence,
  copyTable,
  type Differing,
  matchTables,
  type PostgresTable,
  STATE_SOURCE_TABLE,
  StateMigrationRefusedError,
  type TableCopy,
} from './state-table-copy.js';

export { STATE_SOURCE_TABLE, StateMigrationRefusedError, type TableCopy } from './state-table-copy.js';

/** The file in DATA_DIR holding the installation's identity (a UUID). */
export const INSTALLATION_ID_FILE = 'installation-id';

export interface StateMigrationOptions {
  /** The SQLite installation: DATA_DIR (bot.sqlite, spool/). */
  dataDir: string;
  /** The PostgreSQL URL (a secret: never in a message). */
  url: string;
  /** The PostgreSQL schema (default that of postgres-database.ts). */
  schema?: string;
  /** Rows per INSERT (default 500; fewer when a table has many columns). */
  batchRows?: number;
  /** Called after each batch inside the transaction (tests interrupt the run here). */
  onBatch?: (progress: { table: string; rowsRead: number }) => Promise<void> | void;
}

export interface FileCopy {
  /** Files (tiles included) copied into the database now, and their bytes. */
  copied: number;
  bytes: number;
  /** Already in the database with the same size and SHA-256. */
  present: number;
  /** Of reports whose spool the janitor removed: nothing to copy. */
  removed: number;
  /** Missing on disk although their spool is not marked removed (the first few keys in `missingKeys`). */
  missing: number;
  missingKeys: string[];
}

export interface StateMigrationResult {
  /** The identity of DATA_DIR recorded on the PostgreSQL side. */
  sourceId: string;
  /** True when PostgreSQL already held state from this DATA_DIR (a repeated run). */
  repeated: boolean;
  tables: TableCopy[];
  files: FileCopy;
  /** The next id of each table with an identity column, after the run. */
  nextIds: Record<string, number>;
  /** The PostgreSQL location (host:port/database) and schema. */
  location: string;
  schema: string;
}

/** Copies DATA_DIR's state into PostgreSQL (see the module comment). */
export async function migrateState(options: StateMigrationOptions): Promise<StateMigrationResult> {
  const dataDir = path.resolve(options.dataDir);
  if (!existsSync(path.join(dataDir, DATABASE_FILE))) {
    throw new StateMigrationRefusedError(`no SQLite installation in ${dataDir}: ${DATABASE_FILE} is missing`);
  }
  let lock: InstanceLock;
  try {
    lock = InstanceLock.acquire(dataDir, { waitMs: 0, checkIntervalMs: 0 });
  } catch (error) {
    if (error instanceof InstanceLockedError) {
      throw new StateMigrationRefusedError(`a bot is running on the SQLite side: ${error.message}`);
    }
    throw error;
  }
  let sqlite: BetterSqlite3.Database | undefined;
  let pg: PostgresDatabase | undefined;
  try {
    // brings an older installation to this version's SQLite schema first, so the columns match
    sqlite = openDatabase(dataDir);
    const sourceId = installationId(dataDir);
    pg = await openPostgresDatabase({ url: options.url, schema: options.schema });
    return await copyState(sqlite, pg, { ...options, dataDir, sourceId });
  } finally {
    await pg?.close().catch(() => undefined);
    sqlite?.close();
    lock.release();
  }
}

/** The identity of the installation in `dataDir`, created on first use. */
export function installationId(dataDir: string): string {
  const file = path.join(dataDir, INSTALLATION_ID_FILE);
  if (existsSync(file)) {
    const id = readFileSync(file, 'utf8').trim();
    if (!/^[0-9a-f-]{36}$/i.test(id)) {
      throw new StateMigrationRefusedError(
        `${file} does not hold an installation id (a UUID): ${id.slice(0, 40)}`,
      );
    }
    return id;
  }
  const id = randomUUID();
  const temporary = `${file}.${process.pid}.tmp`;
  writeFileSync(temporary, `${id}\n`, { mode: 0o600, flush: true });
  renameSync(temporary, file);
  return id;
}

async function copyState(
  sqlite: BetterSqlite3.Database,
  pg: PostgresDatabase,
  options: StateMigrationOptions & { dataDir: string; sourceId: string },
): Promise<StateMigrationResult> {
  const root = spoolRoot(options.dataDir);
  const spoolFiles = new DatabaseSpoolFiles(pg, { spoolRoot: root });
  // a consistent snapshot of the SQLite side (CLI commands may still edit the directory meanwhile)
  sqlite.exec('BEGIN');
  try {
    return await pg.transaction(async () => {
      // no bot can take the lease (and start working) until this transaction ends
      await pg.exec('LOCK TABLE leader_lease IN EXCLUSIVE MODE');
      await pg.exec(`CREATE TABLE IF NOT EXISTS ${STATE_SOURCE_TABLE} (
        id bigint PRIMARY KEY CHECK (id = 1),
        source_id text NOT NULL,
        data_dir text NOT NULL,
        host text NOT NULL,
        first_migrated_at timestamptz NOT NULL,
        last_migrated_at timestamptz NOT NULL
      )`);
      const tables = await matchTables(sqlite, pg);
      const source = await pg.get<{
        source_id: string;
        data_dir: string;
        host: string;
        last_migrated_at: string;
      }>(`SELECT source_id, data_dir, host, last_migrated_at FROM ${STATE_SOURCE_TABLE} WHERE id = 1`);
      await refuseRunningLeader(pg, source?.last_migrated_at);
      if (source && source.source_id !== options.sourceId) {
        throw new StateMigrationRefusedError(
          `the PostgreSQL schema ${pg.schema} holds the state of another installation (id ${source.source_id}, ` +
            `DATA_DIR ${source.data_dir} on ${source.host}), not of ${options.dataDir} (id ${options.sourceId}): nothing copied`,
        );
      }
      if (!source) await refuseForeignState(pg, tables);

      const copies: TableCopy[] = [];
      const differing: Differing = { count: 0, examples: [] };
      for (const table of tables) copies.push(await copyTable(sqlite, pg, table, options, differing));
      if (differing.count > 0) {
        throw new StateMigrationRefusedError(
          `PostgreSQL already holds ${differing.count} row(s) that differ from ${options.dataDir} ` +
            `(${differing.examples.join(', ')}${differing.count > differing.examples.length ? ', …' : ''}): one side changed after the last ` +
            'migration; nothing copied. Migrate into an empty schema instead.',
        );
      }
      const files = await copyFiles(sqlite, pg, spoolFiles, root);
      const nextIds: Record<string, number> = {};
      for (const table of tables) {
        for (const column of table.identity)
          nextIds[table.name] = await advanceSequence(pg, table.name, column);
      }
      // a CLI on this schema and any bot started later see the directory as new
      await pg.run(
        `INSERT INTO directory_version (id, version) VALUES (1, 1)
         ON CONFLICT (id) DO UPDATE SET version = directory_version.version + 1`,
      );
      await pg.run(
        `INSERT INTO ${STATE_SOURCE_TABLE} (id, source_id, data_dir, host, first_migrated_at, last_migrated_at)
         VALUES (1, ?, ?, ?, clock_timestamp(), clock_timestamp())
         ON CONFLICT (id) DO UPDATE SET data_dir = excluded.data_dir, host = excluded.host,
           last_migrated_at = excluded.last_migrated_at`,
        [options.sourceId, options.dataDir, os.hostname()],
      );
      return {
        sourceId: options.sourceId,
        repeated: source !== undefined,
        tables: copies,
        files,
        nextIds,
        location: pg.location,
        schema: pg.schema,
      };
    });
  } finally {
    if (sqlite.inTransaction) sqlite.exec('ROLLBACK');
  }
}

/**
 * A leader on PostgreSQL (the lease held and not expired) is refused; so is a repeated run after a bot
 * held the lease since the last migration (it may have sent, retried or removed what is copied again).
 */
async function refuseRunningLeader(pg: PostgresDatabase, lastMigratedAt: string | undefined): Promise<void> {
  const lease = await pg.get<{ holder: string; expires_at: string; renewed_at: string; valid: number }>(
    'SELECT holder, expires_at, renewed_at, expires_at > clock_timestamp() AS valid FROM leader_lease WHERE name = ?',
    [LEADER_LEASE_NAME],
  );
  if (!lease) return;
  if (lease.valid) {
    throw new StateMigrationRefusedError(
      `a bot is running on the PostgreSQL side: ${lease.holder} holds the leader lease until ${lease.expires_at}. ` +
        'Stop every bot on this schema first: nothing copied',
    );
  }
  if (lastMigratedAt !== undefined && lease.renewed_at > lastMigratedAt) {
    throw new StateMigrationRefusedError(
      `a bot (${lease.holder}) has worked on this PostgreSQL state since the last migration at ${lastMigratedAt} ` +
        `(lease last renewed ${lease.renewed_at}): copying again could bring back what it has sent or removed; nothing copied`,
    );
  }
}

/** The first migration goes only into a schema without state (an empty new schema). */
async function refuseForeignState(pg: PostgresDatabase, tables: PostgresTable[]): Promise<void> {
  const holding: string[] = [];
  for (const table of tables) {
    if (await pg.get(`SELECT 1 AS found FROM ${quoteIdentifier(table.name)} LIMIT 1`))
      holding.push(table.name);
  }
  const hasFiles = await pg.get<{ found: string | null }>("SELECT to_regclass('spool_files')::text AS found");
  if (hasFiles?.found && (await pg.get('SELECT 1 AS found FROM spool_files LIMIT 1')))
    holding.push('spool_files');
  if (holding.length > 0) {
    throw new StateMigrationRefusedError(
      `the PostgreSQL schema ${pg.schema} already holds state that did not come from this DATA_DIR ` +
        `(rows in ${holding.join(', ')}; no ${STATE_SOURCE_TABLE} record): nothing copied. ` +
        'Migrate into a new schema (--schema) or an empty database.',
    );
  }
}

/** Copies the spooled files of the reports whose spool is still kept. */
async function copyFiles(
  sqlite: BetterSqlite3.Database,
  pg: PostgresDatabase,
  spoolFiles: DatabaseSpoolFiles,
  root: string,
): Promise<FileCopy> {
  const result: FileCopy = { copied: 0, bytes: 0, present: 0, removed: 0, missing: 0, missingKeys: [] };
  const read = sqlite.prepare(
    `SELECT rf._rowid_ AS "__rowid", rf.path, rf.size, rf.sha256, rf.tiles, r.spool_removed_at
     FROM report_files rf JOIN reports r ON r.id = rf.report_id
     WHERE rf._rowid_ > ? ORDER BY rf._rowid_ LIMIT 200`,
  );
  let tableChecked = false;
  let after = -1;
  for (;;) {
    const rows = read.all(after) as Array<{
      __rowid: number;
      path: string;
      size: number;
      sha256: string;
      tiles: string | null;
      spool_removed_at: string | null;
    }>;
    if (rows.length === 0) break;
    after = rows.at(-1)?.__rowid as number;
    for (const row of rows) {
      const files: Array<Pick<ReportFile, 'path' | 'size' | 'sha256'>> = [row];
      if (row.tiles) files.push(...flattenTiles(JSON.parse(row.tiles) as ReportFile[]));
      for (const file of files) {
        if (row.spool_removed_at !== null) {
          result.removed++;
          continue;
        }
        if (!tableChecked) {
          const exists = await pg.get<{ found: string | null }>(
            "SELECT to_regclass('spool_files')::text AS found",
          );
          if (!exists?.found) {
            throw new StateMigrationRefusedError(
              `the PostgreSQL schema ${pg.schema} has no spool_files table to keep the spooled files in: nothing copied`,
            );
          }
          tableChecked = true;
        }
        // the file where it is in this DATA_DIR now, even if the directory moved since it was recorded
        const key = spoolFiles.keyOf(file.path);
        const local = path.join(root, ...key.split('/'));
        // complete and kept (`kept` read through to_jsonb: a column of spool-files.ts's later schema)
        const stored = await pg.get<{
          size: number | string;
          sha256: string;
          kept: string | null;
          complete: number;
        }>(
          `SELECT f.size, f.sha256, to_jsonb(f) ->> 'kept' AS kept,
             f.chunks = (SELECT count(*) FROM spool_chunks c WHERE c.file_key = f.file_key) AS complete
           FROM spool_files f WHERE f.file_key = ?`,
          [key],
        );
        if (
          stored &&
          Number(stored.size) === file.size &&
          stored.sha256 === file.sha256 &&
          stored.kept !== '0' &&
          stored.complete
        ) {
          result.present++;
          continue;
        }
        if (!existsSync(local)) {
          result.missing++;
          if (result.missingKeys.length < 5) result.missingKeys.push(key);
          continue;
        }
        await spoolFiles.keep([{ path: local, size: file.size, sha256: file.sha256 }]);
        result.copied++;
        result.bytes += file.size;
      }
    }
  }
  return result;
}

function flattenTiles(tiles: readonly ReportFile[]): ReportFile[] {
  return tiles.flatMap((tile) => [tile, ...flattenTiles(tile.tiles ?? [])]);
}
