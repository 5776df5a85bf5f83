/**
 * The rows half of `migrate-state` (state-migration.ts): which tables both engines have (a table or
 * column one side lacks is an error naming it), in which order (parents first, by PostgreSQL's foreign
 * keys), the copy of one table in batches by rowid (`ON CONFLICT (primary key) DO NOTHING`, rows already
 * there compared value by value), and the identity sequences moved past the copied ids.
 */
import type BetterSqlite3 from 'better-sqlite3';
import { type PostgresDatabase, quoteIdentifier } from './postgres-database.js';
import { type SqlValue, StateUnavailableError } from './sql-database.js';

/** The PostgreSQL table recording which DATA_DIR the state came from (one row). */
export const STATE_SOURCE_TABLE = 'state_source';

/** PostgreSQL tables that are not copied state: the migrations, the lease, the source record. */
export const POSTGRES_OWN_TABLES = new Set(['schema_migrations', 'leader_lease', STATE_SOURCE_TABLE]);
/**
 * Tables each side keeps for itself: `directory_version` counts the embedded directory's edits per
 * database (PostgreSQL's starts at 0 and is bumped by the copy, so a running bot re-reads).
 */
export const PER_ENGINE_TABLES = new Set(['directory_version']);
/** The spooled files' tables (both sides): filled from the files on disk, not row by row. */
export const FILE_TABLES = new Set(['spool_files', 'spool_chunks']);

/** Most bound parameters in one INSERT (PostgreSQL allows 65535). */
const MAX_PARAMETERS = 30_000;

/** How {@link copyTable} batches (see StateMigrationOptions). */
export interface TableCopyOptions {
  batchRows?: number;
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

/** A migration that must not run (a bot running, foreign state, mismatched schemas); nothing was written. */
export class StateMigrationRefusedError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'StateMigrationRefusedError';
  }
}

/** Rows present on both sides with different values: how many, and the first few by key. */
export interface Differing {
  count: number;
  examples: string[];
}

/** A table to copy as PostgreSQL has it: its columns, primary key and identity (generated id) columns. */
export interface PostgresTable {
  name: string;
  columns: string[];
  primaryKey: string[];
  identity: string[];
}

/** The tables to copy, parents first; throws naming any table or column one side lacks. */
export async function matchTables(
  sqlite: BetterSqlite3.Database,
  pg: PostgresDatabase,
): Promise<PostgresTable[]> {
  const sqliteTables = (
    sqlite
      .prepare(
        "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite\\_%' ESCAPE '\\'",
      )
      .all() as Array<{ name: string }>
  )
    .map((row) => row.name)
    .filter((name) => !FILE_TABLES.has(name) && !PER_ENGINE_TABLES.has(name));
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
    if (
      POSTGRES_OWN_TABLES.has(row.table_name) ||
      FILE_TABLES.has(row.table_name) ||
      PER_ENGINE_TABLES.has(row.table_name)
    )
      continue;
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

/** Copies one table in rowid order, batch by batch; rows present with other values go to `differing`. */
export async function copyTable(
  sqlite: BetterSqlite3.Database,
  pg: PostgresDatabase,
  table: PostgresTable,
  options: TableCopyOptions,
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

/** Moves the identity sequence of `table.column` past the highest id (never back); returns the next id. */
export async function advanceSequence(pg: PostgresDatabase, table: string, column: string): Promise<number> {
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
