/**
 * The state database's own commands: `migrate` (applies the schema migrations of the configured engine:
 * PostgreSQL with DATABASE_URL, else SQLite in DATA_DIR, and prints the version) and `migrate-state`
 * (copies an SQLite installation into PostgreSQL, see store/state-migration.ts). The URL's password is
 * never printed: it joins the scrubber, and messages name only host:port/database.
 */
import { existsSync } from 'node:fs';
import path from 'node:path';
import BetterSqlite3 from 'better-sqlite3';
import type { Command } from 'commander';
import { ConfigError, loadConfig, secretValues } from '../config.js';
import { DATABASE_FILE, openDatabase } from '../store/database.js';
import { PostgresDatabase } from '../store/postgres-database.js';
import { migratePostgres } from '../store/postgres-schema.js';
import {
  migrateState,
  StateMigrationRefusedError,
  type StateMigrationResult,
} from '../store/state-migration.js';
import { config, integer, printTable, scrubber, UsageError } from './command-options.js';

export function registerStateCommands(program: Command): void {
  program
    .command('migrate')
    .description(
      'apply the schema migrations of the state database (PostgreSQL with DATABASE_URL, else SQLite in DATA_DIR) and print its version',
    )
    .action(migrateCommand);
  program
    .command('migrate-state')
    .description(
      'copy an SQLite installation (DATA_DIR) into PostgreSQL, keeping ids; idempotent; refused while a bot runs on either side',
    )
    .option('--from <dir>', 'the DATA_DIR to copy (default: DATA_DIR)')
    .option(
      '--to <url>',
      'the PostgreSQL URL postgres://user:password@host:5432/database (default: DATABASE_URL)',
    )
    .option('--schema <name>', 'the PostgreSQL schema (default: DATABASE_SCHEMA)')
    .option('--batch-rows <n>', 'rows per INSERT', integer, 500)
    .action(migrateStateCommand);
}

async function migrateCommand(): Promise<void> {
  const cfg = config();
  if (cfg.DATABASE_URL) {
    const db = new PostgresDatabase({ url: cfg.DATABASE_URL, schema: cfg.DATABASE_SCHEMA });
    try {
      const { from, to } = await migratePostgres(db);
      console.log(
        `PostgreSQL ${db.location}, schema ${db.schema}: version ${to}` +
          (from === to ? ' (up to date)' : ` (migrated from ${from})`),
      );
    } finally {
      await db.close();
    }
    return;
  }
  const file = path.join(cfg.DATA_DIR, DATABASE_FILE);
  const from = existsSync(file) ? sqliteVersion(file) : 0;
  const db = openDatabase(cfg.DATA_DIR);
  try {
    const to = db.pragma('user_version', { simple: true }) as number;
    console.log(
      `SQLite ${path.resolve(file)}: version ${to}` +
        (from === to ? ' (up to date)' : ` (migrated from ${from})`),
    );
  } finally {
    db.close();
  }
}

function sqliteVersion(file: string): number {
  const db = new BetterSqlite3(file, { readonly: true });
  try {
    return db.pragma('user_version', { simple: true }) as number;
  } finally {
    db.close();
  }
}

interface MigrateStateOptions {
  from?: string;
  to?: string;
  schema?: string;
  batchRows: number;
}

async function migrateStateCommand(options: MigrateStateOptions): Promise<void> {
  const cfg = config();
  let target = cfg;
  if (options.to !== undefined || options.schema !== undefined) {
    scrubber.add(options.to);
    try {
      // the same checks (and the same password scrubbing) as the DATABASE_URL setting
      target = loadConfig({
        ...process.env,
        DATABASE_URL: options.to ?? cfg.DATABASE_URL,
        DATABASE_SCHEMA: options.schema ?? cfg.DATABASE_SCHEMA,
      });
    } catch (error) {
      if (error instanceof ConfigError) throw new UsageError(`--to/--schema: ${error.message}`);
      throw error;
    }
    scrubber.add(...secretValues(target));
  }
  if (!target.DATABASE_URL) throw new UsageError('give --to postgres://… (or set DATABASE_URL)');
  if (options.batchRows < 1) throw new UsageError('--batch-rows: at least 1');
  const dataDir = options.from ?? cfg.DATA_DIR;
  let result: StateMigrationResult;
  try {
    result = await migrateState({
      dataDir,
      url: target.DATABASE_URL,
      schema: target.DATABASE_SCHEMA,
      batchRows: options.batchRows,
    });
  } catch (error) {
    if (error instanceof StateMigrationRefusedError) throw new UsageError(`refused: ${error.message}`);
    throw error;
  }
  printMigration(result);
}

function printMigration(result: StateMigrationResult): void {
  printTable(
    result.tables.map((table) => ({
      table: table.table,
      rows: String(table.rows),
      copied: String(table.copied),
      'already there': String(table.present),
      'next id': result.nextIds[table.table] === undefined ? '' : String(result.nextIds[table.table]),
    })),
  );
  const files = result.files;
  console.log(
    `files: ${files.copied} copied (${formatBytes(files.bytes)}), ${files.present} already there, ` +
      `${files.removed} of removed spools skipped` +
      (files.missing > 0 ? `, ${files.missing} missing on disk (${files.missingKeys.join(', ')})` : ''),
  );
  const rows = result.tables.reduce((sum, table) => sum + table.rows, 0);
  const copied = result.tables.reduce((sum, table) => sum + table.copied, 0);
  const target = `PostgreSQL ${result.location}, schema ${result.schema}`;
  if (copied === 0 && files.copied === 0 && result.repeated) {
    console.log(`nothing new to copy into ${target}: it already holds installation ${result.sourceId}`);
    return;
  }
  console.log(
    `copied ${copied} of ${rows} rows in ${result.tables.length} tables and ${files.copied} files into ${target} ` +
      `(installation ${result.sourceId}${result.repeated ? '; migrated before, the rest was there already' : ''})`,
  );
}

function formatBytes(bytes: number): string {
  if (bytes < 1024 * 1024) return `${(bytes / 1024).toFixed(1)} KiB`;
  return `${(bytes / 1024 / 1024).toFixed(1)} MiB`;
}
