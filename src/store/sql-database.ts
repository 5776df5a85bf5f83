/**
 * The one seam between the bot's state and the engine that keeps it: SQLite in DATA_DIR (the default,
 * `sqlite-database.ts`) or PostgreSQL (`DATABASE_URL`, `postgres-database.ts`). Every store in this
 * folder is written once, against this interface, in the SQL both engines speak:
 * - parameters are positional `?` (the PostgreSQL engine numbers them);
 * - a new row's id comes from `INSERT … RETURNING id` (both engines have it);
 * - upserts are `INSERT … ON CONFLICT (…) DO NOTHING | DO UPDATE SET x = excluded.x`, never SQLite's
 *   `INSERT OR …`;
 * - booleans are integers 0/1; times are ISO-8601 text (`nowIso()`), compared as text;
 * - columns that SQLite compares with `COLLATE NOCASE` have a case-insensitive collation in the
 *   PostgreSQL schema too, so queries need not lower-case.
 *
 * Transactions are as strict as SQLite's: one writer at a time (the PostgreSQL engine takes a
 * transaction-level advisory lock), so a report, its deliveries and the watermark commit together or
 * not at all, and a read-then-write inside a transaction sees no other writer in between.
 *
 * The open transaction follows the async call chain (AsyncLocalStorage): a store method that calls
 * `run`/`get`/`all` while a transaction is open on its call chain takes part in it, and a nested
 * `transaction` is a savepoint, as better-sqlite3's nested transactions were. Work inside a transaction
 * must be database work only: while it is open, every other caller of the SQLite engine waits.
 */

/** A value bound to a `?` parameter or read from a column. */
export type SqlValue = string | number | null | Buffer;

/** What a write statement did. */
export interface SqlRunResult {
  /** Rows inserted, updated or deleted. */
  changes: number;
}

/** Which engine keeps the state. */
export type SqlEngine = 'sqlite' | 'postgres';

export interface SqlDatabase {
  readonly engine: SqlEngine;
  /** All rows of a query. */
  all<T>(sql: string, params?: readonly SqlValue[]): Promise<T[]>;
  /** The first row of a query, or undefined. */
  get<T>(sql: string, params?: readonly SqlValue[]): Promise<T | undefined>;
  /** A statement that returns no rows (use `get` with `RETURNING` for a new id). */
  run(sql: string, params?: readonly SqlValue[]): Promise<SqlRunResult>;
  /** Several statements (DDL), no parameters. */
  exec(sql: string): Promise<void>;
  /**
   * Runs `work` in one transaction: committed when it resolves, rolled back when it throws (the error
   * is rethrown). With a fence set ({@link setFence}), the commit happens only while the fence holds.
   */
  transaction<T>(work: () => Promise<T>): Promise<T>;
  /**
   * Fencing for a leader (PostgreSQL): from now on every write (each `run` outside a transaction and
   * each transaction) first checks, inside its own transaction, that `generation` still holds the
   * leader lease, and throws {@link FencedError} if not. `null` lifts it. The SQLite engine has one
   * writer per DATA_DIR (the instance lock) and ignores it.
   */
  setFence(generation: number | null): void;
  /** Closes the connection(s); pending work finishes first. */
  close(): Promise<void>;
}

/** A write refused because this instance no longer holds the leader lease. */
export class FencedError extends Error {
  constructor(readonly generation: number) {
    super(`this instance no longer holds the leader lease (generation ${generation}): write refused`);
    this.name = 'FencedError';
  }
}

/**
 * The database could not be reached (PostgreSQL restarting, network down). Nothing was written; the
 * caller retries later as it would after any outage, spending no delivery attempt.
 */
export class StateUnavailableError extends Error {
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'StateUnavailableError';
  }
}

/** The current time as stored in the database. */
export function nowIso(): string {
  return new Date().toISOString();
}
