/**
 * Opens the bot's state where the settings put it: PostgreSQL when DATABASE_URL is set (schema
 * DATABASE_SCHEMA, migrated at open), otherwise SQLite in DATA_DIR (as always).
 */
import type { Config } from '../config.js';
import { openDatabase } from './database.js';
import type { PostgresDatabase } from './postgres-database.js';
import { openPostgresDatabase } from './postgres-schema.js';
import type { SqlDatabase } from './sql-database.js';
import { SqliteDatabase } from './sqlite-database.js';

export interface OpenStateDatabaseOptions {
  /**
   * With PostgreSQL: how long a session may sit idle inside a transaction before the server ends it
   * (the leader passes LEASE_SECONDS; default 10 s).
   */
  idleInTransactionTimeoutMs?: number;
}

/** The state database of `config`: a {@link PostgresDatabase} or a {@link SqliteDatabase}. */
export async function openStateDatabase(
  config: Pick<Config, 'DATA_DIR' | 'DATABASE_URL' | 'DATABASE_SCHEMA'>,
  options: OpenStateDatabaseOptions = {},
): Promise<SqlDatabase> {
  if (config.DATABASE_URL) {
    const db: PostgresDatabase = await openPostgresDatabase({
      url: config.DATABASE_URL,
      schema: config.DATABASE_SCHEMA,
      idleInTransactionTimeoutMs: options.idleInTransactionTimeoutMs,
    });
    return db;
  }
  return new SqliteDatabase(openDatabase(config.DATA_DIR));
}
