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
 *   backup of the directory carries it along. The PostgreSQL side records it in `state_source`.
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
import { type SqlValue, StateUnavailableError } from './sql-database.js';

/** The file in DATA_DIR holding the installation's identity (a UUID). */
export const INSTALLATION_ID_FILE = 'installation-id';
/** The PostgreSQL table recording which DATA_DIR the state came from (one row). */
export const STATE_SOURCE_TABLE = 'state_source';

/** PostgreSQL tables that are not copied state: the migrations, the lease, the source record. */
const POSTGRES_OWN_TABLES = new Set(['schema_migrations', 'leader_lease', STATE_SOURCE_TABLE]);
/** The spooled files' tables (both sides): filled from the files on disk, not row by row. */
const FILE_TABLES = new Set(['spool_files', 'spool_chunks']);

/** Most bound parameters in one INSERT (PostgreSQL allows 65535). */
const MAX_PARAMETERS = 30_000;

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

/** What happened to one table. */
export interface TableCopy {
  table: string;
  /** Rows in SQLite. */
  rows: number;
  /** Rows inserted now. */
  copied: number;
  /** Rows PostgreSQL already had, identical. */
  present: number;
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

/** A migration that must not run (a bot running, foreign state, mismatched schemas); nothing was written. */
export class StateMigrationRefusedError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'StateMigrationRefusedError';
  }
}

/** Rows present on both sides with different values: how many, and the first few by key. */
interface Differing {
  count: number;
  examples: string[];
}

interface PostgresTable {
  name: string;
  columns: string[];
  primaryKey: string[];
  identity: string[];
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

/** The tables to copy, parents first; throws naming any table or column one side lacks. */
async function matchTables(sqlite: BetterSqlite3.Database, pg: PostgresDatabase): Promise<PostgresTable[]> {
  const sqliteTables = (
    sqlite
      .prepare(
        "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite\\_%' ESCAPE '\\'",
      )
      .all() as Array<{ name: string }>
  )
    .map((row) => row.name)
    .filter((name) => !FILE_TABLES.has(name));
  for (const name of FILE_TABLES) {
    if (sqliteTables.includes(name)) continue;
    const exists = sqlite.prepare("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = ?").get(name);
    if (exists && sqlite.prepare(`SELECT 1 FROM ${quoteIdentifier(name)} LIMIT 1`).get()) {
      throw new StateMigrationRefusedError(
        `the SQLite table ${name} holds rows, which an SQLite installation never writes: not copied, nothing copied`,
      );
    }
  }
  const columnRows = await pg.all<{ table_name: string; column_name: string; is_identity: string }>(
    `SELECT table_name, column_name, is_identity FROM information_schema.columns
     WHERE table_schema = ? ORDER BY table_name, ordinal_position`,
    [pg.schema],
  );
  const postgres = new Map<string, PostgresTable>();
  for (const row of columnRows) {
    if (POSTGRES_OWN_TABLES.has(row.table_name) || FILE_TABLES.has(row.table_name)) continue;
    let table = postgres.get(row.table_name);
    if (!table) {
      table = { name: row.table_name, columns: [], primaryKey: [], identity: [] };
      postgres.set(row.table_name, table);
    }
    table.columns.push(row.column_name);
    if (row.is_identity === 'YES') table.identity.push(row.column_name);
  }
  const problems: string[] = [];
  for (const name of sqliteTables) {
    if (!postgres.has(name)) problems.push(`table ${name} exists in SQLite but not in PostgreSQL`);
  }
  for (const table of postgres.values()) {
    if (!sqliteTables.includes(table.name)) {
      problems.push(`table ${table.name} exists in PostgreSQL but not in SQLite`);
      continue;
    }
    const sqliteColumns = (
      sqlite.prepare(`PRAGMA table_info(${quoteIdentifier(table.name)})`).all() as Array<{ name: string }>
    ).map((column) => column.name);
    for (const column of sqliteColumns) {
      if (!table.columns.includes(column))
        problems.push(`column ${table.name}.${column} is missing in PostgreSQL`);
    }
    for (const column of table.columns) {
      if (!sqliteColumns.includes(column))
        problems.push(`column ${table.name}.${column} is missing in SQLite`);
    }
  }
  if (problems.length > 0) {
    throw new StateMigrationRefusedError(
      `the SQLite and PostgreSQL schemas differ (${problems.join('; ')}): nothing copied`,
    );
  }
  const keys = await pg.all<{ table_name: string; column_name: string }>(
    `SELECT kcu.table_name, kcu.column_name
     FROM information_schema.table_constraints tc
     JOIN information_schema.key_column_usage kcu
       ON kcu.constraint_schema = tc.constraint_schema AND kcu.constraint_name = tc.constraint_name
     WHERE tc.constraint_type = 'PRIMARY KEY' AND tc.table_schema = ?
     ORDER BY kcu.table_name, kcu.ordinal_position`,
    [pg.schema],
  );
  for (const key of keys) postgres.get(key.table_name)?.primaryKey.push(key.column_name);
  for (const table of postgres.values()) {
    if (table.primaryKey.length === 0) {
      throw new StateMigrationRefusedError(
        `the PostgreSQL table ${table.name} has no primary key: nothing copied`,
      );
    }
  }
  const references = await pg.all<{ child: string; parent: string }>(
    `SELECT child.relname AS child, parent.relname AS parent
     FROM pg_constraint c
     JOIN pg_class child ON child.oid = c.conrelid
     JOIN pg_class parent ON parent.oid = c.confrelid
     JOIN pg_namespace n ON n.oid = child.relnamespace
     WHERE c.contype = 'f' AND n.nspname = ?`,
    [pg.schema],
  );
  return parentsFirst([...postgres.values()], references);
}

/** Tables ordered so that every referenced table comes before the tables referencing it. */
function parentsFirst(
  tables: PostgresTable[],
  references: Array<{ child: string; parent: string }>,
): PostgresTable[] {
  const ordered: PostgresTable[] = [];
  const placed = new Set<string>();
  const visiting = new Set<string>();
  const byName = new Map(tables.map((table) => [table.name, table]));
  const visit = (table: PostgresTable) => {
    if (placed.has(table.name)) return;
    if (visiting.has(table.name)) throw new Error(`foreign keys form a cycle through ${table.name}`);
    visiting.add(table.name);
    for (const reference of references) {
      if (reference.child !== table.name || reference.parent === table.name) continue;
      const parent = byName.get(reference.parent);
      if (parent) visit(parent);
    }
    visiting.delete(table.name);
    placed.add(table.name);
    ordered.push(table);
  };
  for (const table of [...tables].sort((a, b) => a.name.localeCompare(b.name))) visit(table);
  return ordered;
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

/** Copies one table in rowid order, batch by batch; rows present with other values go to `differing`. */
async function copyTable(
  sqlite: BetterSqlite3.Database,
  pg: PostgresDatabase,
  table: PostgresTable,
  options: StateMigrationOptions,
  differing: Differing,
): Promise<TableCopy> {
  const columns = table.columns;
  const list = columns.map(quoteIdentifier).join(', ');
  const name = quoteIdentifier(table.name);
  const batchRows = Math.max(
    1,
    Math.min(options.batchRows ?? 500, Math.floor(MAX_PARAMETERS / columns.length)),
  );
  const read = sqlite.prepare(
    `SELECT _rowid_ AS "__rowid", ${list} FROM ${name} WHERE _rowid_ > ? ORDER BY _rowid_ LIMIT ?`,
  );
  read.safeIntegers(true);
  const keyList = table.primaryKey.map(quoteIdentifier).join(', ');
  const keyIndexes = table.primaryKey.map((column) => columns.indexOf(column));
  const copy: TableCopy = { table: table.name, rows: 0, copied: 0, present: 0 };
  let after: bigint = -(2n ** 63n);
  for (;;) {
    const rows = read.all(after, batchRows) as Array<Record<string, unknown>>;
    if (rows.length === 0) break;
    after = rows.at(-1)?.__rowid as bigint;
    const values = rows.map((row) => columns.map((column) => sqlValue(row[column])));
    const placeholders = values.map((row) => `(${row.map(() => '?').join(', ')})`).join(', ');
    let inserted: Array<Record<string, unknown>>;
    try {
      inserted = await pg.all<Record<string, unknown>>(
        `INSERT INTO ${name} (${list}) VALUES ${placeholders} ON CONFLICT (${keyList}) DO NOTHING RETURNING ${keyList}`,
        values.flat(),
      );
    } catch (error) {
      // a value PostgreSQL refuses (an orphan row, text in an integer column): say which table
      if (error instanceof StateUnavailableError) throw error;
      throw new Error(`copying ${table.name} (SQLite rowids up to ${after}): ${(error as Error).message}`, {
        cause: error,
      });
    }
    copy.rows += rows.length;
    copy.copied += inserted.length;
    if (inserted.length < rows.length) {
      const insertedKeys = new Set(
        inserted.map((row) => keyText(table.primaryKey.map((column) => row[column]))),
      );
      const existing = values.filter(
        (row) => !insertedKeys.has(keyText(keyIndexes.map((index) => row[index]))),
      );
      copy.present += existing.length;
      await compareExisting(pg, table, existing, differing);
    }
    await options.onBatch?.({ table: table.name, rowsRead: copy.rows });
  }
  return copy;
}

/** Adds to `differing` the rows of `existing` whose PostgreSQL copy has other values. */
async function compareExisting(
  pg: PostgresDatabase,
  table: PostgresTable,
  existing: SqlValue[][],
  differing: Differing,
): Promise<void> {
  const columns = table.columns;
  const keyIndexes = table.primaryKey.map((column) => columns.indexOf(column));
  const keyTuple = `(${table.primaryKey.map(quoteIdentifier).join(', ')})`;
  const tuples = existing.map(() => `(${keyIndexes.map(() => '?').join(', ')})`).join(', ');
  const stored = await pg.all<Record<string, unknown>>(
    `SELECT ${columns.map(quoteIdentifier).join(', ')} FROM ${quoteIdentifier(table.name)} WHERE ${keyTuple} IN (${tuples})`,
    existing.flatMap((row) => keyIndexes.map((index) => row[index] as SqlValue)),
  );
  const byKey = new Map(stored.map((row) => [keyText(table.primaryKey.map((column) => row[column])), row]));
  for (const row of existing) {
    const key = keyText(keyIndexes.map((index) => row[index]));
    const theirs = byKey.get(key);
    const same =
      theirs !== undefined && columns.every((column, index) => sameValue(row[index], theirs[column]));
    if (!same) {
      differing.count++;
      if (differing.examples.length < 5) {
        const key = table.primaryKey.map((column, i) => `${column}=${String(row[keyIndexes[i] as number])}`);
        differing.examples.push(`${table.name} ${key.join(' ')}`);
      }
    }
  }
}

/** An SQLite value as a parameter: integers exact (a number when safe, else decimal text). */
function sqlValue(value: unknown): SqlValue {
  if (typeof value === 'bigint') {
    return value >= BigInt(Number.MIN_SAFE_INTEGER) && value <= BigInt(Number.MAX_SAFE_INTEGER)
      ? Number(value)
      : value.toString();
  }
  if (value === undefined) return null;
  return value as SqlValue;
}

function keyText(values: unknown[]): string {
  return JSON.stringify(
    values.map((value) => (value === null || value === undefined ? null : String(value))),
  );
}

/** Equal as stored: bytes by bytes, everything else by its text (PostgreSQL may give a bigint as text). */
function sameValue(mine: unknown, theirs: unknown): boolean {
  if (mine === null || mine === undefined || theirs === null || theirs === undefined) {
    return (mine ?? null) === (theirs ?? null);
  }
  if (Buffer.isBuffer(mine) || Buffer.isBuffer(theirs)) {
    return Buffer.isBuffer(mine) && Buffer.isBuffer(theirs) && mine.equals(theirs);
  }
  return String(mine) === String(theirs);
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

/** Moves the identity sequence of `table.column` past the highest id (never back); returns the next id. */
async function advanceSequence(pg: PostgresDatabase, table: string, column: string): Promise<number> {
  const qualified = `${quoteIdentifier(pg.schema)}.${quoteIdentifier(table)}`;
  const sequence = await pg.get<{ name: string }>('SELECT pg_get_serial_sequence(?, ?) AS name', [
    qualified,
    column,
  ]);
  if (!sequence?.name) throw new Error(`no identity sequence for ${table}.${column}`);
  const state = await pg.get<{ last_value: number; is_called: number }>(
    `SELECT last_value, is_called FROM ${sequence.name}`,
  );
  const highest = await pg.get<{ highest: number | null }>(
    `SELECT max(${quoteIdentifier(column)}) AS highest FROM ${quoteIdentifier(table)}`,
  );
  const used = Math.max(
    Number(highest?.highest ?? 0),
    state?.is_called ? Number(state.last_value) : Number(state?.last_value ?? 1) - 1,
  );
  if (used >= 1) await pg.get('SELECT setval(?::regclass, ?, true)', [sequence.name, used]);
  return used + 1;
}
